/**
 * Any other form: a map of fields (urlencoded or JSON), maybe wrapped in `data`, `fields` or
 * `form`, or a list of `{label, value}` records.
 */
import {
  ALIAS_INDEX,
  type Budget,
  cleanKey,
  type Dict,
  type Extraction,
  fieldList,
  isDict,
  isFieldList,
  normalizeKey,
  objectFields,
  omit,
  ownKeys,
  parseEmbeddedJson,
} from '../fields.js';

const GENERIC_WRAPPERS = ['data', 'fields', 'form'] as const;

export function generic(root: Dict, budget: Budget): Extraction {
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
