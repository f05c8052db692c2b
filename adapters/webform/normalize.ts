/**
 * Maps a web-form submission, as posted by a form builder or a hand-written form, onto the
 * gateway's canonical lead fields. Pure and total: whatever the body, it returns a result and
 * never throws, because it runs on unauthenticated input before anything else has looked at it.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { z } from 'zod';

export type CanonicalField =
  | 'name'
  | 'firstName'
  | 'lastName'
  | 'email'
  | 'phone'
  | 'message'
  | 'company'
  | 'product'
  | 'pageUrl';

export type FormBuilder = 'typeform' | 'jotform' | 'elementor' | 'wpforms' | 'google-forms' | 'rd-station' | 'hubspot' | 'generic';

export interface NormalizedSubmission {
  /** Full name; when only first/last names were given, they are joined ("Ana Souza"). */
  name?: string;
  /** Trimmed, as given: validation happens elsewhere. */
  email?: string;
  /** As given: parsing happens elsewhere. */
  phone?: string;
  message?: string;
  company?: string;
  product?: string;
  pageUrl?: string;
  /** utm_* parameters (lowercased keys) plus gclid/fbclid when present. */
  utm: Record<string, string>;
  /** The form builder's own submission id, when the payload carries one. */
  externalId?: string;
  builder: FormBuilder;
  /** Every other field, keyed by its label or key as received (trimmed). */
  custom: Record<string, string>;
  /** The honeypot field's value, only when a bot filled it in. */
  honeypot?: string;
}

export interface NormalizeOptions {
  /** Label/key → target; keys are compared after the same normalisation as the built-in aliases. */
  fieldMap?: Record<string, CanonicalField | 'ignore'>;
  /** Defaults to `_gotcha`. */
  honeypotField?: string;
  /** The country national phone numbers are read in (ISO 3166 alpha-2), when a phone is recognised by its value. */
  defaultCountry?: string;
}

const MAX_DEPTH = 10;
const MAX_VALUE_CHARS = 10_000;
const MAX_CUSTOM_FIELDS = 200;
const MAX_KEY_CHARS = 200;
const MAX_UTM_FIELDS = 50;
const MAX_EXTERNAL_ID_CHARS = 255;
// Bounds the work done on hostile bodies (huge fan-out, shared or cyclic references): every
// object, array or value visited costs one unit. Finding the fields and turning their values
// into text have separate allowances, and each value its own share, so one junk field cannot
// starve the rest.
const MAX_NODES = 20_000;
const MAX_VALUE_NODES = 50_000;
const MAX_NODES_PER_VALUE = 1_000;
const MAX_RAW_FIELDS = 1_000;
const MAX_ARRAY_ITEMS = 200;
// Jotform ships its answers as a JSON string that is routinely larger than a single field value.
const MAX_EMBEDDED_JSON_CHARS = 1_000_000;
const DEFAULT_HONEYPOT = '_gotcha';

const CANONICAL_FIELDS: readonly CanonicalField[] = [
  'name',
  'firstName',
  'lastName',
  'email',
  'phone',
  'message',
  'company',
  'product',
  'pageUrl',
];

const ALIASES: Record<CanonicalField, readonly string[]> = {
  name: [
    'name', 'fullname', 'nome', 'nomecompleto', 'seunome', 'yourname', 'contactname',
    'yourfullname', 'seunomecompleto', 'nomeesobrenome', 'firstandlastname',
    'whatsyourname', 'whatisyourname', 'qualoseunome', 'qualeoseunome', 'comovocesechama',
  ],
  firstName: [
    'firstname', 'first', 'fname', 'primeironome', 'givenname', 'yourfirstname', 'seuprimeironome',
  ],
  lastName: [
    'lastname', 'last', 'lname', 'sobrenome', 'ultimonome', 'surname', 'familyname',
    'yourlastname', 'seusobrenome',
  ],
  email: [
    'email', 'mail', 'emailaddress', 'youremail', 'seuemail', 'enderecodeemail', 'correio',
    'youremailaddress', 'respondentemail', 'workemail', 'businessemail', 'emailcorporativo',
    'seumelhoremail', 'whatsyouremail', 'whatisyouremail', 'qualoseuemail', 'qualeoseuemail',
    'emaillead',
  ],
  phone: [
    'phone', 'phonenumber', 'telephone', 'tel', 'mobile', 'mobilephone', 'cell', 'cellphone',
    'telefone', 'celular', 'whatsapp', 'fone', 'yourphone', 'yourtel', 'seutelefone',
    'numerodetelefone', 'yourphonenumber', 'mobilenumber', 'telefonecelular', 'seucelular',
    'seuwhatsapp', 'telefonecomddd', 'celularcomddd', 'whatsappcomddd', 'personalphone',
  ],
  message: [
    'message', 'mensagem', 'msg', 'comments', 'comment', 'comentario', 'comentarios',
    'yourmessage', 'suamensagem', 'duvida', 'observacoes', 'obs', 'description', 'descricao',
    'details', 'detalhes', 'howcanwehelp', 'comopodemosajudar', 'commentormessage',
  ],
  company: [
    'company', 'companyname', 'empresa', 'organization', 'organisation', 'organizacao',
    'business', 'negocio', 'yourcompany', 'suaempresa', 'nomedaempresa',
  ],
  product: [
    'product', 'produto', 'interest', 'interesse', 'service', 'servico', 'plan', 'plano',
    'productofinterest', 'produtodeinteresse',
  ],
  pageUrl: [
    'pageurl', 'page', 'url', 'pagina', 'referrer', 'referer', 'sourceurl', 'landingpage',
    'urldapagina',
  ],
};

