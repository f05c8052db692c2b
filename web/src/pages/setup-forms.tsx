import { useEffect, useId, useState } from 'preact/hooks';
import { get, type List } from '../api.js';
import { useApp } from '../context.js';
import { stageSlugs } from '../i18n.js';
import { type ChangeableList, changeableLists, onListChanged } from '../live.js';

/**
 * Form controls for the parts of setup the API takes as nested objects (rule conditions,
 * sequence steps, enrolment, connection settings, hours). Each editor holds the exact shape
 * the API accepts, so the page sends what an API client would.
 */

type Option = [value: string, label: string];

const targetValue = (event: Event) => (event.target as HTMLInputElement | HTMLSelectElement).value;
const targetChecked = (event: Event) => (event.target as HTMLInputElement).checked;

/** `{id, name}` rows of a setup list, loaded once per editor. */
export function useOptions(path: string, label: (row: Record<string, unknown>) => string = (row) => String(row.name ?? row.id)): Option[] {
  const [options, setOptions] = useState<Option[]>([]);
  useEffect(() => {
    const load = () =>
      get<List<Record<string, unknown> & { id: string }>>(`${path}?limit=200`).then(
        (list) => setOptions(list.data.map((row) => [row.id, label(row)])),
        () => setOptions([]),
      );
    void load();
    // Kept fresh from the live stream: a product or teammate added elsewhere is offered at once.
    const list = changeableLists.find((name: ChangeableList) => `/${name}` === path);
    return list ? onListChanged(list, () => void load()) : undefined;
  }, [path]);
  return options;
}

export function Select({ label, value, options, onChange, empty }: { label: string; value: string; options: Option[]; onChange: (value: string) => void; empty?: string }) {
  // Named through `for`, not by nesting: a label around a select would take its options' text into its name.
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(targetValue(e))}>
        {empty !== undefined && <option value="">{empty}</option>}
        {/* A stored value the list no longer holds stays visible rather than silently changing. */}
        {value && !options.some(([id]) => id === value) && <option value={value}>{value}</option>}
        {options.map(([id, name]) => (
          <option key={id} value={id}>
            {name}
          </option>
        ))}
      </select>
    </div>
  );
}

function NumberInput({ label, value, onChange, min, step }: { label: string; value: number | undefined; onChange: (value: number | undefined) => void; min?: number; step?: string }) {
  return (
    <label>
      {label}
      <input type="number" inputMode="decimal" min={min} step={step} value={value ?? ''} onInput={(e) => onChange(targetValue(e) === '' ? undefined : Number(targetValue(e)))} />
    </label>
  );
}

function TextInput({ label, value, onChange, type = 'text', autocomplete = 'off', required = false }: { label: string; value: string; onChange: (value: string) => void; type?: 'text' | 'password' | 'email' | 'tel'; autocomplete?: string; required?: boolean }) {
  const props = { autocomplete, required, value, onInput: (e: Event) => onChange(targetValue(e)) };
  return (
    <label>
      {label}
      {type === 'password' ? (
        <input type="password" {...props} />
      ) : type === 'email' ? (
        <input type="email" {...props} />
      ) : type === 'tel' ? (
        <input type="tel" {...props} />
      ) : (
        <input type="text" {...props} />
      )}
    </label>
  );
}

function Checks({ legend, options, selected, onChange }: { legend: string; options: Option[]; selected: string[]; onChange: (next: string[]) => void }) {
  return (
    <fieldset class="checks">
      <legend>{legend}</legend>
      {options.map(([id, name]) => (
        <label key={id} class="check">
          <input type="checkbox" checked={selected.includes(id)} onChange={(e) => onChange(targetChecked(e) ? [...selected, id] : selected.filter((item) => item !== id))} /> {name}
        </label>
      ))}
    </fieldset>
  );
}

const leadChannels = ['webform', 'whatsapp', 'instagram', 'voice', 'sms', 'email'] as const;
const sendChannels = ['email', 'whatsapp', 'sms'] as const;

function useChannelOptions(channels: readonly string[]): Option[] {
  const { t } = useApp();
  return channels.map((channel) => [channel, t.channels[channel as keyof typeof t.channels] ?? channel]);
}

function useStageOptions(): Option[] {
  const { t } = useApp();
  return stageSlugs.map((stage) => [stage, t.stages[stage]]);
}

