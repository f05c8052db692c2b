import type { Prisma } from '@prisma/client';
import { newId } from '../ids.js';
import { queueWebhookEvents } from '../messaging/webhooks.js';

export type ActivityKind =
  | 'lead.created'
  | 'lead.assigned'
  | 'lead.updated'
  | 'lead.stage_changed'
  | 'lead.scored'
  | 'lead.routed'
  | 'contact.merged'
  | 'message.received'
  | 'message.queued'
  | 'message.scheduled'
  | 'message.canceled'
  | 'message.retried'
  | 'message.sent'
  | 'message.failed'
  | 'auto_reply.skipped'
  | 'email.bounced'
  | 'call.answered'
  | 'call.missed'
  | 'call.busy'
  | 'call.failed'
  | 'call.voicemail'
  | 'call.transcribed'
  | 'follow_up.created'
  | 'sequence.enrolled'
  | 'sequence.step_sent'
  | 'sequence.step_skipped'
  | 'sequence.stopped'
  | 'sequence.completed'
  | 'follow_up.completed'
  | 'follow_up.due'
  | 'contact.opted_out'
  | 'message.delivered'
  | 'message.read'
  | 'note.added'
  | 'conversation.status_changed'
  | 'conversation.reopened'
  | 'lead.claimed';

/** Who did it: a user, an API key (an integration), or the gateway itself. */
export interface Actor {
  type: 'user' | 'api_key' | 'system' | 'contact';
  id: string | null;
}

export const systemActor: Actor = { type: 'system', id: null };

export async function recordActivity(
  tx: Prisma.TransactionClient,
  entry: { workspaceId: string; leadId: string; kind: ActivityKind; actor: Actor; data?: Record<string, unknown>; at?: Date },
): Promise<string> {
  const id = newId('act');
  const at = entry.at ?? new Date();
  await tx.activity.create({
    data: {
      id,
      workspaceId: entry.workspaceId,
      leadId: entry.leadId,
      kind: entry.kind,
      actorType: entry.actor.type,
      // Only users are rows of their own; an API key's id is kept in the data.
      actorId: entry.actor.type === 'user' ? entry.actor.id : null,
      data: (entry.actor.type === 'api_key' ? { ...entry.data, apiKeyId: entry.actor.id } : (entry.data ?? {})) as Prisma.InputJsonValue,
      createdAt: at,
    },
  });
  await queueWebhookEvents(tx, { workspaceId: entry.workspaceId, leadId: entry.leadId, kind: entry.kind, activityId: id, data: entry.data ?? {}, at });
  return id;
}
