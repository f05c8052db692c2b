import {
  BufferJSON,
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
  type InboundEvent,
  type LaterAttachment,
  type OutboundMessage,
  type SourceRecord,
  type SourceStatus,
} from '../../src/channels/contract.js';
import { ChannelError, ConnectionElsewhereError, LeaseLostError, errorMessage } from '../../src/errors.js';
import { AckTracker } from './acks.js';
import { databaseAuthState } from './auth-store.js';
import { Disconnects, failureCode, type LoggedOutMark, type SessionEnd, statusCodeOf } from './disconnect.js';
import type { WhatsAppDriver, WhatsAppSocket } from './driver.js';
import { LogThrottle, quietLogger } from './log-throttle.js';
import { MediaDownloads } from './media.js';
import { ignoresJid, phoneOfJid, readMessage, toJson } from './normalize.js';
import { PairingCodes, type StoredQr } from './pairing.js';
import { storedSettings, type WhatsAppSettings } from './settings.js';
import { stateKeys } from './state-keys.js';
import type { ConnectionTiming } from './timing.js';



/** Unreadable messages remembered for their readable form: the phone answers in seconds, or days later when it was off. */
const unreadableKeptMs = 14 * 24 * 3600_000;
const unreadableKept = 2_000;







/**
 * What we sent is kept this many days, sealed in the source's vault, for Baileys' retries
 * after a restart (a recipient's phone asks again when it could not decrypt it).
 */
const sentKeptDays = 7;
const sentKey = (day: string, id: string) => `sent:${day}:${id}`;
const dayOf = (at: number) => new Date(at).toISOString().slice(0, 10);


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
  /** What we sent recently, for Baileys' retries (the exact content, media included). */
  private readonly sent = new Map<string, proto.IMessage>();
  /** The last day whose older kept sends were cleared. */
  private sentPrunedDay: string | undefined;
  /** Numbers checked with onWhatsApp: WhatsApp bans accounts that check numbers in bulk. */
  private readonly numbers = new Map<string, { jid: string | null; at: number }>();
  private readonly logs: LogThrottle;
  /** Chats whose typing this device follows, per socket (a new connection starts with none). */
  private readonly presenceFollowed = new WeakMap<WhatsAppSocket, Set<string>>();
  private readonly disconnects: Disconnects;
  private readonly pairing: PairingCodes;
  private readonly media: MediaDownloads;
  private readonly acks: AckTracker;
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
    const log = this.log.bind(this);
    this.disconnects = new Disconnects(ctx, source, this.settings, this.leaseKey);
    this.pairing = new PairingCodes(ctx, source);
    this.media = new MediaDownloads(ctx, source, driver, timing, log, (socket) => this.socket === socket && Boolean(this.connectedAs) && !this.stopped, () => this.stopped);
    this.acks = new AckTracker(ctx, source, timing.ackTimeoutMs, log, (event) => this.captureUntilStored(event));
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
    await this.media.settled();
    await this.acks.settled();
    await this.ctx.leases.release(this.leaseKey).catch((error: unknown) => this.ctx.logger.warn({ err: error }, 'could not release a WhatsApp lease'));
  }

  /** A pairing-code request was just made through this process: serve it without waiting for the poll. */
  pairingRequested(): void {
    void this.pairing.serve(this.socket, !this.connectedAs && this.qrReceived);
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
          await this.disconnects.markStopped(end.state, end.reason, end.forget);
          continue;
        }
        if (end.kind === 'relink') {
          // A number that was not linked yet has no session to forget: it just tries again.
          if (!this.sessionLinked) throw new Error(end.reason);
          this.relinkReason = end.reason;
          await this.disconnects.relink(end.reason);
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
          await this.pairing.serve(this.socket, !this.connectedAs && this.qrReceived);
        });
      }
      if (update.connection === 'open') {
        this.failures = 0;
        this.disconnects.badSessions = 0;
        this.relinkReason = undefined;
        const me = socket.user?.id ?? auth.state.creds.me?.id;
        this.connectedAs = phoneOfJid(me ? jidNormalizedUser(me) : undefined) ?? me ?? 'unknown';
        const connectedAs = this.connectedAs;
        this.enqueue(async () => {
          await this.ctx.state.set(this.source.id, stateKeys.qr, null);
          await this.status({ state: 'connected', connectedAs });
        });
        this.ctx.logger.info({ sourceId: this.source.id, connectedAs }, 'WhatsApp connected');
        this.media.fetch(socket);
      }
      if (update.connection === 'close') this.endSession?.(this.disconnects.classify(update.lastDisconnect?.error, this.versionName()));
    };
    const onUpsert = ({ messages, type }: { messages: WAMessage[]; type: string }) => {
      this.traffic();
      // Every type: "append" is how WhatsApp replays what arrived while the gateway was away.
      this.enqueue(() => this.receive(socket, messages, type));
    };
    const onUpdate = (updates: WAMessageUpdate[]) => {
      this.traffic();
      this.enqueue(() => this.acks.statuses(updates));
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
      if (id && !node.attrs.error) void this.acks.acknowledged([id]);
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
    const media = this.media.begin();
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
    const pairingPoll = setInterval(() => void this.pairing.serve(this.socket, !this.connectedAs && this.qrReceived), this.timing.pairingPollMs);
    const mediaPoll = setInterval(() => this.media.fetch(socket), this.timing.mediaPollMs);
    const ackCheck = setInterval(() => void this.acks.checkAcks(), Math.max(25, Math.min(this.timing.ackTimeoutMs / 4, 10_000)));
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
    if (event.attachments?.some((file) => 'later' in file && file.later.status === 'pending')) this.media.fetch(socket);
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
    await this.acks.awaitAck(mainId!);
    return mainId!;
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
