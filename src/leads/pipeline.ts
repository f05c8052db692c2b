import type { Prisma } from '@prisma/client';
import { ValidationError } from '../errors.js';
import { enrolByRules } from '../messaging/sequences.js';
import { type Actor, recordActivity } from './activities.js';
import type { Stage } from './stages.js';

export interface StageChange {
  workspaceId: string;
  leadId: string;
  to: Stage;
  /** Why: required to mark a lead Unqualified (the loss reason). */
  reason?: string | null;
  actor: Actor;
  at?: Date;
}

/**
 * Moves a lead to another stage: timestamps it (time in stage is derivable), keeps the loss
 * reason of an Unqualified lead, writes the activity and lets sequences enrol or exit.
 * Returns false when the lead was already there.
 */
export async function changeStage(tx: Prisma.TransactionClient, change: StageChange): Promise<boolean> {
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: change.leadId }, select: { stage: true, stageChangedAt: true } });
  if (lead.stage === change.to) return false;
  const reason = change.reason?.trim() || null;
  if (change.to === 'unqualified' && !reason) {
    throw new ValidationError([{ path: 'lossReason', message: 'say why the lead is lost to mark it unqualified' }]);
  }
  const at = change.at ?? new Date();
  await tx.lead.update({
    where: { id: change.leadId },
    data: { stage: change.to, stageChangedAt: at, lossReason: change.to === 'unqualified' ? reason : null, lastActivityAt: at },
  });
  await recordActivity(tx, {
    workspaceId: change.workspaceId,
    leadId: change.leadId,
    kind: 'lead.stage_changed',
    actor: change.actor,
    at,
    data: {
      before: lead.stage,
      after: change.to,
      ...(reason ? { reason } : {}),
      secondsInPreviousStage: Math.max(0, Math.round((at.getTime() - lead.stageChangedAt.getTime()) / 1000)),
    },
  });
  await enrolByRules(tx, change.workspaceId, change.leadId);
  return true;
}
