import type { Prisma } from '@prisma/client';
import { z } from 'zod';
import { channelKinds } from '../channels/contract.js';
import { newId } from '../ids.js';
import { enrolByRules } from '../messaging/sequences.js';
import { type Actor, recordActivity, systemActor } from './activities.js';
import { reassignByRules } from './assignment.js';
import { stages } from './stages.js';

type Tx = Prisma.TransactionClient;

export const routings = ['sales', 'nurture'] as const;
export type Routing = (typeof routings)[number];

/**
 * When a routing rule fires. Rules are edge-triggered: `minScore` fires when the score crosses it
 * (or on creation at or above it), `stages` when the lead enters one of them (or is created in
 * one); a rule with neither fires on creation only. `productIds` and `channels` only narrow.
 */
export const routingCondition = z
  .object({
    minScore: z.number().int().min(-100_000).max(100_000).optional(),
    stages: z.array(z.enum(stages)).min(1).max(stages.length).optional(),
    productIds: z.array(z.string().min(1).max(100)).min(1).max(100).optional(),
    channels: z.array(z.enum(channelKinds)).min(1).max(5).optional(),
  })
  .strict();

export type RoutingCondition = z.infer<typeof routingCondition>;

export interface RoutingTrigger {
  created: boolean;
  /** The score before this change; null on creation. */
  scoreFrom: number | null;
  /** The stage before this change, when the change may have moved it. */
  stageFrom: string | null;
  actor: Actor;
}

interface LeadState {
  stage: string;
  score: number;
  channel: string;
  productIds: string[];
}

/** Whether a rule fires for this change of this lead. */
export function fires(when: RoutingCondition, lead: LeadState, trigger: Omit<RoutingTrigger, 'actor'>): boolean {
  const meets =
    (when.minScore === undefined || lead.score >= when.minScore) &&
    (when.stages === undefined || when.stages.includes(lead.stage as (typeof stages)[number])) &&
    (when.productIds === undefined || lead.productIds.some((id) => when.productIds!.includes(id))) &&
    (when.channels === undefined || when.channels.includes(lead.channel as (typeof when.channels)[number]));
  if (!meets) return false;
  if (trigger.created) return true;
  const crossed = when.minScore !== undefined && trigger.scoreFrom !== null && trigger.scoreFrom < when.minScore;
  const entered = when.stages !== undefined && trigger.stageFrom !== null && trigger.stageFrom !== lead.stage;
  return crossed || entered;
}

/**
 * Applies the first active routing rule (by ascending priority) that this change fires. Nothing
 * happens when it sends the lead where it already is.
 */
export async function routeLead(tx: Tx, leadId: string, trigger: RoutingTrigger): Promise<Routing | null> {
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: leadId }, include: { products: { select: { productId: true } } } });
  const rules = await tx.routingRule.findMany({ where: { workspaceId: lead.workspaceId, active: true }, orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] });
  const state = { stage: lead.stage, score: lead.score, channel: lead.channel, productIds: lead.products.map((p) => p.productId) };
  for (const rule of rules) {
    const when = routingCondition.safeParse(rule.when);
    if (!when.success || !fires(when.data, state, trigger)) continue;
    const to = rule.to as Routing;
    if (to === lead.routing) return null;
    await setRouting(tx, leadId, to, { actor: trigger.actor, ruleId: rule.id, rule: rule.name });
    return to;
  }
  return null;
}

/**
 * Moves a lead to sales or nurture and does what that means: sales stops its nurture sequences
 * and gets it assigned when nobody owns it; nurture picks up the sequences it left for sales.
 * Either way it enters the sequences whose enrolment rule names its new routing.
 */
