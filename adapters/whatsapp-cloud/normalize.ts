import { z } from 'zod';
import type { InboundEvent, LaterAttachment } from '../../src/channels/contract.js';

/**
 * The `value` of a `messages` change: messages a person sent to the number, and statuses of
 * messages the business sent. Shapes as Meta documents them.
 * @see https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
 */
const media = z.object({ id: z.string(), mime_type: z.string().optional(), caption: z.string().optional(), filename: z.string().optional(), voice: z.boolean().optional() }).loose();

const message = z
  .object({
    from: z.string(),
    id: z.string(),
    timestamp: z.string().optional(),
    type: z.string(),
    text: z.object({ body: z.string() }).loose().optional(),
    image: media.optional(),
    video: media.optional(),
    audio: media.optional(),
    document: media.optional(),
    sticker: media.optional(),
    location: z.object({ latitude: z.number(), longitude: z.number(), name: z.string().optional(), address: z.string().optional(), url: z.string().optional() }).loose().optional(),
    contacts: z
      .array(
        z
          .object({
            name: z.object({ formatted_name: z.string().optional() }).loose().optional(),
            phones: z.array(z.object({ phone: z.string().optional(), wa_id: z.string().optional() }).loose()).optional(),
            emails: z.array(z.object({ email: z.string().optional() }).loose()).optional(),
          })
          .loose(),
      )
      .optional(),
    interactive: z
      .object({
        type: z.string(),
        button_reply: z.object({ id: z.string(), title: z.string() }).loose().optional(),
        list_reply: z.object({ id: z.string(), title: z.string(), description: z.string().optional() }).loose().optional(),
      })
      .loose()
      .optional(),
    button: z.object({ payload: z.string().optional(), text: z.string() }).loose().optional(),
    reaction: z.object({ message_id: z.string(), emoji: z.string().optional() }).loose().optional(),
    referral: z.record(z.string(), z.unknown()).optional(),
    context: z.object({ from: z.string().optional(), id: z.string().optional() }).loose().optional(),
  })
  .loose();
export type CloudMessage = z.infer<typeof message>;

const status = z
  .object({
    id: z.string(),
    status: z.string(),
    timestamp: z.string().optional(),
    recipient_id: z.string().optional(),
    errors: z.array(z.object({ code: z.number(), title: z.string().optional(), message: z.string().optional(), error_data: z.object({ details: z.string().optional() }).loose().optional() }).loose()).optional(),
  })
  .loose();

const messagesValue = z
  .object({
    messaging_product: z.literal('whatsapp').optional(),
    metadata: z.object({ display_phone_number: z.string().optional(), phone_number_id: z.string() }).loose(),
    contacts: z.array(z.object({ wa_id: z.string(), profile: z.object({ name: z.string().optional() }).loose().optional() }).loose()).optional(),
    messages: z.array(message).optional(),
    statuses: z.array(status).optional(),
  })
  .loose();

const entry = z.object({ id: z.string().optional(), changes: z.array(z.object({ field: z.string(), value: z.unknown() }).loose()).default([]) }).loose();

/** What a stored message keeps of the webhook: the message itself and who sent it (media are fetched from it later). */
export interface CloudRaw {
  phoneNumberId: string;
  contact?: { wa_id: string; profile?: { name?: string } };
  message: CloudMessage;
}

export interface ReadEvent {
  event: Omit<InboundEvent, 'sourceId'>;
  /** Stored, but no lead (a reaction). */
  rejectedBecause?: string;
}

const mediaTypes = ['image', 'video', 'audio', 'document', 'sticker'] as const;

const extensions: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
  'audio/amr': 'amr',
  'application/pdf': 'pdf',
};

/** The file a media message carries, by its media id: the download finds it again by this name. */
export function mediaOf(msg: CloudMessage): { id: string; filename: string; contentType: string } | null {
  for (const type of mediaTypes) {
    const file = msg[type];
    if (!file) continue;
    const contentType = (file.mime_type ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
    const extension = extensions[contentType];
    const filename = file.filename?.trim() ? `${file.id}-${file.filename.trim().replace(/[/\\]/g, '_')}` : `${file.id}${extension ? `.${extension}` : ''}`;
    return { id: file.id, filename, contentType };
  }
  return null;
}

/**
 * The ad of a Click-to-WhatsApp message, with the names the linked-device channel gives it, so
 * insights and filters treat both alike.
 * @see https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components#referral-object
 */
export function referralAttribution(referral: Record<string, unknown> | undefined): Record<string, string> {
  if (!referral) return {};
  const text = (name: string) => (typeof referral[name] === 'string' ? (referral[name] as string) : undefined);
  const values: Record<string, string | undefined> = {
    ad_id: text('source_id'),
    ad_source_type: text('source_type'),
    ad_title: text('headline'),
    ad_body: text('body'),
    ad_url: text('source_url'),
    ad_media_type: text('media_type'),
    ad_media_url: text('image_url') ?? text('video_url'),
    ctwa_clid: text('ctwa_clid'),
  };
  const attribution: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const trimmed = value?.trim();
    if (trimmed) attribution[name] = trimmed.slice(0, 500);
  }
  return attribution;
}

/** The status of a message the business sent, as the core names it; null for those it does not track. */
function deliveryStatus(value: string): 'sent' | 'delivered' | 'read' | 'failed' | null {
  return value === 'sent' || value === 'delivered' || value === 'read' || value === 'failed' ? value : null;
}

