import { useEffect, useState } from 'preact/hooks';
import { ApiError, del, get, type List, patch, post } from '../api.js';
import { navigate, useApp } from '../context.js';
import type { Dictionary } from '../i18n.js';
import { Alert, Badge, copyText, errorText } from '../ui.js';
import { LogoField, TimeZonePicker } from './business-profile.js';
import {
  type Condition,
  ConditionEditor,
  EmailFields,
  type EmailFieldValues,
  emailSourceFields,
  EnrolEditor,
  type EnrolRule,
  emptyServer,
  HoursEditor,
  MatchEditor,
  QuietHoursEditor,
  type RuleMatch,
  type SequenceStep,
  StepsEditor,
  TwilioFields,
  MetaFields,
  type MetaFieldsValue,
  metaFieldsFor,
  type WorkingHours,
  useOptions,
} from './setup-forms.js';

/** `match`, `when`, `steps` and `enrol` have their own editors (setup-forms.tsx) holding the API's shape. */
type Editor = 'match' | 'when' | 'steps' | 'enrol';
/** `user`, `users` and `product` are picked from the workspace's lists: nobody types an id. */
type FieldType = 'text' | 'number' | 'bool' | 'password' | 'list' | 'textarea' | { options: string[] } | 'user' | 'users' | 'product' | Editor;
const editors: readonly string[] = ['match', 'when', 'steps', 'enrol'];
const isEditor = (type: FieldType): type is Editor => typeof type === 'string' && editors.includes(type);

interface Field {
  key: string;
  label: (t: Dictionary) => string;
  type: FieldType;
  /** Shown in the table. */
  column?: boolean;
}

interface Resource {
  key: string;
  path: string;
  title: (t: Dictionary) => string;
  fields: Field[];
  /** Where a new one is created, when not at `path`, and the only fields it takes there. */
  create?: { path: string; fields: string[] };
}

const f = (key: string, label: (t: Dictionary) => string, type: FieldType, column = false): Field => ({ key, label, type, column });

const resources: Resource[] = [
  {
    key: 'users',
    path: '/users',
    title: (t) => t.setup.users,
    fields: [
      f('name', (t) => t.name, 'text', true),
      f('email', (t) => t.email, 'text', true),
      f('role', (t) => t.role, { options: ['owner', 'manager', 'rep'] }, true),
      f('phone', (t) => t.phone, 'text'),
      f('active', (t) => t.active, 'bool', true),
    ],
    // A teammate is invited by email and sets their own password: nobody types one for them.
    create: { path: '/invites', fields: ['name', 'email', 'role'] },
  },
  {
    key: 'products',
    path: '/products',
    title: (t) => t.setup.products,
    fields: [f('name', (t) => t.name, 'text', true), f('keywords', (t) => t.keywords, 'list', true), f('ownerId', (t) => t.owner, 'user', true)],
  },
  { key: 'segments', path: '/segments', title: (t) => t.setup.segments, fields: [f('name', (t) => t.name, 'text', true)] },
  {
    key: 'assignment-rules',
    path: '/assignment-rules',
    title: (t) => t.setup.assignmentRules,
    fields: [
      f('name', (t) => t.name, 'text', true),
      f('priority', (t) => t.priority, 'number', true),
      f('match', (t) => t.match, 'match'),
      f('strategy', (t) => t.strategy, { options: ['round_robin', 'least_open', 'fixed'] }, true),
      f('userIds', (t) => t.userIds, 'users'),
      f('active', (t) => t.active, 'bool', true),
    ],
  },
  {
    key: 'scoring-rules',
    path: '/scoring-rules',
    title: (t) => t.setup.scoringRules,
    fields: [f('name', (t) => t.name, 'text', true), f('points', (t) => t.points, 'number', true), f('when', (t) => t.when, 'when'), f('active', (t) => t.active, 'bool', true)],
  },
  {
    key: 'templates',
    path: '/templates',
    title: (t) => t.setup.templates,
    fields: [
      f('name', (t) => t.name, 'text', true),
      f('locale', (t) => t.language, { options: ['pt-BR', 'en'] }, true),
      f('channel', (t) => t.channel, { options: ['email', 'whatsapp', 'sms'] }, true),
      f('subject', (t) => t.subject, 'text'),
      f('body', (t) => t.body, 'textarea'),
    ],
  },
  {
    key: 'sequences',
    path: '/sequences',
    title: (t) => t.setup.sequences,
    fields: [
      f('name', (t) => t.name, 'text', true),
      f('steps', (t) => t.steps, 'steps'),
      f('enrol', (t) => t.enrol, 'enrol'),
      f('exitStages', (t) => t.exitStages, 'list'),
      f('active', (t) => t.active, 'bool', true),
    ],
  },
  {
    key: 'quotas',
    path: '/quotas',
    title: (t) => t.setup.quotas,
    fields: [f('period', (t) => t.period, 'text', true), f('productId', (t) => t.product, 'product', true), f('target', (t) => t.target, 'number', true)],
  },
  {
    key: 'webhooks',
    path: '/webhooks',
    title: (t) => t.setup.webhooks,
    fields: [f('url', (t) => t.url, 'text', true), f('events', (t) => t.events, 'list', true), f('active', (t) => t.active, 'bool', true)],
  },
];

