/**
 * Jotform: answers keyed by question (`q3_email`) in rawRequest, or posted at the top level.
 */
import {
  type Budget,
  type Dict,
  type Extraction,
  type Extractor,
  isDict,
  MAX_EMBEDDED_JSON_CHARS,
  MAX_RAW_FIELDS,
  ownKeys,
  parseEmbeddedJson,
  type RawField,
  scalarText,
  spend,
} from '../fields.js';

function looksLikeJotform(root: Dict): boolean {
  if (root.rawRequest !== undefined) return true;
  return root.formID !== undefined && (root.submissionID !== undefined || typeof root.pretty === 'string');
}

const JOTFORM_QUESTION = /^q\d+_/;

function readJotform(root: Dict, budget: Budget): Extraction {
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

export const jotform: Extractor = (root, budget) => (looksLikeJotform(root) ? readJotform(root, budget) : undefined);
