/**
 * RD Station Marketing: a list of leads per post, each with its last conversion's form.
 */
import {
  ALIAS_INDEX,
  type Budget,
  type Dict,
  type Extraction,
  type Extractor,
  isDict,
  normalizeKey,
  objectFields,
  type RawField,
  scalarText,
} from '../fields.js';

/**
 * RD Station Marketing's lead webhook: `{"leads": [{uuid, name, email, personal_phone, ...,
 * last_conversion: {content: {<form fields>}, conversion_origin: {source, medium, campaign}}}]}`.
 * @see https://developers.rdstation.com/reference/webhooks
 */
export function looksLikeRdStation(root: Dict): boolean {
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

export function rdStationLead(lead: Dict, budget: Budget): Extraction {
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

/** A post of many leads gives its first here; normalizeSubmissions reads them all. */
export const rdStation: Extractor = (root, budget) =>
  looksLikeRdStation(root) ? rdStationLead((root.leads as unknown[]).find(isDict) ?? {}, budget) : undefined;
