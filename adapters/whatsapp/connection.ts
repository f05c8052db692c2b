import {
  BufferJSON,
  DisconnectReason,
  isLidUser,
  isPnUser,
  jidNormalizedUser,
  makeCacheableSignalKeyStore,
  proto,
  S_WHATSAPP_NET,
  type AnyMessageContent,
  type BaileysEventMap,
  type BinaryNode,
  type Contact,
  type ConnectionState,
  type LIDMapping,
  type WAMessage,
  type WAMessageKey,
  type WAMessageUpdate,
  type WAVersion,
} from '@whiskeysockets/baileys';
import {
  type AdapterContext,
  type CaptureResult,
  type DueAttachment,
  type InboundEvent,
  type LaterAttachment,
  noAckCode,
  type OutboundMessage,
  type SourceRecord,
  type SourceStatus,
} from '../../src/channels/contract.js';
import { ChannelError, ConnectionElsewhereError, LeaseLostError, errorMessage } from '../../src/errors.js';
import { databaseAuthState } from './auth-store.js';
import type { WhatsAppDriver, WhatsAppSocket } from './driver.js';
import { LogThrottle, quietLogger } from './log-throttle.js';
import { ignoresJid, phoneOfJid, readMessage } from './normalize.js';
import { storedSettings, type WhatsAppSettings } from './settings.js';

export interface ConnectionTiming {
  leaseMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Connected, yet nothing heard for this long: ping WhatsApp, and reconnect when it does not answer. */
  watchdogMs: number;
  pingTimeoutMs: number;
  /** How long "typing…" shows before a message goes out. */
  typingMs: number;
  /** Least time between two messages from one number (plus up to as much again of jitter). */
  sendGapMs: number;
  /** How often a process that is pairing looks for a pairing-code request made through another process. */
  pairingPollMs: number;
  /** One try at downloading a received file is given up after this long. */
  mediaTimeoutMs: number;
  /** Tries at downloading a received file before it is marked failed (with the last reason). */
  mediaAttempts: number;
  /** First wait before trying a failed download again, then doubling. */
  mediaRetryBaseMs: number;
  /** How often a connected number looks for files whose next try is due. */
  mediaPollMs: number;
  /** A send the server has not acknowledged after this long is marked failed. */
  ackTimeoutMs: number;
  /** A send that reached a process without the number's connection is offered again after about this long. */
  elsewhereRetryMs: number;
  /** The same error is logged at most once per this long (with how many were held back). */
  logRepeatMs: number;
}

export const defaultTiming: ConnectionTiming = {
  leaseMs: 30_000,
  retryBaseMs: 2_000,
  retryMaxMs: 5 * 60_000,
  watchdogMs: 5 * 60_000,
  pingTimeoutMs: 20_000,
  typingMs: 1_500,
  sendGapMs: 1_500,
  pairingPollMs: 1_000,
  mediaTimeoutMs: 60_000,
  mediaAttempts: 6,
  mediaRetryBaseMs: 5_000,
  mediaPollMs: 10_000,
  ackTimeoutMs: 2 * 60_000,
  elsewhereRetryMs: 2_000,
  logRepeatMs: 5 * 60_000,
};

/** What the adapter keeps in the source's state (readable from any process). */
export const stateKeys = {
  qr: 'qr',
  pairingRequest: 'pairing-request',
  pairingAnswer: 'pairing-answer',
  loggedOut: 'logged-out',
  /** Our sends the server has not acknowledged yet: WhatsApp id → when it was sent. */
  awaitingAck: 'awaiting-ack',
  /** Received messages stored as unreadable, waiting for their readable form: WhatsApp id → when stored. */
  unreadable: 'unreadable',
} as const;

/** Unreadable messages remembered for their readable form: the phone answers in seconds, or days later when it was off. */
const unreadableKeptMs = 14 * 24 * 3600_000;
const unreadableKept = 2_000;

export interface StoredQr {
  qr: string;
  at: string;
}
export interface PairingRequest {
  id: string;
  phone: string;
  at: string;
}
export interface PairingAnswer {
  id: string;
  code?: string;
  error?: string;
}
interface LoggedOutMark {
  generation: number;
  at: string;
  reason: string;
}

/**
 * How one socket ended: reconnect at once (restart), stop until linked again (stop; `forget`:
 * the credentials are dead), link again with a new QR code (relink), learn the current WhatsApp
 * Web version (outdated), or reconnect with backoff (closed).
 */
type SessionEnd =
  | { kind: 'restart' }
  | { kind: 'stop'; state: 'logged_out' | 'error'; reason: string; forget: boolean }
  | { kind: 'relink'; reason: string }
  | { kind: 'outdated'; error: Error }
  | { kind: 'closed'; error: Error };

/** Codes WhatsApp's `failure` stanza carries that Baileys' DisconnectReason does not name. */
const failureCode = { paymentRequired: 402, clientOutdated: 405, notAcceptable: 406 } as const;

/**
 * Baileys closes with 500 both for a stream error that names no code (a session WhatsApp no
 * longer accepts) and for any WebSocket error it cannot classify: one is retried, and only this
 * many in a row, with no open connection between them, make the stored session the culprit.
 */
const badSessionsBeforeRelink = 3;

const deliveryStatuses: Partial<Record<number, 'sent' | 'delivered' | 'read' | 'failed'>> = {
  [proto.WebMessageInfo.Status.ERROR]: 'failed',
  [proto.WebMessageInfo.Status.SERVER_ACK]: 'sent',
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: 'delivered',
  [proto.WebMessageInfo.Status.READ]: 'read',
  [proto.WebMessageInfo.Status.PLAYED]: 'read',
};

function statusCodeOf(error: unknown): number | undefined {
  const output = (error as { output?: { statusCode?: unknown } } | undefined)?.output;
  return typeof output?.statusCode === 'number' ? output.statusCode : undefined;
}

/** Plain JSON of a Baileys message, bytes included, for the event's raw payload. */
function toJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, BufferJSON.replacer)) as unknown;
}

/**
 * What we sent is kept this many days, sealed in the source's vault, for Baileys' retries
 * after a restart (a recipient's phone asks again when it could not decrypt it).
 */
const sentKeptDays = 7;
const sentKey = (day: string, id: string) => `sent:${day}:${id}`;
const dayOf = (at: number) => new Date(at).toISOString().slice(0, 10);

/** Downloads at once per number: enough that one stalled transfer holds up nothing else. */
const mediaConcurrency = 3;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One linked WhatsApp number: holds the lease so only one process connects it, builds a new
 * socket (with every handler) on each (re)connect, and reconnects with backoff on every
 * transient close. "Logged out" stops it until the source is linked again.
 */
