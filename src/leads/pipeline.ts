import type { Prisma } from '@prisma/client';
import { ValidationError } from '../errors.js';
import { enrolByRules } from '../messaging/sequences.js';
import { type Actor, recordActivity } from './activities.js';
import { rescoreLead } from './scoring.js';
import { qualifiedOrLater } from './quotas.js';
import { furthestOnPath, type Stage } from './stages.js';

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
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: change.leadId }, select: { stage: true, stageChangedAt: true, createdAt: true, ownerId: true } });
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
  const activityId = await recordActivity(tx, {
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
  await recordStageEntry(tx, { ...change, activityId, at, reason, leadCreatedAt: lead.createdAt, ownerId: lead.ownerId });
  await enrolByRules(tx, change.workspaceId, change.leadId);
  await rescoreLead(tx, change.leadId, { stageFrom: lead.stage, actor: change.actor, now: at });
  return true;
}

/**
 * The stage change as a row of `stage_entries`, in the same transaction: the stay it ended (the
 * lead's previous entry, or "open" since its creation) and whether the lead reached Qualified or
 * later for the first time, and who owned the lead then. A change recorded with an earlier time than ones already there (an
 * import of history) is put in its place: the next entry's stay and the first arrival move with it.
 */
async function recordStageEntry(
  tx: Prisma.TransactionClient,
  entry: { workspaceId: string; leadId: string; activityId: string; to: Stage; at: Date; reason: string | null; leadCreatedAt: Date; ownerId: string | null },
): Promise<void> {
  const entries = await tx.stageEntry.findMany({
    where: { leadId: entry.leadId },
    select: { activityId: true, stage: true, enteredAt: true, firstQualified: true },
    orderBy: [{ enteredAt: 'asc' }, { activityId: 'asc' }],
  });
  const before = entries.filter((e) => e.enteredAt <= entry.at);
  const previous = before[before.length - 1];
  const next = entries.find((e) => e.enteredAt > entry.at);
  const qualifies = qualifiedOrLater.includes(entry.to);
  const firstQualified = qualifies && !before.some((e) => qualifiedOrLater.includes(e.stage));
  await tx.stageEntry.create({
    data: {
      activityId: entry.activityId,
      workspaceId: entry.workspaceId,
      leadId: entry.leadId,
      leadCreatedAt: entry.leadCreatedAt,
      stage: entry.to,
      enteredAt: entry.at,
      reason: entry.reason,
      previousStage: previous?.stage ?? 'open',
      previousEnteredAt: previous?.enteredAt ?? entry.leadCreatedAt,
      firstQualified,
      // Who owned the lead when it got here keeps the credit (funnel by owner, quotas per rep).
      ownerId: entry.ownerId,
    },
  });
  if (next) {
    await tx.stageEntry.update({ where: { activityId: next.activityId }, data: { previousStage: entry.to, previousEnteredAt: entry.at } });
  }
  const displaced = firstQualified ? entries.find((e) => e.firstQualified && e.enteredAt > entry.at) : undefined;
  if (displaced) await tx.stageEntry.update({ where: { activityId: displaced.activityId }, data: { firstQualified: false } });
  // The lead's own summary of its entries, which the funnel counts.
  const stagesEntered = [...new Set([...entries.map((e) => e.stage), entry.to])].sort();
  await tx.lead.update({ where: { id: entry.leadId }, data: { stagesEntered, furthestStage: furthestOnPath(stagesEntered) } });
}
