/**
 * Maps a web-form submission, as posted by a form builder or a hand-written form, onto the
 * gateway's canonical lead fields. Pure and total: whatever the body, it returns a result and
 * never throws, because it runs on unauthenticated input before anything else has looked at it.
 *
 * Each form builder's payload is read by its own extractor (builders/), into raw fields
 * (fields.ts); assemble.ts then says what each field is and makes the submission.
 */
import { assemble, readOptions } from './assemble.js';
import { elementorAdvanced, elementorSimple } from './builders/elementor.js';
import { generic } from './builders/generic.js';
import { googleForms, googleSheetRow } from './builders/google-forms.js';
import { hubspot } from './builders/hubspot.js';
import { jotform } from './builders/jotform.js';
import { looksLikeRdStation, rdStation, rdStationLead } from './builders/rd-station.js';
import { typeform } from './builders/typeform.js';
import { wpforms } from './builders/wpforms.js';
import {
  type Budget,
  type Extraction,
  type Extractor,
  fieldList,
  isDict,
  isFieldList,
  MAX_NODES,
  type NormalizedSubmission,
  type NormalizeOptions,
  parseEmbeddedJson,
} from './fields.js';

export { type CanonicalField, type FormBuilder, type NormalizedSubmission, type NormalizeOptions, normalizeKey } from './fields.js';

/**
 * The builders' readings in the order they are tried: the first whose shape a body has reads it,
 * and a body no builder recognises is read as a generic form. A shape that another builder's
 * body could also have comes after it (Elementor's simple mode after the named values of Google
 * Forms; a sheet row, told by one header, last).
 */
const builders: readonly Extractor[] = [typeform, rdStation, jotform, hubspot, elementorAdvanced, wpforms, googleForms, elementorSimple, googleSheetRow];

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

function extract(body: unknown, budget: Budget): Extraction {
  let root: unknown = body;
  if (typeof root === 'string') root = parseEmbeddedJson(root);
  if (Array.isArray(root)) {
    if (isFieldList(root)) return { builder: 'generic', fields: fieldList(root, budget) };
    // A one-record array is how several automation tools wrap a single submission.
    root = root.length > 0 && isDict(root[0]) ? root[0] : undefined;
  }
  if (!isDict(root)) return { builder: 'generic', fields: [] };
  for (const read of builders) {
    const extraction = read(root, budget);
    if (extraction) return extraction;
  }
  return generic(root, budget);
}