/** Drops keys whose value is empty: the API reads a missing key as "any". */
function compact<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined && item !== '' && !(Array.isArray(item) && item.length === 0))) as T;
}

// ——— Assignment rules ———

export interface RuleMatch {
  productId?: string;
  segmentId?: string;
  sourceId?: string;
  channel?: string;
}

export function MatchEditor({ value, onChange }: { value: RuleMatch; onChange: (value: RuleMatch) => void }) {
  const { t } = useApp();
  const products = useOptions('/products');
  const segments = useOptions('/segments');
  const sources = useOptions('/sources');
  const channels = useChannelOptions(leadChannels);
  const set = (key: keyof RuleMatch, next: string) => onChange(compact({ ...value, [key]: next }));
  return (
    <fieldset class="subform">
      <legend>{t.match}</legend>
      <Select label={t.product} value={value.productId ?? ''} options={products} empty={t.forms.any} onChange={(next) => set('productId', next)} />
      <Select label={t.segment} value={value.segmentId ?? ''} options={segments} empty={t.forms.any} onChange={(next) => set('segmentId', next)} />
      <Select label={t.forms.source} value={value.sourceId ?? ''} options={sources} empty={t.forms.any} onChange={(next) => set('sourceId', next)} />
      <Select label={t.forms.channel} value={value.channel ?? ''} options={channels} empty={t.forms.any} onChange={(next) => set('channel', next)} />
    </fieldset>
  );
}

// ——— Scoring rules ———

/** A scoring condition as `src/leads/scoring.ts` takes it: a `type` and that type's own fields. */
export type Condition = { type: string } & Record<string, unknown>;

const conditionTypes = ['has_email', 'has_phone', 'segment', 'deal_value', 'product', 'channel', 'custom_field', 'tag', 'replied', 'opened', 'recent_messages', 'stage_reached', 'inactive'] as const;
type Comparison = 'equals' | 'contains' | 'gte';

export function ConditionEditor({ value, onChange }: { value: Condition | null; onChange: (value: Condition) => void }) {
  const { t } = useApp();
  const products = useOptions('/products');
  const segments = useOptions('/segments');
  const channels = useChannelOptions(leadChannels);
  const stages = useStageOptions();
  const when: Condition = value ?? { type: 'has_email' };
  const set = (key: string, next: unknown) => onChange(compact({ ...when, [key]: next }));
  // Remembered apart from the value: an empty "at least" would otherwise read back as "equals".
  const [comparison, setKind] = useState<Comparison>(() => (when.gte !== undefined ? 'gte' : when.contains !== undefined ? 'contains' : 'equals'));
  const comparedValue = String(when[comparison] ?? '');
  const setComparison = (kind: Comparison, text: string) => {
    setKind(kind);
    const { equals: _equals, contains: _contains, gte: _gte, ...rest } = when;
    const parsed: unknown = kind === 'gte' ? (text === '' ? undefined : Number(text)) : text;
    onChange({ ...rest, type: when.type, [kind]: parsed } as Condition);
  };
  return (
    <fieldset class="subform">
      <legend>{t.when}</legend>
      <Select
        label={t.forms.conditionType}
        value={when.type}
        options={conditionTypes.map((type) => [type, t.forms.conditionTypes[type]])}
        onChange={(type) => onChange(type === 'custom_field' ? { type, equals: '' } : { type })}
      />
      {/* Segments are matched by name: a lead's segment is free text the qualifier fills in. */}
      {when.type === 'segment' && (
        <Select label={t.segment} value={String(when.segment ?? '')} options={segments.map(([, name]) => [name, name])} empty="—" onChange={(next) => set('segment', next)} />
      )}
      {when.type === 'deal_value' && <NumberInput label={t.forms.amount} min={0} step="any" value={when.over as number | undefined} onChange={(next) => set('over', next)} />}
      {when.type === 'product' && <Select label={t.product} value={String(when.productId ?? '')} options={products} empty="—" onChange={(next) => set('productId', next)} />}
      {when.type === 'channel' && <Select label={t.forms.channel} value={String(when.channel ?? '')} options={channels} empty="—" onChange={(next) => set('channel', next)} />}
      {when.type === 'custom_field' && (
        <>
          <TextInput label={t.forms.fieldName} value={String(when.field ?? '')} onChange={(next) => set('field', next)} />
          <Select
            label={t.forms.comparison}
            value={comparison}
            options={(['equals', 'contains', 'gte'] as const).map((kind) => [kind, t.forms.comparisons[kind]])}
            onChange={(kind) => setComparison(kind as Comparison, comparedValue)}
          />
          <TextInput label={t.forms.value} value={comparedValue} onChange={(next) => setComparison(comparison, next)} />
        </>
      )}
      {when.type === 'tag' && <TextInput label={t.tag} value={String(when.tag ?? '')} onChange={(next) => set('tag', next)} />}
      {when.type === 'recent_messages' && (
        <>
          <NumberInput label={t.forms.atLeastMessages} min={1} value={when.atLeast as number | undefined} onChange={(next) => set('atLeast', next)} />
          <NumberInput label={t.forms.days} min={1} value={when.days as number | undefined} onChange={(next) => set('days', next)} />
        </>
      )}
      {when.type === 'stage_reached' && <Select label={t.stage} value={String(when.stage ?? '')} options={stages} empty="—" onChange={(next) => set('stage', next)} />}
      {when.type === 'inactive' && <NumberInput label={t.forms.days} min={1} value={when.days as number | undefined} onChange={(next) => set('days', next)} />}
    </fieldset>
  );
}

