import type { Router } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';

/** The channels a message travels on. A Twilio source carries both voice and sms. */
export const channelKinds = ['webform', 'whatsapp', 'voice', 'sms', 'email', 'instagram'] as const;
export type ChannelKind = (typeof channelKinds)[number];

/** How a person can be reached; at least one field is set when the channel knows it. */
export interface Handle {
  phone?: string;
  email?: string;
  whatsappId?: string;
  /** Other ids the same WhatsApp account is known by (its privacy id, a LID): all lead to one contact. */
  whatsappAltIds?: string[];
  /** The person's Instagram-scoped id (IGSID) for the business's Instagram account. */
  instagramId?: string;
  name?: string;
}

export type CallStatus = 'ringing' | 'answered' | 'missed' | 'busy' | 'failed' | 'voicemail';

export interface CallProgress {
  callId: string;
  status: CallStatus;
  durationSeconds?: number;
  answeredBy?: string;
  recordingUrl?: string;
  transcription?: string;
  /** No transcript will come for this recording (the provider cannot transcribe the call's language). */
  transcriptUnavailable?: boolean;
  /**
   * The call is over (the provider's final status): a call still only ringing was missed, however
   * early the caller hung up; a call that got further keeps what it got to.
   */
  ended?: boolean;
}

export interface InboundAttachment {
  filename: string;
  contentType: string;
  data: Buffer;
}

/**
 * A file the channel fetches after the message is stored (WhatsApp media): stored as pending,
 * then filled in through `AdapterContext.attachments`, or failed with the reason. A slow or
 * failing download never holds up or loses the message.
 */
export interface LaterAttachment {
  filename: string;
  contentType: string;
  /** What the channel announced; the stored size once the bytes arrive. */
  size?: number;
  later: { status: 'pending' } | { status: 'failed'; error: string };
}

/** One message, call or submission from any channel, as the core sees it. */
export interface InboundEvent {
  channel: ChannelKind;
  /** The source (form, number, mailbox) that received it. */
  sourceId: string;
  /**
   * The provider's id for it: the idempotency key within the source. Without one, the same
   * content within ten minutes counts as the same event.
   */
  externalId?: string;
  from: Handle;
  receivedAt: Date;
  /** What the person wrote (quoted history and signatures stripped). */
  text?: string;
  /** The message as received, when it differs from text. */
  fullText?: string;
  html?: string;
  subject?: string;
  /** Provider ids of earlier messages this one answers (email In-Reply-To and References), nearest last. */
  threadRefs?: string[];
  /** A delivery failure report: the addresses it names become undeliverable; no lead is made of it. */
  bounce?: { recipients: string[]; reason: string };
  /**
   * A call's progress. The first event of a call (by callId) opens its message; later ones
   * (how the dial ended, the voicemail, its transcript) update that message.
   */
  call?: CallProgress;
  /**
   * The ids of `from` are one person (WhatsApp told the device whose a LID is): contacts already
   * known by any of them become one. Nothing else: no message, no lead.
   */
  samePerson?: boolean;
  /** A provider's report on a message we sent (by the provider's id for it). */
  delivery?: { externalId: string; status: 'sent' | 'delivered' | 'read' | 'failed'; error?: string; errorCode?: string };
  /** The person asked to hear nothing more on this channel (STOP, SAIR, …). */
  optOut?: boolean;
  /**
   * Sent by the business itself from elsewhere (its own phone): `from` is the person it went to.
   * It joins that person's conversation as an outbound message and never opens a lead.
   */
  outgoing?: boolean;
  /**
   * The readable form of a message stored earlier as unreadable (WhatsApp delivered it before it
   * could be decrypted), by the provider's id of that message: its message in the same
   * conversation takes this one's text, fields and files. No lead is opened and nothing is
   * acknowledged again. Without that earlier message it is stored as a message of its own.
   */
  replaces?: string;
  company?: string;
  product?: string;
  /** Form fields or call data that map to no canonical field: kept on the lead as custom fields. */
  fields?: Record<string, string>;
  /** Where the lead came from: utm_* parameters, the page URL. */
  attribution?: Record<string, string>;
  attachments?: (InboundAttachment | LaterAttachment)[];
  /** The payload as received, kept for audit and replay. */
  raw: unknown;
}

/**
 * The error code of a delivery failure for a send the provider never acknowledged: a late
 * acknowledgement proves it went out after all, and moves the message on again.
 */
export const noAckCode = 'no_ack';

export interface CaptureOptions {
  /** Record the event without turning it into a lead (spam, rate limit). */
  rejectedBecause?: string;
}

export interface CaptureResult {
  eventId: string;
  leadId: string | null;
  /** false when the same provider id (or the same submission) was captured before. */
  created: boolean;
  status: string;
}

