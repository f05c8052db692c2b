import type { Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { channelKinds } from '../channels/contract.js';
import type { Db } from '../db/client.js';
import { newId } from '../ids.js';
import { Poller } from '../queue/poller.js';
import { type Actor, recordActivity, systemActor } from './activities.js';
import { routeLead } from './routing.js';
import { type Stage, stages } from './stages.js';

type Tx = Prisma.TransactionClient;

const day = 24 * 3600_000;

/**
 * The condition of a scoring rule: one per rule. Attributes look at what the lead is, engagement
 * at what the contact did, and `inactive` takes points away from a lead nobody has touched.
 */
export const scoringCondition = z.discriminatedUnion('type', [
  z.object({ type: z.literal('has_email') }).strict(),
  z.object({ type: z.literal('has_phone') }).strict().describe('A phone number or a WhatsApp id'),
  z.object({ type: z.literal('segment'), segment: z.string().trim().min(1).max(200) }).strict(),
  z.object({ type: z.literal('deal_value'), over: z.number().nonnegative().max(1e12) }).strict().describe('Deal value above `over`'),
  z.object({ type: z.literal('product'), productId: z.string().min(1).max(100) }).strict(),
  z.object({ type: z.literal('channel'), channel: z.enum(channelKinds) }).strict(),
  z
    .object({
      type: z.literal('custom_field'),
      field: z.string().min(1).max(200),
      equals: z.union([z.string().max(1000), z.number(), z.boolean()]).optional(),
      contains: z.string().min(1).max(1000).optional(),
      gte: z.number().optional(),
    })
    .strict()
    .refine((when) => [when.equals, when.contains, when.gte].filter((value) => value !== undefined).length === 1, {
      message: 'give exactly one of equals, contains or gte',
      path: ['equals'],
    }),
  z.object({ type: z.literal('tag'), tag: z.string().trim().min(1).max(100) }).strict(),
  z.object({ type: z.literal('replied') }).strict().describe('The contact wrote after one of our messages was sent'),
  z.object({ type: z.literal('opened') }).strict().describe('One of our messages was read'),
  z
    .object({ type: z.literal('recent_messages'), days: z.number().int().min(1).max(3650), atLeast: z.number().int().min(1).max(10_000) })
    .strict()
    .describe('At least `atLeast` messages from the contact in the last `days` days'),
  z.object({ type: z.literal('stage_reached'), stage: z.enum(stages) }).strict().describe('The lead is or has been at this stage or a later one'),
  z.object({ type: z.literal('inactive'), days: z.number().int().min(1).max(3650) }).strict().describe('No activity on the lead for `days` days'),
]);

export type ScoringCondition = z.infer<typeof scoringCondition>;

export interface ScoreReason {
  rule: string;
  ruleId: string;
  points: number;
}

export interface ScoringRuleLike {
  id: string;
  name: string;
  points: number;
  when: Prisma.JsonValue;
}

/** Everything a score depends on besides the rules and the moment: all of it is stored history. */
export interface ScoringFacts {
  stage: string;
  segment: string | null;
  tags: string[];
  dealValue: number | null;
  channel: string;
  customFields: Record<string, unknown>;
  lastActivityAt: Date;
  productIds: string[];
  identityKinds: string[];
  messages: { direction: string; status: string; createdAt: Date; sentAt: Date | null }[];
  /** Every stage the lead has been at, from its stage changes. */
  stagesReached: string[];
}

/** The pipeline's forward order; inactive and unqualified sit outside it. */
const ladder: readonly Stage[] = ['open', 'contacted', 'nurture', 'qualified', 'negotiation', 'customer'];

function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().trim();
}

function asNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
  const parsed = Number(value.trim());
  return Number.isFinite(parsed) ? parsed : null;
}

