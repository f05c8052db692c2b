import type { InboundEvent as InboundEventRow, Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import { type CallProgress, type ChannelKind, noAckCode } from '../channels/contract.js';
import type { Config } from '../config.js';
import { type Identity, identityLockKey, normalizeEmail, normalizePhone } from '../contacts/identities.js';
import { resolveContact } from '../contacts/resolve.js';
import type { Db } from '../db/client.js';
import { errorMessage } from '../errors.js';
import { newId } from '../ids.js';
import { recordActivity, systemActor } from '../leads/activities.js';
import { chooseOwner } from '../leads/assignment.js';
import { noteHumanResponse, noteInbound } from '../leads/conversation.js';
import { fold, productsMentioned } from '../leads/products.js';
import { rescoreLead } from '../leads/scoring.js';
import { closedStages } from '../leads/stages.js';
import type { TemplateStore } from '../messaging/templates.js';
import { type Outbound, replySubject } from '../messaging/outbound.js';
import { renderForLead } from '../messaging/render.js';
import { enrolByRules } from '../messaging/sequences.js';
import { backoffMs } from '../queue/backoff.js';
import type { Metrics } from '../metrics.js';
import type { JobQueue } from '../queue/contract.js';
import { inboundKind, messageContent, type StoredPayload } from './stored-event.js';

export const maxProcessingAttempts = 5;

/**
 * Turns one stored inbound event into a contact, a lead, a message and its timeline, in one
 * transaction that also marks the event processed: a crash anywhere rolls all of it back and
 * the event is processed again, so it is processed exactly once.
 */
export class InboundProcessor {
  constructor(
    private readonly deps: {
      prisma: Db;
      queue: JobQueue;
      outbound: Outbound;
      templates: TemplateStore;
      config: Pick<Config, 'retry'>;
      logger: Logger;
      metrics: Metrics;
    },
  ) {}

  async process(eventId: string): Promise<void> {
    const { prisma } = this.deps;
    const head = await prisma.inboundEvent.findUnique({ where: { id: eventId }, select: { status: true } });
    if (!head || head.status !== 'pending') return;
    try {
      const done = await prisma.$transaction(
        async (tx) => {
          const claimed = await tx.$queryRaw<{ channel: string }[]>`
            SELECT channel FROM inbound_events WHERE id = ${eventId} AND status = 'pending' FOR UPDATE SKIP LOCKED`;
          if (claimed.length === 0) return undefined;
          await this.lockPeople(tx, eventId);
          return { channel: claimed[0]!.channel, queued: await this.processClaimed(tx, eventId) };
        },
        { timeout: 30_000, maxWait: 30_000 },
      );
      if (!done) return;
      this.deps.metrics.processed.inc({ channel: done.channel, outcome: 'processed' });
      for (const messageId of done.queued) this.deps.outbound.wake(messageId);
    } catch (error) {
      await this.recordFailure(eventId, error);
    }
  }

  /**
   * Locks the identities the event names (and the addresses a bounce names), in a fixed order:
   * two events of one person never race to create two contacts, and events of other people go on.
   */
  private async lockPeople(tx: Prisma.TransactionClient, eventId: string): Promise<void> {
    const event = await tx.inboundEvent.findUniqueOrThrow({ where: { id: eventId }, select: { workspaceId: true, payload: true, workspace: { select: { country: true } } } });
    const payload = event.payload as unknown as StoredPayload;
    const identities = identitiesOf(payload.from, event.workspace.country, []);
    for (const recipient of payload.bounce?.recipients ?? []) {
      const email = normalizeEmail(recipient);
      if (email) identities.push({ kind: 'email', value: email });
    }
    const keys = [...new Set(identities.map((identity) => identityLockKey(event.workspaceId, identity.kind, identity.value)))].sort();
    if (keys.length === 0) return;
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM (SELECT unnest(${keys}::text[]) AS key ORDER BY 1) AS sorted`;
  }

  /** Hands the event to the handler of its kind; each returns the messages it queued. */
  private async processClaimed(tx: Prisma.TransactionClient, eventId: string): Promise<string[]> {
    const event = await tx.inboundEvent.findUniqueOrThrow({ where: { id: eventId } });
    const payload = event.payload as unknown as StoredPayload;
    const inbound = inboundKind(payload);
    switch (inbound.kind) {
      case 'message':
        return this.processMessage(tx, event, payload);
      case 'replacement':
        if (await this.replaceUnreadable(tx, event, payload, new Date(payload.receivedAt))) return [];
        return this.processMessage(tx, event, payload);
      case 'call':
        return this.processCall(tx, event, payload, inbound.call);
      case 'delivery':
        await this.processDelivery(tx, event, inbound.delivery, new Date(payload.receivedAt));
        return [];
      case 'bounce':
        await this.processBounce(tx, event, inbound.bounce);
        return [];
      case 'same-person':
        await this.processSamePerson(tx, event, payload);
        return [];
      case 'outgoing':
        await this.processOutgoing(tx, event, payload);
        return [];
    }
  }

  /**
   * A person's message (a form submission, an email, a WhatsApp or SMS message, a call's first
   * event): the contact, their open lead or a new one, the message, its timeline, and the
   * acknowledgement a new lead gets.
   */
  private async processMessage(tx: Prisma.TransactionClient, event: InboundEventRow, payload: StoredPayload, call?: CallProgress): Promise<string[]> {
    const eventId = event.id;
    const workspace = await tx.workspace.findUniqueOrThrow({ where: { id: event.workspaceId } });
    const source = await tx.source.findUnique({ where: { id: event.sourceId } });
    const receivedAt = new Date(payload.receivedAt);
    const notes: string[] = [];
    const identities = identitiesOf(payload.from, workspace.country, notes);
    const contact = await resolveContact(tx, event.workspaceId, identities, {
      ...(payload.from.name ? { name: payload.from.name } : {}),
      ...(payload.company ? { company: payload.company } : {}),
    });
    const named = await this.findProduct(tx, event.workspaceId, payload.product, source?.defaultProductId ?? null);
    const customFields: Record<string, string> = { ...payload.fields, ...payload.attribution };
    for (const [index, note] of notes.entries()) customFields[index === 0 ? 'invalid contact info' : `invalid contact info ${index + 1}`] = note;

    // A reply to a message of a conversation stays in that conversation, whatever its stage.
    const threaded = payload.threadRefs?.length
      ? await tx.message.findFirst({
          where: { workspaceId: event.workspaceId, externalId: { in: payload.threadRefs } },
          orderBy: { createdAt: 'desc' },
          select: { lead: true },
        })
      : null;
    let lead =
      threaded?.lead ??
      (await tx.lead.findFirst({
        where: { contactId: contact.contactId, stage: { notIn: [...closedStages] } },
        orderBy: { createdAt: 'desc' },
      }));
    const isNewLead = !lead;
    // A first message that names no product is read for the catalogue's keywords.
    const products = named
      ? [named]
      : isNewLead && payload.text
        ? productsMentioned(payload.text, await tx.product.findMany({ where: { workspaceId: event.workspaceId }, orderBy: { createdAt: 'asc' } }))
        : [];
    const product = products[0];
    if (!lead) {
      const decision = await chooseOwner(tx, event.workspaceId, {
        sourceId: source?.id ?? null,
        sourceOwnerId: source?.ownerId ?? null,
        productIds: products.map((p) => p.id),
        productOwnerId: product?.ownerId ?? null,
        channel: payload.channel,
        timeZone: workspace.timeZone,
      });
      lead = await tx.lead.create({
        data: {
          id: newId('lead'),
          workspaceId: event.workspaceId,
          contactId: contact.contactId,
          sourceId: source?.id ?? null,
          channel: payload.channel,
          name: payload.from.name ?? null,
          company: payload.company ?? null,
          customFields,
          ownerId: decision.ownerId,
          assignmentRuleId: decision.ruleId,
          assignmentReason: decision.reason,
          needsContactInfo: identities.length === 0,
          createdAt: receivedAt,
          lastActivityAt: receivedAt,
          ...(products.length > 0 ? { products: { create: products.map((p) => ({ productId: p.id, workspaceId: event.workspaceId })) } } : {}),
        },
      });
      await recordActivity(tx, {
        workspaceId: event.workspaceId,
        leadId: lead.id,
        kind: 'lead.created',
        actor: systemActor,
        at: receivedAt,
        data: { eventId, channel: payload.channel, sourceId: source?.id ?? null, contactId: contact.contactId, newContact: contact.created },
      });
      await recordActivity(tx, {
        workspaceId: event.workspaceId,
        leadId: lead.id,
        kind: 'lead.assigned',
        actor: systemActor,
        data: { before: null, after: decision.ownerId, ruleId: decision.ruleId, reason: decision.reason },
      });
    } else {
      const existingFields = lead.customFields as Record<string, string>;
      lead = await tx.lead.update({
        where: { id: lead.id },
        data: {
          lastActivityAt: receivedAt,
          customFields: { ...customFields, ...existingFields },
          ...(lead.name ? {} : { name: payload.from.name ?? null }),
          ...(lead.company ? {} : { company: payload.company ?? null }),
          ...(identities.length > 0 ? { needsContactInfo: false } : {}),
        },
      });
      if (product) {
        await tx.leadProduct.createMany({ data: [{ leadId: lead.id, productId: product.id, workspaceId: event.workspaceId }], skipDuplicates: true });
      }
    }
    if (contact.mergedContactIds.length > 0) {
      await recordActivity(tx, {
        workspaceId: event.workspaceId,
        leadId: lead.id,
        kind: 'contact.merged',
        actor: systemActor,
        data: { into: contact.contactId, merged: contact.mergedContactIds, because: identities },
      });
    }

    const messageId = newId('msg');
    await tx.message.create({
      data: {
        id: messageId,
        workspaceId: event.workspaceId,
        leadId: lead.id,
        sourceId: source?.id ?? null,
        eventId,
        direction: 'in',
        channel: payload.channel,
        status: 'received',
        ...messageContent(payload),
        externalId: call?.callId ?? payload.replaces ?? event.externalId,
        fields: { ...payload.fields, ...payload.attribution, ...(call ? { callStatus: call.status } : {}) },
        createdAt: receivedAt,
      },
    });
    await tx.attachment.updateMany({ where: { eventId }, data: { messageId } });
    await recordActivity(tx, {
      workspaceId: event.workspaceId,
      leadId: lead.id,
      kind: 'message.received',
      actor: { type: 'contact', id: contact.contactId },
      at: receivedAt,
      data: { messageId, channel: payload.channel, eventId, preview: payload.text?.slice(0, 140) ?? null },
    });
    await noteInbound(tx, { workspace, leadId: lead.id, channel: payload.channel, at: receivedAt, isNewLead, contactId: contact.contactId });
    await rescoreLead(tx, lead.id, { created: isNewLead });

    const queued: string[] = [];
    if (payload.optOut) {
      await tx.contactOptOut.createMany({
        data: [{ workspaceId: event.workspaceId, contactId: contact.contactId, channel: payload.channel, reason: payload.text?.slice(0, 100) ?? null }],
        skipDuplicates: true,
      });
      await recordActivity(tx, { workspaceId: event.workspaceId, leadId: lead.id, kind: 'contact.opted_out', actor: { type: 'contact', id: contact.contactId }, data: { channel: payload.channel, text: payload.text ?? null } });
    }
    if (call && call.status !== 'ringing') {
      const message = await tx.message.findUniqueOrThrow({ where: { id: messageId } });
      queued.push(...(await this.updateCall(tx, message, call, workspace)));
    }
    // Calls are answered by people; a missed one gets its own message (updateCall).
    const acknowledge = isNewLead && source && source.autoReplyTemplate !== null && !payload.optOut && payload.channel !== 'voice';
    if (acknowledge) {
      const autoReply = await this.queueAutoReply(tx, lead.id, event.workspaceId, source.autoReplyTemplate!, `auto-reply:${eventId}`, workspace.locale);
      if (autoReply) queued.push(autoReply);
    }
    if (isNewLead) await enrolByRules(tx, event.workspaceId, lead.id);
    await tx.inboundEvent.update({ where: { id: eventId }, data: { status: 'processed', leadId: lead.id, processedAt: new Date(), lastError: null } });
    return queued;
  }

  /** A call's first event opens its message as a person's message does; later ones update that message. */
  private async processCall(tx: Prisma.TransactionClient, event: InboundEventRow, payload: StoredPayload, progress: CallProgress): Promise<string[]> {
    const call = await tx.message.findFirst({ where: { workspaceId: event.workspaceId, channel: 'voice', externalId: progress.callId } });
    if (!call) return this.processMessage(tx, event, payload, progress);
    const workspace = await tx.workspace.findUniqueOrThrow({ where: { id: event.workspaceId } });
    const queued = await this.updateCall(tx, call, progress, workspace);
    await tx.inboundEvent.update({ where: { id: event.id }, data: { status: 'processed', leadId: call.leadId, processedAt: new Date(), lastError: null } });
    return queued;
  }

  /** The handle's ids are one person: contacts known by any of them become one. */
  private async processSamePerson(tx: Prisma.TransactionClient, event: InboundEventRow, payload: StoredPayload): Promise<void> {
    const workspace = await tx.workspace.findUniqueOrThrow({ where: { id: event.workspaceId }, select: { country: true } });
    const identities = identitiesOf(payload.from, workspace.country, []);
    // Only contacts that exist are merged: a mapping alone is not a person writing to us.
    const known = identities.length > 0 ? await tx.contactIdentity.count({ where: { workspaceId: event.workspaceId, OR: identities } }) : 0;
    if (known > 0) {
      const contact = await resolveContact(tx, event.workspaceId, identities, {});
      if (contact.mergedContactIds.length > 0) {
        // Every conversation of the person says so: the one under the privacy id and the phone's alike.
        const leads = await tx.lead.findMany({ where: { workspaceId: event.workspaceId, contactId: contact.contactId }, select: { id: true }, orderBy: { createdAt: 'desc' }, take: 20 });
        for (const lead of leads) {
          await recordActivity(tx, {
            workspaceId: event.workspaceId,
            leadId: lead.id,
            kind: 'contact.merged',
            actor: systemActor,
            data: { into: contact.contactId, merged: contact.mergedContactIds, because: identities },
          });
        }
      }
    }
    await tx.inboundEvent.update({ where: { id: event.id }, data: { status: 'processed', processedAt: new Date(), lastError: null } });
  }

  /**
   * Applies a call's progress to its message. A call a person answered is a response: the lead's
   * open response windows close, credited to the rep who picked up. A call nobody answered (busy,
   * no answer, failed, or ended in voicemail) gets a follow-up for the lead's owner and the
   * "missed call" message to the caller, once per call however many callbacks say so.
   */
  private async updateCall(
    tx: Prisma.TransactionClient,
    call: { id: string; leadId: string; workspaceId: string; fields: Prisma.JsonValue; text: string | null; createdAt: Date },
    progress: CallProgress,
    workspace: { locale: string; firstResponseSlaMinutes: number },
  ): Promise<string[]> {
    const fields = { ...((call.fields ?? {}) as Record<string, unknown>) };
    const previous = fields.callStatus as CallProgress['status'] | undefined;
    // The end of a call that already got an outcome (answered, missed, a voicemail) changes nothing.
    if (progress.ended && previous && previous !== 'ringing') return [];
    // A voicemail or a transcript never turns a call back into "answered", nor the reverse; and
    // callbacks processed out of order never take a call back to "ringing".
    const status =
      previous === 'voicemail' || progress.status === 'voicemail'
        ? 'voicemail'
        : progress.status === 'ringing' && previous && previous !== 'ringing'
          ? previous
          : progress.status;
    Object.assign(fields, {
      callStatus: status,
      ...(progress.durationSeconds !== undefined ? { durationSeconds: progress.durationSeconds } : {}),
      ...(progress.answeredBy ? { answeredBy: progress.answeredBy } : {}),
      ...(progress.recordingUrl ? { recordingUrl: progress.recordingUrl } : {}),
      ...(progress.transcription ? { transcription: progress.transcription } : {}),
      ...(progress.transcriptUnavailable && !fields.transcription ? { transcription: 'transcript unavailable' } : {}),
    });
    // A transcript is the call's text only while the call has none of its own.
    await tx.message.update({
      where: { id: call.id },
      data: { fields: fields as Prisma.InputJsonObject, ...(progress.transcription && !call.text ? { text: progress.transcription } : {}) },
    });
    const base = { workspaceId: call.workspaceId, leadId: call.leadId, actor: systemActor };
    const kind = progress.transcription ? 'call.transcribed' : (`call.${status}` as const);
    if (kind !== 'call.ringing') {
      await recordActivity(tx, { ...base, kind, data: { messageId: call.id, ...progress } });
    }
    await tx.lead.update({ where: { id: call.leadId }, data: { lastActivityAt: new Date() } });
    if (status === 'answered' && previous !== 'answered') {
      // Twilio reports the dial when it ends: it was answered its duration ago (and not before the call came in).
      const answeredAt = new Date(Math.max(call.createdAt.getTime(), Date.now() - (progress.durationSeconds ?? 0) * 1000));
      const rep = progress.answeredBy ? await tx.user.findFirst({ where: { id: progress.answeredBy, workspaceId: call.workspaceId }, select: { id: true } }) : null;
      await noteHumanResponse(tx, { workspaceId: call.workspaceId, leadId: call.leadId, actor: rep ? { type: 'user', id: rep.id } : systemActor, at: answeredAt });
    }
    if (!['missed', 'busy', 'failed', 'voicemail'].includes(status)) return [];

    const lead = await tx.lead.findUniqueOrThrow({ where: { id: call.leadId }, include: { contact: { include: { identities: true } } } });
    const caller = lead.contact.identities.find((identity) => identity.kind === 'phone')?.value ?? 'an unknown number';
    const reasonKey = `call:${progress.callId}`;
    if (!(await tx.followUp.findUnique({ where: { leadId_reasonKey: { leadId: lead.id, reasonKey } } }))) {
      const followUpId = newId('fu');
      const note = status === 'voicemail' ? `Call back ${caller}: they left a voicemail` : `Call back ${caller}: missed call (${status})`;
      await tx.followUp.create({
        data: {
          id: followUpId,
          workspaceId: lead.workspaceId,
          leadId: lead.id,
          ownerId: lead.ownerId,
          dueAt: new Date(Date.now() + workspace.firstResponseSlaMinutes * 60_000),
          note,
          reasonKey,
        },
      });
      await recordActivity(tx, { ...base, kind: 'follow_up.created', data: { followUpId, ownerId: lead.ownerId, note } });
    }
    const sms = await this.queueAutoReply(tx, lead.id, lead.workspaceId, 'missed_call', `missed-call:${progress.callId}`, workspace.locale, 'sms');
    return sms ? [sms] : [];
  }

  /**
   * A message the business sent from elsewhere (its phone) joins the person's conversation as
   * sent; it opens no lead. Without a conversation with that person it is kept as an event only.
   */
  private async processOutgoing(tx: Prisma.TransactionClient, event: InboundEventRow, payload: StoredPayload) {
    const workspace = await tx.workspace.findUniqueOrThrow({ where: { id: event.workspaceId }, select: { country: true } });
    const identities = identitiesOf(payload.from, workspace.country, []);
    const known = identities.length
      ? await tx.contactIdentity.findFirst({ where: { workspaceId: event.workspaceId, OR: identities.map(({ kind, value }) => ({ kind, value })) } })
      : null;
    const lead = known
      ? ((await tx.lead.findFirst({ where: { contactId: known.contactId, stage: { notIn: [...closedStages] } }, orderBy: { createdAt: 'desc' } })) ??
        (await tx.lead.findFirst({ where: { contactId: known.contactId }, orderBy: { createdAt: 'desc' } })))
      : null;
    const done = (leadId: string | null, reason: string | null) =>
      tx.inboundEvent.update({ where: { id: event.id }, data: { status: 'processed', leadId, reason, processedAt: new Date(), lastError: null } });
    if (!lead) return done(null, 'sent by the business to someone with no conversation here');
    const sentAt = new Date(payload.receivedAt);
    const messageId = newId('msg');
    await tx.message.create({
      data: {
        id: messageId,
        workspaceId: event.workspaceId,
        leadId: lead.id,
        sourceId: event.sourceId,
        eventId: event.id,
        direction: 'out',
        channel: payload.channel,
        status: 'sent',
        text: payload.text ?? null,
        fullText: payload.fullText ?? payload.text ?? null,
        toAddress: payload.from.whatsappId ?? payload.from.phone ?? payload.from.email ?? null,
        externalId: event.externalId,
        inReplyTo: payload.threadRefs?.at(-1) ?? null,
        references: payload.threadRefs ?? [],
        fields: { ...payload.fields },
        sentAt,
        createdAt: sentAt,
      },
    });
    await tx.attachment.updateMany({ where: { eventId: event.id }, data: { messageId } });
    await recordActivity(tx, {
      workspaceId: event.workspaceId,
      leadId: lead.id,
      kind: 'message.sent',
      actor: systemActor,
      at: sentAt,
      data: { messageId, channel: payload.channel, externalId: event.externalId, sentFrom: 'phone' },
    });
    await tx.lead.update({ where: { id: lead.id }, data: { lastActivityAt: sentAt } });
    return done(lead.id, null);
  }

  /**
   * The readable form of a message stored as unreadable takes that message's place: same
   * message, same conversation, the text, fields and files it actually had; the ad it came from
   * (attribution) joins the lead's fields. No lead, no acknowledgement: the unreadable message
   * made those. False when there is no such message (then it is stored as a message of its own).
   */
  private async replaceUnreadable(
    tx: Prisma.TransactionClient,
    event: { id: string; workspaceId: string; sourceId: string; attempts: number },
    payload: StoredPayload,
    receivedAt: Date,
  ): Promise<boolean> {
    const earlier = await tx.message.findFirst({
      where: { workspaceId: event.workspaceId, sourceId: event.sourceId, direction: 'in', externalId: payload.replaces! },
      orderBy: { createdAt: 'asc' },
    });
    if (!earlier) {
      // The unreadable message can still be waiting for its turn: looked for again twice, shortly.
      if (event.attempts < 2 && Date.now() - receivedAt.getTime() < 60_000) throw new Error(`no message with the provider id ${payload.replaces} yet`);
      return false;
    }
    const fields = { ...payload.fields, ...payload.attribution };
    await tx.message.update({
      where: { id: earlier.id },
      data: {
        // The message now stands for this event: its raw payload is what a resend or a download reads.
        eventId: event.id,
        ...messageContent(payload),
        fields,
      },
    });
    await tx.attachment.updateMany({ where: { eventId: event.id }, data: { messageId: earlier.id } });
    const lead = await tx.lead.findUniqueOrThrow({ where: { id: earlier.leadId } });
    await tx.lead.update({
      where: { id: lead.id },
      data: {
        customFields: { ...fields, ...(lead.customFields as Prisma.JsonObject), ...payload.attribution },
        ...(lead.name ? {} : { name: payload.from.name ?? null }),
        lastActivityAt: new Date(Math.max(lead.lastActivityAt.getTime(), receivedAt.getTime())),
      },
    });
    await recordActivity(tx, {
      workspaceId: event.workspaceId,
      leadId: lead.id,
      kind: 'message.received',
      actor: { type: 'contact', id: lead.contactId },
      at: receivedAt,
      data: { messageId: earlier.id, channel: payload.channel, eventId: event.id, preview: payload.text?.slice(0, 140) ?? null, replacesUnreadable: true },
    });
    await rescoreLead(tx, lead.id);
    await tx.inboundEvent.update({ where: { id: event.id }, data: { status: 'processed', leadId: lead.id, processedAt: new Date(), lastError: null } });
    return true;
  }

  /** A provider's delivery report moves our message forward (or to failed), never back. */
  private async processDelivery(tx: Prisma.TransactionClient, event: InboundEventRow, delivery: NonNullable<StoredPayload['delivery']>, receivedAt: Date) {
    const { workspaceId, id: eventId, attempts } = event;
    const message = await tx.message.findFirst({ where: { workspaceId, direction: 'out', externalId: delivery.externalId } });
    // A report can overtake the send that it reports on (the provider answers before the sender
    // has stored the provider's id): a fresh one is retried twice before it is taken as about
    // nothing of ours (a message sent from the phone to someone with no conversation here).
    if (!message && attempts < 2 && Date.now() - receivedAt.getTime() < 60_000) {
      throw new Error(`no message with the provider id ${delivery.externalId} yet`);
    }
    const rank: Record<string, number> = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4 };
    // A message failed only because its acknowledgement never came moves on when one comes late.
    const lateAck = message?.status === 'failed' && message.errorCode === noAckCode && delivery.status !== 'failed';
    const forward = message && message.status !== 'failed' && (delivery.status === 'failed' || (rank[delivery.status] ?? 0) > (rank[message.status] ?? 0));
    if (message && (forward || lateAck)) {
      await tx.message.update({
        where: { id: message.id },
        data: {
          status: delivery.status,
          ...(delivery.status === 'failed'
            ? { error: delivery.error ?? 'the provider reported the message as not delivered', errorCode: delivery.errorCode ?? 'undelivered' }
            : lateAck
              ? { error: null, errorCode: null }
              : {}),
        },
      });
      await rescoreLead(tx, message.leadId);
      const kind = delivery.status === 'failed' ? 'message.failed' : delivery.status === 'read' ? 'message.read' : delivery.status === 'delivered' ? 'message.delivered' : null;
      if (kind) {
        await recordActivity(tx, {
          workspaceId,
          leadId: message.leadId,
          kind,
          actor: systemActor,
          data: { messageId: message.id, channel: message.channel, ...(delivery.errorCode ? { code: delivery.errorCode, error: delivery.error ?? null } : {}) },
        });
      }
    }
    await tx.inboundEvent.update({ where: { id: eventId }, data: { status: 'processed', leadId: message?.leadId ?? null, processedAt: new Date(), lastError: null } });
  }

  /** The addresses a bounce names can no longer be written to; what was sent to them failed. */
  private async processBounce(tx: Prisma.TransactionClient, event: InboundEventRow, bounce: NonNullable<StoredPayload['bounce']>) {
    const { workspaceId, id: eventId } = event;
    for (const recipient of bounce.recipients) {
      const address = normalizeEmail(recipient);
      if (!address) continue;
      const identity = await tx.contactIdentity.findUnique({ where: { workspaceId_kind_value: { workspaceId, kind: 'email', value: address } } });
      if (!identity) continue;
      await tx.contactIdentity.update({ where: { id: identity.id }, data: { undeliverable: true } });
      const bounced = await tx.message.findFirst({
        where: { workspaceId, direction: 'out', channel: 'email', toAddress: address, status: { in: ['sent', 'delivered'] } },
        orderBy: { createdAt: 'desc' },
      });
      if (bounced) {
        await tx.message.update({ where: { id: bounced.id }, data: { status: 'failed', errorCode: 'bounced', error: bounce.reason } });
      }
      const leads = await tx.lead.findMany({ where: { contactId: identity.contactId }, select: { id: true } });
      for (const { id } of leads) {
        await recordActivity(tx, {
          workspaceId,
          leadId: id,
          kind: 'email.bounced',
          actor: systemActor,
          data: { address, reason: bounce.reason, messageId: bounced?.id ?? null, eventId },
        });
      }
    }
    await tx.inboundEvent.update({ where: { id: eventId }, data: { status: 'processed', processedAt: new Date(), lastError: null } });
  }

  private async queueAutoReply(
    tx: Prisma.TransactionClient,
    leadId: string,
    workspaceId: string,
    templateName: string,
    idempotencyKey: string,
    locale: string,
    channel?: ChannelKind,
  ): Promise<string | null> {
    const { outbound, templates } = this.deps;
    if (await tx.message.findUnique({ where: { idempotencyKey }, select: { id: true } })) return null;
    const skip = async (reason: string) => {
      await recordActivity(tx, { workspaceId, leadId, kind: 'auto_reply.skipped', actor: systemActor, data: { reason, template: templateName } });
      return null;
    };
    let route;
    try {
      route = await outbound.planReply(tx, leadId, channel);
    } catch (error) {
      return skip(errorMessage(error));
    }
    const lead = await tx.lead.findUniqueOrThrow({ where: { id: leadId }, select: { contactId: true } });
    const optedOut = await tx.contactOptOut.findUnique({ where: { contactId_channel: { contactId: lead.contactId, channel: route.channel } } });
    if (optedOut) return skip(`the contact opted out of ${route.channel}`);
    let rendered;
    try {
      rendered = await renderForLead(tx, templates, { id: leadId, workspaceId }, { name: templateName, locale, channel: route.channel });
    } catch (error) {
      return skip(errorMessage(error));
    }
    return outbound.queueMessage(tx, {
      workspaceId,
      leadId,
      ...route,
      ...rendered,
      // An answer to an email stays in its thread; the template's subject is for first contact.
      ...(route.thread ? { subject: replySubject(route.thread.subject, rendered.subject ?? '') } : {}),
      templateName,
      idempotencyKey,
      automatic: true,
      author: systemActor,
    });
  }

  private async findProduct(tx: Prisma.TransactionClient, workspaceId: string, named: string | undefined, fallbackId: string | null) {
    if (named) {
      const wanted = fold(named);
      const products = await tx.product.findMany({ where: { workspaceId } });
      const match =
        products.find((product) => fold(product.name) === wanted) ??
        products.find((product) => product.keywords.some((keyword) => fold(keyword) === wanted));
      if (match) return match;
    }
    return fallbackId ? tx.product.findFirst({ where: { id: fallbackId, workspaceId } }) : null;
  }

  private async recordFailure(eventId: string, error: unknown): Promise<void> {
    const { prisma, config, logger, queue } = this.deps;
    const event = await prisma.inboundEvent.update({
      where: { id: eventId },
      data: { attempts: { increment: 1 }, lastError: errorMessage(error) },
    });
    if (event.attempts >= maxProcessingAttempts) {
      await prisma.inboundEvent.update({ where: { id: eventId }, data: { status: 'failed' } });
      this.deps.metrics.processed.inc({ channel: event.channel, outcome: 'failed' });
      logger.error({ err: error, eventId }, 'inbound event failed for good; it stays stored with its error');
      return;
    }
    const delayMs = backoffMs(event.attempts, config.retry.baseMs, config.retry.maxMs);
    await prisma.inboundEvent.update({ where: { id: eventId }, data: { nextAttemptAt: new Date(Date.now() + delayMs) } });
    this.deps.metrics.processingRetries.inc({ channel: event.channel });
    logger.warn({ err: error, eventId, attempts: event.attempts, delayMs }, 'inbound event processing failed; retrying');
    await queue.add('inbound', eventId, { delayMs, attempt: event.attempts });
  }
}

/** The contact's identities the handle names; what is not valid becomes a note on the lead. */
export function identitiesOf(from: StoredPayload['from'], country: string, notes: string[]): Identity[] {
  const identities: Identity[] = [];
  const phone = from.phone ? normalizePhone(from.phone, country) : null;
  if (from.phone && !phone) notes.push(`phone "${from.phone}" is not a valid number`);
  if (phone) identities.push({ kind: 'phone', value: phone });
  const email = from.email ? normalizeEmail(from.email) : null;
  if (from.email && !email) notes.push(`email "${from.email}" is not a valid address`);
  if (email) identities.push({ kind: 'email', value: email });
  for (const whatsappId of new Set([from.whatsappId, ...(from.whatsappAltIds ?? [])])) {
    if (whatsappId) identities.push({ kind: 'whatsapp', value: whatsappId });
  }
  if (from.instagramId) identities.push({ kind: 'instagram', value: from.instagramId });
  return identities;
}
