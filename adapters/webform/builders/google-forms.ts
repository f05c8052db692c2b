/**
 * Google Forms, through an Apps Script: a list of answers, the `namedValues` of a form submit
 * event, or a row of the response sheet.
 */
import {
  type Budget,
  type Dict,
  type Extraction,
  type Extractor,
  firstDefined,
  isDict,
  isObjectLike,
  MAX_RAW_FIELDS,
  normalizeKey,
  objectFields,
  ownKeys,
  type RawField,
  scalarText,
  spend,
} from '../fields.js';

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

/** A list of answers, or the `namedValues` of a form submit event (as such, or as the whole body). */
export const googleForms: Extractor = (root, budget) => {
  const list = googleAnswerList(root);
  if (list) return googleAnswers(root, list, budget);
  if (isDict(root.namedValues)) return { builder: 'google-forms', fields: objectFields(root.namedValues, budget) };
  if (looksLikeNamedValues(root)) return { builder: 'google-forms', fields: objectFields(root, budget) };
  return undefined;
};

/** A row of the response sheet, told by its first column's header. */
export const googleSheetRow: Extractor = (root, budget) => (hasGoogleTimestamp(root) ? { builder: 'google-forms', fields: objectFields(root, budget) } : undefined);