/** A source as adapters see it: settings parsed by the adapter, secrets already decrypted. */
export interface SourceRecord {
  id: string;
  workspaceId: string;
  /** The workspace's country (ISO 3166 alpha-2), for reading national phone numbers; set on sources found by id. */
  country?: string;
  kind: string;
  name: string;
  settings: Record<string, unknown>;
  secrets: Record<string, unknown>;
}

/** Events about a source, as webhooks name them. */
export type SourceEventKind = 'source.logged_out';

/** What the API shows of a long-lived connection (a mailbox, a WhatsApp number). */
export interface SourceStatus {
  state: 'pairing' | 'connecting' | 'connected' | 'reconnecting' | 'logged_out' | 'error';
  detail?: string;
  connectedAs?: string;
  lastMessageAt?: string;
  lastError?: string;
  nextRetryAt?: string;
  lastSyncAt?: string;
}

export interface AdapterContext {
  publicUrl: string;
  logger: Logger;
  maxUploadBytes: number;
  /** The only way an adapter hands an event to the core: resolves once the event is stored. */
  capture(event: InboundEvent, options?: CaptureOptions): Promise<CaptureResult>;
  /** A live source of this adapter's kind, or null when it does not exist or was deleted. */
  findSource(sourceId: string): Promise<SourceRecord | null>;
  /** Every live source of a kind, for adapters that keep connections open. */
  listSources(kind: string): Promise<SourceRecord[]>;
  setStatus(sourceId: string, status: SourceStatus): Promise<void>;
  /**
   * Secret values an adapter keeps per source (a linked device's credentials and keys), encrypted
   * at rest. A write is atomic, and is refused with LeaseLostError unless this process holds `leaseKey`.
   */
  vault: {
    get(sourceId: string, keys: string[]): Promise<Map<string, string>>;
    write(sourceId: string, changes: { set?: Record<string, string>; remove?: string[] }, options: { leaseKey: string }): Promise<void>;
    /** Every key starting with the prefix (all of them when empty), e.g. to forget a logged-out device. */
    clear(sourceId: string, prefix?: string): Promise<void>;
  };
  /** A message of this source's conversations by the provider's id (what a provider asks to resend). */
  findMessage(sourceId: string, externalId: string): Promise<{ direction: 'in' | 'out'; text: string | null; raw: unknown } | null>;
  /**
   * Something about the source itself that the workspace must hear of (the linked phone logged
   * out): recorded with the status change, and sent to the webhooks subscribed to it.
   */
  announce(sourceId: string, event: SourceEventKind, status: SourceStatus): Promise<void>;
  /**
   * The person is typing (or stopped) in a chat of this source: shown live on their latest lead,
   * never stored in the timeline. Unknown people are ignored.
   */
  typing(sourceId: string, from: Handle, typing: boolean): Promise<void>;
  /** Files of stored messages that the adapter still has to fetch (see LaterAttachment). */
  attachments: {
    /** Pending files of the source whose next try is due, oldest first, with their event's raw payload. */
    due(sourceId: string, limit: number): Promise<DueAttachment[]>;
    /** The bytes arrived: the file is stored. */
    store(attachmentId: string, data: Buffer): Promise<void>;
    /** A try failed: tried again from `retryAt`, or failed for good (visibly, with the reason) without it. */
    failed(attachmentId: string, error: string, retryAt?: Date): Promise<void>;
  };
  /** Small values an adapter keeps per source across restarts (cursors, sync marks). */
  state: {
    get<T>(sourceId: string, key: string): Promise<T | null>;
    set(sourceId: string, key: string, value: unknown): Promise<void>;
    /** Every value whose key starts with the prefix, oldest first (work an adapter still owes: a lead to fetch). */
    list<T>(sourceId: string, prefix: string): Promise<{ key: string; value: T }[]>;
    remove(sourceId: string, key: string): Promise<void>;
  };
  /**
   * Who should take a call from this handle now: the owner of the person's open lead (a repeat
   * caller reaches their rep), else the source's owner. Null when nobody active has a phone.
   */
  ownerFor(sourceId: string, from: Handle): Promise<{ userId: string; name: string; phone: string | null } | null>;
  /**
   * Access tokens of sources that sign in with OAuth 2.0 (their client under `settings.oauth` and
   * `secrets.oauth`): the current one, renewed shortly before it expires, or at once with `renew`
   * when a server refused it. Throws ChannelError `oauth_revoked` (permanent: the provider refused
   * the grant, and the source is stopped with the reason until connected again) or
   * `oauth_unavailable` (retryable).
   */
  oauth: {
    accessToken(sourceId: string, options?: { renew?: boolean }): Promise<string>;
  };
  /** Leases that make one process at a time the owner of a connection, across processes. */
  leases: {
    /** Takes or renews the lease; false while another live process holds it. */
    acquire(key: string, ttlMs: number): Promise<boolean>;
    release(key: string): Promise<void>;
  };
}