const ALIAS_INDEX: ReadonlyMap<string, CanonicalField> = (() => {
  const index = new Map<string, CanonicalField>();
  for (const field of CANONICAL_FIELDS) for (const alias of ALIASES[field]) index.set(alias, field);
  return index;
})();

// Compared after key normalisation, so `_token`, `form_id` and `Form ID` all count as transport.
const TRANSPORT_KEYS: ReadonlySet<string> = new Set([
  'grecaptcharesponse',
  'cfturnstileresponse',
  'hcaptcharesponse',
  'token',
  'formid',
  'submissionid',
  'rawrequest',
  'pretty',
  'formtitle',
  'eventid',
  'eventtype',
  'wpnonce',
]);

const CLICK_IDS: ReadonlySet<string> = new Set(['gclid', 'fbclid']);

// Builders expose a field's input type; these types say what a field is even when its label
// is a question ("Qual é o seu e-mail?") that no alias can match.
const TYPE_HINTS: Readonly<Record<string, CanonicalField>> = {
  email: 'email',
  phone: 'phone',
  phone_number: 'phone',
  tel: 'phone',
  name: 'name',
};

type Target =
  | { kind: 'canonical'; field: CanonicalField }
  | { kind: 'utm'; key: string }
  | { kind: 'honeypot' }
  | { kind: 'drop' }
  | { kind: 'custom' };

interface RawField {
  /** The human label or key; the custom key and the first candidate for matching. */
  label: string;
  /** Other identifiers of the same field (builder ids, refs, the unprefixed key). */
  alternates: string[];
  value: unknown;
  hint?: CanonicalField;
  /** Envelope metadata: only ever fills an empty canonical field, never lands in custom. */
  metaOnly?: boolean;
}

interface Extraction {
  builder: FormBuilder;
  fields: RawField[];
  externalId?: string;
}

interface Budget {
  nodes: number;
}

type Dict = Record<string, unknown>;

export function normalizeSubmission(body: unknown, options?: NormalizeOptions): NormalizedSubmission {
  try {
    const budget: Budget = { nodes: MAX_NODES };
    const extraction = extract(body, budget);
    return assemble(extraction, readOptions(options));
  } catch {
    // Only reachable through exotic inputs (throwing getters, revoked proxies); a hostile body
    // must still produce an answer rather than a 500.
    return { utm: {}, builder: 'generic', custom: {} };
  }
}

/** How many leads of one batch post (RD Station) are taken; the rest would only be a way to flood. */
const MAX_BATCH_LEADS = 100;

/**
 * Every submission a body carries: RD Station posts its leads as a list (`{"leads": [...]}`),
 * every other builder one submission per post.
 */
export function normalizeSubmissions(body: unknown, options?: NormalizeOptions): NormalizedSubmission[] {
  try {
    const root = typeof body === 'string' ? parseEmbeddedJson(body) : body;
    if (isDict(root) && looksLikeRdStation(root)) {
      const resolved = readOptions(options);
      const budget: Budget = { nodes: MAX_NODES };
      // One result per entry, in order (an entry that is no lead gives an empty one), so callers can pair them up.
      const leads = (root.leads as unknown[]).slice(0, MAX_BATCH_LEADS);
      return leads.map((lead) => assemble(rdStationLead(isDict(lead) ? lead : {}, budget), resolved));
    }
  } catch {
    // As normalizeSubmission: an exotic body falls through to the single-submission reading.
  }
  return [normalizeSubmission(body, options)];
}

