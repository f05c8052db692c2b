import {
  BufferJSON,
  getContentType,
  isJidBroadcast,
  isJidGroup,
  isJidNewsletter,
  isJidStatusBroadcast,
  isLidUser,
  jidDecode,
  jidNormalizedUser,
  normalizeMessageContent,
  proto,
  type WAMessage,
} from '@whiskeysockets/baileys';

import { type IgnorableKind } from './ignorable.js';

export { ignorableKinds, type IgnorableKind } from './ignorable.js';

/** The text of a message WhatsApp delivered but the device could not decrypt (yet). */
export const unreadableText = 'Message could not be read yet: WhatsApp is asking the phone to send it again';

/**
 * The kind of chat a JID is when it is not one person's: groups, status updates, broadcast lists
 * and channels (newsletters). Null for a person (phone number or LID).
 */
export function chatKindOf(jid: string): Exclude<IgnorableKind, 'reactions'> | null {
  if (isJidStatusBroadcast(jid)) return 'status';
  if (isJidGroup(jid)) return 'groups';
  if (isJidNewsletter(jid)) return 'newsletters';
  if (isJidBroadcast(jid)) return 'broadcasts';
  return null;
}

/**
 * Baileys' `shouldIgnoreJid` for a source: chats of the ignored kinds are acknowledged and
 * dropped by Baileys before it decrypts them, so they cost no signal session and leave no event.
 */
export function ignoresJid(ignore: readonly IgnorableKind[]): (jid: string) => boolean {
  return (jid) => {
    const kind = chatKindOf(jid);
    return kind !== null && ignore.includes(kind);
  };
}

export type MediaKind = 'image' | 'video' | 'audio' | 'voice_note' | 'document' | 'sticker';

export interface MediaInfo {
  kind: MediaKind;
  contentType: string;
  filename: string;
  /** As WhatsApp announced it, before downloading; null when it did not say. */
  size: number | null;
}

/** What one received WhatsApp message says, before anything is looked up or downloaded. */
export type ReadMessage =
  | { kind: 'none'; why: string }
  | { kind: 'ignored'; why: 'reactions'; id: string; chat: string }
  | {
      kind: 'message';
      id: string;
      /** The chat: the person's id, a phone number JID (…@s.whatsapp.net) or a privacy id (…@lid). */
      chat: string;
      /** The same person's other id, when WhatsApp sent it along (LID ⇄ phone number). */
      chatAlt: string | null;
      /** The sender in a group, else null. */
      participant: string | null;
      fromMe: boolean;
      pushName: string | null;
      sentAt: Date | null;
      text: string | null;
      /** The WhatsApp id of the message this one answers. */
      quotedId: string | null;
      media: MediaInfo | null;
      fields: Record<string, string>;
      /**
       * WhatsApp delivered the message but it could not be decrypted (a CIPHERTEXT stub: "Bad MAC",
       * "No session", or no content at all, as Click-to-WhatsApp ad messages often come first);
       * Baileys asks the sender's phone for it again, and it comes later under the same id.
       */
      unreadable: { reason: string | null } | null;
      /** Where the person came from: the Click-to-WhatsApp ad they tapped (empty otherwise). */
      attribution: Record<string, string>;
    };

const defaultExtension: Record<MediaKind, string> = { image: 'jpg', video: 'mp4', audio: 'ogg', voice_note: 'ogg', document: 'bin', sticker: 'webp' };

function mediaOf(kind: MediaKind, media: { mimetype?: string | null; fileLength?: unknown; fileName?: string | null }, id: string): MediaInfo {
  const contentType = (media.mimetype ?? 'application/octet-stream').split(';')[0]!.trim();
  const subtype = contentType.split('/')[1]?.replace(/[^a-z0-9]/gi, '') || defaultExtension[kind];
  const size = media.fileLength === null || media.fileLength === undefined ? null : Number(media.fileLength);
  return {
    kind,
    contentType,
    filename: media.fileName?.trim() || `${kind === 'voice_note' ? 'voice-note' : kind}-${id}.${kind === 'document' ? subtype : defaultExtension[kind]}`,
    size: Number.isFinite(size) ? size : null,
  };
}

/** "+5511987654321" of a phone number JID; null for a LID or anything else. */
export function phoneOfJid(jid: string | null | undefined): string | null {
  if (!jid || isLidUser(jid)) return null;
  const decoded = jidDecode(jid);
  if (!decoded || (decoded.server !== 's.whatsapp.net' && decoded.server !== 'c.us')) return null;
  return /^\d{6,15}$/.test(decoded.user) ? `+${decoded.user}` : null;
}

