import type { Prisma } from '@prisma/client';

export interface AssignmentDecision {
  ownerId: string | null;
  reason: string;
}

/**
 * Chooses the owner of a new lead: the source's owner, else the owner of the lead's first
 * product, else the next active rep in turn (the one assigned longest ago). A workspace without
 * reps yet gives its leads to its other active users, so nothing lands unowned on day one.
 */
export async function chooseOwner(
  tx: Prisma.TransactionClient,
  workspaceId: string,
  candidates: { sourceOwnerId: string | null; productOwnerId: string | null },
): Promise<AssignmentDecision> {
  const fixed: [string | null, string][] = [
    [candidates.sourceOwnerId, 'source owner'],
    [candidates.productOwnerId, 'product owner'],
  ];
  for (const [userId, reason] of fixed) {
    if (!userId) continue;
    const user = await tx.user.findFirst({ where: { id: userId, workspaceId, active: true } });
    if (user) return { ownerId: user.id, reason };
  }
  for (const roles of [['rep'], ['owner', 'manager']]) {
    const next = await tx.user.findFirst({
      where: { workspaceId, active: true, role: { in: roles } },
      orderBy: [{ lastAssignedAt: { sort: 'asc', nulls: 'first' } }, { createdAt: 'asc' }, { id: 'asc' }],
    });
    if (next) {
      await tx.user.update({ where: { id: next.id }, data: { lastAssignedAt: new Date() } });
      return { ownerId: next.id, reason: roles[0] === 'rep' ? 'round robin among reps' : 'no active reps: workspace owner or manager' };
    }
  }
  return { ownerId: null, reason: 'nobody active to assign to' };
}
