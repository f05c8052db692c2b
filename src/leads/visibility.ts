import type { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { Auth } from '../http/route.js';

/**
 * Which leads a caller may see. Owners, managers and API keys see the whole workspace. When the
 * workspace's visibility is "own", a rep sees the leads they own, and unassigned leads too when
 * reps may claim them.
 */
export async function visibleLeadsWhere(prisma: Db, auth: Auth): Promise<Prisma.LeadWhereInput> {
  const scope: Prisma.LeadWhereInput = { workspaceId: auth.workspaceId };
  if (auth.role !== 'rep' || !auth.userId) return scope;
  const workspace = await prisma.workspace.findUniqueOrThrow({
    where: { id: auth.workspaceId },
    select: { visibility: true, repsCanClaim: true },
  });
  if (workspace.visibility !== 'own') return scope;
  return {
    ...scope,
    OR: [{ ownerId: auth.userId }, ...(workspace.repsCanClaim ? [{ ownerId: null }] : [])],
  };
}
