import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { NotFoundError } from '../errors.js';
import type { Auth } from '../http/route.js';
import { leadInclude, type LeadRow } from './view.js';

/** A rep's narrowed view: their own leads, and unassigned ones when reps may claim them. */
export interface RepScope {
  userId: string;
  includeUnassigned: boolean;
}

/**
 * Owners, managers and API keys see the whole workspace (null). When the workspace's visibility
 * is "own", a rep sees the leads they own, and unassigned leads too when reps may claim them.
 */
export async function repScope(prisma: Db, auth: Auth): Promise<RepScope | null> {
  if (auth.role !== 'rep' || !auth.userId) return null;
  const workspace = await prisma.workspace.findUniqueOrThrow({
    where: { id: auth.workspaceId },
    select: { visibility: true, repsCanClaim: true },
  });
  return workspace.visibility === 'own' ? { userId: auth.userId, includeUnassigned: workspace.repsCanClaim } : null;
}

/** The leads a caller may see, as a Prisma filter. */
export async function visibleLeadsWhere(prisma: Db, auth: Auth): Promise<Prisma.LeadWhereInput> {
  const scope = await repScope(prisma, auth);
  const workspace: Prisma.LeadWhereInput = { workspaceId: auth.workspaceId };
  if (!scope) return workspace;
  return { ...workspace, OR: [{ ownerId: scope.userId }, ...(scope.includeUnassigned ? [{ ownerId: null }] : [])] };
}

/** The same rule as SQL over a leads table aliased `alias`, for raw queries. */
export async function visibleLeadsSql(prisma: Db, auth: Auth, alias = 'l'): Promise<Prisma.Sql> {
  const scope = await repScope(prisma, auth);
  const column = (name: string) => Prisma.raw(`${alias}."${name}"`);
  const inWorkspace = Prisma.sql`${column('workspaceId')} = ${auth.workspaceId}`;
  if (!scope) return inWorkspace;
  return scope.includeUnassigned
    ? Prisma.sql`${inWorkspace} AND (${column('ownerId')} = ${scope.userId} OR ${column('ownerId')} IS NULL)`
    : Prisma.sql`${inWorkspace} AND ${column('ownerId')} = ${scope.userId}`;
}

/** One lead as the API shows it, if the caller may see it; "not found" otherwise, never "forbidden". */
export async function findVisibleLead(prisma: Db, auth: Auth, id: string): Promise<LeadRow> {
  const lead = await prisma.lead.findFirst({ where: { AND: [{ id }, await visibleLeadsWhere(prisma, auth)] }, include: leadInclude });
  if (!lead) throw new NotFoundError('lead');
  return lead;
}