export interface DueAttachment {
  id: string;
  eventId: string;
  filename: string;
  contentType: string;
  /** Tries made so far. */
  attempts: number;
  raw: unknown;
}

/** A connection to send through: a source of the workspace, or a gateway-wide one from config. */
export interface OutboundConnection {
  id: string;
  /** The gateway's public base URL, for the provider's status callbacks. */
  publicUrl: string;
  settings: Record<string, unknown>;
  secrets: Record<string, unknown>;
}

export interface OutboundMessage {
  /** Our message id: adapters use it as the provider-side idempotency key where one exists. */
  id: string;
  to: string;
  text: string;
  html?: string;
  subject?: string;
  inReplyTo?: string;
  references?: string[];
  headers?: Record<string, string>;
  /** Files sent with the message (the text is their caption where the channel has captions). */
  attachments?: OutboundAttachment[];
  /**
   * For adapters with a `replyWindow`: when the person last wrote to this source (null: never).
   * Meta lets a business write freely only within 24 hours of it.
   */
  lastInboundAt?: Date | null;
  /** The template the message was written from, with its variables as they are now (a channel may need its own approved version). */
  template?: { name: string; variables(): Promise<Record<string, unknown>> };
}

export interface OutboundAttachment {
  filename: string;
  contentType: string;
  data: Buffer;
  /** A URL the provider can fetch the file from (MMS); set only when the gateway has a public URL. */
  url?: string;
}

/**
 * Linking a source to an account by scanning a code on the account's phone (WhatsApp). Works
 * from any process: the process that holds the connection may be another one.
 */
export interface LinkingSpec {
  /** The code to scan now, or null when there is none (linked already, or not yet received). */
  currentQr(ctx: AdapterContext, source: SourceRecord): Promise<string | null>;
  /** A code to type on the phone instead of scanning; throws ChannelError when none can be had. */
  requestPairingCode(ctx: AdapterContext, source: SourceRecord, phone: string): Promise<string>;
}

/** What an adapter contributes when a source of its kind is created or shown. */
export interface SourceKindSpec<Input extends Record<string, unknown> = Record<string, unknown>> {
  /** Validates the kind-specific fields of a create request. */
  createSchema: z.ZodType<Input>;
  /** Validates the kind-specific fields of an update request. */
  updateSchema: z.ZodType<Partial<Input>>;
  /** Sources of this kind link by a QR code or a pairing code. */
  linking?: LinkingSpec;
  /**
   * Tries the connection before anything is saved; throws a ChannelError saying what failed
   * (bad credentials, TLS, unreachable host). A source that signs in with OAuth is tried with
   * `accessToken`, and not at all before it has one (it is not connected yet).
   */
  verify?(prepared: { settings: Record<string, unknown>; secrets: Record<string, unknown> }, options?: { accessToken?: string }): Promise<void>;
  /** Splits validated input into stored settings and secrets (encrypted at rest by the core). */
  prepare(input: Partial<Input>, previous?: { settings: Record<string, unknown>; secrets: Record<string, unknown> }): {
    settings: Record<string, unknown>;
    secrets: Record<string, unknown>;
  };
  /** The kind's own fields in the API's view of the source (never a secret unless the owner must copy it). */
  present(source: SourceRecord, publicUrl: string): Record<string, unknown>;
  /**
   * A new secret for a source whose secret the owner hands out (a web form's): the old one keeps
   * working until `previousValidUntil`, so the sites that use it can be updated meanwhile.
   */
  rotateSecret?(secrets: Record<string, unknown>, previousValidUntil: Date): { secrets: Record<string, unknown>; secret: string };
}

export interface ChannelAdapter {
  /** The source kind this adapter handles ('webform', 'twilio', 'email', 'whatsapp'). */
  readonly kind: string;
  /** Channels this adapter can send on. */
  readonly sends: readonly ChannelKind[];
  readonly source?: SourceKindSpec;
  /** Webhook routes, mounted under /hooks. */
  routes?(ctx: AdapterContext): Router;
  start?(ctx: AdapterContext): Promise<void>;
  stop?(): Promise<void>;
  /** Called when a source of this kind was created, changed or deleted through this process. */
  sourceChanged?(sourceId: string): void;
  /** Sends need to know when the person last wrote (`OutboundMessage.lastInboundAt`). */
  readonly replyWindow?: boolean;
  /** Sends one message; throws ChannelError on failure, never reports a partial success. */
  send?(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }>;
  /**
   * A cap on automatic messages (acknowledgements, sequence steps) to one person through a source
   * with these settings in any 24 hours: a sequence step past it waits. An acknowledgement answers
   * the person's own message, so it counts but is never held. Unset: no cap.
   */
  automaticDailyCap?(settings: Record<string, unknown>): number | undefined;
}