// ——— Sequences ———

export interface SequenceStep {
  waitMinutes: number;
  templateId: string;
  channel?: string;
  /** Kept as stored: the form does not edit per-step conditions. */
  when?: Record<string, unknown>;
}

const unitMinutes = { minutes: 1, hours: 60, days: 1440 } as const;
type WaitUnit = keyof typeof unitMinutes;

function largestUnit(minutes: number): WaitUnit {
  if (minutes > 0 && minutes % 1440 === 0) return 'days';
  if (minutes > 0 && minutes % 60 === 0) return 'hours';
  return 'minutes';
}

function StepRow({ step, index, count, templates, onChange, onMove, onRemove }: {
  step: SequenceStep;
  index: number;
  count: number;
  templates: Option[];
  onChange: (step: SequenceStep) => void;
  onMove: (offset: number) => void;
  onRemove: () => void;
}) {
  const { t } = useApp();
  const channels = useChannelOptions(sendChannels);
  // The unit is a display choice: remembered while editing, so typing "0" does not flip it back.
  const [unit, setUnit] = useState<WaitUnit>(() => largestUnit(step.waitMinutes));
  const amount = step.waitMinutes / unitMinutes[unit];
  return (
    <fieldset class="subform step-row">
      <legend>{t.forms.step(index + 1)}</legend>
      <div class="wait">
        <NumberInput label={t.forms.wait} min={0} step="any" value={Number.isFinite(amount) ? amount : 0} onChange={(next) => onChange({ ...step, waitMinutes: Math.round((next ?? 0) * unitMinutes[unit]) })} />
        <Select
          label={t.forms.unit}
          value={unit}
          options={(['minutes', 'hours', 'days'] as const).map((item) => [item, t.forms.waitUnits[item]])}
          onChange={(next) => {
            setUnit(next as WaitUnit);
            onChange({ ...step, waitMinutes: Math.round(amount * unitMinutes[next as WaitUnit]) });
          }}
        />
      </div>
      <Select label={t.forms.template} value={step.templateId} options={templates} empty="—" onChange={(templateId) => onChange({ ...step, templateId })} />
      <Select label={t.forms.channel} value={step.channel ?? ''} options={channels} empty={t.forms.channelDefault} onChange={(channel) => onChange(compact({ ...step, channel }))} />
      <div class="row-actions">
        <button type="button" disabled={index === 0} onClick={() => onMove(-1)} aria-label={`${t.forms.moveUp}: ${t.forms.step(index + 1)}`}>
          ↑
        </button>
        <button type="button" disabled={index === count - 1} onClick={() => onMove(1)} aria-label={`${t.forms.moveDown}: ${t.forms.step(index + 1)}`}>
          ↓
        </button>
        <button type="button" class="link danger" disabled={count === 1} onClick={onRemove}>
          {t.forms.removeStep}
        </button>
      </div>
    </fieldset>
  );
}

