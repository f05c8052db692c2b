import type { Prisma } from '@prisma/client';
import { newId } from '../ids.js';

export type ActivityKind =
  | 'lead.created'
  | 'lead.assigned'
  | 'lead.updated'
  | 'lead.stage_changed'
  | 'lead.scored'
  | 'lead.routed'
  | 'contact.merged'
  | 'contact.unmerged'
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

/** An activity as written, passed to what listens for activities. */
export interface RecordedActivity {
  id: string;
  workspaceId: string;
  leadId: string;
  kind: ActivityKind;
  data: Record<string, unknown>;
  at: Date;
}

/**
 * Runs in the activity's own transaction, so what it writes (a webhook delivery) is committed if
 * and only if the activity is; a throw rolls both back.
 */
export type ActivityListener = (tx: Prisma.TransactionClient, activity: RecordedActivity) => Promise<void>;

/**
 * Listeners with how many registrations hold each: gateways in one process (tests, a worker beside
 * the HTTP server) register the same listener, and one closing must not silence the others.
 */
const listeners = new Map<ActivityListener, number>();

/**
 * Subscribes a listener to every activity recorded from now on, in this process; the returned
 * function ends this subscription. The composition root registers them (the gateway), so the lead
 * modules that record activities never import what follows from them.
 */
export function onActivity(listener: ActivityListener): () => void {
  listeners.set(listener, (listeners.get(listener) ?? 0) + 1);
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    const held = (listeners.get(listener) ?? 1) - 1;
    if (held > 0) listeners.set(listener, held);
    else listeners.delete(listener);
  };
}

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
  const recorded: RecordedActivity = { id, workspaceId: entry.workspaceId, leadId: entry.leadId, kind: entry.kind, data: entry.data ?? {}, at };
  for (const listener of [...listeners.keys()]) await listener(tx, recorded);
  return id;
}
