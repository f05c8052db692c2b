import type { Prisma, User } from '@prisma/client';
import { closedStages } from './stages.js';
import { isWorking } from './working-time.js';

export interface AssignmentDecision {
  ownerId: string | null;
  ruleId: string | null;
  reason: string;
}

export interface AssignmentFacts {
  sourceId: string | null;
  sourceOwnerId: string | null;
  productIds: string[];
  productOwnerId: string | null;
  /** The id of the lead's segment, when it has one. */
  segmentId?: string | null;
  channel: string;
  /** The workspace's IANA time zone: working hours are in it. */
  timeZone: string;
  now?: Date;
}

export type AssignmentStrategy = 'round_robin' | 'least_open' | 'fixed';

export interface RuleMatch {
  productId?: string;
  segmentId?: string;
  sourceId?: string;
  channel?: string;
}

function matches(match: RuleMatch, facts: AssignmentFacts): boolean {
  if (match.productId && !facts.productIds.includes(match.productId)) return false;
  if (match.sourceId && match.sourceId !== facts.sourceId) return false;
  if (match.segmentId && match.segmentId !== facts.segmentId) return false;
  if (match.channel && match.channel !== facts.channel) return false;
  return true;
}

/**
 * Chooses the owner of a new lead: the first active rule (by ascending priority) that matches and
 * has someone available; else the source's owner; else the owner of the lead's product; else the
 * next active rep in turn. Inactive users and users outside their working hours are skipped. A
 * workspace without reps yet gives its leads to its owners and managers, so nothing lands unowned
 * on day one.
 */
export async function chooseOwner(tx: Prisma.TransactionClient, workspaceId: string, facts: AssignmentFacts): Promise<AssignmentDecision> {
  const now = facts.now ?? new Date();
  const available = (user: User | null | undefined): user is User => Boolean(user?.active && isWorking(user.workingHours, facts.timeZone, now));

  const rules = await tx.assignmentRule.findMany({ where: { workspaceId, active: true }, orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] });
  // One read of the team serves every rule: a workspace may have hundreds of rules.
  const team = rules.length > 0 ? new Map((await tx.user.findMany({ where: { workspaceId } })).map((user) => [user.id, user])) : new Map<string, User>();
  for (const rule of rules) {
    if (!matches(rule.match as RuleMatch, facts)) continue;
    const users = rule.userIds.map((id) => team.get(id)).filter(available);
    if (users.length === 0) continue;
    const chosen = await pick(tx, rule.strategy as AssignmentStrategy, users, rule.userIds);
    await tx.user.update({ where: { id: chosen.id }, data: { lastAssignedAt: now } });
    return { ownerId: chosen.id, ruleId: rule.id, reason: `rule "${rule.name}" (${rule.strategy.replace('_', ' ')})` };
  }

  const fixed: [string | null, string][] = [
    [facts.sourceOwnerId, 'source owner'],
    [facts.productOwnerId, 'product owner'],
  ];
  for (const [userId, reason] of fixed) {
    if (!userId) continue;
    const user = await tx.user.findFirst({ where: { id: userId, workspaceId } });
    if (available(user)) return { ownerId: user.id, ruleId: null, reason };
  }
  for (const roles of [['rep'], ['owner', 'manager']]) {
    const users = (await tx.user.findMany({ where: { workspaceId, active: true, role: { in: roles } } })).filter(available);
    if (users.length === 0) continue;
    const next = await pick(tx, 'round_robin', users, []);
    await tx.user.update({ where: { id: next.id }, data: { lastAssignedAt: now } });
    return { ownerId: next.id, ruleId: null, reason: roles[0] === 'rep' ? 'round robin among reps' : 'no active reps: workspace owner or manager' };
  }
  return { ownerId: null, ruleId: null, reason: 'nobody available: left unassigned' };
}

async function pick(tx: Prisma.TransactionClient, strategy: AssignmentStrategy, users: User[], order: string[]): Promise<User> {
  if (strategy === 'fixed') {
    return [...users].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))[0]!;
  }
  if (strategy === 'least_open') {
    const counts = await tx.lead.groupBy({
      by: ['ownerId'],
      where: { ownerId: { in: users.map((user) => user.id) }, stage: { notIn: [...closedStages] } },
      _count: { _all: true },
    });
    const open = new Map(counts.map((row) => [row.ownerId, row._count._all]));
    return [...users].sort((a, b) => (open.get(a.id) ?? 0) - (open.get(b.id) ?? 0) || byTurn(a, b))[0]!;
  }
  // Round robin: the one assigned longest ago (never assigned comes first).
  return [...users].sort(byTurn)[0]!;
}

function byTurn(a: User, b: User): number {
  const at = (user: User) => user.lastAssignedAt?.getTime() ?? -1;
  return at(a) - at(b) || a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id);
}
