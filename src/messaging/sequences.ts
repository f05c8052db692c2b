import type { Prisma } from '@prisma/client';
import type { ChannelKind } from '../channels/contract.js';
import { newId } from '../ids.js';
import { type Actor, recordActivity, systemActor } from '../leads/activities.js';

export interface SequenceStep {
  waitMinutes: number;
  templateId: string;
  channel?: ChannelKind;
  /** Sent only to leads that meet it when the step is due; skipped (and noted) otherwise. */
  when?: { stages?: string[]; productIds?: string[]; minScore?: number };
}

export interface EnrolRule {
  stages?: string[];
  productIds?: string[];
  routing?: 'sales' | 'nurture';
}

type Tx = Prisma.TransactionClient;

/** Enrols a lead; false when it is or was in that sequence already (a sequence runs once per lead). */
export async function enrol(tx: Tx, sequence: { id: string; workspaceId: string; steps: Prisma.JsonValue }, leadId: string, actor: Actor): Promise<boolean> {
  const steps = sequence.steps as unknown as SequenceStep[];
  const created = await tx.sequenceEnrollment.createMany({
    data: [
      {
        id: newId('enr'),
        workspaceId: sequence.workspaceId,
        sequenceId: sequence.id,
        leadId,
        nextStepAt: new Date(Date.now() + (steps[0]?.waitMinutes ?? 0) * 60_000),
      },
    ],
    skipDuplicates: true,
  });
  if (created.count === 0) return false;
  await recordActivity(tx, { workspaceId: sequence.workspaceId, leadId, kind: 'sequence.enrolled', actor, data: { sequenceId: sequence.id } });
  return true;
}

/**
 * Enrols the lead in every active sequence whose rule it now meets (on creation and stage changes).
 * After a routing change, only sequences whose rule names a routing are new to consider.
 */
export async function enrolByRules(tx: Tx, workspaceId: string, leadId: string, options: { routingChanged?: boolean } = {}): Promise<void> {
  const sequences = await tx.sequence.findMany({ where: { workspaceId, active: true } });
  if (sequences.length === 0) return;
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: leadId }, include: { products: true } });
  for (const sequence of sequences) {
    const rule = sequence.enrol as EnrolRule | null;
    if (!rule || (options.routingChanged && !rule.routing)) continue;
    if (rule.stages?.length && !rule.stages.includes(lead.stage)) continue;
    if (rule.productIds?.length && !lead.products.some((p) => rule.productIds!.includes(p.productId))) continue;
    if (rule.routing && rule.routing !== lead.routing) continue;
    if (sequence.exitStages.includes(lead.stage)) continue;
    await enrol(tx, sequence, leadId, systemActor);
  }
}
