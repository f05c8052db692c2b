import type { Prisma, User } from '@prisma/client';
import { type Actor, recordActivity } from './activities.js';
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

/** What the choice of an owner needs to know of a user. */
export type TeamMember = Pick<User, 'id' | 'role' | 'active' | 'workingHours' | 'lastAssignedAt' | 'createdAt'>;

/** What the choice of an owner reads: the active rules in order, and the whole team. */
export interface AssignmentInputs {
  rules: { id: string; name: string; strategy: string; match: Prisma.JsonValue; userIds: string[] }[];
  team: TeamMember[];
  /** Open leads per user, for least-open rules; read only when such a rule is asked. */
  openLeads: (userId: string) => number;
}

export interface OwnerChoice {
  decision: AssignmentDecision;
  /** The user whose turn this took (round robin and least open): their lastAssignedAt becomes now. */
  turnTakenBy: string | null;
}

/**
 * Chooses the owner of a new lead: the first active rule (by ascending priority) that matches and
 * has someone available; else the source's owner; else the owner of the lead's product; else the
 * next active rep in turn. Inactive users and users outside their working hours are skipped. A
 * workspace without reps yet gives its leads to its owners and managers, so nothing lands unowned
 * on day one. A pure decision over what the caller read, so a batch of leads can be decided
 * together, each seeing the turns the ones before it took.
 */
export function decideOwner(inputs: AssignmentInputs, facts: AssignmentFacts): OwnerChoice {
  const now = facts.now ?? new Date();
  const available = (user: TeamMember | null | undefined): user is TeamMember => Boolean(user?.active && isWorking(user.workingHours, facts.timeZone, now));
  const team = new Map(inputs.team.map((user) => [user.id, user]));
  for (const rule of inputs.rules) {
    if (!matches(rule.match as RuleMatch, facts)) continue;
    const users = rule.userIds.map((id) => team.get(id)).filter(available);
    if (users.length === 0) continue;
    const chosen = pick(rule.strategy as AssignmentStrategy, users, rule.userIds, inputs.openLeads);
    return {
      decision: { ownerId: chosen.id, ruleId: rule.id, reason: `rule "${rule.name}" (${rule.strategy.replace('_', ' ')})` },
      turnTakenBy: chosen.id,
    };
  }
  const fixed: [string | null, string][] = [
    [facts.sourceOwnerId, 'source owner'],
    [facts.productOwnerId, 'product owner'],
  ];
  for (const [userId, reason] of fixed) {
    const user = userId ? team.get(userId) : undefined;
    if (available(user)) return { decision: { ownerId: user.id, ruleId: null, reason }, turnTakenBy: null };
  }
  for (const roles of [['rep'], ['owner', 'manager']]) {
    const users = inputs.team.filter((user) => roles.includes(user.role) && available(user));
    if (users.length === 0) continue;
    const next = pick('round_robin', users, [], inputs.openLeads);
    return {
      decision: { ownerId: next.id, ruleId: null, reason: roles[0] === 'rep' ? 'round robin among reps' : 'no active reps: workspace owner or manager' },
      turnTakenBy: next.id,
    };
  }
  return { decision: { ownerId: null, ruleId: null, reason: 'nobody available: left unassigned' }, turnTakenBy: null };
}

/** Whether any of these rules needs open-lead counts to decide. */
export function needsOpenLeadCounts(rules: AssignmentInputs['rules']): boolean {
  return rules.some((rule) => rule.strategy === 'least_open');
}

/** Open leads per owner, for least-open rules. */
export async function countOpenLeads(tx: Prisma.TransactionClient, userIds: string[]): Promise<Map<string, number>> {
  const counts = await tx.lead.groupBy({
    by: ['ownerId'],
    where: { ownerId: { in: userIds }, stage: { notIn: [...closedStages] } },
    _count: { _all: true },
  });
  return new Map(counts.flatMap((row) => (row.ownerId ? [[row.ownerId, row._count._all] as const] : [])));
}

/** Chooses the owner of a new lead in the caller's transaction (see decideOwner) and takes the turn. */
export async function chooseOwner(tx: Prisma.TransactionClient, workspaceId: string, facts: AssignmentFacts): Promise<AssignmentDecision> {
  const now = facts.now ?? new Date();
  // The team's turns are locked, briefly, rather than the whole workspace: two leads assigned at
  // once never take the same turn, and processing of anything else goes on.
  await tx.$queryRaw`SELECT id FROM users WHERE "workspaceId" = ${workspaceId} ORDER BY id FOR UPDATE`;
  const rules = await tx.assignmentRule.findMany({ where: { workspaceId, active: true }, orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] });
  // One read of the team serves every rule: a workspace may have hundreds of rules.
  const team = await tx.user.findMany({ where: { workspaceId } });
  const open = needsOpenLeadCounts(rules) ? await countOpenLeads(tx, team.map((user) => user.id)) : new Map<string, number>();
  const { decision, turnTakenBy } = decideOwner({ rules, team, openLeads: (userId) => open.get(userId) ?? 0 }, { ...facts, now });
  if (turnTakenBy) await tx.user.update({ where: { id: turnTakenBy }, data: { lastAssignedAt: now } });
  return decision;
}

function pick(strategy: AssignmentStrategy, users: TeamMember[], order: string[], openLeads: (userId: string) => number): TeamMember {
  if (strategy === 'fixed') {
    return [...users].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))[0]!;
  }
  if (strategy === 'least_open') {
    return [...users].sort((a, b) => openLeads(a.id) - openLeads(b.id) || byTurn(a, b))[0]!;
  }
  // Round robin: the one assigned longest ago (never assigned comes first).
  return [...users].sort(byTurn)[0]!;
}

function byTurn(a: TeamMember, b: TeamMember): number {
  const at = (user: TeamMember) => user.lastAssignedAt?.getTime() ?? -1;
  return at(a) - at(b) || a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id);
}

/**
 * Runs the assignment rules again for an existing lead (on demand, or when it goes to sales
 * unowned) and records the decision, whoever it names.
 */
export async function reassignByRules(tx: Prisma.TransactionClient, leadId: string, actor: Actor): Promise<AssignmentDecision> {
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: leadId }, include: { products: { include: { product: true } }, source: true, workspace: true } });
  const segment = lead.segment ? await tx.segment.findFirst({ where: { workspaceId: lead.workspaceId, name: lead.segment } }) : null;
  const decision = await chooseOwner(tx, lead.workspaceId, {
    sourceId: lead.sourceId,
    sourceOwnerId: lead.source?.ownerId ?? null,
    productIds: lead.products.map((p) => p.productId),
    productOwnerId: lead.products[0]?.product.ownerId ?? null,
    segmentId: segment?.id ?? null,
    channel: lead.channel,
    timeZone: lead.workspace.timeZone,
  });
  await tx.lead.update({ where: { id: lead.id }, data: { ownerId: decision.ownerId, assignmentRuleId: decision.ruleId, assignmentReason: decision.reason } });
  await recordActivity(tx, {
    workspaceId: lead.workspaceId,
    leadId: lead.id,
    kind: 'lead.assigned',
    actor,
    data: { before: lead.ownerId, after: decision.ownerId, ruleId: decision.ruleId, reason: decision.reason },
  });
  return decision;
}