export function StepsEditor({ value, onChange }: { value: SequenceStep[]; onChange: (value: SequenceStep[]) => void }) {
  const { t } = useApp();
  // Shipped templates have ids like "pt-BR.follow_up.email"; a workspace's own are tpl_….
  const templates = useOptions('/templates', (row) => `${String(row.name)} · ${String(row.locale)} · ${String(row.channel)}`);
  // Row keys survive reordering, so each row keeps its own unit choice.
  const [keys, setKeys] = useState<number[]>(() => value.map((_, index) => index));
  const steps = value.length > 0 ? value : [{ waitMinutes: 0, templateId: '' }];
  const rowKeys = keys.length === steps.length ? keys : steps.map((_, index) => index);
  const update = (next: SequenceStep[], nextKeys: number[]) => {
    setKeys(nextKeys);
    onChange(next);
  };
  return (
    <fieldset class="subform steps">
      <legend>{t.steps}</legend>
      {steps.map((step, index) => (
        <StepRow
          key={rowKeys[index]}
          step={step}
          index={index}
          count={steps.length}
          templates={templates}
          onChange={(changed) => update(steps.map((item, at) => (at === index ? changed : item)), rowKeys)}
          onMove={(offset) => {
            const order = steps.map((_, at) => at);
            [order[index], order[index + offset]] = [order[index + offset]!, order[index]!];
            update(
              order.map((at) => steps[at]!),
              order.map((at) => rowKeys[at]!),
            );
          }}
          onRemove={() =>
            update(
              steps.filter((_, at) => at !== index),
              rowKeys.filter((_, at) => at !== index),
            )
          }
        />
      ))}
      <button type="button" onClick={() => update([...steps, { waitMinutes: 1440, templateId: '' }], [...rowKeys, Math.max(-1, ...rowKeys) + 1])}>
        {t.forms.addStep}
      </button>
    </fieldset>
  );
}

export interface EnrolRule {
  stages?: string[];
  productIds?: string[];
  routing?: string;
}

export function EnrolEditor({ value, onChange }: { value: EnrolRule | null; onChange: (value: EnrolRule | null) => void }) {
  const { t } = useApp();
  const products = useOptions('/products');
  const stages = useStageOptions();
  const set = (key: keyof EnrolRule, next: unknown) => onChange(compact({ ...(value ?? {}), [key]: next }));
  return (
    <fieldset class="subform">
      <legend>{t.enrol}</legend>
      <div role="radiogroup" aria-label={t.forms.enrolMode} class="checks">
        <label class="check">
          <input type="radio" name="enrol-mode" checked={value === null} onChange={() => onChange(null)} /> {t.forms.enrolManual}
        </label>
        <label class="check">
          <input type="radio" name="enrol-mode" checked={value !== null} onChange={() => onChange(value ?? {})} /> {t.forms.enrolAuto}
        </label>
      </div>
      {value !== null && (
        <>
          <Checks legend={t.forms.enrolStages} options={stages} selected={value.stages ?? []} onChange={(next) => set('stages', next)} />
          {products.length > 0 && <Checks legend={t.forms.enrolProducts} options={products} selected={value.productIds ?? []} onChange={(next) => set('productIds', next)} />}
          <Select
            label={t.forms.routing}
            value={value.routing ?? ''}
            options={(['sales', 'nurture'] as const).map((routing) => [routing, t.forms.routings[routing]])}
            empty={t.forms.any}
            onChange={(next) => set('routing', next)}
          />
        </>
      )}
    </fieldset>
  );
}

// ——— Sources ———

export interface ServerFields {
  host: string;
  port: number | undefined;
  secure: boolean;
  user: string;
  password: string;
}

const otherPort: Record<number, number> = { 993: 143, 143: 993, 465: 587, 587: 465 };

export const emptyServer = (port: number): ServerFields => ({ host: '', port, secure: true, user: '', password: '' });

export function ServerEditor({ legend, value, onChange }: { legend: string; value: ServerFields; onChange: (value: ServerFields) => void }) {
  const { t } = useApp();
  const set = <K extends keyof ServerFields>(key: K, next: ServerFields[K]) => onChange({ ...value, [key]: next });
  // A standard port follows the TLS choice (IMAPS 993 / IMAP 143, SMTPS 465 / submission 587); any other stays.
  const toggleSecure = (secure: boolean) => onChange({ ...value, secure, port: value.port === undefined ? undefined : (otherPort[value.port] ?? value.port) });
  return (
    <fieldset class="subform server">
      <legend>{legend}</legend>
      <TextInput label={t.forms.host} required value={value.host} onChange={(next) => set('host', next)} />
      <NumberInput label={t.forms.port} min={1} value={value.port} onChange={(next) => set('port', next)} />
      <label class="check">
        <input type="checkbox" checked={value.secure} onChange={(e) => toggleSecure(targetChecked(e))} /> {t.forms.secure}
      </label>
      <TextInput label={t.forms.user} required value={value.user} onChange={(next) => set('user', next)} />
      <TextInput label={t.password} type="password" autocomplete="new-password" required value={value.password} onChange={(next) => set('password', next)} />
    </fieldset>
  );
}