/** The phone numbers a vCard names (WhatsApp puts the account's number in `waid`). */
function vcardPhones(vcard: string | null | undefined): string[] {
  if (!vcard) return [];
  const phones = new Set<string>();
  for (const line of vcard.split(/\r?\n/)) {
    if (!/^(item\d+\.)?TEL/i.test(line)) continue;
    const waid = /waid=(\d+)/i.exec(line)?.[1];
    const value = line.slice(line.lastIndexOf(':') + 1).trim();
    if (waid) phones.add(`+${waid}`);
    else if (value) phones.add(value);
  }
  return [...phones];
}

function describeContact(contact: proto.Message.IContactMessage): string {
  const phones = vcardPhones(contact.vcard);
  return [contact.displayName ?? 'contact', ...(phones.length ? [`(${phones.join(', ')})`] : [])].join(' ');
}

function timestampOf(value: WAMessage['messageTimestamp']): Date | null {
  if (value === null || value === undefined) return null;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : null;
}

/**
 * Reads one message of `messages.upsert`: who, what, and whether it is a lead's message at all.
 * Pure: no socket, no database.
 * @see https://baileys.wiki/docs/api/namespaces/proto/interfaces/IMessage
 */
export function readMessage(message: WAMessage, ignore: readonly IgnorableKind[]): ReadMessage {
  const key = message.key;
  const chat = key.remoteJid;
  const id = key.id;
  if (!chat || !id) return { kind: 'none', why: 'no chat or message id' };
  // Normally dropped by Baileys already (shouldIgnoreJid); never stored when one gets through.
  const chatKind = chatKindOf(chat);
  if (chatKind && ignore.includes(chatKind)) return { kind: 'none', why: `${chatKind} are ignored on this source` };
  const person = {
    id,
    chat: jidNormalizedUser(chat),
    chatAlt: key.remoteJidAlt ? jidNormalizedUser(key.remoteJidAlt) : null,
    participant: key.participant ? jidNormalizedUser(key.participantAlt && isLidUser(key.participant) ? key.participantAlt : key.participant) : null,
    fromMe: Boolean(key.fromMe),
    pushName: message.pushName?.trim() || null,
    sentAt: timestampOf(message.messageTimestamp),
  };
  if (message.messageStubType === proto.WebMessageInfo.StubType.CIPHERTEXT) {
    // What the business sent from its phone comes again by itself; only a person's message makes a lead.
    if (key.fromMe) return { kind: 'none', why: 'our own message, not decrypted' };
    const reason = message.messageStubParameters?.find((parameter: string | null | undefined) => Boolean(parameter?.trim())) ?? null;
    return { kind: 'message', ...person, text: unreadableText, quotedId: null, media: null, fields: {}, unreadable: { reason }, attribution: {} };
  }
  const content = normalizeMessageContent(message.message);
  const type = getContentType(content ?? undefined);
  if (!content || !type) return { kind: 'none', why: message.messageStubType ? 'a notice, not a message' : 'no content' };
  if (type === 'protocolMessage' || type === 'senderKeyDistributionMessage' || type === 'messageContextInfo') {
    return { kind: 'none', why: `a ${type}` };
  }
  if (type === 'reactionMessage' && ignore.includes('reactions')) return { kind: 'ignored', why: 'reactions', id, chat };

  const fields: Record<string, string> = {};
  let text: string | null = null;
  let media: MediaInfo | null = null;
  switch (type) {
    case 'conversation':
      text = content.conversation ?? null;
      break;
    case 'extendedTextMessage':
      text = content.extendedTextMessage?.text ?? null;
      if (content.extendedTextMessage?.matchedText) fields.link = content.extendedTextMessage.matchedText;
      break;
    case 'imageMessage':
      text = content.imageMessage?.caption ?? null;
      media = mediaOf('image', content.imageMessage ?? {}, id);
      break;
    case 'videoMessage':
      text = content.videoMessage?.caption ?? null;
      media = mediaOf('video', content.videoMessage ?? {}, id);
      break;
    case 'audioMessage':
      media = mediaOf(content.audioMessage?.ptt ? 'voice_note' : 'audio', content.audioMessage ?? {}, id);
      if (content.audioMessage?.seconds) fields.durationSeconds = String(content.audioMessage.seconds);
      break;
    case 'documentMessage':
      text = content.documentMessage?.caption ?? null;
      media = mediaOf('document', content.documentMessage ?? {}, id);
      break;
    case 'stickerMessage':
      media = mediaOf('sticker', content.stickerMessage ?? {}, id);
      break;
    case 'locationMessage':
    case 'liveLocationMessage': {
      const location = content.locationMessage ?? content.liveLocationMessage ?? {};
      const { degreesLatitude: lat, degreesLongitude: lng } = location;
      const place = 'name' in location ? [location.name, location.address].filter(Boolean).join(', ') : '';
      if (typeof lat === 'number' && typeof lng === 'number') {
        fields.location = `${lat},${lng}`;
        fields.mapUrl = `https://maps.google.com/?q=${lat},${lng}`;
      }
      if (place) fields.place = place;
      text = ['Location', place, fields.mapUrl].filter(Boolean).join(': ') || 'Location';
      const comment = 'comment' in location ? location.comment : content.liveLocationMessage?.caption;
      if (comment) text = `${comment}\n${text}`;
      break;
    }
    case 'contactMessage': {
      const contact = content.contactMessage ?? {};
      text = `Contact: ${describeContact(contact)}`;
      if (contact.vcard) fields.vcard = contact.vcard;
      break;
    }
    case 'contactsArrayMessage': {
      const contacts = content.contactsArrayMessage?.contacts ?? [];
      text = `Contacts: ${contacts.map(describeContact).join('; ')}`;
      contacts.forEach((contact, index) => {
        if (contact.vcard) fields[`vcard ${index + 1}`] = contact.vcard;
      });
      break;
    }
    case 'reactionMessage':
      text = content.reactionMessage?.text ? `Reaction: ${content.reactionMessage.text}` : 'Reaction removed';
      if (content.reactionMessage?.key?.id) fields.reactedTo = content.reactionMessage.key.id;
      break;
    case 'buttonsResponseMessage':
      text = content.buttonsResponseMessage?.selectedDisplayText ?? content.buttonsResponseMessage?.selectedButtonId ?? null;
      break;
    case 'listResponseMessage':
      text = content.listResponseMessage?.title ?? content.listResponseMessage?.singleSelectReply?.selectedRowId ?? null;
      break;
    case 'templateButtonReplyMessage':
      text = content.templateButtonReplyMessage?.selectedDisplayText ?? null;
      break;
    default:
      // Kept, never dropped: the person wrote something the gateway cannot show yet.
      text = `[${type.replace(/Message$/, '')} message]`;
      fields.messageType = type;
  }

  const inner = content[type];
  const contextInfo = inner && typeof inner === 'object' && 'contextInfo' in inner ? (inner.contextInfo as proto.IContextInfo | null | undefined) : null;
  return {
    kind: 'message',
    ...person,
    text: text?.trim() || null,
    quotedId: contextInfo?.stanzaId ?? null,
    media,
    fields,
    unreadable: null,
    attribution: adAttribution(contextInfo),
  };
}

