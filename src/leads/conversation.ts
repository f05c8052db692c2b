import type { Prisma } from '@prisma/client';
import { newId } from '../ids.js';
import { type Actor, recordActivity } from './activities.js';
import { changeStage } from './pipeline.js';
import { addWorkingMinutes, workingSecondsBetween } from './working-time.js';

export const conversationStatuses = ['open', 'pending', 'snoozed', 'resolved'] as const;
export type ConversationStatus = (typeof conversationStatuses)[number];

type Tx = Prisma.TransactionClient;
type WorkspaceClock = { id: string; timeZone: string; workingHours: Prisma.JsonValue; firstResponseSlaMinutes: number };

/**
 * A contact wrote. The conversation is open again if it was put aside, and a response window
 * opens for a new lead or a resolved conversation the contact reopened: its first-response
 * clock starts now, counted in working hours.
 */
export async function noteInbound(
  tx: Tx,
  input: { workspace: WorkspaceClock; leadId: string; channel: string; at: Date; isNewLead: boolean; contactId: string },
): Promise<void> {
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: input.leadId }, select: { conversationStatus: true, firstResponseDueAt: true } });
  const status = lead.conversationStatus as ConversationStatus;
  const reopened = !input.isNewLead && status !== 'open';
  if (input.isNewLead || status === 'resolved') {
    const dueAt = addWorkingMinutes(input.at, input.workspace.firstResponseSlaMinutes, input.workspace.workingHours, input.workspace.timeZone);
    await tx.responseWindow.create({
      data: { id: newId('rw'), workspaceId: input.workspace.id, leadId: input.leadId, channel: input.channel, openedAt: input.at, dueAt, reopening: !input.isNewLead },
    });
    if (!lead.firstResponseDueAt) await tx.lead.update({ where: { id: input.leadId }, data: { firstResponseDueAt: dueAt } });
  }
  await tx.lead.update({
    where: { id: input.leadId },
    data: { lastInboundAt: input.at, ...(reopened ? { conversationStatus: 'open', snoozedUntil: null } : {}) },
  });
  if (reopened) {
    await recordActivity(tx, {
      workspaceId: input.workspace.id,
      leadId: input.leadId,
      kind: 'conversation.reopened',
      actor: { type: 'contact', id: input.contactId },
      at: input.at,
      data: { before: status, channel: input.channel },
    });
  }
}

/**
 * A person answered the lead (a rep's message or an integration's, never an automatic one):
 * the open response window closes, the lead's first response is kept, and a lead still Open
 * becomes Contacted.
 */
export async function noteHumanResponse(tx: Tx, input: { workspaceId: string; leadId: string; actor: Actor; at?: Date }): Promise<void> {
  const at = input.at ?? new Date();
  const workspace = await tx.workspace.findUniqueOrThrow({ where: { id: input.workspaceId }, select: { timeZone: true, workingHours: true } });
  const windows = await tx.responseWindow.findMany({ where: { leadId: input.leadId, respondedAt: null } });
  for (const window of windows) {
    await tx.responseWindow.update({
      where: { id: window.id },
      data: {
        respondedAt: at,
        responderId: input.actor.type === 'user' ? input.actor.id : null,
        wallSeconds: Math.max(0, Math.round((at.getTime() - window.openedAt.getTime()) / 1000)),
        businessSeconds: workingSecondsBetween(window.openedAt, at, workspace.workingHours, workspace.timeZone),
      },
    });
  }
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: input.leadId }, select: { stage: true, firstResponseAt: true } });
  if (!lead.firstResponseAt) await tx.lead.update({ where: { id: input.leadId }, data: { firstResponseAt: at } });
  if (lead.stage === 'open') {
    await changeStage(tx, { workspaceId: input.workspaceId, leadId: input.leadId, to: 'contacted', reason: 'first outbound touch', actor: input.actor, at });
  }
}

/** Open, pending (waiting for the contact), snoozed (until a time, or until the contact writes) or resolved. */
export async function setConversationStatus(
  tx: Tx,
  input: { workspaceId: string; leadId: string; status: ConversationStatus; until?: Date | null; actor: Actor },
): Promise<boolean> {
  const lead = await tx.lead.findUniqueOrThrow({ where: { id: input.leadId }, select: { conversationStatus: true, snoozedUntil: true } });
  const until = input.status === 'snoozed' ? (input.until ?? null) : null;
  if (lead.conversationStatus === input.status && (lead.snoozedUntil?.getTime() ?? null) === (until?.getTime() ?? null)) return false;
  await tx.lead.update({ where: { id: input.leadId }, data: { conversationStatus: input.status, snoozedUntil: until } });
  await recordActivity(tx, {
    workspaceId: input.workspaceId,
    leadId: input.leadId,
    kind: 'conversation.status_changed',
    actor: input.actor,
    data: { before: lead.conversationStatus, after: input.status, ...(until ? { until: until.toISOString() } : {}) },
  });
  return true;
}

/** Snoozes that ran out: the conversation comes back to the inbox as open. */
export async function wakeSnoozed(tx: Tx, now: Date): Promise<number> {
  const due = await tx.lead.findMany({
    where: { conversationStatus: 'snoozed', snoozedUntil: { lte: now } },
    select: { id: true, workspaceId: true },
    take: 500,
  });
  for (const lead of due) {
    await setConversationStatus(tx, { workspaceId: lead.workspaceId, leadId: lead.id, status: 'open', actor: { type: 'system', id: null } });
  }
  return due.length;
}
