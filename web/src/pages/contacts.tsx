import { useEffect, useState } from 'preact/hooks';
import { ApiError, type ContactDetail, type ContactSummary, getContact, listContacts, mergeContact, undoContactMerge } from '../api.js';
import { navigate, useApp } from '../context.js';
import { Alert, Badge, ChannelIcon, errorText, initials, useDebounced } from '../ui.js';

/** Contacts: one person across channels, found by name, address or number; merged by hand, and unmerged. */
export function ContactsPage({ contactId }: { contactId: string | undefined }) {
  const { t } = useApp();
  const [q, setQ] = useState('');
  const [rows, setRows] = useState<ContactSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  const load = async () => {
    const page = await listContacts(q.trim());
    setRows(page.data);
    setCursor(page.nextCursor);
    setLoading(false);
  };
  const search = useDebounced(() => void load(), 200);
  useEffect(() => search(), [q]);
  const more = async () => {
    if (!cursor) return;
    const page = await listContacts(q.trim(), cursor);
    setRows([...rows, ...page.data]);
    setCursor(page.nextCursor);
  };

  return (
    <div class={`contacts ${contactId ? 'has-contact' : ''}`}>
      <section class="contact-list" aria-label={t.contacts}>
        <div class="filters">
          <input type="search" aria-label={t.searchContacts} placeholder={t.searchContacts} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </div>
        <ul class="rows" aria-busy={loading}>
          {rows.map((row) => (
            <li key={row.id} class={`row ${row.id === contactId ? 'active' : ''}`}>
              <a href={`#/contacts/${row.id}`} aria-current={row.id === contactId ? 'true' : undefined}>
                <div class="row-top">
                  <strong class="name">{row.name ?? row.identities[0]?.value ?? t.unknownContact}</strong>
                  <span class="hint">{t.leadCount(row.leads)}</span>
                </div>
                <div class="preview">{row.identities.map((identity) => identity.value).join(' · ')}</div>
              </a>
            </li>
          ))}
          {!loading && rows.length === 0 && <li class="empty">{t.noContacts}</li>}
        </ul>
        {cursor && (
          <button type="button" class="ghost load-more" onClick={() => void more()}>
            {t.loadMore}
          </button>
        )}
      </section>
      {contactId ? (
        <ContactView key={contactId} contactId={contactId} onChanged={() => void load()} />
      ) : (
        <section class="contact-detail placeholder">
          <p>{t.pickContact}</p>
        </section>
      )}
    </div>
  );
}

