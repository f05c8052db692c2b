import type { Prisma } from '@prisma/client';
import { newId } from '../ids.js';
import { systemActor } from '../leads/activities.js';
import { mergeContacts } from './merge.js';
import type { Identity } from './identities.js';

export type Tx = Prisma.TransactionClient;

export interface ResolvedContact {
  contactId: string;
  created: boolean;
  /** Contacts that turned out to be the same person and were merged into contactId. */
  mergedContactIds: string[];
  addedIdentities: Identity[];
}

/**
 * One person is one contact: finds every contact that owns any of the identities, merges them
 * into the oldest, and attaches the identities it did not have yet. Callers hold the locks on the
 * identities, so two events of one person never race here; the contacts themselves are locked
 * too, so a batch attaching a message to one of them and this merge never cross.
 */
export async function resolveContact(
  tx: Tx,
  workspaceId: string,
  identities: Identity[],
  details: { name?: string; company?: string },
): Promise<ResolvedContact> {
  const findKnown = () =>
    identities.length === 0
      ? Promise.resolve([])
      : tx.contactIdentity.findMany({
          where: { workspaceId, OR: identities.map(({ kind, value }) => ({ kind, value })) },
          include: { contact: true },
        });
  let known = await findKnown();
  if (new Set(known.map((row) => row.contactId)).size > 1) {
    const ids = [...new Set(known.map((row) => row.contactId))];
    await tx.$queryRaw`SELECT id FROM contacts WHERE id = ANY(${ids}::text[]) ORDER BY id FOR UPDATE`;
    // Read again under the locks: a merge that committed meanwhile moved identities.
    known = await findKnown();
  }
  const contacts = [...new Map(known.map((row) => [row.contact.id, row.contact])).values()].sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id),
  );

  if (contacts.length === 0) {
    const contactId = newId('con');
    await tx.contact.create({ data: { id: contactId, workspaceId, name: details.name ?? null, company: details.company ?? null } });
    if (identities.length > 0) {
      await tx.contactIdentity.createMany({
        data: identities.map((identity) => ({ id: newId('cid'), workspaceId, contactId, ...identity })),
      });
    }
    return { contactId, created: true, mergedContactIds: [], addedIdentities: identities };
  }

  const [primary, ...duplicates] = contacts as [(typeof contacts)[number], ...typeof contacts];
  const mergedContactIds = duplicates.map((contact) => contact.id);
  if (mergedContactIds.length > 0) {
    await mergeContacts(tx, { workspaceId, primaryId: primary.id, duplicateIds: mergedContactIds, automatic: true, actor: systemActor });
  }

  const knownValues = new Set(known.map((row) => `${row.kind}:${row.value}`));
  const addedIdentities = identities.filter((identity) => !knownValues.has(`${identity.kind}:${identity.value}`));
  if (addedIdentities.length > 0) {
    await tx.contactIdentity.createMany({
      data: addedIdentities.map((identity) => ({ id: newId('cid'), workspaceId, contactId: primary.id, ...identity })),
    });
  }
  const fill: { name?: string; company?: string } = {};
  if (!primary.name && details.name) fill.name = details.name;
  if (!primary.company && details.company) fill.company = details.company;
  if (Object.keys(fill).length > 0) await tx.contact.update({ where: { id: primary.id }, data: fill });

  return { contactId: primary.id, created: false, mergedContactIds, addedIdentities };
}
