/**
 * Typeform's webhook: `{event_id, form_response: {token, definition, answers, hidden, metadata}}`.
 * @see https://www.typeform.com/developers/webhooks/example-payload/
 */
import {
  arrayItems,
  type Budget,
  compact,
  type Dict,
  type Extraction,
  type Extractor,
  hintFor,
  isDict,
  MAX_DEPTH,
  objectFields,
  type RawField,
  scalarText,
} from '../fields.js';

function readTypeform(root: Dict, response: Dict, budget: Budget): Extraction {
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

export const typeform: Extractor = (root, budget) => (isDict(root.form_response) ? readTypeform(root, root.form_response, budget) : undefined);