/**
 * A message a person sends from a Click-to-WhatsApp ad (Facebook, Instagram) carries the ad in
 * its context: the lead keeps it as its attribution, as a web form keeps its utm_* fields.
 * @see https://baileys.wiki/docs/api/namespaces/proto/interfaces/ContextInfo.IExternalAdReplyInfo
 */
export function adAttribution(contextInfo: proto.IContextInfo | null | undefined): Record<string, string> {
  if (!contextInfo) return {};
  const ad = contextInfo.externalAdReply;
  const values: Record<string, string | null | undefined> = {
    ad_id: ad?.sourceId,
    ad_source_type: ad?.sourceType,
    ad_title: ad?.title,
    ad_body: ad?.body,
    ad_url: ad?.sourceUrl,
    ad_app: ad?.sourceApp ?? contextInfo.entryPointConversionApp,
    ctwa_clid: ad?.ctwaClid,
    conversion_source: contextInfo.conversionSource,
    entry_point: contextInfo.entryPointConversionSource,
  };
  const attribution: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const text = value?.trim();
    if (text) attribution[name] = text.slice(0, 500);
  }
  return attribution;
}

/** Plain JSON of a Baileys message, bytes included, for the event's raw payload. */
export function toJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, BufferJSON.replacer)) as unknown;
}