/** A WhatsApp id (wa_id) as the linked-device channel names the same person. */
export function whatsappJid(waId: string): string {
  return `${waId}@s.whatsapp.net`;
}

/**
 * Every message and status in a webhook body, in order, across all its entries and changes.
 * Pure: nothing is looked up or downloaded. Changes of other fields (template reviews, account
 * updates) and messages for another phone number id hold no event.
 */
export function readCloudWebhook(body: { entry: unknown[] }, phoneNumberId: string): ReadEvent[] {
  const events: ReadEvent[] = [];
  for (const rawEntry of body.entry) {
    const parsedEntry = entry.safeParse(rawEntry);
    if (!parsedEntry.success) continue;
    for (const change of parsedEntry.data.changes) {
      if (change.field !== 'messages') continue;
      const value = messagesValue.safeParse(change.value);
      if (!value.success || value.data.metadata.phone_number_id !== phoneNumberId) continue;
      const contacts = new Map((value.data.contacts ?? []).map((contact) => [contact.wa_id, contact]));
      for (const msg of value.data.messages ?? []) {
        const contact = contacts.get(msg.from);
        events.push(readMessage(msg, contact, phoneNumberId));
      }
      for (const report of value.data.statuses ?? []) {
        const delivered = deliveryStatus(report.status);
        if (!delivered) continue;
        const error = report.errors?.[0];
        events.push({
          event: {
            channel: 'whatsapp',
            externalId: `${report.id}:${report.status}`,
            from: {},
            receivedAt: report.timestamp ? new Date(Number(report.timestamp) * 1000) : new Date(),
            delivery: {
              externalId: report.id,
              status: delivered,
              ...(error
                ? {
                    errorCode: `meta_${error.code}`,
                    error: `Meta ${error.code}: ${error.title ?? error.message ?? 'not delivered'}${error.error_data?.details ? ` (${error.error_data.details})` : ''}`,
                  }
                : {}),
            },
            raw: { phoneNumberId, status: report },
          },
        });
      }
    }
  }
  return events;
}

function readMessage(msg: CloudMessage, contact: { wa_id: string; profile?: { name?: string } } | undefined, phoneNumberId: string): ReadEvent {
  const waId = contact?.wa_id ?? msg.from;
  const name = contact?.profile?.name?.trim();
  const fields: Record<string, string> = {};
  let text: string | undefined;
  let attachments: LaterAttachment[] | undefined;
  let rejectedBecause: string | undefined;
  const file = mediaOf(msg);
  switch (msg.type) {
    case 'text':
      text = msg.text?.body;
      break;
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      text = msg[msg.type]?.caption;
      if (msg.type === 'audio' && msg.audio?.voice) fields.voiceNote = 'true';
      break;
    case 'location': {
      const location = msg.location;
      if (location) {
        fields.location = `${location.latitude},${location.longitude}`;
        fields.mapUrl = `https://maps.google.com/?q=${location.latitude},${location.longitude}`;
        const place = [location.name, location.address].filter(Boolean).join(', ');
        if (place) fields.place = place;
        text = ['Location', place, fields.mapUrl].filter(Boolean).join(': ');
      }
      break;
    }
    case 'contacts': {
      const cards = msg.contacts ?? [];
      const described = cards.map((card) => [card.name?.formatted_name, ...(card.phones ?? []).map((phone) => phone.phone ?? phone.wa_id), ...(card.emails ?? []).map((email) => email.email)].filter(Boolean).join(' '));
      text = `${cards.length === 1 ? 'Contact' : 'Contacts'}: ${described.join('; ')}`;
      break;
    }
    case 'interactive': {
      const reply = msg.interactive?.button_reply ?? msg.interactive?.list_reply;
      text = reply?.title;
      if (reply) fields.replyId = reply.id;
      break;
    }
    case 'button':
      text = msg.button?.text;
      if (msg.button?.payload) fields.replyId = msg.button.payload;
      break;
    case 'reaction':
      text = msg.reaction?.emoji ? `Reaction: ${msg.reaction.emoji}` : 'Reaction removed';
      if (msg.reaction) fields.reactedTo = msg.reaction.message_id;
      // As on the linked-device channel: kept, but a reaction is not an enquiry.
      rejectedBecause = 'a reaction, not a message';
      break;
    default:
      // Kept, never dropped: the person wrote something the gateway cannot show yet.
      text = `[${msg.type} message]`;
      fields.messageType = msg.type;
  }
  if (file) attachments = [{ filename: file.filename, contentType: file.contentType, later: { status: 'pending' } }];
  const raw: CloudRaw = { phoneNumberId, ...(contact ? { contact } : {}), message: msg };
  const attribution = referralAttribution(msg.referral);
  return {
    event: {
      channel: 'whatsapp',
      externalId: msg.id,
      from: { phone: `+${waId}`, whatsappId: whatsappJid(waId), ...(name ? { name } : {}) },
      receivedAt: msg.timestamp ? new Date(Number(msg.timestamp) * 1000) : new Date(),
      ...(text?.trim() ? { text: text.trim() } : {}),
      ...(msg.context?.id ? { threadRefs: [msg.context.id] } : {}),
      ...(Object.keys(fields).length > 0 ? { fields } : {}),
      ...(Object.keys(attribution).length > 0 ? { attribution } : {}),
      ...(attachments ? { attachments } : {}),
      raw,
    },
    ...(rejectedBecause ? { rejectedBecause } : {}),
  };
}