function ContactView({ contactId, onChanged }: { contactId: string; onChanged: () => void }) {
  const { t, time, can } = useApp();
  const [contact, setContact] = useState<ContactDetail | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [q, setQ] = useState('');
  const [candidates, setCandidates] = useState<ContactSummary[]>([]);
  const [confirming, setConfirming] = useState<ContactSummary | null>(null);
  const [busy, setBusy] = useState(false);

  const load = async () => {
    try {
      const detail = await getContact(contactId);
      // A merged contact answers as the one it went into: show that one's address.
      if (detail.id !== contactId) navigate('contacts', detail.id);
      setContact(detail);
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 404 ? t.contactNotFound : errorText(failure));
    }
  };
  useEffect(() => {
    void load();
  }, [contactId]);
  const find = useDebounced(() => {
    if (!q.trim()) return setCandidates([]);
    void listContacts(q.trim()).then((page) => setCandidates(page.data.filter((row) => row.id !== contactId)));
  }, 200);
  useEffect(() => find(), [q]);

  const act = async (fn: () => Promise<unknown>, done: string) => {
    setBusy(true);
    try {
      await fn();
      setError('');
      setNotice(done);
      setConfirming(null);
      setQ('');
      await load();
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  if (!contact)
    return (
      <section class="contact-detail" aria-busy={!error}>
        <Alert text={error} />
      </section>
    );
  const name = contact.name ?? contact.identities[0]?.value ?? t.unknownContact;
  const canMerge = can('owner', 'manager');
  return (
    <section class="contact-detail" aria-label={name}>
      <header class="lead-head">
        <a class="back" href="#/contacts" aria-label={t.back}>
          ←
        </a>
        <span class="avatar" aria-hidden="true">
          {initials(name)}
        </span>
        <div>
          <h2 class="lead-name">{name}</h2>
          {contact.company && <p class="lead-company">{contact.company}</p>}
        </div>
      </header>
      <Alert text={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <section>
        <h3>{t.contactPoints}</h3>
        <ul class="contact-points">
          {contact.identities.map((identity) => (
            <li key={`${identity.kind}:${identity.value}`}>
              <span class="label">{t.contactKinds[identity.kind]}</span> {identity.value}{' '}
              {identity.undeliverable && <Badge tone="danger">{t.undeliverable}</Badge>}
              {contact.optOuts.includes(identity.kind === 'phone' ? 'sms' : identity.kind) && <Badge tone="danger">{t.optedOut}</Badge>}
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h3>{t.conversations}</h3>
        <ul class="other-conversations">
          {contact.conversations.map((item) => (
            <li key={item.id}>
              <a href={`#/inbox/${item.id}`}>
                <ChannelIcon channel={item.channel} label={t.channels[item.channel as keyof typeof t.channels] ?? item.channel} /> {item.name ?? name} · {time(item.createdAt)}
              </a>{' '}
              <Badge tone={`stage-${item.stage}`}>{t.stages[item.stage as keyof typeof t.stages] ?? item.stage}</Badge> <span class="hint">{item.owner?.name ?? t.unassigned}</span>
            </li>
          ))}
        </ul>
      </section>
      {contact.merges.length > 0 && (
        <section>
          <h3>{t.mergedContacts}</h3>
          <ul class="merges">
            {contact.merges.map((merge) => (
              <li key={merge.id}>
                <span>
                  {merge.automatic ? t.mergedAutomatically : t.mergedByHand} · {time(merge.createdAt)}: <strong>{merge.name ?? t.unknownContact}</strong> ({merge.identities.join(', ')}; {t.leadCount(merge.leads)})
                </span>{' '}
                {merge.undoneAt ? (
                  <Badge>{t.mergeUndone}</Badge>
                ) : (
                  canMerge && (
                    <button type="button" disabled={busy} onClick={() => void act(() => undoContactMerge(merge.id), t.mergeUndoneNotice(merge.name ?? t.unknownContact))}>
                      {t.undoMerge}
                    </button>
                  )
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      {canMerge && (
        <section class="merge-form">
          <h3>{t.mergeAnother}</h3>
          <p class="hint">{t.mergeHint}</p>
          <input type="search" aria-label={t.findContactToMerge} placeholder={t.findContactToMerge} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
          {candidates.length > 0 && !confirming && (
            <ul class="merge-candidates" aria-label={t.findContactToMerge}>
              {candidates.map((row) => (
                <li key={row.id}>
                  <span>
                    <strong>{row.name ?? t.unknownContact}</strong> {row.identities.map((identity) => identity.value).join(' · ')}
                  </span>{' '}
                  <button type="button" onClick={() => setConfirming(row)}>
                    {t.mergeThis}
                  </button>
                </li>
              ))}
            </ul>
          )}
          {confirming && (
            <div class="confirm" role="group" aria-label={t.confirmMerge}>
              <p>{t.mergeConfirmText(confirming.name ?? t.unknownContact, name)}</p>
              <button type="button" class="primary" disabled={busy} onClick={() => void act(() => mergeContact(contact.id, confirming.id), t.mergedNotice(confirming.name ?? t.unknownContact))}>
                {t.confirmMerge}
              </button>{' '}
              <button type="button" class="ghost" onClick={() => setConfirming(null)}>
                {t.cancel}
              </button>
            </div>
          )}
        </section>
      )}
    </section>
  );
}