export function TwilioFields({ value, onChange }: { value: { accountSid: string; authToken: string; phoneNumber: string }; onChange: (value: { accountSid: string; authToken: string; phoneNumber: string }) => void }) {
  const { t } = useApp();
  return (
    <fieldset class="subform wide">
      <legend>{t.connectionSettings}</legend>
      <TextInput label={t.forms.accountSid} required value={value.accountSid} onChange={(accountSid) => onChange({ ...value, accountSid })} />
      <TextInput label={t.forms.authToken} type="password" autocomplete="new-password" required value={value.authToken} onChange={(authToken) => onChange({ ...value, authToken })} />
      <TextInput label={t.forms.phoneNumber} type="tel" required value={value.phoneNumber} onChange={(phoneNumber) => onChange({ ...value, phoneNumber })} />
    </fieldset>
  );
}

export interface MetaFieldsValue {
  appSecret: string;
  accessToken: string;
  phoneNumberId: string;
  pageId: string;
  instagramAccountId: string;
}

/** The ids and secrets each Meta source kind takes; secrets in password fields, never shown back. */
const metaFieldsOf: Record<string, (keyof MetaFieldsValue)[]> = {
  whatsapp_cloud: ['appSecret', 'accessToken', 'phoneNumberId'],
  meta_leads: ['appSecret', 'accessToken', 'pageId'],
  instagram: ['appSecret', 'accessToken', 'pageId', 'instagramAccountId'],
};

export function metaFieldsFor(kind: string, value: MetaFieldsValue): Partial<MetaFieldsValue> | null {
  const names = metaFieldsOf[kind];
  return names ? Object.fromEntries(names.map((name) => [name, value[name]])) : null;
}

export function MetaFields({ kind, value, onChange }: { kind: string; value: MetaFieldsValue; onChange: (value: MetaFieldsValue) => void }) {
  const { t } = useApp();
  return (
    <fieldset class="subform wide">
      <legend>{t.connectionSettings}</legend>
      {(metaFieldsOf[kind] ?? []).map((name) => (
        <TextInput
          key={name}
          label={t.forms[name]}
          {...(name === 'appSecret' || name === 'accessToken' ? { type: 'password' as const, autocomplete: 'new-password' } : {})}
          required
          value={value[name]}
          onChange={(text) => onChange({ ...value, [name]: text.trim() })}
        />
      ))}
    </fieldset>
  );
}

export type SignIn = 'password' | 'google' | 'microsoft';
export interface EmailFieldValues {
  address: string;
  signIn: SignIn;
  clientId: string;
  clientSecret: string;
  tenant: string;
  imap: ServerFields;
  smtp: ServerFields;
}

/** What the API takes for a mailbox: its own servers and passwords, or the provider's with an OAuth client. */
export function emailSourceFields(value: EmailFieldValues): Record<string, unknown> {
  if (value.signIn === 'password') return { address: value.address, imap: value.imap, smtp: value.smtp };
  return {
    address: value.address,
    oauth: { provider: value.signIn, clientId: value.clientId, clientSecret: value.clientSecret, ...(value.signIn === 'microsoft' && value.tenant ? { tenant: value.tenant } : {}) },
  };
}

