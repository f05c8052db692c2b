/**
 * HubSpot: a contact with its properties and form submissions.
 */
import { type Budget, type Dict, type Extraction, type Extractor, isDict, ownKeys, type RawField, scalarText, spend } from '../fields.js';

/**
 * HubSpot's contact payload (workflow webhooks, the v1 contacts API): every property as
 * `properties.<name>.value`, with its history in `versions`.
 * @see https://legacydocs.hubspot.com/docs/methods/contacts/get_contact
 */
function looksLikeHubspot(root: Dict): boolean {
  if (!isDict(root.properties)) return false;
  const values = Object.values(root.properties).slice(0, 50);
  return values.length > 0 && values.every((v) => isDict(v) && Object.hasOwn(v, 'value'));
}

function readHubspot(root: Dict, budget: Budget): Extraction {
  const properties = root.properties as Dict;
  const fields: RawField[] = [];
  for (const key of ownKeys(properties)) {
    const property = properties[key];
    if (!isDict(property) || !spend(budget)) continue;
    // hs_* and the record's dates are HubSpot's own bookkeeping.
    if (key.startsWith('hs_') || key === 'lastmodifieddate' || key === 'createdate') continue;
    fields.push({ label: key, alternates: [], value: property.value });
  }
  const submissions = Array.isArray(root['form-submissions']) ? root['form-submissions'].filter(isDict) : [];
  const latest = submissions[0];
  if (latest?.['page-url'] !== undefined) fields.push({ label: 'page-url', alternates: [], value: latest['page-url'], hint: 'pageUrl', metaOnly: true });
  // The contact id would make every later submission of the same person a duplicate; the form conversion's id does not.
  const conversion = scalarText(latest?.['conversion-id']);
  return { builder: 'hubspot', fields, ...(conversion ? { externalId: conversion } : {}) };
}

export const hubspot: Extractor = (root, budget) => (looksLikeHubspot(root) ? readHubspot(root, budget) : undefined);