function holds(when: ScoringCondition, facts: ScoringFacts, now: Date): boolean {
  switch (when.type) {
    case 'has_email':
      return facts.identityKinds.includes('email');
    case 'has_phone':
      return facts.identityKinds.includes('phone') || facts.identityKinds.includes('whatsapp');
    case 'segment':
      return facts.segment !== null && fold(facts.segment) === fold(when.segment);
    case 'deal_value':
      return facts.dealValue !== null && facts.dealValue > when.over;
    case 'product':
      return facts.productIds.includes(when.productId);
    case 'channel':
      return facts.channel === when.channel;
    case 'custom_field': {
      const value = facts.customFields[when.field];
      if (value === undefined || value === null) return false;
      if (when.gte !== undefined) {
        const number = asNumber(value);
        return number !== null && number >= when.gte;
      }
      if (when.contains !== undefined) return fold(String(value)).includes(fold(when.contains));
      return typeof when.equals === 'string' ? fold(String(value)) === fold(when.equals) : String(value) === String(when.equals);
    }
    case 'tag':
      return facts.tags.some((tag) => fold(tag) === fold(when.tag));
    case 'replied': {
      const sent = facts.messages.filter((m) => m.direction === 'out' && m.sentAt && m.status !== 'failed').map((m) => m.sentAt!.getTime());
      if (sent.length === 0) return false;
      const firstSent = Math.min(...sent);
      return facts.messages.some((m) => m.direction === 'in' && m.createdAt.getTime() > firstSent);
    }
    case 'opened':
      return facts.messages.some((m) => m.direction === 'out' && m.status === 'read');
    case 'recent_messages': {
      const since = now.getTime() - when.days * day;
      return facts.messages.filter((m) => m.direction === 'in' && m.createdAt.getTime() >= since).length >= when.atLeast;
    }
    case 'stage_reached': {
      const target = ladder.indexOf(when.stage);
      const reached = [facts.stage, ...facts.stagesReached];
      if (target < 0) return reached.includes(when.stage);
      return reached.some((stage) => ladder.indexOf(stage as Stage) >= target);
    }
    case 'inactive':
      return now.getTime() - facts.lastActivityAt.getTime() >= when.days * day;
  }
}

/**
 * The score of a lead: the sum of the points of the rules whose condition holds. A pure function
 * of the lead's stored history, the rules and the moment, so it can be recomputed at any time.
 * A stored rule that no longer parses (written by an older version) scores nothing.
 */
export function computeScore(facts: ScoringFacts, rules: ScoringRuleLike[], now: Date): { score: number; reasons: ScoreReason[] } {
  const reasons: ScoreReason[] = [];
  for (const rule of rules) {
    const when = scoringCondition.safeParse(rule.when);
    if (when.success && holds(when.data, facts, now)) reasons.push({ rule: rule.name, ruleId: rule.id, points: rule.points });
  }
  return { score: reasons.reduce((sum, reason) => sum + reason.points, 0), reasons };
}

/** Reads what the score of a lead depends on. */
export async function loadScoringFacts(tx: Tx, leadId: string): Promise<ScoringFacts & { workspaceId: string; score: number; routing: string | null }> {
  const lead = await tx.lead.findUniqueOrThrow({
    where: { id: leadId },
    include: { products: { select: { productId: true } }, contact: { select: { identities: { select: { kind: true } } } } },
  });
  // One after the other: inside a transaction they share one connection.
  const messages = await tx.message.findMany({ where: { leadId }, select: { direction: true, status: true, createdAt: true, sentAt: true } });
  const stageChanges = await tx.activity.findMany({ where: { leadId, kind: 'lead.stage_changed' }, select: { data: true } });
  const stagesReached = stageChanges.flatMap(({ data }) => {
    const change = data as { to?: unknown; after?: unknown };
    const to = change.to ?? change.after;
    return typeof to === 'string' ? [to] : [];
  });
  return {
    workspaceId: lead.workspaceId,
    score: lead.score,
    routing: lead.routing,
    stage: lead.stage,
    segment: lead.segment,
    tags: lead.tags,
    dealValue: lead.dealValue === null ? null : Number(lead.dealValue),
    channel: lead.channel,
    customFields: lead.customFields as Record<string, unknown>,
    lastActivityAt: lead.lastActivityAt,
    productIds: lead.products.map((p) => p.productId),
    identityKinds: lead.contact.identities.map((i) => i.kind),
    messages,
    stagesReached,
  };
}

export interface LeadChange {
  /** The moment the score is computed for; now by default. */
  now?: Date;
  /** The lead was created in this change: routing rules for new leads apply. */
  created?: boolean;
  /** The lead's stage before this change, when it may have changed: entering a stage triggers routing. */
  stageFrom?: string;
  actor?: Actor;
}

/**
 * Recomputes a lead's score inside the caller's transaction, then applies the routing rules the
 * change triggers. Call it after anything that may change the score or the stage. `lead.scored`
 * is written only when the score changed.
 */