export class WhatsAppConnection {
  private readonly settings: WhatsAppSettings;
  private socket: WhatsAppSocket | undefined;
  private connectedAs: string | undefined;
  private stopped = false;
  /** LID ⇄ phone pairs already handed to capture by this process. */
  private readonly pairsSeen = new Set<string>();
  private failures = 0;
  /** Closes with 500 since the last open connection. */
  private badSessions = 0;
  /** The WhatsApp Web version presented: the configured one, until WhatsApp calls it outdated. */
  private webVersion: WAVersion | undefined;
  /** Why the number is being linked again, shown with the pairing state until it connects. */
  private relinkReason: string | undefined;
  /** Whether the current (or last) socket started from stored credentials. */
  private sessionLinked = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private endSession: ((end: SessionEnd) => void) | undefined;
  /** Received events are handled one after another, in the order the socket gave them. */
  private events: Promise<void> = Promise.resolve();
  private sends: Promise<unknown> = Promise.resolve();
  private lastSendAt = 0;
  private lastTrafficAt = Date.now();
  private lastReceivedAt = 0;
  private qrReceived = false;
  private pairingBusy = false;
  private answeredPairing: string | undefined;
  /** What we sent recently, for Baileys' retries (the exact content, media included). */
  private readonly sent = new Map<string, proto.IMessage>();
  /** The last day whose older kept sends were cleared. */
  private sentPrunedDay: string | undefined;
  /** Numbers checked with onWhatsApp: WhatsApp bans accounts that check numbers in bulk. */
  private readonly numbers = new Map<string, { jid: string | null; at: number }>();
  private readonly logs: LogThrottle;
  /** The look for due files now running, and the downloads it started (by attachment id). */
  private mediaLook: Promise<void> | undefined;
  private mediaAgain = false;
  private readonly downloads = new Map<string, Promise<void>>();
  /** Chats whose typing this device follows, per socket (a new connection starts with none). */
  private readonly presenceFollowed = new WeakMap<WhatsAppSocket, Set<string>>();
  /** When each recent download ended: a look that read the table before then has an old view of it. */
  private readonly downloadEndedAt = new Map<string, number>();
  /** Ends the downloads of the socket that closed (they are tried again on the next one, uncounted). */
  private mediaAbort = new AbortController();
  /**
   * Our sends the server has not acknowledged yet (WhatsApp id → when sent), mirrored in the
   * source's state so that a restart keeps waiting for them.
   */
  private awaitingAck: Promise<Map<string, number>> | undefined;
  private ackWrites: Promise<void> = Promise.resolve();
  /** Acks that can overtake the end of their own send. */
  private readonly recentAcks = new Set<string>();
  /** Received messages stored as unreadable (WhatsApp id → when), mirrored in the source's state. */
  private unreadableIds: Promise<Map<string, number>> | undefined;

  constructor(
    private readonly source: SourceRecord,
    private readonly ctx: AdapterContext,
    private readonly driver: WhatsAppDriver,
    private readonly timing: ConnectionTiming,
    private readonly version: WAVersion | undefined,
    /** What the connection depends on; a source whose fingerprint changes gets a new connection. */
    readonly fingerprint: string,
  ) {
    this.settings = storedSettings.parse(source.settings);
    this.logs = new LogThrottle(timing.logRepeatMs);
    this.webVersion = version;
  }

  get leaseKey(): string {
    return `whatsapp:${this.source.id}`;
  }

  get isConnected(): boolean {
    return Boolean(this.socket && this.connectedAs);
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.endSession?.({ kind: 'closed', error: new Error('stopped') });
    await this.running;
    await this.events;
    await this.mediaLook;
    await Promise.all(this.downloads.values());
    await this.ackWrites;
    await this.ctx.leases.release(this.leaseKey).catch((error: unknown) => this.ctx.logger.warn({ err: error }, 'could not release a WhatsApp lease'));
  }

  /** A pairing-code request was just made through this process: serve it without waiting for the poll. */
  pairingRequested(): void {
    void this.servePairing();
  }

  private status(status: SourceStatus): Promise<void> {
    return this.ctx.setStatus(this.source.id, status).catch((error: unknown) => this.ctx.logger.warn({ err: error, sourceId: this.source.id }, 'could not store the WhatsApp status'));
  }

