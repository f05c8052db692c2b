import { useEffect, useState } from 'preact/hooks';
import { type ContactDetail, del, type FollowUp, get, getContact, type Lead, type List, patch, post, query } from '../api.js';
import { useApp } from '../context.js';
import { stageSlugs } from '../i18n.js';
import { onListChanged } from '../live.js';
import { Alert, askText, Badge, ChannelIcon, errorText, initials } from '../ui.js';

/** Custom fields a form or an ad link filled in about where the lead came from. */
const attributionKey = /^(utm_[\w-]+|gclid|fbclid|gbraid|wbraid|msclkid|ttclid|page_url|referrer)$/i;

export function LeadPanel({ lead, open, onChanged }: { lead: Lead; open: boolean; onChanged: () => void }) {
  const { t, users, session, can, time } = useApp();
  const [followUps, setFollowUps] = useState<FollowUp[]>([]);
  const [contact, setContact] = useState<ContactDetail | null>(null);
  const [products, setProducts] = useState<{ id: string; name: string }[]>([]);
  const [sequences, setSequences] = useState<{ id: string; name: string }[]>([]);
  const [enrollments, setEnrollments] = useState<{ id: string; sequenceId: string; status: 'active' | 'completed' | 'stopped'; nextStepAt: string | null }[]>([]);
  const [error, setError] = useState('');
  const [due, setDue] = useState('');
  const [note, setNote] = useState('');

  const load = async () => {
    const [list, contact, enrolled] = await Promise.all([
      get<List<FollowUp>>(`/follow-ups${query({ leadId: lead.id })}`),
      getContact(lead.contactId),
      get<List<(typeof enrollments)[number]>>(`/leads/${lead.id}/sequences`),
    ]);
    setFollowUps(list.data);
    setContact(contact);
    setEnrollments(enrolled.data);
  };
  useEffect(() => {
    void load();
    if (can('owner', 'manager')) void get<List<{ id: string; name: string }>>('/sequences?limit=200').then((list) => setSequences(list.data), () => setSequences([]));
  }, [lead.id, lead.stage]);
  useEffect(() => {
    // A fetch that fails keeps the list as it is; the stream's next change fetches it again.
    const loadProducts = () => void get<List<{ id: string; name: string }>>('/products').then((list) => setProducts(list.data), () => undefined);
    loadProducts();
    return onListChanged('products', loadProducts);
  }, []);

  const save = async (change: Record<string, unknown>) => {
    try {
      await patch(`/leads/${lead.id}`, change);
      setError('');
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError('');
      await load();
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const canReassign = can('owner', 'manager');
  const canClaim = session.user.role === 'rep' && !lead.owner && session.workspace.repsCanClaim;
  const displayName = lead.name ?? lead.email ?? lead.phone ?? t.unknownContact;
  const fields = Object.entries(lead.customFields).filter(([, value]) => value !== null && value !== '');
  const attribution = fields.filter(([key]) => attributionKey.test(key));
  const otherFields = fields.filter(([key]) => !attributionKey.test(key));
  const others = (contact?.conversations ?? []).filter((item) => item.id !== lead.id);
  const fieldText = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
  const contactPoints: [string, string | null][] = [
    ['email', lead.email],
    ['phone', lead.phone],
    ['whatsapp', lead.whatsappId],
  ];
  return (
    <aside class={`lead-panel ${open ? 'open' : ''}`} aria-label={t.leadDetails}>
      <header class="lead-head">
        <span class="avatar" aria-hidden="true">
          {initials(displayName)}
        </span>
        <div>
          <h2 class="lead-name">{displayName}</h2>
          {lead.company && <p class="lead-company">{lead.company}</p>}
        </div>
      </header>
      <Alert text={error} />
      <section>
        <h3>{t.contactPoints}</h3>
        <ul class="contact-points">
          {contactPoints
            .filter(([, value]) => value)
            .map(([kind, value]) => {
              const channel = kind === 'phone' ? 'sms' : kind;
              return (
                <li key={kind}>
                  <span class="label">{t.contactKinds[kind as keyof typeof t.contactKinds]}</span> {value}{' '}
                  {contact?.optOuts.includes(channel) && <Badge tone="danger">{t.optedOut}</Badge>}
                </li>
              );
            })}
        </ul>
      </section>
      <section>
        <h3>{t.qualifiers}</h3>
        <InlineField label={t.name} value={lead.name ?? ''} onSave={(value) => save({ name: value || null })} />
        <InlineField label={t.company} value={lead.company ?? ''} onSave={(value) => save({ company: value || null })} />
        <InlineField label={t.segment} value={lead.segment ?? ''} onSave={(value) => save({ segment: value || null })} />
        <InlineField label={t.tags} value={lead.tags.join(', ')} onSave={(value) => save({ tags: value.split(',').map((tag) => tag.trim()).filter(Boolean) })} />
        <InlineField label={t.dealValue} value={lead.dealValue === null ? '' : String(lead.dealValue)} type="number" onSave={(value) => save({ dealValue: value === '' ? null : Number(value) })} />
      </section>
      <fieldset class="product-picker">
        <legend>{t.products}</legend>
        {products.length === 0 && <p class="hint">{t.noProducts}</p>}
        {products.map((product) => {
          const chosen = lead.products.some((item) => item.id === product.id);
          return (
            <label key={product.id} class="check">
              <input
                type="checkbox"
                checked={chosen}
                onChange={() => void save({ products: chosen ? lead.products.filter((item) => item.id !== product.id).map((item) => item.id) : [...lead.products.map((item) => item.id), product.id] })}
              />
              {product.name}
            </label>
          );
        })}
      </fieldset>
      <section>
        <h3>{t.origin}</h3>
        <dl class="facts">
          <div>
            <dt>{t.source}</dt>
            <dd>
              {lead.source ? (
                <>
                  <ChannelIcon channel={lead.channel} label={t.channels[lead.channel as keyof typeof t.channels] ?? lead.channel} /> {lead.source.name}
                </>
              ) : (
                (t.channels[lead.channel as keyof typeof t.channels] ?? lead.channel)
              )}
            </dd>
          </div>
          <div>
            <dt>{t.firstContact}</dt>
            <dd>{time(lead.createdAt)}</dd>
          </div>
          {attribution.map(([key, value]) => (
            <div key={key}>
              <dt>{t.attributionLabels[key.toLowerCase() as keyof typeof t.attributionLabels] ?? key}</dt>
              <dd>{fieldText(value)}</dd>
            </div>
          ))}
        </dl>
        {attribution.length === 0 && <p class="hint">{t.noAttribution}</p>}
      </section>
      {otherFields.length > 0 && (
        <section>
          <h3>{t.fields}</h3>
          <dl class="facts">
            {otherFields.map(([key, value]) => (
              <div key={key}>
                <dt>{key}</dt>
                <dd>{fieldText(value)}</dd>
              </div>
            ))}
          </dl>
        </section>
      )}
      <section>
        <h3>{t.otherConversations}</h3>
        {others.length === 0 ? (
          <p class="hint">{t.noOtherConversations}</p>
        ) : (
          <ul class="other-conversations">
            {others.map((item) => (
              <li key={item.id}>
                <a href={`#/inbox/${item.id}`}>
                  <ChannelIcon channel={item.channel} label={t.channels[item.channel as keyof typeof t.channels] ?? item.channel} /> {time(item.createdAt)}
                </a>{' '}
                <Badge tone={`stage-${item.stage}`}>{t.stages[item.stage as keyof typeof t.stages] ?? item.stage}</Badge>{' '}
                {item.status !== 'open' && <Badge tone="status">{t.statuses[item.status]}</Badge>}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h3>{t.stage}</h3>
        <select aria-label={t.stage} value={lead.stage} onChange={(e) => {
            const select = e.target as HTMLSelectElement;
            void stageChange(select.value, t).then((change) => {
              if (change) void save(change);
              else select.value = lead.stage;
            });
          }}
        >
          {stageSlugs.map((stage) => (
            <option key={stage} value={stage}>
              {t.stages[stage]}
            </option>
          ))}
        </select>
      </section>
      <section>
        <h3>{t.owner}</h3>
        {canReassign ? (
          <select aria-label={t.owner} value={lead.owner?.id ?? ''} onChange={(e) => void save({ ownerId: (e.target as HTMLSelectElement).value || null })}>
            <option value="">{t.unassigned}</option>
            {users
              .filter((user) => user.active)
              .map((user) => (
                <option key={user.id} value={user.id}>
                  {user.name}
                </option>
              ))}
          </select>
        ) : (
          <p>{lead.owner?.name ?? t.unassigned}</p>
        )}
        {canClaim && (
          <button type="button" onClick={() => void act(() => post(`/leads/${lead.id}/claim`))}>
            {t.claim}
          </button>
        )}
      </section>
      <section>
        <h3>
          {t.score}: {lead.score}
        </h3>
        <ul class="reasons">
          {lead.scoreReasons.map((reason) => (
            <li key={reason.rule}>
              {reason.rule}: {reason.points > 0 ? '+' : ''}
              {reason.points}
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h3>{t.followUps}</h3>
        <ul class="follow-ups">
          {followUps.map((item) => (
            <li key={item.id} class={item.status}>
              <time>{time(item.dueAt)}</time> {item.note}
              {item.status === 'open' ? (
                <button type="button" class="link" onClick={() =>
                    void askText(t.outcomePrompt).then((outcome) => (outcome === null ? undefined : act(() => post(`/follow-ups/${item.id}/complete`, { outcome }))))
                  }>
                  {t.complete}
                </button>
              ) : (
                <Badge>{item.outcome ?? t.done}</Badge>
              )}
            </li>
          ))}
        </ul>
        <form
          class="follow-up-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await post(`/leads/${lead.id}/follow-ups`, { dueAt: new Date(due).toISOString(), note });
              setDue('');
              setNote('');
            });
          }}
        >
          <input type="datetime-local" required aria-label={t.followUpWhen} value={due} onInput={(e) => setDue((e.target as HTMLInputElement).value)} />
          <input required aria-label={t.followUpNote} placeholder={t.followUpNote} value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
          <button type="submit">{t.scheduleFollowUp}</button>
        </form>
      </section>
      {(sequences.length > 0 || enrollments.length > 0) && (
        <section>
          <h3>{t.sequences}</h3>
          <ul class="enrollments">
            {enrollments.map((item) => (
              <li key={item.id}>
                {sequences.find((sequence) => sequence.id === item.sequenceId)?.name ?? item.sequenceId} <Badge>{t.enrollmentStatus[item.status]}</Badge>
                {item.status === 'active' && item.nextStepAt && <time> {time(item.nextStepAt)}</time>}
                {item.status === 'active' && (
                  <button
                    type="button"
                    class="link"
                    aria-label={t.stopSequenceNamed(sequences.find((sequence) => sequence.id === item.sequenceId)?.name ?? item.sequenceId)}
                    onClick={() => void act(() => del(`/leads/${lead.id}/sequences/${item.sequenceId}`))}
                  >
                    {t.stopSequence}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {sequences.length > 0 && (
            <select
              aria-label={t.enrolInSequence}
              value=""
              onChange={(e) => {
                const sequenceId = (e.target as HTMLSelectElement).value;
                if (sequenceId) void act(() => post(`/leads/${lead.id}/sequences`, { sequenceId }));
              }}
            >
              <option value="">{t.enrolInSequence}</option>
              {sequences.map((sequence) => (
                <option key={sequence.id} value={sequence.id}>
                  {sequence.name}
                </option>
              ))}
            </select>
          )}
        </section>
      )}
    </aside>
  );
}

/** Unqualified needs a reason, asked for on the spot; null when the person cancels. */
export async function stageChange(stage: string, t: { lossReasonPrompt: string }): Promise<Record<string, unknown> | null> {
  if (stage !== 'unqualified') return { stage };
  const lossReason = await askText(t.lossReasonPrompt);
  return lossReason === null ? null : { stage, lossReason };
}

function InlineField({ label, value, type = 'text', onSave }: { label: string; value: string; type?: 'text' | 'number'; onSave: (value: string) => void }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return (
    <label class="inline-field">
      <span>{label}</span>
      <input
        type="text"
        inputMode={type === 'number' ? 'decimal' : 'text'}
        value={draft}
        onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        onBlur={() => draft !== value && onSave(draft)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
        }}
      />
    </label>
  );
}