export async function rescoreLead(tx: Tx, leadId: string, change: LeadChange = {}): Promise<{ from: number; to: number }> {
  const now = change.now ?? new Date();
  const actor = change.actor ?? systemActor;
  // Two changes of one lead at once must not both read the same "before".
  await tx.$queryRaw`SELECT id FROM leads WHERE id = ${leadId} FOR UPDATE`;
  const facts = await loadScoringFacts(tx, leadId);
  const rules = await tx.scoringRule.findMany({ where: { workspaceId: facts.workspaceId, active: true }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  const { score, reasons } = computeScore(facts, rules, now);
  await tx.lead.update({ where: { id: leadId }, data: { score, scoreReasons: reasons as unknown as Prisma.InputJsonValue } });
  if (score !== facts.score) {
    await recordActivity(tx, { workspaceId: facts.workspaceId, leadId, kind: 'lead.scored', actor: systemActor, at: now, data: { from: facts.score, to: score } });
  }
  // Routing rules fire on creation, a score crossing or a stage entry; without one none can.
  const enteredStage = change.stageFrom !== undefined && change.stageFrom !== facts.stage;
  if (!change.created && score === facts.score && !enteredStage) return { from: facts.score, to: score };
  await routeLead(tx, leadId, {
    created: change.created ?? false,
    scoreFrom: change.created ? null : facts.score,
    stageFrom: change.stageFrom ?? null,
    actor,
  });
  return { from: facts.score, to: score };
}

/** The rules a new workspace starts with, named in its language. */
export function defaultScoringRules(workspaceId: string, locale: string): Prisma.ScoringRuleCreateManyInput[] {
  const pt = locale.toLowerCase().startsWith('pt');
  const rules: [string, string, number, ScoringCondition][] = [
    ['Has an email address', 'Tem e-mail', 10, { type: 'has_email' }],
    ['Has a phone number', 'Tem telefone', 10, { type: 'has_phone' }],
    ['Replied to us', 'Respondeu', 20, { type: 'replied' }],
    ['Read our message', 'Leu nossa mensagem', 5, { type: 'opened' }],
    ['Engaged: 3 or more messages in 7 days', 'Engajado: 3 ou mais mensagens em 7 dias', 15, { type: 'recent_messages', days: 7, atLeast: 3 }],
    ['Reached Qualified', 'Chegou a Qualificado', 40, { type: 'stage_reached', stage: 'qualified' }],
    ['Inactive for 30 days', 'Inativo há 30 dias', -20, { type: 'inactive', days: 30 }],
  ];
  // Created one millisecond apart so they list in this order.
  const base = Date.now();
  return rules.map(([en, ptName, points, when], index) => ({
    id: newId('scr'),
    workspaceId,
    name: pt ? ptName : en,
    points,
    when,
    createdAt: new Date(base + index),
  }));
}

/**
 * Time alone changes some scores: inactivity, and messages falling out of a "last N days" window.
 * This pass rescores the leads whose time-based rules changed, without any event on the lead.
 */
export class ScoreDecay {
  private readonly poller: Poller;

  constructor(private readonly deps: { prisma: Db; logger: Logger; pollMs: number; batchSize?: number }) {
    this.poller = new Poller(async () => {
      await this.runOnce();
    }, deps.pollMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** Leads whose time-based rules may have changed since they were last scored. */
  async dueLeads(now: Date): Promise<string[]> {
    const { prisma } = this.deps;
    const take = this.deps.batchSize ?? 200;
    const rules = await prisma.scoringRule.findMany({ where: { active: true, OR: [{ when: { path: ['type'], equals: 'inactive' } }, { when: { path: ['type'], equals: 'recent_messages' } }] } });
    const due = new Set<string>();
    for (const rule of rules) {
      const when = scoringCondition.safeParse(rule.when);
      if (!when.success || (when.data.type !== 'inactive' && when.data.type !== 'recent_messages')) continue;
      const cutoff = new Date(now.getTime() - when.data.days * day);
      const carries: Prisma.LeadWhereInput = { scoreReasons: { array_contains: [{ ruleId: rule.id }] } };
      const where: Prisma.LeadWhereInput =
        when.data.type === 'inactive'
          ? { OR: [{ lastActivityAt: { lte: cutoff }, NOT: carries }, { lastActivityAt: { gt: cutoff }, ...carries }] }
          : // Nothing at all happened in the window, so no message either (cheap, and enough: any event rescores).
            { lastActivityAt: { lte: cutoff }, ...carries };
      const leads = await prisma.lead.findMany({ where: { workspaceId: rule.workspaceId, ...where }, select: { id: true }, orderBy: { lastActivityAt: 'asc' }, take });
      for (const { id } of leads) due.add(id);
    }
    return [...due];
  }

  async runOnce(now = new Date()): Promise<number> {
    let rescored = 0;
    try {
      for (const leadId of await this.dueLeads(now)) {
        await this.deps.prisma.$transaction((tx) => rescoreLead(tx, leadId, { now }), { timeout: 30_000, maxWait: 30_000 });
        rescored++;
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'score decay round failed');
    }
    return rescored;
  }
}