export function SetupPage({ section, itemId }: { section: string | undefined; itemId: string | undefined }) {
  const { t } = useApp();
  const current = section ?? 'sources';
  const resource = resources.find((item) => item.key === current);
  const sections: [string, string][] = [
    ['sources', t.setup.sources],
    ...resources.map((item) => [item.key, item.title(t)] as [string, string]),
    ['workspace', t.setup.workspace],
  ];
  return (
    <div class="setup">
      <nav class="setup-nav" aria-label={t.navSetup}>
        {sections.map(([key, label]) => (
          <a key={key} href={`#/setup/${key}`} class={current === key ? 'active' : ''} aria-current={current === key ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      <section class="setup-body">
        {current === 'sources' && <SourcesSection itemId={itemId} />}
        {current === 'workspace' && <WorkspaceSection />}
        {resource && <ResourceSection key={resource.key} resource={resource} itemId={itemId} />}
      </section>
    </div>
  );
}

type Row = Record<string, unknown> & { id: string };

type Named = { id: string; name: string };

function display(value: unknown, users: Named[], products: [string, string][], type: FieldType, t: Dictionary): string {
  if (typeof type === 'object' && typeof value === 'string') return t.optionLabels[value as keyof Dictionary['optionLabels']] ?? value;
  if (type === 'user') return users.find((user) => user.id === value)?.name ?? '';
  if (type === 'users' && Array.isArray(value)) return value.map((id) => users.find((user) => user.id === id)?.name ?? String(id)).join(', ');
  if (type === 'product') return products.find(([id]) => id === value)?.[1] ?? '';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'boolean') return value ? '✓' : '—';
  if (value && typeof value === 'object') return JSON.stringify(value);
  return value === null || value === undefined ? '' : String(value);
}

function ResourceSection({ resource, itemId }: { resource: Resource; itemId: string | undefined }) {
  const { t, users } = useApp();
  const products = useOptions('/products');
  const [rows, setRows] = useState<Row[] | null>(null);
  const [missing, setMissing] = useState(false);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [notice, setNotice] = useState('');
  const [error, setError] = useState('');
  const act = async (fn: () => Promise<unknown>, done: string) => {
    try {
      await fn();
      setError('');
      setNotice(done);
      setConfirming(null);
      await load();
    } catch (failure) {
      setNotice('');
      setError(errorText(failure));
    }
  };
  const load = () =>
    get<List<Row>>(`${resource.path}?limit=200`).then(
      (list) => setRows(list.data),
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 404) setMissing(true);
        else throw error;
      },
    );
  useEffect(() => {
    void load();
  }, [resource.key]);
  if (missing) return <p>{t.notAvailable}</p>;
  const editing = itemId === 'new' ? {} : rows?.find((row) => row.id === itemId);
  const columns = resource.fields.filter((field) => field.column);
  return (
    <>
      <header class="section-head">
        <h2>{resource.title(t)}</h2>
        <a class="button primary" href={`#/setup/${resource.key}/new`}>
          {t.add}
        </a>
      </header>
      {editing && (
        <ResourceForm
          key={itemId}
          resource={resource}
          row={editing as Partial<Row>}
          onDone={(created) => {
            navigate('setup', resource.key);
            if (created && resource.create) setNotice(t.inviteSent);
            void load();
          }}
        />
      )}
      <Alert text={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <table class="table">
        <thead>
          <tr>
            {columns.map((field) => (
              <th key={field.key} scope="col">
                {field.label(t)}
              </th>
            ))}
            <th scope="col">
              <span class="sr-only">{t.actions}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(rows ?? []).map((row) => (
            <tr key={row.id}>
              {columns.map((field) => (
                <td key={field.key}>{display(row[field.key], users, products, field.type, t)}</td>
              ))}
              <td class="actions">
                {confirming === row.id ? (
                  <span class="confirm-inline" role="group" aria-label={t.confirmDelete}>
                    {t.confirmDelete}{' '}
                    <button type="button" class="danger" onClick={() => void act(() => del(`${resource.path}/${encodeURIComponent(row.id)}`), t.deleted)}>
                      {t.yesDelete}
                    </button>{' '}
                    <button type="button" class="ghost" onClick={() => setConfirming(null)}>
                      {t.cancel}
                    </button>
                  </span>
                ) : (
                  <>
                    {row.invitePending === true && (
                      <>
                        <Badge>{t.invited}</Badge>{' '}
                        <button type="button" class="link" onClick={() => void act(() => post(`/users/${encodeURIComponent(row.id)}/invite`), t.inviteSent)}>
                          {t.resendInvite}
                        </button>{' '}
                      </>
                    )}
                    <a href={`#/setup/${resource.key}/${encodeURIComponent(row.id)}`}>{t.edit}</a>{' '}
                    <button type="button" class="link danger" onClick={() => setConfirming(row.id)}>
                      {t.delete}
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function toInput(value: unknown, type: FieldType): unknown {
  if (isEditor(type)) return initial(value, type);
  if (type === 'users') return Array.isArray(value) ? value : [];
  if (value === undefined || value === null) return '';
  if (type === 'list' && Array.isArray(value)) return value.join(', ');
  return String(value);
}

/** What an editor starts from: the stored value, or an empty one of the API's shape. */
function initial(value: unknown, type: Editor): unknown {
  if (type === 'enrol') return value ?? null;
  if (value !== undefined && value !== null) return value;
  if (type === 'steps') return [{ waitMinutes: 0, templateId: '' }];
  if (type === 'when') return { type: 'has_email' };
  return {};
}

function fromInput(value: unknown, type: FieldType): unknown {
  if (isEditor(type) || typeof value === 'boolean' || type === 'users') return value;
  const text = String(value ?? '');
  if (type === 'number') return text === '' ? undefined : Number(text);
  if (type === 'list') return text.split(',').map((item) => item.trim()).filter(Boolean);
  if (type === 'user' || type === 'product') return text || null;
  return text === '' ? undefined : text;
}

function ResourceForm({ resource, row, onDone }: { resource: Resource; row: Partial<Row>; onDone: (created?: boolean) => void }) {
  const { t, users } = useApp();
  const products = useOptions('/products');
  const [values, setValues] = useState<Record<string, unknown>>(() =>
    Object.fromEntries(resource.fields.map((field) => [field.key, field.type === 'bool' ? (row[field.key] ?? true) !== false : toInput(row[field.key], field.type)])),
  );
  const [error, setError] = useState('');
  const [preview, setPreview] = useState('');
  const isNew = !row.id;
  const fields = isNew && resource.create ? resource.fields.filter((field) => resource.create!.fields.includes(field.key)) : resource.fields;

  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      const body: Record<string, unknown> = {};
      for (const field of fields) {
        const value = values[field.key];
        const parsed = fromInput(value, field.type);
        if (parsed !== undefined) body[field.key] = parsed;
      }
      if (isNew) await post(resource.create?.path ?? resource.path, body);
      else await patch(`${resource.path}/${encodeURIComponent(row.id!)}`, body);
      onDone(isNew);
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  return (
    <form class="card resource-form" onSubmit={submit}>
      {isNew && resource.create && <p class="hint">{t.inviteHint}</p>}
      {fields.map((field) => {
        const value = values[field.key];
        const set = (next: unknown) => setValues((current) => ({ ...current, [field.key]: next }));
        const label = field.label(t);
        if (field.type === 'match') return <MatchEditor key={field.key} value={value as RuleMatch} onChange={set} />;
        if (field.type === 'when') return <ConditionEditor key={field.key} value={value as Condition} onChange={set} />;
        if (field.type === 'steps') return <StepsEditor key={field.key} value={value as SequenceStep[]} onChange={set} />;
        if (field.type === 'enrol') return <EnrolEditor key={field.key} value={value as EnrolRule | null} onChange={set} />;
        if (field.type === 'bool')
          return (
            <label key={field.key} class="check">
              <input type="checkbox" checked={value === true} onChange={(e) => set((e.target as HTMLInputElement).checked)} /> {label}
            </label>
          );
        if (field.type === 'users') {
          const chosen = value as string[];
          return (
            <fieldset key={field.key} class="checks">
              <legend>{label}</legend>
              {users
                .filter((user) => user.active !== false || chosen.includes(user.id))
                .map((user) => (
                  <label key={user.id} class="check">
                    <input
                      type="checkbox"
                      checked={chosen.includes(user.id)}
                      onChange={(e) => set((e.target as HTMLInputElement).checked ? [...chosen, user.id] : chosen.filter((id) => id !== user.id))}
                    />{' '}
                    {user.name}
                  </label>
                ))}
            </fieldset>
          );
        }
        if (typeof field.type === 'object' || field.type === 'user' || field.type === 'product') {
          const options =
            field.type === 'user' ? users.map((user) => [user.id, user.name]) : field.type === 'product' ? products : field.type.options.map((option) => [option, t.optionLabels[option as keyof typeof t.optionLabels] ?? option]);
          return (
            <label key={field.key}>
              {label}
              {/* Named outright: a label around a select would take its options' text into its name. */}
              <select aria-label={label} value={String(value)} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
                <option value="">—</option>
                {options.map(([id, name]) => (
                  <option key={id} value={id}>
                    {name}
                  </option>
                ))}
              </select>
            </label>
          );
        }
        if (field.type === 'textarea')
          return (
            <label key={field.key}>
              {label}
              <textarea rows={6} value={String(value)} onInput={(e) => set((e.target as HTMLTextAreaElement).value)} />
            </label>
          );
        const onInput = (e: Event) => set((e.target as HTMLInputElement).value);
        return (
          <label key={field.key}>
            {label}
            {field.type === 'password' ? (
              <input type="password" autocomplete="new-password" value={String(value)} onInput={onInput} />
            ) : field.type === 'number' ? <input type="number" value={String(value)} onInput={onInput} /> : <input type="text" autocomplete="off" value={String(value)} onInput={onInput} />}
          </label>
        );
      })}
      {resource.key === 'templates' && (
        <div class="template-preview">
          <button type="button" onClick={() => setPreview(String(values.body ?? ''))}>
            {t.preview}
          </button>
          {preview && <div class="text">{preview}</div>}
        </div>
      )}
      <Alert text={error} />
      <div class="form-actions">
        <button type="submit" class="primary">
          {isNew && resource.create ? t.sendInvite : t.save}
        </button>
        <button type="button" class="ghost" onClick={() => onDone()}>
          {t.cancel}
        </button>
      </div>
    </form>
  );
}

interface SourceView {
  id: string;
  kind: string;
  name: string;
  status: { state?: string; connectedAs?: string; lastMessageAt?: string | null; lastError?: string; detail?: string } | null;
  webhookUrl?: string;
  secret?: string;
  previousSecretValidUntil?: string | null;
  verifyToken?: string;
  webhooks?: Record<string, string>;
  address?: string;
  automaticPerPersonPerDay?: number;
  oauth?: { provider: 'google' | 'microsoft'; redirectUrl: string; state: 'not_connected' | 'connected' | 'revoked' };
}

const emptyTwilio = () => ({ accountSid: '', authToken: '', phoneNumber: '' });
const emptyMeta = (): MetaFieldsValue => ({ appSecret: '', accessToken: '', phoneNumberId: '', pageId: '', instagramAccountId: '' });
const emptyEmail = (): EmailFieldValues => ({ address: '', signIn: 'password', clientId: '', clientSecret: '', tenant: '', imap: emptyServer(993), smtp: emptyServer(465) });

function SourcesSection({ itemId }: { itemId: string | undefined }) {
  const { t, time } = useApp();
  const [sources, setSources] = useState<SourceView[]>([]);
  const [kind, setKind] = useState('webform');
  const [name, setName] = useState('');
  const [twilio, setTwilio] = useState(emptyTwilio);
  const [email, setEmail] = useState(emptyEmail);
  const [meta, setMeta] = useState(emptyMeta);
  const [error, setError] = useState('');
  const load = () => get<List<SourceView>>('/sources').then((list) => setSources(list.data));
  useEffect(() => {
    void load();
  }, []);
  const create = async (event: Event) => {
    event.preventDefault();
    try {
      const fields = kind === 'twilio' ? twilio : kind === 'email' ? emailSourceFields(email) : (metaFieldsFor(kind, meta) ?? {});
      const created = await post<SourceView>('/sources', { kind, name, ...fields });
      // Secrets leave the page once stored: the API never returns them either.
      setName('');
      setTwilio(emptyTwilio());
      setEmail(emptyEmail());
      setMeta(emptyMeta());
      setError('');
      await load();
      navigate('setup', 'sources', created.id);
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const selected = sources.find((source) => source.id === itemId);
  return (
    <>
      <header class="section-head">
        <h2>{t.setup.sources}</h2>
      </header>
      <form class="card inline-form" onSubmit={create}>
        <label>
          {t.kind}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            {['webform', 'twilio', 'email', 'whatsapp', 'whatsapp_cloud', 'instagram', 'meta_leads'].map((option) => (
              <option key={option} value={option}>
                {t.sourceKinds[option as keyof typeof t.sourceKinds]}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.name}
          <input required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        {kind === 'twilio' && <TwilioFields value={twilio} onChange={setTwilio} />}
        {kind === 'email' && <EmailFields value={email} onChange={setEmail} />}
        {metaFieldsFor(kind, meta) && <MetaFields kind={kind} value={meta} onChange={setMeta} />}
        <button type="submit" class="primary">
          {t.add}
        </button>
        <Alert text={error} />
      </form>
      {selected && <SourceDetail key={selected.id} source={selected} onChanged={() => void load()} />}
      <table class="table">
        <thead>
          <tr>
            <th scope="col">{t.name}</th>
            <th scope="col">{t.kind}</th>
            <th scope="col">{t.state}</th>
            <th scope="col">{t.lastMessage}</th>
          </tr>
        </thead>
        <tbody>
          {sources.map((source) => (
            <tr key={source.id}>
              <td>
                <a href={`#/setup/sources/${source.id}`}>{source.name}</a>
              </td>
              <td>{t.sourceKinds[source.kind as keyof typeof t.sourceKinds] ?? source.kind}</td>
              <td>{t.sourceStates[(source.status?.state ?? 'connected') as keyof typeof t.sourceStates] ?? source.status?.state}</td>
              <td>{time(source.status?.lastMessageAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function CopyField({ label, value }: { label: string; value: string }) {
  const { t } = useApp();
  const [copied, setCopied] = useState(false);
  return (
    <div class="copy-field">
      <label>
        {label}
        {value.includes('\n') ? <textarea readOnly rows={6} value={value} /> : <input readOnly value={value} />}
      </label>
      <button
        type="button"
        onClick={() =>
          void copyText(value).then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          })
        }
      >
        {copied ? t.copied : t.copy}
      </button>
    </div>
  );
}

function SourceDetail({ source, onChanged }: { source: SourceView; onChanged: () => void }) {
  const { t } = useApp();
  const [qrVersion, setQrVersion] = useState(0);
  const [qrError, setQrError] = useState(false);
  const [pairPhone, setPairPhone] = useState('');
  const [pairCode, setPairCode] = useState('');
  const [actionError, setActionError] = useState('');
  const act = (request: Promise<unknown>) => {
    setActionError('');
    request.then(onChanged, (failure: unknown) => setActionError(errorText(failure)));
  };
  useEffect(() => {
    if (source.kind !== 'whatsapp') return;
    // The QR rotates every few seconds while pairing; reload it and the status alike.
    const timer = window.setInterval(() => {
      setQrVersion((version) => version + 1);
      setQrError(false);
      onChanged();
    }, 2000);
    return () => window.clearInterval(timer);
  }, [source.id]);
  const snippet = source.webhookUrl
    ? `<form action="${source.webhookUrl}?token=${source.secret ?? ''}" method="post">\n  <input name="name" placeholder="Name" required>\n  <input name="email" type="email" placeholder="Email">\n  <input name="phone" placeholder="Phone">\n  <textarea name="message"></textarea>\n  <button type="submit">Send</button>\n</form>`
    : '';
  const state = source.status?.state ?? 'connected';
  return (
    <div class="card source-detail" aria-label={source.name}>
      <h3>{source.name}</h3>
      <Alert text={actionError} />
      {source.webhookUrl && (
        <>
          <CopyField label={t.webhookUrl} value={source.webhookUrl} />
          {source.secret && <CopyField label={t.formSecret} value={source.secret} />}
          {source.kind === 'webform' && (
            <button type="button" class="rotate-secret" onClick={() => act(post(`/sources/${source.id}/rotate-secret`, {}))}>
              {t.rotateSecret}
            </button>
          )}
          {source.previousSecretValidUntil && <p class="hint previous-secret">{t.previousSecretValidUntil(new Date(source.previousSecretValidUntil).toLocaleString())}</p>}
          {source.verifyToken && <CopyField label={t.verifyToken} value={source.verifyToken} />}
          {source.kind === 'webform' && <CopyField label={t.embedSnippet} value={snippet} />}
        </>
      )}
      {source.kind === 'webform' && <RefusedSubmissions source={source} />}
      {source.oauth && <OAuthConnect source={source} oauth={source.oauth} />}
      {source.webhooks && Object.entries(source.webhooks).map(([key, url]) => <CopyField key={key} label={`${t.twilioWebhook} (${key})`} value={url} />)}
      {source.kind === 'whatsapp' && (
        <div class="whatsapp">
          <dl class="whatsapp-status">
            <dt>{t.state}</dt>
            <dd>
              <strong class={`state-${state}`}>{t.sourceStates[state as keyof typeof t.sourceStates] ?? state}</strong>
            </dd>
            {source.status?.connectedAs && (
              <>
                <dt>{t.linkedNumber}</dt>
                <dd class="linked-number">{source.status.connectedAs}</dd>
              </>
            )}
            {source.status?.lastError && (
              <>
                <dt>{t.lastError}</dt>
                <dd class="error">{source.status.lastError}</dd>
              </>
            )}
          </dl>
          {/* While pairing the page says what to do in the reader's language; other details name a remedy. */}
          {source.status?.detail && state !== 'connected' && state !== 'pairing' && <p class="hint">{source.status.detail}</p>}
          {/* Stopped for good (logged out, banned, or replaced by another session) until linked again. */}
          {(state === 'logged_out' || state === 'error') && (
            <button type="button" onClick={() => act(patch(`/sources/${source.id}`, { relink: true }))}>
              {t.relink}
            </button>
          )}
          {state === 'connected' && <DailyCapForm source={source} />}
          {state === 'pairing' && (
            <>
              <p>{t.scanQr}</p>
              <p class="hint">{t.qrRefreshes}</p>
              {!qrError && <img class="qr" alt={t.qrCode} src={`/api/v1/sources/${source.id}/qr?v=${qrVersion}`} onError={() => setQrError(true)} onLoad={() => setQrError(false)} />}
              {qrError && <p class="hint">{t.qrWaiting}</p>}
              <form
                class="inline-form"
                onSubmit={(e) => {
                  e.preventDefault();
                  void post<{ code: string }>(`/sources/${source.id}/pairing-code`, { phone: pairPhone }).then(
                    (answer) => setPairCode(answer.code),
                    (error: unknown) => setPairCode(String(error)),
                  );
                }}
              >
                <label>
                  {t.pairWithPhone}
                  <input value={pairPhone} onInput={(e) => setPairPhone((e.target as HTMLInputElement).value)} placeholder="+55 11 9…" />
                </label>
                <button type="submit">{t.getPairingCode}</button>
                {pairCode && <output class="pairing-code">{pairCode}</output>}
              </form>
            </>
          )}
        </div>
      )}
    </div>
  );
}

/** A mailbox that signs in with Google or Microsoft: its state, and Connect, which goes to the provider's consent page and back. */
function OAuthConnect({ source, oauth }: { source: SourceView; oauth: NonNullable<SourceView['oauth']> }) {
  const { t } = useApp();
  const [error, setError] = useState('');
  const state = source.status?.state ?? 'connecting';
  const connect = () =>
    void post<{ authorizationUrl: string }>(`/sources/${source.id}/oauth/authorize`, {}).then(
      (answer) => window.location.assign(answer.authorizationUrl),
      (failure: unknown) => setError(errorText(failure)),
    );
  return (
    <div class="oauth">
      <dl class="oauth-status">
        <dt>{t.state}</dt>
        <dd>
          <strong class={`state-${state}`}>{t.sourceStates[state as keyof typeof t.sourceStates] ?? state}</strong> · {t.forms.oauthStates[oauth.state]}
        </dd>
        {source.status?.lastError && (
          <>
            <dt>{t.lastError}</dt>
            <dd class="error">{source.status.lastError}</dd>
          </>
        )}
      </dl>
      <CopyField label={t.forms.redirectUrl} value={oauth.redirectUrl} />
      <button type="button" class="primary" onClick={connect}>
        {oauth.state === 'connected' ? t.forms.connectAgain : t.forms.connect}
      </button>
      <Alert text={error} />
    </div>
  );
}

interface RefusedEvent {
  id: string;
  reason: string | null;
  receivedAt: string;
  payload: { from?: { name?: string; email?: string; phone?: string } } | null;
}

/** What the form's rate limit or spam filter turned away, each with a button that makes it a lead after all. */
function RefusedSubmissions({ source }: { source: SourceView }) {
  const { t } = useApp();
  const [rows, setRows] = useState<RefusedEvent[]>([]);
  const [error, setError] = useState('');
  const load = () =>
    get<List<RefusedEvent>>(`/inbound-events?sourceId=${encodeURIComponent(source.id)}&status=rejected&limit=50`).then(
      (list) => setRows(list.data),
      (failure: unknown) => setError(errorText(failure)),
    );
  useEffect(() => void load(), [source.id]);
  const release = async (id: string) => {
    try {
      await post(`/inbound-events/${id}/release`);
      setError('');
    } catch (failure) {
      setError(errorText(failure));
    }
    await load();
  };
  return (
    <section class="refused-submissions" aria-label={t.refusedSubmissions}>
      <h4>{t.refusedSubmissions}</h4>
      <p class="hint">{t.refusedSubmissionsHint}</p>
      {rows.length === 0 && <p>{t.noRefusedSubmissions}</p>}
      <ul>
        {rows.map((row) => {
          const from = row.payload?.from ?? {};
          return (
            <li key={row.id}>
              <span>{[from.name, from.email, from.phone].filter(Boolean).join(' · ') || row.id}</span>{' '}
              <time dateTime={row.receivedAt}>{new Date(row.receivedAt).toLocaleString()}</time>
              <p class="hint">{row.reason}</p>
              <button type="button" onClick={() => void release(row.id)}>
                {t.release}
              </button>
            </li>
          );
        })}
      </ul>
      <Alert text={error} />
    </section>
  );
}

/** How many automatic messages one person may get from the number a day (see the README's rate limits). */
function DailyCapForm({ source }: { source: SourceView }) {
  const { t } = useApp();
  const [value, setValue] = useState(String(source.automaticPerPersonPerDay ?? ''));
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const save = async (event: Event) => {
    event.preventDefault();
    try {
      await patch(`/sources/${source.id}`, { automaticPerPersonPerDay: Number(value) });
      setError('');
      setMessage(t.saved);
    } catch (failure) {
      setMessage('');
      setError(errorText(failure));
    }
  };
  return (
    <form class="inline-form daily-cap" onSubmit={save}>
      <label>
        {t.automaticPerPersonPerDay}
        <input type="number" min={1} max={20} required value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">{t.save}</button>
      {message && <output role="status">{message}</output>}
      <Alert text={error} />
      <p class="hint">{t.automaticPerPersonPerDayHint}</p>
    </form>
  );
}

function WorkspaceSection() {
  const { t } = useApp();
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [logoUploadId, setLogoUploadId] = useState<string | null | undefined>(undefined);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    void get<Record<string, unknown>>('/workspace').then(setValues);
  }, []);
  if (!values) return null;
  const set = (key: string, value: unknown) => setValues((current) => (current ? { ...current, [key]: value } : current));
  const save = async (event: Event) => {
    event.preventDefault();
    try {
      await patch('/workspace', {
        name: values.name,
        locale: values.locale,
        timeZone: values.timeZone,
        firstResponseSlaMinutes: Number(values.firstResponseSlaMinutes),
        visibility: values.visibility,
        repsCanClaim: values.repsCanClaim,
        workingHours: values.workingHours,
        quietHours: values.quietHours ?? null,
        signature: typeof values.signature === 'string' && values.signature.trim() ? values.signature : null,
        ...(logoUploadId !== undefined ? { logoUploadId } : {}),
      });
      setError('');
      setMessage(t.saved);
    } catch (failure) {
      setMessage('');
      setError(errorText(failure));
    }
  };
  const text = (key: string, label: string) => (
    <label>
      {label}
      <input value={String(values[key] ?? '')} onInput={(e) => set(key, (e.target as HTMLInputElement).value)} />
    </label>
  );
  return (
    <form class="card resource-form" onSubmit={save}>
      <h2>{t.setup.workspace}</h2>
      {text('name', t.name)}
      <label>
        {t.language}
        <select value={String(values.locale)} onChange={(e) => set('locale', (e.target as HTMLSelectElement).value)}>
          <option value="pt-BR">Português (Brasil)</option>
          <option value="en">English</option>
        </select>
      </label>
      <TimeZonePicker value={String(values.timeZone)} onChange={(zone) => set('timeZone', zone)} />
      {text('firstResponseSlaMinutes', t.slaMinutes)}
      <label>
        {t.signature}
        <textarea rows={3} maxLength={2000} value={String(values.signature ?? '')} onInput={(e) => set('signature', (e.target as HTMLTextAreaElement).value)} />
        <span class="hint">{t.signatureHint}</span>
      </label>
      <LogoField current={(values.logoUrl as string | null) ?? null} onChange={setLogoUploadId} />
      <label>
        {t.visibility}
        <select value={String(values.visibility)} onChange={(e) => set('visibility', (e.target as HTMLSelectElement).value)}>
          <option value="all">{t.visibilityAll}</option>
          <option value="own">{t.visibilityOwn}</option>
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={values.repsCanClaim === true} onChange={(e) => set('repsCanClaim', (e.target as HTMLInputElement).checked)} /> {t.repsCanClaim}
      </label>
      <HoursEditor value={(values.workingHours ?? {}) as WorkingHours} onChange={(hours) => set('workingHours', hours)} />
      <QuietHoursEditor value={(values.quietHours ?? null) as { start: string; end: string } | null} onChange={(quiet) => set('quietHours', quiet)} />
      <Alert text={error} />
      <div class="form-actions">
        <button type="submit" class="primary">
          {t.save}
        </button>
        {message && <output role="status">{message}</output>}
      </div>
    </form>
  );
}