export async function setRouting(tx: Tx, leadId: string, to: Routing, why: { actor: Actor; ruleId?: string; rule?: string; reason?: string }): Promise<void> {
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: leadId } });
  await tx.lead.update({ where: { id: leadId }, data: { routing: to } });
  const base = { workspaceId: lead.workspaceId, leadId, actor: why.actor };
  await recordActivity(tx, {
    ...base,
    kind: 'lead.routed',
    data: { from: lead.routing, to, ...(why.ruleId ? { ruleId: why.ruleId, rule: why.rule } : {}), ...(why.reason ? { reason: why.reason } : {}) },
  });
  await stopSequences(tx, lead.workspaceId, leadId, to);
  if (to === 'nurture') await resumeNurture(tx, lead.workspaceId, leadId);
  await enrolByRules(tx, lead.workspaceId, leadId, { routingChanged: true });
  // An owner the lead already has keeps it.
  if (to === 'sales' && !lead.ownerId) await reassignByRules(tx, leadId, systemActor);
}

const stoppedForSales = 'the lead went to sales';

/**
 * Issue 4: a lead handed to sales leaves its nurture sequences (every sequence it is in). A lead
 * sent back to nurture leaves the sequences meant for sales leads only.
 */
async function stopSequences(tx: Tx, workspaceId: string, leadId: string, to: Routing): Promise<void> {
  const active = await tx.sequenceEnrollment.findMany({ where: { leadId, status: 'active' }, include: { sequence: true } });
  const { stage } = await tx.lead.findUniqueOrThrow({ where: { id: leadId }, select: { stage: true } });
  for (const enrollment of active) {
    const forSales = (enrollment.sequence.enrol as { routing?: string } | null)?.routing === 'sales';
    if (to === 'nurture' && !forSales) continue;
    // A stage the sequence exits at is the plainer reason (marking a lead qualified does both).
    const reason = enrollment.sequence.exitStages.includes(stage)
      ? `the lead reached ${stage}`
      : to === 'sales'
        ? stoppedForSales
        : 'the lead went back to nurture';
    await tx.sequenceEnrollment.update({ where: { id: enrollment.id }, data: { status: 'stopped', stopReason: reason, lockedUntil: null } });
    await recordActivity(tx, { workspaceId, leadId, kind: 'sequence.stopped', actor: systemActor, data: { sequenceId: enrollment.sequenceId, reason } });
  }
}

/**
 * A sequence runs once per lead, so a lead back in nurture does not hear a sequence from the
 * start again: the ones that stopped because it went to sales go on from the step they stopped
 * at (after that step's wait), and completed ones stay completed.
 */
async function resumeNurture(tx: Tx, workspaceId: string, leadId: string): Promise<void> {
  const stopped = await tx.sequenceEnrollment.findMany({ where: { leadId, status: 'stopped', stopReason: stoppedForSales }, include: { sequence: true } });
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: leadId }, select: { stage: true } });
  for (const enrollment of stopped) {
    const { sequence } = enrollment;
    if (!sequence.active || sequence.exitStages.includes(lead.stage)) continue;
    const steps = sequence.steps as { waitMinutes: number }[];
    const next = steps[enrollment.nextStep];
    if (!next) continue;
    await tx.sequenceEnrollment.update({
      where: { id: enrollment.id },
      data: { status: 'active', stopReason: null, lockedUntil: null, nextStepAt: new Date(Date.now() + next.waitMinutes * 60_000) },
    });
    await recordActivity(tx, { workspaceId, leadId, kind: 'sequence.enrolled', actor: systemActor, data: { sequenceId: sequence.id, resumedAtStep: enrollment.nextStep } });
  }
}

/** The routing rules a new workspace starts with, named in its language. */
export function defaultRoutingRules(workspaceId: string, locale: string): Prisma.RoutingRuleCreateManyInput[] {
  const pt = locale.toLowerCase().startsWith('pt');
  const rules: [string, string, number, Routing, RoutingCondition][] = [
    ['Sales-ready score', 'Pontuação de pronto para vendas', 10, 'sales', { minScore: 50 }],
    ['Marked qualified', 'Marcado como qualificado', 20, 'sales', { stages: ['qualified', 'negotiation'] }],
    ['Moved to nurture', 'Movido para nutrição', 30, 'nurture', { stages: ['nurture'] }],
    ['Not ready yet', 'Ainda não está pronto', 100, 'nurture', {}],
  ];
  return rules.map(([en, ptName, priority, to, when]) => ({ id: newId('rtr'), workspaceId, name: pt ? ptName : en, priority, to, when }));
}
