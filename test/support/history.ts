import type { Prisma } from '@prisma/client';
import type { Db } from '../../src/db/client.js';
import { newId } from '../../src/ids.js';
import { recordActivity, systemActor } from '../../src/leads/activities.js';
import { noteHumanResponse, noteInbound, setConversationStatus } from '../../src/leads/conversation.js';
import { changeStage } from '../../src/leads/pipeline.js';
import type { Stage } from '../../src/leads/stages.js';

/**
 * Writes a lead's history with real timestamps through the core's own functions (the API can
 * only say "now"): created from an inbound message, answered, moved through stages, reopened.
 */
export function leadHistory(prisma: Db, workspaceId: string) {
  const workspace = () => prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId }, select: { id: true, timeZone: true, workingHours: true, firstResponseSlaMinutes: true } });
  const inbound = (tx: Prisma.TransactionClient, leadId: string, channel: string, when: Date) =>
    tx.message.create({ data: { id: newId('msg'), workspaceId, leadId, direction: 'in', channel, status: 'received', text: 'Olá', createdAt: when } });
  return {
    async lead(input: { name: string; at: Date; channel: string; ownerId: string; productId?: string; segment?: string }) {
      const clock = await workspace();
      return prisma.$transaction(async (tx) => {
        const contact = await tx.contact.create({ data: { id: newId('ct'), workspaceId, name: input.name, createdAt: input.at } });
        const lead = await tx.lead.create({
          data: {
            id: newId('lead'),
            workspaceId,
            contactId: contact.id,
            channel: input.channel,
            name: input.name,
            ownerId: input.ownerId,
            segment: input.segment ?? null,
            createdAt: input.at,
            stageChangedAt: input.at,
            lastActivityAt: input.at,
          },
        });
        if (input.productId) await tx.leadProduct.create({ data: { workspaceId, leadId: lead.id, productId: input.productId } });
        await inbound(tx, lead.id, input.channel, input.at);
        await recordActivity(tx, { workspaceId, leadId: lead.id, kind: 'lead.created', actor: systemActor, at: input.at, data: { channel: input.channel } });
        await recordActivity(tx, { workspaceId, leadId: lead.id, kind: 'lead.assigned', actor: systemActor, at: input.at, data: { ownerId: input.ownerId } });
        await noteInbound(tx, { workspace: clock, leadId: lead.id, channel: input.channel, at: input.at, isNewLead: true, contactId: contact.id });
        return { id: lead.id, contactId: contact.id, channel: input.channel };
      });
    },
    /** A message that went out: a person's reply closes the response window, an automatic one does not. */
    async outbound(lead: { id: string; channel: string }, when: Date, by: { userId: string } | { automatic: true; idempotencyKey?: string; status?: string; sequenceStep?: { enrollmentId: string; step: number } }) {
      return prisma.$transaction(async (tx) => {
        const automatic = 'automatic' in by;
        const message = await tx.message.create({
          data: {
            id: newId('msg'),
            workspaceId,
            leadId: lead.id,
            direction: 'out',
            channel: lead.channel,
            status: automatic ? (by.status ?? 'sent') : 'sent',
            text: automatic ? 'Recebemos sua mensagem' : 'Oi! Posso ajudar?',
            automatic,
            authorId: automatic ? null : by.userId,
            idempotencyKey: automatic && by.idempotencyKey ? by.idempotencyKey : newId('idem'),
            sequenceEnrollmentId: automatic ? (by.sequenceStep?.enrollmentId ?? null) : null,
            sequenceStep: automatic ? (by.sequenceStep?.step ?? null) : null,
            createdAt: when,
            sentAt: when,
          },
        });
        if (!automatic) await noteHumanResponse(tx, { workspaceId, leadId: lead.id, actor: { type: 'user', id: by.userId }, at: when });
        return message.id;
      });
    },
    stage(lead: { id: string }, to: Stage, when: Date, reason?: string) {
      return prisma.$transaction((tx) => changeStage(tx, { workspaceId, leadId: lead.id, to, reason: reason ?? null, actor: systemActor, at: when }));
    },
    /** The rep resolves the conversation; later the contact writes again. */
    async reopen(lead: { id: string; contactId: string; channel: string }, when: Date) {
      const clock = await workspace();
      await prisma.$transaction(async (tx) => {
        await setConversationStatus(tx, { workspaceId, leadId: lead.id, status: 'resolved', actor: systemActor });
        await inbound(tx, lead.id, lead.channel, when);
        await noteInbound(tx, { workspace: clock, leadId: lead.id, channel: lead.channel, at: when, isNewLead: false, contactId: lead.contactId });
      });
    },
    inbound: (lead: { id: string; channel: string }, when: Date) => prisma.$transaction((tx) => inbound(tx, lead.id, lead.channel, when)),
  };
}
