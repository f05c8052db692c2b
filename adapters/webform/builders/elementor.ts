/**
 * Elementor Pro's form webhook, in its advanced mode (fields by id with title and type) and
 * its simple one (one key per field title).
 */
import {
  type Budget,
  compact,
  type Dict,
  type Extraction,
  type Extractor,
  hintFor,
  isDict,
  normalizeKey,
  objectFields,
  ownKeys,
  type RawField,
  scalarText,
  spend,
} from '../fields.js';

function looksLikeElementorAdvanced(root: Dict): boolean {
  if (!isDict(root.fields)) return false;
  return Object.values(root.fields)
    .slice(0, 50)
    .some((f) => isDict(f) && (f.raw_value !== undefined || (f.title !== undefined && f.value !== undefined)));
}

function readElementorAdvanced(root: Dict, budget: Budget): Extraction {
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

function readElementorSimple(root: Dict, budget: Budget): Extraction {
  const fields = objectFields(root, budget).filter((f) => !ELEMENTOR_SIMPLE_META.has(normalizeKey(f.label)));
  return { builder: 'elementor', fields };
}

export const elementorAdvanced: Extractor = (root, budget) => (looksLikeElementorAdvanced(root) ? readElementorAdvanced(root, budget) : undefined);

export const elementorSimple: Extractor = (root, budget) => (looksLikeElementorSimple(root) ? readElementorSimple(root, budget) : undefined);