/** Lowercase, strip accents and everything that is not a letter or digit: `E-mail` → `email`. */
export function normalizeKey(key: string): string {
  return key
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

// ---------------------------------------------------------------------------------------------
// Options

interface ResolvedOptions {
  fieldMap: Map<string, CanonicalField | 'ignore'>;
  honeypot: string;
  defaultCountry?: CountryCode;
}

function readOptions(options: unknown): ResolvedOptions {
  const fieldMap = new Map<string, CanonicalField | 'ignore'>();
  let honeypot = normalizeKey(DEFAULT_HONEYPOT);
  if (!isDict(options)) return { fieldMap, honeypot };
  const map = options.fieldMap;
  if (isDict(map)) {
    for (const key of Object.keys(map).slice(0, MAX_RAW_FIELDS)) {
      const target = map[key];
      const normalized = normalizeKey(key.slice(0, MAX_KEY_CHARS));
      if (normalized === '' || typeof target !== 'string') continue;
      if (target === 'ignore' || (CANONICAL_FIELDS as readonly string[]).includes(target)) {
        fieldMap.set(normalized, target as CanonicalField | 'ignore');
      }
    }
  }
  if (typeof options.honeypotField === 'string') {
    honeypot = normalizeKey(options.honeypotField.trim().slice(0, MAX_KEY_CHARS));
  }
  const country = typeof options.defaultCountry === 'string' && /^[A-Z]{2}$/.test(options.defaultCountry) ? (options.defaultCountry as CountryCode) : undefined;
  return { fieldMap, honeypot, ...(country ? { defaultCountry: country } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Shape detection and per-builder extraction

function extract(body: unknown, budget: Budget): Extraction {
  let root: unknown = body;
  if (typeof root === 'string') root = parseEmbeddedJson(root);
  if (Array.isArray(root)) {
    if (isFieldList(root)) return { builder: 'generic', fields: fieldList(root, budget) };
    // A one-record array is how several automation tools wrap a single submission.
    root = root.length > 0 && isDict(root[0]) ? root[0] : undefined;
  }
  if (!isDict(root)) return { builder: 'generic', fields: [] };

  if (isDict(root.form_response)) return typeform(root, root.form_response, budget);
  if (looksLikeRdStation(root)) return rdStationLead((root.leads as unknown[]).find(isDict) ?? {}, budget);
  if (looksLikeJotform(root)) return jotform(root, budget);
  if (looksLikeHubspot(root)) return hubspot(root, budget);
  if (looksLikeElementorAdvanced(root)) return elementorAdvanced(root, budget);
  const wpFields = wpformsFields(root);
  if (wpFields) return wpforms(root, wpFields, budget);
  const googleList = googleAnswerList(root);
  if (googleList) return googleAnswers(root, googleList, budget);
  if (isDict(root.namedValues)) return { builder: 'google-forms', fields: objectFields(root.namedValues, budget) };
  if (looksLikeNamedValues(root)) return { builder: 'google-forms', fields: objectFields(root, budget) };
  if (looksLikeElementorSimple(root)) return elementorSimple(root, budget);
  if (hasGoogleTimestamp(root)) return { builder: 'google-forms', fields: objectFields(root, budget) };
  return generic(root, budget);
}

function typeform(root: Dict, response: Dict, budget: Budget): Extraction {
  const definitions = new Map<string, Dict>();
  collectTypeformDefinitions(isDict(response.definition) ? response.definition.fields : undefined, definitions, 0, budget);

  const fields: RawField[] = [];
  for (const answer of arrayItems(response.answers, budget)) {
    if (!isDict(answer)) continue;
    const field = isDict(answer.field) ? answer.field : {};
    const id = scalarText(field.id);
    const ref = scalarText(field.ref);
    const definition = id === undefined ? undefined : definitions.get(id);
    const title = definition ? scalarText(definition.title) : undefined;
    const label = title ?? ref ?? id ?? 'answer';
    const type = scalarText(answer.type);
    const value = type !== undefined && Object.hasOwn(answer, type) ? answer[type] : firstTypeformValue(answer);
    fields.push({
      label,
      alternates: compact([ref, id]),
      value,
      hint: hintFor(type) ?? hintFor(scalarText(field.type)),
    });
  }
  if (isDict(response.hidden)) fields.push(...objectFields(response.hidden, budget));
  // The page the typeform was embedded on; a hidden field carrying the page wins over it.
  const metadata = isDict(response.metadata) ? response.metadata : undefined;
  if (metadata && metadata.referer !== undefined) {
    fields.push({ label: 'referer', alternates: [], value: metadata.referer, hint: 'pageUrl', metaOnly: true });
  }
  return {
    builder: 'typeform',
    fields,
    externalId: scalarText(root.event_id) ?? scalarText(response.token),
  };
}

const TYPEFORM_VALUE_KEYS = [
  'text', 'email', 'phone_number', 'number', 'boolean', 'date', 'url', 'file_url', 'choice', 'choices', 'payment',
] as const;

function firstTypeformValue(answer: Dict): unknown {
  for (const key of TYPEFORM_VALUE_KEYS) if (answer[key] !== undefined) return answer[key];
  return undefined;
}

function collectTypeformDefinitions(list: unknown, into: Map<string, Dict>, depth: number, budget: Budget): void {
  if (depth > MAX_DEPTH) return;
  for (const field of arrayItems(list, budget)) {
    if (!isDict(field)) continue;
    const id = scalarText(field.id);
    if (id !== undefined && !into.has(id)) into.set(id, field);
    // Question groups nest their questions under properties.fields.
    if (isDict(field.properties)) collectTypeformDefinitions(field.properties.fields, into, depth + 1, budget);
  }
}

/**
 * RD Station Marketing's lead webhook: `{"leads": [{uuid, name, email, personal_phone, ...,
 * last_conversion: {content: {<form fields>}, conversion_origin: {source, medium, campaign}}}]}`.
 * @see https://developers.rdstation.com/reference/webhooks
 */
function looksLikeRdStation(root: Dict): boolean {
  if (!Array.isArray(root.leads)) return false;
  const sample = root.leads.slice(0, 50);
  return (
    sample.length > 0 &&
    sample.every(isDict) &&
    sample.some((lead) => isDict(lead) && (lead.uuid !== undefined || isDict(lead.last_conversion) || isDict(lead.first_conversion)))
  );
}

// The lead's RD Station record: bookkeeping, not what the person told the business.
const RD_STATION_ENVELOPE: ReadonlySet<string> = new Set([
  'id', 'uuid', 'createdat', 'user', 'opportunity', 'numberconversions', 'fitscore', 'interest', 'bio',
  'firstconversion', 'lastconversion', 'customfields',
]);
const RD_STATION_ORIGIN: Readonly<Record<string, string>> = { source: 'utm_source', medium: 'utm_medium', campaign: 'utm_campaign' };

function rdStationLead(lead: Dict, budget: Budget): Extraction {
  const last = isDict(lead.last_conversion) ? lead.last_conversion : undefined;
  const first = isDict(lead.first_conversion) ? lead.first_conversion : undefined;
  const fields: RawField[] = [];
  // What the person typed in the form of this conversion comes first; the stored profile fills the gaps.
  if (last && isDict(last.content)) fields.push(...objectFields(last.content, budget));
  for (const field of objectFields(lead, budget)) {
    const key = normalizeKey(field.label.split('.')[0] ?? '');
    if (RD_STATION_ENVELOPE.has(key)) continue;
    // The profile repeats the form's name, email and phone: it fills what the form left out, and is not kept twice.
    fields.push(ALIAS_INDEX.has(key) ? { ...field, metaOnly: true } : field);
  }
  if (isDict(lead.custom_fields)) fields.push(...objectFields(lead.custom_fields, budget));
  // Where this conversion came from; RD Station sends the origin on the first conversion only at times.
  const origin = [last, first].map((conversion) => (conversion && isDict(conversion.conversion_origin) ? conversion.conversion_origin : undefined)).find(Boolean);
  if (origin) {
    for (const [key, utm] of Object.entries(RD_STATION_ORIGIN)) {
      if (origin[key] !== undefined) fields.push({ label: utm, alternates: [], value: origin[key], metaOnly: true });
    }
  }
  // One lead converts many times: the conversion's time tells this submission from the lead's earlier ones.
  const id = scalarText(lead.uuid) ?? scalarText(lead.id);
  const at = scalarText(last?.created_at) ?? scalarText(lead.created_at);
  return { builder: 'rd-station', fields, ...(id ? { externalId: at ? `${id}:${at}` : id } : {}) };
}

/**
 * HubSpot's contact payload (workflow webhooks, the v1 contacts API): every property as
 * `properties.<name>.value`, with its history in `versions`.
 * @see https://legacydocs.hubspot.com/docs/methods/contacts/get_contact
 */
function looksLikeHubspot(root: Dict): boolean {
  if (!isDict(root.properties)) return false;
  const values = Object.values(root.properties).slice(0, 50);
  return values.length > 0 && values.every((v) => isDict(v) && Object.hasOwn(v, 'value'));
}

function hubspot(root: Dict, budget: Budget): Extraction {
  const properties = root.properties as Dict;
  const fields: RawField[] = [];
  for (const key of ownKeys(properties)) {
    const property = properties[key];
    if (!isDict(property) || !spend(budget)) continue;
    // hs_* and the record's dates are HubSpot's own bookkeeping.
    if (key.startsWith('hs_') || key === 'lastmodifieddate' || key === 'createdate') continue;
    fields.push({ label: key, alternates: [], value: property.value });
  }
  const submissions = Array.isArray(root['form-submissions']) ? root['form-submissions'].filter(isDict) : [];
  const latest = submissions[0];
  if (latest?.['page-url'] !== undefined) fields.push({ label: 'page-url', alternates: [], value: latest['page-url'], hint: 'pageUrl', metaOnly: true });
  // The contact id would make every later submission of the same person a duplicate; the form conversion's id does not.
  const conversion = scalarText(latest?.['conversion-id']);
  return { builder: 'hubspot', fields, ...(conversion ? { externalId: conversion } : {}) };
}

function looksLikeJotform(root: Dict): boolean {
  if (root.rawRequest !== undefined) return true;
  return root.formID !== undefined && (root.submissionID !== undefined || typeof root.pretty === 'string');
}

const JOTFORM_QUESTION = /^q\d+_/;

function jotform(root: Dict, budget: Budget): Extraction {
  const raw = typeof root.rawRequest === 'string' ? parseEmbeddedJson(root.rawRequest) : root.rawRequest;
  // Answers live in rawRequest; the top level is Jotform's own envelope (its `product`, `ip`,
  // `username`... are not the respondent's), so only question keys are taken from either place.
  let fields = isDict(raw) ? jotformQuestions(raw, budget) : [];
  // Jotform's "send post data" option posts the question keys at the top level instead.
  if (fields.length === 0) fields = jotformQuestions(root, budget);
  if (fields.length === 0 && typeof root.pretty === 'string') fields = parsePretty(root.pretty);
  return { builder: 'jotform', fields, externalId: scalarText(root.submissionID) };
}

function jotformQuestions(source: Dict, budget: Budget): RawField[] {
  const fields: RawField[] = [];
  for (const key of ownKeys(source)) {
    if (!JOTFORM_QUESTION.test(key)) continue;
    if (!spend(budget)) break;
    const stripped = key.replace(JOTFORM_QUESTION, '');
    fields.push({ label: stripped === '' ? key : stripped, alternates: [key], value: source[key] });
  }
  return fields;
}

/** `pretty` is "Label:Value, Label:Value"; a best effort for when rawRequest is missing. */
function parsePretty(pretty: string): RawField[] {
  const fields: RawField[] = [];
  const text = pretty.slice(0, MAX_EMBEDDED_JSON_CHARS);
  for (const pair of text.split(/,\s(?=[^,:]{1,200}:)/)) {
    if (fields.length >= MAX_RAW_FIELDS) break;
    const colon = pair.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ label: pair.slice(0, colon), alternates: [], value: pair.slice(colon + 1) });
  }
  return fields;
}

function looksLikeElementorAdvanced(root: Dict): boolean {
  if (!isDict(root.fields)) return false;
  return Object.values(root.fields)
    .slice(0, 50)
    .some((f) => isDict(f) && (f.raw_value !== undefined || (f.title !== undefined && f.value !== undefined)));
}

function elementorAdvanced(root: Dict, budget: Budget): Extraction {
  const fields: RawField[] = [];
  const source = root.fields as Dict;
  for (const key of ownKeys(source)) {
    const field = source[key];
    if (!isDict(field) || !spend(budget)) continue;
    const id = scalarText(field.id) ?? key;
    fields.push({
      label: scalarText(field.title) ?? id,
      alternates: compact([id, key]),
      value: field.value !== undefined && field.value !== '' ? field.value : field.raw_value,
      hint: hintFor(scalarText(field.type)),
    });
  }
  // Of the metadata (date, time, user agent, remote IP, credit) only the page is lead data.
  const meta = isDict(root.meta) ? root.meta : undefined;
  const page = meta && isDict(meta.page_url) ? meta.page_url : undefined;
  if (page) fields.push({ label: 'page_url', alternates: [], value: page.value, hint: 'pageUrl', metaOnly: true });
  return { builder: 'elementor', fields };
}

// Titles Elementor appends in simple mode when form metadata is switched on; Date/Time are kept
// because a form may have its own field of that name.
const ELEMENTOR_SIMPLE_META: ReadonlySet<string> = new Set(['formname', 'useragent', 'remoteip', 'poweredby']);

function looksLikeElementorSimple(root: Dict): boolean {
  if (typeof root['Powered by'] === 'string' && root['Powered by'].trim() === 'Elementor') return true;
  return typeof root.form_id === 'string' && typeof root.form_name === 'string';
}

function elementorSimple(root: Dict, budget: Budget): Extraction {
  const fields = objectFields(root, budget).filter((f) => !ELEMENTOR_SIMPLE_META.has(normalizeKey(f.label)));
  return { builder: 'elementor', fields };
}

function wpformsFields(root: Dict): unknown[] | undefined {
  const source = typeof root.fields === 'string' ? parseEmbeddedJson(root.fields) : root.fields;
  const list = Array.isArray(source) ? source : isDict(source) ? Object.values(source) : undefined;
  if (!list) return undefined;
  const sample = list.slice(0, 50);
  const isWpField = (f: unknown): boolean =>
    isDict(f) && f.name !== undefined && f.value !== undefined && (f.type !== undefined || f.id !== undefined);
  return sample.length > 0 && sample.every(isWpField) ? list : undefined;
}

function wpforms(root: Dict, list: unknown[], budget: Budget): Extraction {
  const fields: RawField[] = [];
  for (const field of list.slice(0, MAX_RAW_FIELDS)) {
    if (!isDict(field) || !spend(budget)) continue;
    const hasValue = field.value !== undefined && field.value !== null && field.value !== '';
    const value = !hasValue && (field.first !== undefined || field.last !== undefined) ? field : field.value;
    fields.push({
      label: scalarText(field.name) ?? scalarText(field.id) ?? 'field',
      alternates: compact([scalarText(field.id)]),
      value,
      hint: hintFor(scalarText(field.type)),
    });
  }
  return { builder: 'wpforms', fields, externalId: scalarText(root.entry_id) };
}

const GOOGLE_LIST_KEYS = ['answers', 'responses', 'items'] as const;
const GOOGLE_ENVELOPE: ReadonlySet<string> = new Set([
  'responseid', 'timestamp', 'submittedat', 'formid', 'formtitle', 'formurl', 'editresponseurl', 'id',
]);

function googleAnswerList(root: Dict): unknown[] | undefined {
  for (const key of GOOGLE_LIST_KEYS) {
    const list = root[key];
    if (!Array.isArray(list)) continue;
    if (list.slice(0, 50).some((a) => isDict(a) && (a.title !== undefined || a.question !== undefined))) return list;
  }
  return undefined;
}

function googleAnswers(root: Dict, list: unknown[], budget: Budget): Extraction {
  const fields: RawField[] = [];
  for (const answer of list.slice(0, MAX_RAW_FIELDS)) {
    if (!isDict(answer) || !spend(budget)) continue;
    const label = scalarText(answer.title) ?? scalarText(answer.question);
    if (label === undefined) continue;
    fields.push({ label, alternates: [], value: firstDefined(answer.response, answer.answer, answer.value) });
  }
  // Apps Scripts often add their own top-level extras (respondentEmail, utm_* from the prefill).
  for (const field of objectFields(root, budget, 0)) {
    const key = normalizeKey(field.label);
    if (GOOGLE_ENVELOPE.has(key) || (GOOGLE_LIST_KEYS as readonly string[]).includes(field.label)) continue;
    fields.push(field);
  }
  return { builder: 'google-forms', fields, externalId: scalarText(root.responseId) };
}

function looksLikeNamedValues(root: Dict): boolean {
  const values = Object.values(root).slice(0, 50);
  return values.length > 0 && values.every((v) => Array.isArray(v) && v.every((item) => !isObjectLike(item)));
}

// The first column header of a response sheet, exactly as Sheets writes it (en, pt-BR, es); a
// lowercase `timestamp` is too common in generic payloads to mean Google Forms.
const GOOGLE_TIMESTAMP_HEADERS: ReadonlySet<string> = new Set(['Timestamp', 'Carimbo de data/hora', 'Marca temporal']);

function hasGoogleTimestamp(root: Dict): boolean {
  return ownKeys(root)
    .slice(0, 50)
    .some((k) => GOOGLE_TIMESTAMP_HEADERS.has(k.trim()));
}

const GENERIC_WRAPPERS = ['data', 'fields', 'form'] as const;

function generic(root: Dict, budget: Budget): Extraction {
  // `{form: {name: "Contato"}, name: "Ana"}`: when the top level already carries lead fields the
  // nested object is form metadata, not a wrapper.
  const topLevelIsLead = ownKeys(root).some((k) => ALIAS_INDEX.has(normalizeKey(cleanKey(k))));
  for (const wrapper of topLevelIsLead ? [] : GENERIC_WRAPPERS) {
    const inner = typeof root[wrapper] === 'string' ? parseEmbeddedJson(root[wrapper] as string) : root[wrapper];
    const innerFields = isDict(inner)
      ? objectFields(inner, budget, 1)
      : Array.isArray(inner) && isFieldList(inner)
        ? fieldList(inner, budget)
        : undefined;
    if (!innerFields) continue;
    // Wrapped fields come first so they win over envelope keys of the same meaning.
    const rest = objectFields(omit(root, wrapper), budget);
    return { builder: 'generic', fields: [...innerFields, ...rest] };
  }
  return { builder: 'generic', fields: objectFields(root, budget) };
}

const DESCRIPTOR_LABEL_KEYS = ['label', 'title', 'question', 'name', 'key'] as const;
const DESCRIPTOR_VALUE_KEYS = ['value', 'answer', 'response'] as const;

/** An array of `{label|title|question|name|key, value|answer|response}` records. */
function isFieldList(list: unknown[]): boolean {
  const sample = list.slice(0, 50);
  return (
    sample.length > 0 &&
    sample.every(
      (item) =>
        isDict(item) &&
        DESCRIPTOR_LABEL_KEYS.some((k) => typeof item[k] === 'string') &&
        DESCRIPTOR_VALUE_KEYS.some((k) => item[k] !== undefined),
    )
  );
}

function fieldList(list: unknown[], budget: Budget): RawField[] {
  const fields: RawField[] = [];
  for (const item of list.slice(0, MAX_RAW_FIELDS)) {
    if (!isDict(item) || !spend(budget)) continue;
    const names = DESCRIPTOR_LABEL_KEYS.map((k) => scalarText(item[k]));
    const label = names.find((n) => n !== undefined);
    if (label === undefined) continue;
    const value = firstDefined(...DESCRIPTOR_VALUE_KEYS.map((k) => item[k]));
    fields.push({
      label,
      alternates: compact([...names.filter((n) => n !== label), scalarText(item.id)]),
      value,
      hint: hintFor(scalarText(item.type)),
    });
  }
  return fields;
}

/**
 * The entries of a urlencoded/JSON map. Nested maps (qs turns `contact[email]=` into one) are
 * walked with a dotted label, keeping the leaf key as an alternate so `contact.email` still
 * matches the `email` alias; `utm[source]=` becomes `utm_source`.
 */
function objectFields(source: Dict, budget: Budget, depth = 0, prefix = ''): RawField[] {
  const fields: RawField[] = [];
  walkObject(source, budget, depth, prefix, fields);
  return fields;
}

function walkObject(source: Dict, budget: Budget, depth: number, prefix: string, into: RawField[]): void {
  if (depth > MAX_DEPTH) return;
  const nested: [string, Dict][] = [];
  for (const rawKey of ownKeys(source)) {
    if (into.length >= MAX_RAW_FIELDS || !spend(budget)) return;
    const value = source[rawKey];
    const key = cleanKey(rawKey);
    const label = cleanKey(prefix === '' ? key : `${prefix}.${key}`);
    if (isDict(value) && !isCompound(value)) {
      nested.push([key, value]);
      continue;
    }
    into.push({ label, alternates: prefix === '' ? [] : [key], value, hint: compoundHint(value) });
  }
  // A level's own keys go first so that a nested `meta.name` never beats a top-level `name`.
  for (const [key, value] of nested) {
    const label = cleanKey(prefix === '' ? key : `${prefix}.${key}`);
    if (normalizeKey(key) === 'utm') {
      for (const child of ownKeys(value)) {
        if (into.length >= MAX_RAW_FIELDS || !spend(budget)) return;
        into.push({ label: cleanKey(`utm_${child}`), alternates: [], value: value[child] });
      }
    } else {
      walkObject(value, budget, depth + 1, label, into);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Classification and assembly

function assemble(extraction: Extraction, options: ResolvedOptions): NormalizedSubmission {
  const valueBudget: Budget = { nodes: MAX_VALUE_NODES };
  const canonical = new Map<CanonicalField, { value: string; label: string }>();
  const utm: Record<string, string> = {};
  const custom: Record<string, string> = {};
  let utmCount = 0;
  let customCount = 0;
  let honeypot: string | undefined;

  const addCustom = (rawLabel: string, value: string): void => {
    if (customCount >= MAX_CUSTOM_FIELDS) return;
    const base = cleanKey(rawLabel) || 'field';
    let key = base;
    for (let n = 2; Object.hasOwn(custom, key); n++) key = `${base} (${n})`;
    setOwn(custom, key, value);
    customCount++;
  };

  for (const field of extraction.fields) {
    const target = classify(field, options);
    if (target.kind === 'drop') continue;
    const allowance = Math.min(MAX_NODES_PER_VALUE, valueBudget.nodes);
    const local: Budget = { nodes: allowance };
    const text = toText(field.value, 0, local);
    valueBudget.nodes -= allowance - local.nodes;
    if (text === undefined) continue;
    switch (target.kind) {
      case 'honeypot':
        honeypot ??= text;
        break;
      case 'utm':
        if (!Object.hasOwn(utm, target.key) && utmCount < MAX_UTM_FIELDS) {
          setOwn(utm, target.key, text);
          utmCount++;
        } else if (!field.metaOnly) {
          addCustom(field.label, text);
        }
        break;
      case 'canonical':
        if (!canonical.has(target.field)) canonical.set(target.field, { value: text, label: field.label });
        else if (!field.metaOnly) addCustom(field.label, text);
        break;
      case 'custom':
        if (!field.metaOnly) addCustom(field.label, text);
        break;
    }
  }

  // No field's name said where the email or the phone is: a field whose whole value is one says it.
  const recognise = (field: 'email' | 'phone', test: (value: string) => boolean): void => {
    if (canonical.has(field)) return;
    const key = Object.keys(custom).find((k) => test(custom[k]!));
    if (key === undefined) return;
    canonical.set(field, { value: custom[key]!, label: key });
    delete custom[key];
  };
  recognise('email', isEmailValue);
  recognise('phone', (value) => isPhoneValue(value, options.defaultCountry));

  const result: NormalizedSubmission = { utm, builder: extraction.builder, custom };
  const first = canonical.get('firstName');
  const last = canonical.get('lastName');
  const name = canonical.get('name');
  if (name) {
    result.name = name.value;
    // Not needed for the name, but still what the person typed.
    if (first) addCustom(first.label, first.value);
    if (last) addCustom(last.label, last.value);
  } else if (first || last) {
    result.name = [first?.value, last?.value].filter((v) => v !== undefined).join(' ');
  }
  for (const field of ['email', 'phone', 'message', 'company', 'product', 'pageUrl'] as const) {
    const entry = canonical.get(field);
    if (entry) result[field] = entry.value;
  }
  const externalId = extraction.externalId?.slice(0, MAX_EXTERNAL_ID_CHARS);
  if (externalId) result.externalId = externalId;
  if (honeypot !== undefined) result.honeypot = honeypot;
  return result;
}

function classify(field: RawField, options: ResolvedOptions): Target {
  const candidates = [field.label, ...field.alternates].map((c) => cleanKey(c)).filter((c) => c !== '');
  const normalized = candidates.map(normalizeKey).filter((c) => c !== '');

  if (options.honeypot !== '' && normalized.includes(options.honeypot)) return { kind: 'honeypot' };

  for (const key of normalized) {
    const mapped = options.fieldMap.get(key);
    if (mapped === 'ignore') return { kind: 'drop' };
    if (mapped) return { kind: 'canonical', field: mapped };
  }

  const label = cleanKey(field.label);
  const labelKey = normalizeKey(label);
  if (TRANSPORT_KEYS.has(labelKey) || labelKey.startsWith('wpcf7')) return { kind: 'drop' };

  for (const candidate of candidates) {
    const key = trackingKey(candidate);
    if (key) return { kind: 'utm', key };
  }

  for (const key of normalized) {
    const alias = ALIAS_INDEX.get(key);
    if (alias) return { kind: 'canonical', field: alias };
  }

  const bySegments = segmentAlias(label);
  if (bySegments) return { kind: 'canonical', field: bySegments };

  const byQuestion = questionAlias(label);
  if (byQuestion) return { kind: 'canonical', field: byQuestion };

  const generated = CONTACT_FORM_7_GENERATED.exec(label);
  if (generated) return { kind: 'canonical', field: generated[1]!.toLowerCase() === 'tel' ? 'phone' : 'email' };

  if (field.hint) return { kind: 'canonical', field: field.hint };
  return { kind: 'custom' };
}

/** Contact Form 7's tag generator names a field after its type and a number: `tel-812`, `email-305`. */
const CONTACT_FORM_7_GENERATED = /^(tel|email)-\d+$/i;

/** Words that only make a label a question or a request: "Qual o seu WhatsApp?", "Informe seu melhor e-mail". */
const QUESTION_WORDS: ReadonlySet<string> = new Set([
  'qual', 'quais', 'e', 'o', 'a', 'os', 'as', 'seu', 'sua', 'seus', 'suas', 'meu', 'minha', 'teu', 'tua', 'de', 'do', 'da', 'para',
  'informe', 'digite', 'insira', 'coloque', 'deixe', 'aqui', 'por', 'favor', 'melhor', 'numero', 'n', 'no',
  'what', 'whats', 'is', 'your', 'my', 'the', 'please', 'enter', 'best', 'number', 'cual', 'tu', 'su', 'el',
]);

/**
 * A label that is a question around one alias: the question words go and what is left must be
 * an alias by itself. "Você tem WhatsApp?" keeps "voce tem" and stays custom.
 */
function questionAlias(label: string): CanonicalField | undefined {
  const words = label
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    // "e-mail" is one word, not the conjunction "e" and "mail".
    .replace(/\be-mail\b/g, 'email')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
  const rest = words.filter((word) => !QUESTION_WORDS.has(word));
  if (rest.length === 0 || rest.length === words.length) return undefined;
  return ALIAS_INDEX.get(rest.join(''));
}

const emailValue = z.email();

/** A whole value that is an email address, and nothing else. */
function isEmailValue(value: string): boolean {
  return value.length <= 320 && emailValue.safeParse(value).success;
}

/**
 * A whole value that is a phone number, and nothing else: only the characters phones are
 * written with, and a number valid for the form's country (or in international form).
 */
function isPhoneValue(value: string, country: CountryCode | undefined): boolean {
  if (!/^\+?[\d\s().-]{8,25}$/.test(value)) return false;
  const digits = value.replace(/\D/g, '').length;
  if (digits < 8 || digits > 15) return false;
  const parsed = parsePhoneNumberFromString(value, { ...(country ? { defaultCountry: country } : {}), extract: false });
  return parsed?.isValid() ?? false;
}

/** `utm_source`, `UTM Source`, `utmSource` → `utm_source`; `GCLID` → `gclid`. */
function trackingKey(key: string): string | undefined {
  const snake = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (/^utm_[a-z0-9]/.test(snake)) return snake;
  const compact = normalizeKey(key);
  return CLICK_IDS.has(compact) ? compact : undefined;
}

/**
 * Labels such as "Telefone/WhatsApp", "Celular (com DDD)" or "Comment or Message": split on
 * separators and accept the alias only when every recognised part agrees, so "E-mail ou
 * telefone" stays ambiguous (custom) instead of being guessed.
 */
function segmentAlias(label: string): CanonicalField | undefined {
  const segments = label.split(/[/|()[\]{},;:&+]|\s(?:or|ou|and|e)\s/i);
  if (segments.length < 2) return undefined;
  let found: CanonicalField | undefined;
  for (const segment of segments) {
    const alias = ALIAS_INDEX.get(normalizeKey(segment));
    if (!alias) continue;
    if (found && found !== alias) return undefined;
    found = alias;
  }
  return found;
}

function hintFor(type: string | undefined): CanonicalField | undefined {
  if (type === undefined) return undefined;
  return Object.hasOwn(TYPE_HINTS, type) ? TYPE_HINTS[type] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * Builder widgets that post one answer as an object: Jotform/WPForms names `{first, last}`,
 * phones `{full}` / `{area, phone}`, dates `{day, month, year}`, addresses, Typeform choices.
 */
function isCompound(value: Dict): boolean {
  return (
    value.first !== undefined ||
    value.last !== undefined ||
    value.full !== undefined ||
    (value.area !== undefined && value.phone !== undefined) ||
    (value.year !== undefined && value.month !== undefined && value.day !== undefined) ||
    value.addr_line1 !== undefined ||
    value.label !== undefined ||
    value.labels !== undefined
  );
}

function compoundHint(value: unknown): CanonicalField | undefined {
  if (!isDict(value)) return undefined;
  if (value.first !== undefined || value.last !== undefined) return 'name';
  if (value.full !== undefined || (value.area !== undefined && value.phone !== undefined)) return 'phone';
  return undefined;
}

function toText(value: unknown, depth: number, budget: Budget): string | undefined {
  if (depth > MAX_DEPTH || !spend(budget)) return undefined;
  if (Array.isArray(value)) return joinTexts(value, ', ', depth, budget);
  if (isDict(value)) return compoundText(value, depth, budget);
  const text = scalarText(value);
  return text === undefined ? undefined : clip(text);
}

function compoundText(value: Dict, depth: number, budget: Budget): string | undefined {
  const part = (key: string): string | undefined => toText(value[key], depth + 1, budget);
  if (value.label !== undefined || value.labels !== undefined) {
    // Typeform choices: "other" is the free-text option the respondent typed.
    return joinParts([part('label'), part('labels'), part('other')], ', ');
  }
  if (value.first !== undefined || value.last !== undefined) {
    return joinParts(['prefix', 'first', 'middle', 'last', 'suffix'].map(part), ' ');
  }
  if (value.full !== undefined) {
    const full = part('full');
    if (full !== undefined) return full;
  }
  if (value.phone !== undefined) {
    const country = part('country')?.replace(/^\+/, '');
    const area = part('area');
    return joinParts([country ? `+${country}` : undefined, area ? `(${area})` : undefined, part('phone')], ' ');
  }
  if (value.year !== undefined && value.month !== undefined && value.day !== undefined) {
    const [year, month, day] = [part('year'), part('month'), part('day')];
    if (year && month && day) return `${year}-${month.padStart(2, '0')}-${day.padStart(2, '0')}`;
  }
  return joinTexts(
    ownKeys(value).map((k) => value[k]),
    ', ',
    depth,
    budget,
  );
}

function joinTexts(items: unknown[], separator: string, depth: number, budget: Budget): string | undefined {
  const parts: string[] = [];
  let length = 0;
  for (const item of items.slice(0, MAX_ARRAY_ITEMS)) {
    const text = toText(item, depth + 1, budget);
    if (text === undefined) continue;
    parts.push(text);
    length += text.length + separator.length;
    if (length > MAX_VALUE_CHARS) break;
  }
  return joinParts(parts, separator);
}

function joinParts(parts: (string | undefined)[], separator: string): string | undefined {
  const present = parts.filter((p): p is string => p !== undefined && p !== '');
  return present.length === 0 ? undefined : clip(present.join(separator));
}

/** A scalar as text: strings trimmed, numbers/booleans stringified; empty means absent. */
function scalarText(value: unknown): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    text = value.toISOString();
  } else return undefined;
  text = text.length > MAX_VALUE_CHARS * 2 ? text.slice(0, MAX_VALUE_CHARS * 2) : text;
  const trimmed = text.trim();
  return trimmed === '' ? undefined : trimmed;
}

function clip(text: string): string | undefined {
  let out = text.trim();
  if (out.length > MAX_VALUE_CHARS) {
    let end = MAX_VALUE_CHARS;
    // Do not leave half of a surrogate pair at the cut.
    const code = out.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--;
    out = out.slice(0, end).trimEnd();
  }
  return out === '' ? undefined : out;
}

function cleanKey(key: string): string {
  return key.trim().slice(0, MAX_KEY_CHARS).trim();
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isDict(value: unknown): value is Dict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isObjectLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

function ownKeys(value: Dict): string[] {
  const keys = Object.keys(value);
  return keys.length > MAX_RAW_FIELDS ? keys.slice(0, MAX_RAW_FIELDS) : keys;
}

function arrayItems(value: unknown, budget: Budget): unknown[] {
  if (!Array.isArray(value)) return [];
  const items = value.slice(0, MAX_RAW_FIELDS);
  return spend(budget) ? items : [];
}

function spend(budget: Budget): boolean {
  if (budget.nodes <= 0) return false;
  budget.nodes--;
  return true;
}

function omit(source: Dict, key: string): Dict {
  const copy: Dict = {};
  for (const k of ownKeys(source)) if (k !== key) setOwn(copy, k, source[k]);
  return copy;
}

/** Assignment would treat a `__proto__` key as the prototype setter; define it as data instead. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function compact(values: (string | undefined)[]): string[] {
  return values.filter((v): v is string => v !== undefined && v !== '');
}

function firstDefined(...values: unknown[]): unknown {
  return values.find((v) => v !== undefined && v !== null);
}

function parseEmbeddedJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.length > MAX_EMBEDDED_JSON_CHARS || !/^[[{]/.test(trimmed)) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}
