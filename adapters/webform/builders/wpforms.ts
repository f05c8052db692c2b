/**
 * WPForms: a list (or map) of `{id, name, type, value}` fields.
 */
import {
  type Budget,
  compact,
  type Dict,
  type Extraction,
  type Extractor,
  hintFor,
  isDict,
  MAX_RAW_FIELDS,
  parseEmbeddedJson,
  type RawField,
  scalarText,
  spend,
} from '../fields.js';

function wpformsFields(root: Dict): unknown[] | undefined {
  const source = typeof root.fields === 'string' ? parseEmbeddedJson(root.fields) : root.fields;
  const list = Array.isArray(source) ? source : isDict(source) ? Object.values(source) : undefined;
  if (!list) return undefined;
  const sample = list.slice(0, 50);
  const isWpField = (f: unknown): boolean =>
    isDict(f) && f.name !== undefined && f.value !== undefined && (f.type !== undefined || f.id !== undefined);
  return sample.length > 0 && sample.every(isWpField) ? list : undefined;
}

function readWpforms(root: Dict, list: unknown[], budget: Budget): Extraction {
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

export const wpforms: Extractor = (root, budget) => {
  const list = wpformsFields(root);
  return list ? readWpforms(root, list, budget) : undefined;
};