export function EmailFields({ value, onChange }: { value: EmailFieldValues; onChange: (value: EmailFieldValues) => void }) {
  const { t } = useApp();
  const [redirectUrl, setRedirectUrl] = useState('');
  useEffect(() => {
    if (value.signIn === 'password' || redirectUrl) return;
    void get<{ redirectUrl: string }>('/oauth').then((answer) => setRedirectUrl(answer.redirectUrl));
  }, [value.signIn]);
  return (
    <fieldset class="subform wide">
      <legend>{t.connectionSettings}</legend>
      <TextInput label={t.forms.address} type="email" required value={value.address} onChange={(address) => onChange({ ...value, address })} />
      <label>
        {t.forms.signInWith}
        <select value={value.signIn} onChange={(e) => onChange({ ...value, signIn: (e.target as HTMLSelectElement).value as SignIn })}>
          {(['password', 'google', 'microsoft'] as const).map((option) => (
            <option key={option} value={option}>
              {t.forms.signInWiths[option]}
            </option>
          ))}
        </select>
      </label>
      {value.signIn === 'password' ? (
        <>
          <ServerEditor legend={t.forms.imap} value={value.imap} onChange={(imap) => onChange({ ...value, imap })} />
          <ServerEditor legend={t.forms.smtp} value={value.smtp} onChange={(smtp) => onChange({ ...value, smtp })} />
        </>
      ) : (
        <>
          <p class="hint">{t.forms.oauthHint}</p>
          <label>
            {t.forms.redirectUrl}
            <input readOnly class="redirect-url" value={redirectUrl} />
          </label>
          <TextInput label={t.forms.clientId} required value={value.clientId} onChange={(clientId) => onChange({ ...value, clientId })} />
          <TextInput label={t.forms.clientSecret} type="password" autocomplete="new-password" required value={value.clientSecret} onChange={(clientSecret) => onChange({ ...value, clientSecret })} />
          {value.signIn === 'microsoft' && <TextInput label={t.forms.tenant} value={value.tenant} onChange={(tenant) => onChange({ ...value, tenant })} />}
        </>
      )}
    </fieldset>
  );
}

// ——— Workspace ———

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type WorkingHours = Partial<Record<(typeof weekdays)[number], [string, string][]>>;

/** An `<input type="time">` cannot show 24:00: an empty "to" stands for the end of the day. */
const toField = (end: string) => (end === '24:00' ? '' : end);
const fromField = (end: string) => (end === '' ? '24:00' : end);

export function HoursEditor({ value, onChange }: { value: WorkingHours; onChange: (value: WorkingHours) => void }) {
  const { t } = useApp();
  return (
    <fieldset class="subform hours">
      <legend>{t.workingHours}</legend>
      <p class="hint">{t.forms.toHint}</p>
      {weekdays.map((day) => {
        const intervals = value[day] ?? [];
        const [first, ...others] = intervals;
        const name = t.forms.weekdays[day];
        // Only the first interval is edited here; further ones (a lunch break, say) are kept as they are.
        const setFirst = (next: [string, string] | undefined) => onChange({ ...value, [day]: next ? [next, ...others] : [] });
        return (
          <div key={day} class="day" role="group" aria-label={name}>
            <label class="check">
              <input type="checkbox" checked={first !== undefined} onChange={(e) => setFirst(targetChecked(e) ? ['09:00', '18:00'] : undefined)} /> {name}
            </label>
            {first && (
              <>
                <label>
                  {t.forms.from}
                  <input type="time" required aria-label={`${name}: ${t.forms.from}`} value={first[0]} onInput={(e) => setFirst([targetValue(e), first[1]])} />
                </label>
                <label>
                  {t.forms.to}
                  <input type="time" aria-label={`${name}: ${t.forms.to}`} value={toField(first[1])} onInput={(e) => setFirst([first[0], fromField(targetValue(e))])} />
                </label>
              </>
            )}
          </div>
        );
      })}
    </fieldset>
  );
}

export function QuietHoursEditor({ value, onChange }: { value: { start: string; end: string } | null; onChange: (value: { start: string; end: string } | null) => void }) {
  const { t } = useApp();
  return (
    <fieldset class="subform hours">
      <legend>{t.quietHours}</legend>
      <div class="day">
        <label class="check">
          <input type="checkbox" checked={value !== null} onChange={(e) => onChange(targetChecked(e) ? { start: '21:00', end: '08:00' } : null)} /> {t.forms.quietOn}
        </label>
        {value && (
          <>
            <label>
              {t.forms.from}
              <input type="time" required aria-label={`${t.quietHours}: ${t.forms.from}`} value={value.start} onInput={(e) => onChange({ ...value, start: targetValue(e) })} />
            </label>
            <label>
              {t.forms.to}
              <input type="time" aria-label={`${t.quietHours}: ${t.forms.to}`} value={toField(value.end)} onInput={(e) => onChange({ ...value, end: fromField(targetValue(e)) })} />
            </label>
          </>
        )}
      </div>
    </fieldset>
  );
}
