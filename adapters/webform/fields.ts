/**
 * The vocabulary of a web-form submission, shared by the extractors of each form builder
 * (builders/) and the assembly of the result (assemble.ts): the canonical fields and their
 * aliases, the raw fields an extractor yields, the limits on hostile bodies, and the walks over
 * nested maps and field lists.
 */

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

export const MAX_DEPTH = 10;

export const MAX_VALUE_CHARS = 10_000;

export const MAX_KEY_CHARS = 200;
// Bounds the work done on hostile bodies (huge fan-out, shared or cyclic references): every
// object, array or value visited costs one unit. Finding the fields and turning their values
// into text have separate allowances, and each value its own share, so one junk field cannot
// starve the rest.
export const MAX_NODES = 20_000;
export const MAX_RAW_FIELDS = 1_000;

export const MAX_ARRAY_ITEMS = 200;

// Jotform ships its answers as a JSON string that is routinely larger than a single field value.
export const MAX_EMBEDDED_JSON_CHARS = 1_000_000;

export const CANONICAL_FIELDS: readonly CanonicalField[] = [
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

export const ALIAS_INDEX: ReadonlyMap<string, CanonicalField> = (() => {
  const index = new Map<string, CanonicalField>();
  for (const field of CANONICAL_FIELDS) for (const alias of ALIASES[field]) index.set(alias, field);
  return index;
})();

// Builders expose a field's input type; these types say what a field is even when its label
// is a question ("Qual é o seu e-mail?") that no alias can match.
const TYPE_HINTS: Readonly<Record<string, CanonicalField>> = {
  email: 'email',
  phone: 'phone',
  phone_number: 'phone',
  tel: 'phone',
  name: 'name',
};

export interface RawField {
  /** The human label or key; the custom key and the first candidate for matching. */
  label: string;
  /** Other identifiers of the same field (builder ids, refs, the unprefixed key). */
  alternates: string[];
  value: unknown;
  hint?: CanonicalField;
  /** Envelope metadata: only ever fills an empty canonical field, never lands in custom. */
  metaOnly?: boolean;
}

export interface Extraction {
  builder: FormBuilder;
  fields: RawField[];
  externalId?: string;
}

/** A form builder's reading of a body: its extraction when the body has the builder's shape. */
export type Extractor = (root: Dict, budget: Budget) => Extraction | undefined;

export interface Budget {
  nodes: number;
}

export type Dict = Record<string, unknown>;

/** Lowercase, strip accents and everything that is not a letter or digit: `E-mail` → `email`. */
export function normalizeKey(key: string): string {
  return key
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

export function hintFor(type: string | undefined): CanonicalField | undefined {
  if (type === undefined) return undefined;
  return Object.hasOwn(TYPE_HINTS, type) ? TYPE_HINTS[type] : undefined;
}

const DESCRIPTOR_LABEL_KEYS = ['label', 'title', 'question', 'name', 'key'] as const;

const DESCRIPTOR_VALUE_KEYS = ['value', 'answer', 'response'] as const;

/** An array of `{label|title|question|name|key, value|answer|response}` records. */
export function isFieldList(list: unknown[]): boolean {
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

export function fieldList(list: unknown[], budget: Budget): RawField[] {
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
export function objectFields(source: Dict, budget: Budget, depth = 0, prefix = ''): RawField[] {
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

/**
 * Builder widgets that post one answer as an object: Jotform/WPForms names `{first, last}`,
 * phones `{full}` / `{area, phone}`, dates `{day, month, year}`, addresses, Typeform choices.
 */
export function isCompound(value: Dict): boolean {
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

/** A scalar as text: strings trimmed, numbers/booleans stringified; empty means absent. */
export function scalarText(value: unknown): string | undefined {
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

export function cleanKey(key: string): string {
  return key.trim().slice(0, MAX_KEY_CHARS).trim();
}

export function isDict(value: unknown): value is Dict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function isObjectLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

export function ownKeys(value: Dict): string[] {
  const keys = Object.keys(value);
  return keys.length > MAX_RAW_FIELDS ? keys.slice(0, MAX_RAW_FIELDS) : keys;
}

export function arrayItems(value: unknown, budget: Budget): unknown[] {
  if (!Array.isArray(value)) return [];
  const items = value.slice(0, MAX_RAW_FIELDS);
  return spend(budget) ? items : [];
}

export function spend(budget: Budget): boolean {
  if (budget.nodes <= 0) return false;
  budget.nodes--;
  return true;
}

export function omit(source: Dict, key: string): Dict {
  const copy: Dict = {};
  for (const k of ownKeys(source)) if (k !== key) setOwn(copy, k, source[k]);
  return copy;
}

/** Assignment would treat a `__proto__` key as the prototype setter; define it as data instead. */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function compact(values: (string | undefined)[]): string[] {
  return values.filter((v): v is string => v !== undefined && v !== '');
}

export function firstDefined(...values: unknown[]): unknown {
  return values.find((v) => v !== undefined && v !== null);
}

export function parseEmbeddedJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.length > MAX_EMBEDDED_JSON_CHARS || !/^[[{]/.test(trimmed)) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}
