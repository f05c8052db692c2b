/**
 * What each raw field of a submission is (a canonical field, a tracking parameter, the honeypot,
 * transport to drop, or a custom field), and the submission they make together.
 */
import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js';
import { z } from 'zod';
import { contactForm7Field, isContactForm7Transport } from './builders/contact-form-7.js';
import {
  ALIAS_INDEX,
  type Budget,
  CANONICAL_FIELDS,
  type CanonicalField,
  cleanKey,
  type Dict,
  type Extraction,
  isDict,
  MAX_ARRAY_ITEMS,
  MAX_DEPTH,
  MAX_KEY_CHARS,
  MAX_RAW_FIELDS,
  MAX_VALUE_CHARS,
  type NormalizedSubmission,
  normalizeKey,
  ownKeys,
  type RawField,
  scalarText,
  setOwn,
  spend,
} from './fields.js';

const MAX_CUSTOM_FIELDS = 200;

const MAX_UTM_FIELDS = 50;

const MAX_EXTERNAL_ID_CHARS = 255;

const MAX_VALUE_NODES = 50_000;

const MAX_NODES_PER_VALUE = 1_000;

const DEFAULT_HONEYPOT = '_gotcha';

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

type Target =
  | { kind: 'canonical'; field: CanonicalField }
  | { kind: 'utm'; key: string }
  | { kind: 'honeypot' }
  | { kind: 'drop' }
  | { kind: 'custom' };

export interface ResolvedOptions {
  fieldMap: Map<string, CanonicalField | 'ignore'>;
  honeypot: string;
  defaultCountry?: CountryCode;
}

export function readOptions(options: unknown): ResolvedOptions {
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

export function assemble(extraction: Extraction, options: ResolvedOptions): NormalizedSubmission {
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
  if (TRANSPORT_KEYS.has(labelKey) || isContactForm7Transport(labelKey)) return { kind: 'drop' };

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

  const generated = contactForm7Field(label);
  if (generated) return { kind: 'canonical', field: generated };

  if (field.hint) return { kind: 'canonical', field: field.hint };
  return { kind: 'custom' };
}

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
