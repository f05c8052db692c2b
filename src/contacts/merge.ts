import type { Prisma } from '@prisma/client';
import { ProblemError } from '../errors.js';
import { newId } from '../ids.js';
import type { Actor } from '../leads/activities.js';
import { identityLockKey } from './identities.js';

type Tx = Prisma.TransactionClient;

interface MovedOptOut {
  channel: string;
  reason: string | null;
  createdAt: string;
}

/**
 * Moves everything of `duplicateIds` (identities, leads with their timelines, opt-outs) into
 * `primaryId` and marks them merged, recording each merge so that it can be undone. The caller
 * holds the locks on the contacts' rows.
 */
export async function mergeContacts(
  tx: Tx,
  input: { workspaceId: string; primaryId: string; duplicateIds: string[]; automatic: boolean; actor: Actor },
): Promise<string[]> {
  const { workspaceId, primaryId } = input;
  const mergeIds: string[] = [];
  const primaryOptOuts = new Set((await tx.contactOptOut.findMany({ where: { contactId: primaryId }, select: { channel: true } })).map((row) => row.channel));
  for (const duplicateId of input.duplicateIds) {
    const [identities, leads, optOuts] = await Promise.all([
      tx.contactIdentity.findMany({ where: { contactId: duplicateId }, select: { id: true } }),
      tx.lead.findMany({ where: { contactId: duplicateId }, select: { id: true } }),
      tx.contactOptOut.findMany({ where: { contactId: duplicateId } }),
    ]);
    const added = optOuts.map((row) => row.channel).filter((channel) => !primaryOptOuts.has(channel));
    await tx.contactIdentity.updateMany({ where: { contactId: duplicateId }, data: { contactId: primaryId } });
    await tx.lead.updateMany({ where: { contactId: duplicateId }, data: { contactId: primaryId } });
    if (optOuts.length > 0) {
      await tx.contactOptOut.createMany({
        data: optOuts.map(({ channel, reason, createdAt }) => ({ workspaceId, contactId: primaryId, channel, reason, createdAt })),
        skipDuplicates: true,
      });
      await tx.contactOptOut.deleteMany({ where: { contactId: duplicateId } });
      for (const channel of added) primaryOptOuts.add(channel);
    }
    await tx.contact.update({ where: { id: duplicateId }, data: { mergedIntoId: primaryId } });
    const id = newId('cmg');
    await tx.contactMerge.create({
      data: {
        id,
        workspaceId,
        fromContactId: duplicateId,
        intoContactId: primaryId,
        identityIds: identities.map((row) => row.id),
        leadIds: leads.map((row) => row.id),
        optOuts: optOuts.map((row): MovedOptOut => ({ channel: row.channel, reason: row.reason, createdAt: row.createdAt.toISOString() })) as unknown as Prisma.InputJsonValue,
        addedOptOuts: added,
        automatic: input.automatic,
        actorType: input.actor.type,
        actorId: input.actor.id,
      },
    });
    mergeIds.push(id);
  }
  return mergeIds;
}

/** Takes the capture path's locks on identities (see process-inbound), so no message lands on a contact mid-move. */
async function lockIdentities(tx: Tx, workspaceId: string, contactIds: string[]): Promise<void> {
  const rows = await tx.contactIdentity.findMany({ where: { contactId: { in: contactIds } }, select: { kind: true, value: true } });
  const keys = [...new Set(rows.map((row) => identityLockKey(workspaceId, row.kind, row.value)))].sort();
  if (keys.length > 0) await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM (SELECT unnest(${keys}::text[]) AS key ORDER BY 1) AS sorted`;
  await tx.$queryRaw`SELECT id FROM contacts WHERE id = ANY(${[...contactIds].sort()}::text[]) ORDER BY id FOR UPDATE`;
}

/** Merges `otherId` into `keepId` by hand: both live contacts of the workspace. */
export async function mergeByHand(tx: Tx, input: { workspaceId: string; keepId: string; otherId: string; actor: Actor }): Promise<string> {
  if (input.keepId === input.otherId) throw new ProblemError('conflict', 'a contact cannot be merged into itself');
  await lockIdentities(tx, input.workspaceId, [input.keepId, input.otherId]);
  const contacts = await tx.contact.findMany({ where: { id: { in: [input.keepId, input.otherId] }, workspaceId: input.workspaceId } });
  if (contacts.length !== 2) throw new ProblemError('not_found', 'contact not found');
  if (contacts.some((contact) => contact.mergedIntoId)) throw new ProblemError('conflict', 'the contact was merged into another already');
  const [mergeId] = await mergeContacts(tx, { workspaceId: input.workspaceId, primaryId: input.keepId, duplicateIds: [input.otherId], automatic: false, actor: input.actor });
  const other = contacts.find((contact) => contact.id === input.otherId)!;
  const keep = contacts.find((contact) => contact.id === input.keepId)!;
  const fill: { name?: string; company?: string } = {};
  if (!keep.name && other.name) fill.name = other.name;
  if (!keep.company && other.company) fill.company = other.company;
  if (Object.keys(fill).length > 0) await tx.contact.update({ where: { id: keep.id }, data: fill });
  return mergeId!;
}

/**
 * Undoes a merge: the merged contact gets back the identities, leads (with their timelines) and
 * opt-outs that moved, and is a contact of its own again. What the kept contact gained since
 * (a new address, a new lead) stays with it.
 */
export async function undoMerge(tx: Tx, input: { workspaceId: string; mergeId: string }): Promise<{ fromContactId: string; intoContactId: string }> {
  const merge = await tx.contactMerge.findFirst({ where: { id: input.mergeId, workspaceId: input.workspaceId } });
  if (!merge) throw new ProblemError('not_found', 'merge not found');
  await lockIdentities(tx, input.workspaceId, [merge.fromContactId, merge.intoContactId]);
  const current = await tx.contactMerge.findUniqueOrThrow({ where: { id: merge.id } });
  if (current.undoneAt) throw new ProblemError('conflict', 'the merge was undone already');
  const into = await tx.contact.findUniqueOrThrow({ where: { id: merge.intoContactId } });
  if (into.mergedIntoId) throw new ProblemError('conflict', 'the kept contact was merged into another since: undo that merge first');
  await tx.contactIdentity.updateMany({ where: { id: { in: merge.identityIds }, contactId: merge.intoContactId }, data: { contactId: merge.fromContactId } });
  await tx.lead.updateMany({ where: { id: { in: merge.leadIds }, contactId: merge.intoContactId }, data: { contactId: merge.fromContactId } });
  const optOuts = merge.optOuts as unknown as MovedOptOut[];
  if (optOuts.length > 0) {
    await tx.contactOptOut.createMany({
      data: optOuts.map((row) => ({ workspaceId: input.workspaceId, contactId: merge.fromContactId, channel: row.channel, reason: row.reason, createdAt: new Date(row.createdAt) })),
      skipDuplicates: true,
    });
  }
  if (merge.addedOptOuts.length > 0) await tx.contactOptOut.deleteMany({ where: { contactId: merge.intoContactId, channel: { in: merge.addedOptOuts } } });
  await tx.contact.update({ where: { id: merge.fromContactId }, data: { mergedIntoId: null } });
  await tx.contactMerge.update({ where: { id: merge.id }, data: { undoneAt: new Date() } });
  return { fromContactId: merge.fromContactId, intoContactId: merge.intoContactId };
}