  private async loggedOut(): Promise<boolean> {
    const mark = await this.ctx.state.get<LoggedOutMark>(this.source.id, stateKeys.loggedOut);
    return mark?.generation === this.settings.linkGeneration;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (await this.loggedOut()) {
          // Stopped for good: a new link (PATCH {"relink": true}) makes a new connection.
          await this.sleep(this.timing.leaseMs);
          continue;
        }
        if (!(await this.ctx.leases.acquire(this.leaseKey, this.timing.leaseMs))) {
          // Another process holds this number; take over only when its lease runs out.
          await this.sleep(this.timing.leaseMs / 3);
          continue;
        }
        const end = await this.session();
        if (this.stopped) break;
        if (end.kind === 'restart') {
          // WhatsApp asks for a new socket right after a device is linked.
          this.failures = 0;
          continue;
        }
        if (end.kind === 'stop') {
          await this.markStopped(end.state, end.reason, end.forget);
          continue;
        }
        if (end.kind === 'relink') {
          // A number that was not linked yet has no session to forget: it just tries again.
          if (!this.sessionLinked) throw new Error(end.reason);
          await this.relink(end.reason);
          continue;
        }
        if (end.kind === 'outdated' && (await this.learnWebVersion())) continue;
        throw end.error;
      } catch (error) {
        if (this.stopped) break;
        this.failures++;
        const ceiling = Math.min(this.timing.retryMaxMs, this.timing.retryBaseMs * 2 ** (this.failures - 1));
        const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
        const neverLinked = !this.connectedAs && this.failures >= 3;
        const outdated = error instanceof Error && statusCodeOf(error.cause) === failureCode.clientOutdated;
        await this.status({
          state: 'reconnecting',
          lastError: errorMessage(error),
          nextRetryAt: new Date(Date.now() + delay).toISOString(),
          ...(outdated
            ? { detail: `WhatsApp calls the WhatsApp Web version (${this.versionName()}) outdated and the current one could not be learnt from web.whatsapp.com: set LEADGATE_WHATSAPP_WEB_VERSION` }
            : neverLinked
              ? { detail: `linking keeps failing; if WhatsApp was updated recently, set LEADGATE_WHATSAPP_WEB_VERSION (now ${this.versionName()})` }
              : {}),
        });
        this.log('warn', 'WhatsApp connection closed; reconnecting', error, { delay });
        await this.sleep(delay);
      }
    }
  }

  private versionName(): string {
    return this.webVersion?.join('.') ?? 'the library default';
  }

  /**
   * Stops for good (until a relink): logged out, banned or restricted, or replaced by another
   * session. Retrying would only get the number flagged, or take the link back and forth.
   */
  private async markStopped(state: 'logged_out' | 'error', reason: string, forget: boolean): Promise<void> {
    const mark: LoggedOutMark = { generation: this.settings.linkGeneration, at: new Date().toISOString(), reason };
    await this.ctx.state.set(this.source.id, stateKeys.loggedOut, mark);
    await this.ctx.state.set(this.source.id, stateKeys.qr, null);
    // Dead credentials: the next link starts from nothing. Live ones (another session took the
    // link over) are kept, and a relink connects with them again.
    if (forget) await this.ctx.vault.clear(this.source.id);
    await this.ctx.announce(this.source.id, 'source.logged_out', {
      state,
      lastError: reason,
      detail: forget
        ? 'link the number again: PATCH the source with {"relink": true}, then scan the new QR code'
        : 'connect it again once the other session is closed: PATCH the source with {"relink": true}',
    });
    await this.ctx.leases.release(this.leaseKey);
    this.ctx.logger.warn({ sourceId: this.source.id, reason }, 'WhatsApp stopped the connection; it stays stopped until it is linked again');
  }

  /** The stored session is unusable: forget it and start linking again (a new QR code), saying why. */
  private async relink(reason: string): Promise<void> {
    this.relinkReason = reason;
    this.badSessions = 0;
    await this.ctx.state.set(this.source.id, stateKeys.qr, null);
    await this.ctx.vault.clear(this.source.id);
    await this.ctx.announce(this.source.id, 'source.logged_out', {
      state: 'pairing',
      lastError: reason,
      detail: 'the stored WhatsApp session can no longer be used: scan the new QR code (GET …/qr) to link the number again',
    });
    this.ctx.logger.warn({ sourceId: this.source.id, reason }, 'WhatsApp session unusable; linking again');
  }

  /**
   * WhatsApp refuses the WhatsApp Web version as outdated (405): ask web.whatsapp.com for the
   * current one and connect again at once with it. False when it cannot be learnt or is the one
   * refused (then the connection retries with backoff on the configured one, saying so).
   */
  private async learnWebVersion(): Promise<boolean> {
    const latest = await this.driver.latestWebVersion(this.ctx.logger).catch((error: unknown) => {
      this.log('warn', 'could not learn the current WhatsApp Web version', error);
      return null;
    });
    if (!latest || latest.join('.') === this.webVersion?.join('.')) return false;
    this.ctx.logger.warn({ sourceId: this.source.id, refused: this.versionName(), now: latest.join('.') }, 'WhatsApp Web version outdated; connecting with the current one');
    this.webVersion = latest;
    return true;
  }

  /** One socket, from creation until it closes. */
  private async session(): Promise<SessionEnd> {
    const auth = await databaseAuthState(this.ctx.vault, this.source.id, this.leaseKey);
    const linked = auth.registered();
    this.sessionLinked = linked;
    const relinking = this.relinkReason ? { lastError: this.relinkReason } : {};
    await this.status(linked ? { state: 'connecting' } : { state: 'pairing', detail: 'waiting for WhatsApp to issue a QR code', ...relinking });
    const logger = quietLogger(this.ctx.logger.child({ sourceId: this.source.id, component: 'baileys' }, { level: 'warn' }), this.logs);
    // Every message reads signal keys: a short-lived cache in front of the database, per socket.
    const keys = makeCacheableSignalKeyStore(auth.state.keys, logger);
    const socket = this.driver.connect({
      auth: { creds: auth.state.creds, keys },
      version: this.webVersion,
      logger,
      getMessage: (key) => this.getMessage(key),
      shouldIgnoreJid: ignoresJid(this.settings.ignore),
    });
    this.socket = socket;
    this.connectedAs = undefined;
    this.qrReceived = false;
    this.lastTrafficAt = Date.now();
    const ended = new Promise<SessionEnd>((resolve) => (this.endSession = resolve));
    const end = (error: Error) => {
      socket.end(error).catch((failure: unknown) => this.ctx.logger.debug({ err: failure }, 'socket end failed'));
    };
    let credsWrites: Promise<void> = Promise.resolve();

    const onCreds = () => {
      credsWrites = credsWrites.then(() =>
        auth.saveCreds().catch((error: unknown) => {
          this.ctx.logger.error({ err: error, sourceId: this.source.id }, 'could not store WhatsApp credentials; reconnecting');
          end(error instanceof Error ? error : new Error(String(error)));
        }),
      );
    };
    const onConnection = (update: Partial<ConnectionState>) => {
      this.traffic();
      if (update.qr) {
        const qr = update.qr;
        this.qrReceived = true;
        this.enqueue(async () => {
          await this.ctx.state.set(this.source.id, stateKeys.qr, { qr, at: new Date().toISOString() } satisfies StoredQr);
          await this.status({ state: 'pairing', detail: 'scan the QR code (GET …/qr) in WhatsApp: Linked devices, or ask for a pairing code', ...relinking });
          await this.servePairing();
        });
      }
      if (update.connection === 'open') {
        this.failures = 0;
        this.badSessions = 0;
        this.relinkReason = undefined;
        const me = socket.user?.id ?? auth.state.creds.me?.id;
        this.connectedAs = phoneOfJid(me ? jidNormalizedUser(me) : undefined) ?? me ?? 'unknown';
        const connectedAs = this.connectedAs;
        this.enqueue(async () => {
          await this.ctx.state.set(this.source.id, stateKeys.qr, null);
          await this.status({ state: 'connected', connectedAs });
        });
        this.ctx.logger.info({ sourceId: this.source.id, connectedAs }, 'WhatsApp connected');
        this.fetchMedia(socket);
      }
      if (update.connection === 'close') this.endSession?.(this.classify(update.lastDisconnect?.error));
    };
    const onUpsert = ({ messages, type }: { messages: WAMessage[]; type: string }) => {
      this.traffic();
      // Every type: "append" is how WhatsApp replays what arrived while the gateway was away.
      this.enqueue(() => this.receive(socket, messages, type));
    };
    const onUpdate = (updates: WAMessageUpdate[]) => {
      this.traffic();
      this.enqueue(() => this.statuses(updates));
    };
    const onLidMapping = (mapping: LIDMapping) => {
      this.enqueue(() => this.samePerson(mapping));
    };
    // History and contact sync say whose a LID is too (Baileys stores those pairs without a
    // lid-mapping.update): the same merge, and nothing else of history is ever read.
    const onHistory = ({ lidPnMappings, contacts }: BaileysEventMap['messaging-history.set']) => {
      const pairs = [...(lidPnMappings ?? []), ...contacts.flatMap(lidPairOf)];
      if (pairs.length > 0) this.enqueue(() => this.samePeople(pairs));
    };
    const onContacts = (contacts: Partial<Contact>[]) => {
      const pairs = contacts.flatMap(lidPairOf);
      if (pairs.length > 0) this.enqueue(() => this.samePeople(pairs));
    };
    const onPresence = ({ id, presences }: { id: string; presences: Record<string, { lastKnownPresence: string }> }) => {
      // Only one person's own chat: in a group, "typing" says nothing about a lead.
      if (!isPnUser(id) && !isLidUser(id)) return;
      const presence = presences[id] ?? Object.values(presences)[0];
      if (!presence) return;
      const typing = presence.lastKnownPresence === 'composing' || presence.lastKnownPresence === 'recording';
      const phone = phoneOfJid(id);
      this.ctx
        .typing(this.source.id, { ...(phone ? { phone } : {}), whatsappId: jidNormalizedUser(id) }, typing)
        .catch((error: unknown) => this.ctx.logger.debug({ err: error }, 'could not note that a contact is typing'));
    };
    // The server's ack of a message we sent: the only sign that WhatsApp has it (Baileys emits
    // no status for it). An ack with an error comes as an ERROR status in messages.update.
    const onServerAck = (node: BinaryNode) => {
      this.traffic();
      const id = node.attrs.id;
      if (id && !node.attrs.error) void this.acknowledged([id]);
    };

    socket.ev.on('creds.update', onCreds);
    socket.ev.on('connection.update', onConnection);
    socket.ev.on('messages.upsert', onUpsert);
    socket.ev.on('messages.update', onUpdate);
    socket.ev.on('lid-mapping.update', onLidMapping);
    socket.ev.on('messaging-history.set', onHistory);
    socket.ev.on('contacts.upsert', onContacts);
    socket.ev.on('contacts.update', onContacts);
    socket.ev.on('presence.update', onPresence);
    socket.ws.on('CB:ack,class:message', onServerAck);
    const media = new AbortController();
    this.mediaAbort = media;
    const renew = setInterval(() => {
      this.ctx.leases.acquire(this.leaseKey, this.timing.leaseMs).then(
        (owner) => {
          if (!owner) {
            this.ctx.logger.warn({ sourceId: this.source.id }, 'WhatsApp lease lost; disconnecting');
            end(new LeaseLostError(this.leaseKey));
          }
        },
        (error: unknown) => this.ctx.logger.warn({ err: error }, 'could not renew a WhatsApp lease'),
      );
    }, this.timing.leaseMs / 3);
    const watchdog = setInterval(() => void this.checkAlive(socket, end), Math.max(50, this.timing.watchdogMs / 4));
    const pairingPoll = setInterval(() => void this.servePairing(), this.timing.pairingPollMs);
    const mediaPoll = setInterval(() => this.fetchMedia(socket), this.timing.mediaPollMs);
    const ackCheck = setInterval(() => void this.checkAcks(), Math.max(25, Math.min(this.timing.ackTimeoutMs / 4, 10_000)));
    try {
      return await ended;
    } finally {
      clearInterval(renew);
      clearInterval(watchdog);
      clearInterval(pairingPoll);
      clearInterval(mediaPoll);
      clearInterval(ackCheck);
      media.abort();
      this.endSession = undefined;
      if (this.stopped) end(new Error('the gateway is stopping'));
      socket.ev.off('creds.update', onCreds);
      socket.ev.off('connection.update', onConnection);
      socket.ev.off('messages.upsert', onUpsert);
      socket.ev.off('messages.update', onUpdate);
      socket.ev.off('lid-mapping.update', onLidMapping);
      socket.ev.off('messaging-history.set', onHistory);
      socket.ev.off('contacts.upsert', onContacts);
      socket.ev.off('contacts.update', onContacts);
      socket.ev.off('presence.update', onPresence);
      socket.ws.off('CB:ack,class:message', onServerAck);
      this.socket = undefined;
      this.connectedAs = undefined;
      await credsWrites;
      await this.events;
    }
  }

  /**
   * Each way WhatsApp closes a connection, by its code. Never reconnect after "logged out", a ban
   * or a restriction: the phone unlinked the gateway, or WhatsApp refuses the account, and
   * retrying only gets the number flagged.
   * @see https://baileys.wiki/docs/api/enumerations/DisconnectReason
   */
  private classify(error: Error | undefined): SessionEnd {
    const code = statusCodeOf(error);
    const said = error?.message ?? 'no reason given';
    switch (code) {
      case DisconnectReason.loggedOut:
        return { kind: 'stop', state: 'logged_out', reason: 'the phone logged the gateway out (Linked devices)', forget: true };
      case DisconnectReason.forbidden:
      case failureCode.paymentRequired:
      case failureCode.notAcceptable:
        return { kind: 'stop', state: 'error', reason: `WhatsApp refused this account (${code}, banned or restricted): ${said}`, forget: true };
      case DisconnectReason.connectionReplaced:
        return { kind: 'stop', state: 'error', reason: 'another WhatsApp Web session with this link took over (440, connection replaced)', forget: false };
      case DisconnectReason.restartRequired:
        return { kind: 'restart' };
      case DisconnectReason.multideviceMismatch:
        return { kind: 'relink', reason: `WhatsApp no longer accepts this linked device (411): ${said}` };
      case failureCode.clientOutdated:
        return { kind: 'outdated', error: new Error(`WhatsApp refused the WhatsApp Web version (${this.versionName()}) as outdated (405): ${said}`, { cause: error }) };
      case DisconnectReason.badSession:
        if (++this.badSessions >= badSessionsBeforeRelink) return { kind: 'relink', reason: `WhatsApp rejected the stored session ${this.badSessions} times in a row (500): ${said}` };
        break;
    }
    return { kind: 'closed', error: new Error(`WhatsApp connection closed${code ? ` (${code})` : ''}: ${said}`, { cause: error }) };
  }

  private traffic(): void {
    this.lastTrafficAt = Date.now();
  }

  /** "Connected" is not enough: a socket can stay open while nothing flows. */
  private async checkAlive(socket: WhatsAppSocket, end: (error: Error) => void): Promise<void> {
    if (!this.connectedAs || Date.now() - this.lastTrafficAt < this.timing.watchdogMs) return;
    this.traffic();
    try {
      await socket.query({ tag: 'iq', attrs: { to: S_WHATSAPP_NET, type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }, this.timing.pingTimeoutMs);
    } catch (error) {
      this.ctx.logger.warn({ sourceId: this.source.id, err: error }, 'WhatsApp did not answer a ping; reconnecting');
      end(new Error(`WhatsApp did not answer a ping: ${errorMessage(error)}`, { cause: error }));
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.events = this.events.then(work).catch((error: unknown) => this.ctx.logger.error({ err: error, sourceId: this.source.id }, 'a WhatsApp event could not be handled'));
  }

  /** Serves a pairing-code request (made through any process) once this socket can answer it. */
  private async servePairing(): Promise<void> {
    const socket = this.socket;
    if (!socket || this.connectedAs || !this.qrReceived || this.pairingBusy) return;
    this.pairingBusy = true;
    try {
      const request = await this.ctx.state.get<PairingRequest>(this.source.id, stateKeys.pairingRequest);
      if (!request || request.id === this.answeredPairing || Date.now() - Date.parse(request.at) > 2 * 60_000) return;
      this.answeredPairing = request.id;
      let answer: PairingAnswer;
      try {
        answer = { id: request.id, code: await socket.requestPairingCode(request.phone) };
      } catch (error) {
        answer = { id: request.id, error: errorMessage(error) };
      }
      await this.ctx.state.set(this.source.id, stateKeys.pairingAnswer, answer);
    } finally {
      this.pairingBusy = false;
    }
  }

  private async receive(socket: WhatsAppSocket, messages: WAMessage[], upsertType: string): Promise<void> {
    for (const message of messages) await this.store(socket, message, upsertType);
  }

  /** Stores one message; a failing database is retried until it answers or the gateway stops. */
  private async store(socket: WhatsAppSocket, message: WAMessage, upsertType: string): Promise<void> {
    const read = readMessage(message, this.settings.ignore);
    if (read.kind === 'none') return;
    const raw = { upsertType, message: toJson(message) };
    let event: InboundEvent;
    let rejectedBecause: string | undefined;
    if (read.kind === 'ignored') {
      event = { channel: 'whatsapp', sourceId: this.source.id, externalId: read.id, from: {}, receivedAt: this.nextReceivedAt(), raw };
      rejectedBecause = `${read.why} are not leads on this source`;
    } else {
      const person = read.participant ?? read.chat;
      const ids = [person, ...(read.participant ? [] : [read.chatAlt])].filter((jid): jid is string => Boolean(jid));
      const lid = ids.find((jid) => isLidUser(jid)) ?? null;
      let pn = ids.find((jid) => isPnUser(jid)) ?? null;
      if (!pn && lid) {
        // Baileys keeps the LID ⇄ phone map it learns (in our vault): a chat addressed by LID
        // still reaches the contact that has the phone.
        const mapped = await socket.signalRepository.lidMapping.getPNForLID(lid).catch(() => null);
        pn = mapped ? jidNormalizedUser(mapped) : null;
      }
      const phone = phoneOfJid(pn);
      const attachments: LaterAttachment[] = [];
      const fields: Record<string, string> = { ...read.fields };
      if (read.sentAt) fields.sentAt = read.sentAt.toISOString();
      if (read.media) {
        // The message is stored first and the file fetched afterwards, from what the stored
        // message says (its media key and path): a slow or failing download loses nothing.
        fields.mediaType = read.media.kind;
        const limit = this.ctx.maxUploadBytes;
        const tooLarge = read.media.size !== null && read.media.size > limit;
        attachments.push({
          filename: read.media.filename,
          contentType: read.media.contentType,
          ...(read.media.size !== null ? { size: read.media.size } : {}),
          later: tooLarge ? { status: 'failed', error: `too large (${read.media.size} bytes; the limit is ${limit})` } : { status: 'pending' },
        });
      }
      // The stored message of an id was unreadable, and this is what it said: it is stored under
      // a key of its own ("<id>:read"), so it too is processed at most once however often it is
      // delivered, and processing puts it in place of the unreadable message (`replaces`) instead
      // of adding a message or opening a lead. Any other delivery of a stored id stays a duplicate.
      const replaces = !read.unreadable && (await this.wasUnreadable(read.id));
      event = {
        channel: 'whatsapp',
        sourceId: this.source.id,
        externalId: replaces ? `${read.id}:read` : read.id,
        from: {
          ...(phone ? { phone } : {}),
          whatsappId: pn ?? person,
          ...(lid && pn ? { whatsappAltIds: [lid] } : {}),
          // A push name is the sender's own; on a message from the phone it is the business's.
          ...(read.pushName && !read.fromMe ? { name: read.pushName } : {}),
        },
        receivedAt: this.nextReceivedAt(),
        ...(read.text ? { text: read.text } : {}),
        ...(read.quotedId ? { threadRefs: [read.quotedId] } : {}),
        ...(read.fromMe ? { outgoing: true } : {}),
        ...(replaces ? { replaces: read.id } : {}),
        ...(Object.keys(read.attribution).length > 0 ? { attribution: read.attribution } : {}),
        fields,
        attachments,
        raw,
      };
    }
    const stored = await this.captureUntilStored(event, rejectedBecause);
    if (read.kind === 'message' && (read.unreadable ? stored.created : event.replaces)) await this.noteUnreadable(read.id, Boolean(read.unreadable));
    if (read.kind !== 'ignored' && !read.fromMe) this.followPresence(socket, read.participant ?? read.chat);
    if (event.attachments?.some((file) => 'later' in file && file.later.status === 'pending')) this.fetchMedia(socket);
  }

  /** Asks WhatsApp to tell this device when the person of a chat types, once per connection. */
  private followPresence(socket: WhatsAppSocket, jid: string): void {
    let followed = this.presenceFollowed.get(socket);
    if (!followed) this.presenceFollowed.set(socket, (followed = new Set()));
    if (followed.has(jid)) return;
    followed.add(jid);
    socket.presenceSubscribe(jid).catch((error: unknown) => {
      followed.delete(jid);
      this.ctx.logger.debug({ err: error }, 'could not subscribe to a chat presence');
    });
  }

  /** The unreadable messages stored so far (loaded once, then kept in step with the state). */
  private unreadableSeen(): Promise<Map<string, number>> {
    this.unreadableIds ??= this.ctx.state
      .get<Record<string, string>>(this.source.id, stateKeys.unreadable)
      .then((stored) => new Map(Object.entries(stored ?? {}).map(([id, at]) => [id, Date.parse(at)])));
    const loading = this.unreadableIds;
    loading.catch(() => {
      if (this.unreadableIds === loading) this.unreadableIds = undefined;
    });
    return loading;
  }

  private async wasUnreadable(id: string): Promise<boolean> {
    try {
      return (await this.unreadableSeen()).has(id);
    } catch (error) {
      // The database is failing: the capture that follows retries until it answers.
      this.log('warn', 'could not read which WhatsApp messages were unreadable', error, { messageId: id });
      return false;
    }
  }

  /** Remembers an unreadable message (until its readable form came, for a while at most); never throws. */
  private async noteUnreadable(id: string, unreadable: boolean): Promise<void> {
    try {
      await this.rememberUnreadable(id, unreadable);
    } catch (error) {
      this.log('warn', 'could not note an unreadable WhatsApp message', error, { messageId: id });
    }
  }

  private async rememberUnreadable(id: string, unreadable: boolean): Promise<void> {
    const seen = await this.unreadableSeen();
    if (unreadable) seen.set(id, Date.now());
    else seen.delete(id);
    for (const [known, at] of seen) {
      if (seen.size <= unreadableKept && Date.now() - at < unreadableKeptMs) break;
      seen.delete(known);
    }
    const snapshot = Object.fromEntries([...seen].map(([known, at]) => [known, new Date(at).toISOString()]));
    await this.ctx.state.set(this.source.id, stateKeys.unreadable, snapshot);
  }

  /** A failing database is retried until it answers or the gateway stops. */
  private async captureUntilStored(event: InboundEvent, rejectedBecause?: string): Promise<CaptureResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ctx.capture(event, rejectedBecause ? { rejectedBecause } : {});
      } catch (error) {
        if (this.stopped) throw new Error(`WhatsApp event ${event.externalId} was not stored before the gateway stopped`, { cause: error });
        const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
        this.log('error', 'could not store a WhatsApp message; retrying', error, { messageId: event.externalId, attempt, delay });
        await sleep(delay);
      }
    }
  }

  /**
   * WhatsApp told the device whose a LID is: the contacts known by either id become one now,
   * not only when that person next writes.
   */
  private async samePerson(mapping: LIDMapping): Promise<void> {
    const lid = jidNormalizedUser(mapping.lid);
    const pn = jidNormalizedUser(mapping.pn);
    if (!isLidUser(lid) || !isPnUser(pn)) return;
    const phone = phoneOfJid(pn);
    await this.captureUntilStored({
      channel: 'whatsapp',
      sourceId: this.source.id,
      externalId: `lid-mapping:${lid}:${pn}`,
      from: { ...(phone ? { phone } : {}), whatsappId: pn, whatsappAltIds: [lid] },
      samePerson: true,
      receivedAt: new Date(),
      raw: { lidMapping: mapping },
    });
  }

  /** Pairs from a history chunk or a contact sync, each once per connection (history repeats them). */
  private async samePeople(pairs: LIDMapping[]): Promise<void> {
    for (const pair of pairs) {
      const key = `${jidNormalizedUser(pair.lid)}|${jidNormalizedUser(pair.pn)}`;
      if (this.pairsSeen.has(key)) continue;
      this.pairsSeen.add(key);
      await this.samePerson(pair);
    }
  }

  /** One line per kind of error per `logRepeatMs`, with how many were held back. */
  private log(level: 'warn' | 'error', message: string, error: unknown, fields: Record<string, unknown> = {}): void {
    const gate = this.logs.take(`${level}\u0000${message}\u0000${errorMessage(error)}`);
    if (gate.write) this.ctx.logger[level]({ ...fields, err: error, sourceId: this.source.id, ...(gate.held > 0 ? { repeated: gate.held } : {}) }, message);
  }

  /**
   * Received messages are stored in the order the socket gave them, even when WhatsApp's own
   * timestamps (whole seconds) tie: each gets a later time than the one before.
   */
  private nextReceivedAt(): Date {
    this.lastReceivedAt = Math.max(Date.now(), this.lastReceivedAt + 1);
    return new Date(this.lastReceivedAt);
  }

  /**
   * Starts downloads of the files of stored messages whose next try is due, a few at a time (a
   * stalled transfer holds up no other file), while this socket is connected. Called while a
   * look is running, it looks once more when that one is done.
   */
  private fetchMedia(socket: WhatsAppSocket): void {
    if (this.socket !== socket || !this.connectedAs || this.stopped) return;
    if (this.mediaLook) {
      this.mediaAgain = true;
      return;
    }
    const signal = this.mediaAbort.signal;
    const look = async () => {
      do {
        this.mediaAgain = false;
        const room = mediaConcurrency - this.downloads.size;
        if (room <= 0) return;
        const askedAt = Date.now();
        const due = await this.ctx.attachments.due(this.source.id, mediaConcurrency + this.downloads.size);
        if (signal.aborted) return;
        const fresh = due.filter((candidate) => !this.downloads.has(candidate.id) && (this.downloadEndedAt.get(candidate.id) ?? -1) < askedAt);
        for (const file of fresh.slice(0, room)) {
          const download = this.fetchOne(socket, file, signal)
            .catch((error: unknown) => this.log('warn', 'could not record a WhatsApp media download', error))
            .finally(() => {
              this.downloads.delete(file.id);
              this.downloadEndedAt.set(file.id, Date.now());
              if (this.downloadEndedAt.size > 500) this.downloadEndedAt.delete(this.downloadEndedAt.keys().next().value!);
              if (!signal.aborted) this.fetchMedia(socket);
            });
          this.downloads.set(file.id, download);
        }
      } while (this.mediaAgain && !signal.aborted && !this.stopped);
    };
    this.mediaLook = look()
      .catch((error: unknown) => this.log('warn', 'could not look for WhatsApp media to download', error))
      .finally(() => {
        this.mediaLook = undefined;
      });
  }

  private async fetchOne(socket: WhatsAppSocket, file: DueAttachment, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const message = storedMessage(file.raw);
    if (!message) {
      await this.ctx.attachments.failed(file.id, 'the stored message names no file to download');
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let data: Buffer;
    try {
      data = await Promise.race([
        this.driver.downloadMedia(message, socket, this.ctx.logger),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timing.mediaTimeoutMs} ms`)), this.timing.mediaTimeoutMs);
          onAbort = () => reject(new Error('the connection closed'));
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } catch (error) {
      // A closed connection is no failure of the file: the next connection tries again, uncounted.
      if (signal.aborted) return;
      const tries = file.attempts + 1;
      const reason = `could not be downloaded: ${errorMessage(error)}`;
      this.log('warn', 'could not download WhatsApp media', error, { attachmentId: file.id, tries });
      if (tries >= this.timing.mediaAttempts) {
        await this.ctx.attachments.failed(file.id, `${reason} (gave up after ${tries} tries)`);
      } else {
        const delay = Math.min(60 * 60_000, this.timing.mediaRetryBaseMs * 2 ** (tries - 1));
        await this.ctx.attachments.failed(file.id, reason, new Date(Date.now() + delay));
      }
      return;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
    const limit = this.ctx.maxUploadBytes;
    if (data.length > limit) {
      await this.ctx.attachments.failed(file.id, `too large (${data.length} bytes; the limit is ${limit})`);
      return;
    }
    await this.ctx.attachments.store(file.id, data);
  }

  /** Receipts of what we sent: sent (the server has it), delivered (the phone), read. */
  private async statuses(updates: WAMessageUpdate[]): Promise<void> {
    for (const { key, update } of updates) {
      if (!key.fromMe || !key.id || update.status === null || update.status === undefined) continue;
      const status = deliveryStatuses[update.status];
      if (!status) continue;
      await this.acknowledged([key.id]);
      await this.ctx.capture({
        channel: 'whatsapp',
        sourceId: this.source.id,
        externalId: `${key.id}:status:${status}`,
        from: {},
        receivedAt: new Date(),
        delivery: { externalId: key.id, status, ...(status === 'failed' ? { errorCode: 'whatsapp_error', error: 'WhatsApp reported the message as not delivered' } : {}) },
        raw: toJson({ key, update }),
      });
    }
  }

  /** Baileys' retry path asks for what it sent or received: our own record of it, or nothing. */
  private async getMessage(key: WAMessageKey): Promise<proto.IMessage | undefined> {
    if (!key.id) return undefined;
    const recent = this.sent.get(key.id);
    if (recent) return recent;
    if (key.fromMe) {
      const now = Date.now();
      const keys = Array.from({ length: sentKeptDays + 1 }, (_, back) => sentKey(dayOf(now - back * 24 * 3600_000), key.id!));
      const kept = [...(await this.ctx.vault.get(this.source.id, keys)).values()][0];
      if (kept) return proto.Message.fromObject(JSON.parse(kept, BufferJSON.reviver) as Record<string, unknown>);
    }
    const stored = await this.ctx.findMessage(this.source.id, key.id);
    if (!stored) return undefined;
    const raw = stored.raw as { message?: { message?: unknown } } | null;
    if (raw?.message?.message) {
      const revived = JSON.parse(JSON.stringify(raw.message.message), BufferJSON.reviver) as Record<string, unknown>;
      return proto.Message.fromObject(revived);
    }
    return stored.text ? { conversation: stored.text } : undefined;
  }

  /** Sends one message, one at a time per number, after "typing…" and a jittered gap. */
  send(message: OutboundMessage): Promise<string> {
    const next = this.sends.then(() => this.deliver(message));
    this.sends = next.catch(() => undefined);
    return next;
  }

  private async deliver(message: OutboundMessage): Promise<string> {
    const socket = this.socket;
    if (!socket || !this.connectedAs) {
      throw new ConnectionElsewhereError('whatsapp_not_connected', 'the WhatsApp number is not connected in this process', this.timing.elsewhereRetryMs);
    }
    const jid = await this.recipient(socket, message.to);
    const wait = this.lastSendAt + this.timing.sendGapMs * (1 + Math.random()) - Date.now();
    if (wait > 0) await sleep(wait);
    await socket.sendPresenceUpdate('composing', jid).catch((error: unknown) => this.ctx.logger.debug({ err: error }, 'presence update failed'));
    await sleep(this.timing.typingMs);
    await socket.sendPresenceUpdate('paused', jid).catch((error: unknown) => this.ctx.logger.debug({ err: error }, 'presence update failed'));
    let mainId: string | undefined;
    try {
      for (const { content, carriesText } of contentsOf(message)) {
        const sent = await socket.sendMessage(jid, content);
        if (!sent?.key.id) throw new ChannelError('whatsapp_send_failed', 'WhatsApp gave no id for the sent message', true);
        if (sent.message) await this.remember(sent.key.id, sent.message);
        if (carriesText || !mainId) mainId = sent.key.id;
      }
    } catch (error) {
      if (error instanceof ChannelError) throw error;
      const code = statusCodeOf(error);
      throw new ChannelError('whatsapp_send_failed', `WhatsApp send failed${code ? ` (${code})` : ''}: ${errorMessage(error)}`, true, { cause: error });
    } finally {
      this.lastSendAt = Date.now();
    }
    await this.awaitAck(mainId!);
    return mainId!;
  }

  private waiting(): Promise<Map<string, number>> {
    this.awaitingAck ??= this.ctx.state
      .get<Record<string, string>>(this.source.id, stateKeys.awaitingAck)
      .then((stored) => new Map(Object.entries(stored ?? {}).map(([id, at]) => [id, Date.parse(at)])));
    const loading = this.awaitingAck;
    // A failed read is tried again next time, not kept.
    loading.catch(() => {
      if (this.awaitingAck === loading) this.awaitingAck = undefined;
    });
    return loading;
  }

  private saveWaiting(waiting: Map<string, number>): Promise<void> {
    const snapshot = Object.fromEntries([...waiting].map(([id, at]) => [id, new Date(at).toISOString()]));
    this.ackWrites = this.ackWrites
      .then(() => this.ctx.state.set(this.source.id, stateKeys.awaitingAck, snapshot))
      .catch((error: unknown) => this.log('warn', 'could not store the WhatsApp sends awaiting an ack', error));
    return this.ackWrites;
  }

  /** From now on the send must be acknowledged within `ackTimeoutMs`. */
  private async awaitAck(id: string): Promise<void> {
    try {
      const waiting = await this.waiting();
      if (this.recentAcks.has(id)) return;
      waiting.set(id, Date.now());
      await this.saveWaiting(waiting);
    } catch (error) {
      this.log('warn', 'could not note a WhatsApp send as awaiting its ack', error);
    }
  }

  private async acknowledged(ids: string[]): Promise<void> {
    for (const id of ids) this.recentAcks.add(id);
    while (this.recentAcks.size > 1000) this.recentAcks.delete(this.recentAcks.values().next().value!);
    try {
      const waiting = await this.waiting();
      let changed = false;
      for (const id of ids) changed = waiting.delete(id) || changed;
      if (changed) await this.saveWaiting(waiting);
    } catch (error) {
      this.log('warn', 'could not note a WhatsApp ack', error);
    }
  }

  /**
   * A send the server never acknowledged did most likely not go out (the socket died under it, or
   * the recipient's id was refused silently): it is marked failed rather than left "sent". It is not
   * sent again by itself: if the server did get it after all, a second copy would reach the person,
   * and a late ack still moves the message on to sent.
   */
  private async checkAcks(): Promise<void> {
    let waiting: Map<string, number>;
    try {
      waiting = await this.waiting();
    } catch (error) {
      this.log('warn', 'could not read the WhatsApp sends awaiting an ack', error);
      return;
    }
    const now = Date.now();
    const late = [...waiting].filter(([, at]) => now - at >= this.timing.ackTimeoutMs);
    if (late.length === 0) return;
    const seconds = Math.round(this.timing.ackTimeoutMs / 1000);
    for (const [id] of late) {
      await this.captureUntilStored({
        channel: 'whatsapp',
        sourceId: this.source.id,
        externalId: `${id}:status:no-ack`,
        from: {},
        receivedAt: new Date(),
        delivery: { externalId: id, status: 'failed', errorCode: noAckCode, error: `WhatsApp did not acknowledge the message within ${seconds} s; it was most likely not sent` },
        raw: { awaitingAckSince: new Date(waiting.get(id)!).toISOString() },
      });
      waiting.delete(id);
    }
    await this.saveWaiting(waiting);
  }

  /**
   * Keeps what was sent, exactly (a file's media key and path included, so a retry needs no new
   * upload): in memory, and in the vault for a week, so a retry after a restart still gets it.
   * A failed write costs only that: the send went out.
   */
  private async remember(id: string, message: proto.IMessage): Promise<void> {
    this.sent.set(id, message);
    if (this.sent.size > 500) this.sent.delete(this.sent.keys().next().value!);
    const now = Date.now();
    const today = dayOf(now);
    try {
      await this.ctx.vault.write(this.source.id, { set: { [sentKey(today, id)]: JSON.stringify(message, BufferJSON.replacer) } }, { leaseKey: this.leaseKey });
      if (this.sentPrunedDay !== today) {
        this.sentPrunedDay = today;
        for (let back = sentKeptDays + 1; back <= sentKeptDays + 31; back++) await this.ctx.vault.clear(this.source.id, `sent:${dayOf(now - back * 24 * 3600_000)}:`);
      }
    } catch (error) {
      this.log('warn', 'could not keep a sent WhatsApp message for retries', error, { messageId: id });
    }
  }

  /** The JID to send to: as WhatsApp reports it for the number (its own form of a Brazilian mobile). */
  private async recipient(socket: WhatsAppSocket, to: string): Promise<string> {
    if (isLidUser(to)) return to;
    const digits = to.replace(/@.*$/, '').replace(/:\d+$/, '').replace(/\D/g, '');
    if (!/^\d{8,15}$/.test(digits) || (to.includes('@') && !isPnUser(to))) {
      throw new ChannelError('invalid_recipient', `"${to}" is not a WhatsApp number`, false);
    }
    const cached = this.numbers.get(digits);
    let jid: string | null;
    if (cached && Date.now() - cached.at < 24 * 3600_000) {
      jid = cached.jid;
    } else {
      let results: { jid: string; exists: boolean }[] | undefined;
      try {
        results = await socket.onWhatsApp(digits);
      } catch (error) {
        throw new ChannelError('whatsapp_unavailable', `could not check +${digits} on WhatsApp: ${errorMessage(error)}`, true, { cause: error });
      }
      jid = results?.find((result) => result.exists)?.jid ?? null;
      this.numbers.set(digits, { jid, at: Date.now() });
    }
    if (!jid) throw new ChannelError('not_on_whatsapp', `+${digits} is not on WhatsApp`, false);
    return jid;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The received message as stored with its event, with what it takes to download its file. */
function storedMessage(raw: unknown): WAMessage | null {
  const message = (raw as { message?: unknown } | null)?.message;
  if (!message || typeof message !== 'object') return null;
  const revived = JSON.parse(JSON.stringify(message), BufferJSON.reviver) as Record<string, unknown>;
  return proto.WebMessageInfo.fromObject(revived) as WAMessage;
}

/**
 * Baileys' contents for a message: the files (the text as the caption of the first that can
 * carry one), then the text on its own when no file carried it.
 */
export function contentsOf(message: OutboundMessage): { content: AnyMessageContent; carriesText: boolean }[] {
  const text = message.text.trim();
  const contents: { content: AnyMessageContent; carriesText: boolean }[] = [];
  let captioned = false;
  for (const file of message.attachments ?? []) {
    const caption = !captioned && text ? text : undefined;
    const type = file.contentType.split('/')[0];
    if (type === 'audio') {
      // A voice message has no caption in WhatsApp.
      contents.push({ content: { audio: file.data, mimetype: file.contentType }, carriesText: false });
      continue;
    }
    const content: AnyMessageContent =
      type === 'image'
        ? { image: file.data, mimetype: file.contentType, ...(caption ? { caption } : {}) }
        : type === 'video'
          ? { video: file.data, mimetype: file.contentType, ...(caption ? { caption } : {}) }
          : { document: file.data, mimetype: file.contentType, fileName: file.filename, ...(caption ? { caption } : {}) };
    contents.push({ content, carriesText: Boolean(caption) });
    if (caption) captioned = true;
  }
  if (!captioned && text) contents.push({ content: { text }, carriesText: true });
  return contents;
}

/** The LID ⇄ phone pair a contact carries (Baileys 7: `id` in either form, `lid`, `phoneNumber`). */
export function lidPairOf(contact: Partial<Contact>): LIDMapping[] {
  const lid = contact.lid ?? (contact.id && isLidUser(contact.id) ? contact.id : undefined);
  const pn = contact.phoneNumber ?? (contact.id && isPnUser(contact.id) ? contact.id : undefined);
  return lid && pn && isLidUser(lid) && isPnUser(pn) ? [{ lid, pn }] : [];
}
