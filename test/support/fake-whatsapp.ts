import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type AnyMessageContent,
  type BaileysEventMap,
  type BinaryNode,
  type Contact,
  jidDecode,
  normalizeMessageContent,
  proto,
  type WAMessage,
  type WAPresence,
  type WAVersion,
} from '@whiskeysockets/baileys';
import type { SocketOptions, WhatsAppDriver, WhatsAppSocket } from '../../adapters/whatsapp/index.js';

/** An error shaped like Baileys' Boom errors: the adapter reads `output.statusCode`. */
export function disconnect(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { isBoom: true, output: { statusCode, payload: { statusCode, message } } });
}

/** Baileys' DisconnectReason, plus the codes WhatsApp's `failure` stanza carries as they are. */
export const DisconnectCode = {
  loggedOut: 401,
  paymentRequired: 402,
  forbidden: 403,
  clientOutdated: 405,
  notAcceptable: 406,
  timedOut: 408,
  multideviceMismatch: 411,
  connectionClosed: 428,
  connectionReplaced: 440,
  badSession: 500,
  restartRequired: 515,
} as const;

let sequence = 0;
/** A message id in WhatsApp's form (3EB0 and hex). */
export function messageId(): string {
  return `3EB0${randomBytes(8).toString('hex').toUpperCase()}${(++sequence).toString(16).toUpperCase()}`;
}

/**
 * A received message as Baileys 7 hands it to `messages.upsert`: built with Baileys' own proto
 * types (a renamed or retyped field breaks the build), plus the key fields Baileys adds outside
 * the proto (remoteJidAlt, addressingMode).
 */
export function receivedMessage(options: {
  from: string;
  fromAlt?: string;
  message: proto.IMessage;
  id?: string;
  pushName?: string;
  fromMe?: boolean;
  participant?: string;
  at?: Date;
}): WAMessage {
  const info = proto.WebMessageInfo.fromObject({
    key: { remoteJid: options.from, fromMe: options.fromMe ?? false, id: options.id ?? messageId(), ...(options.participant ? { participant: options.participant } : {}) },
    message: options.message,
    messageTimestamp: Math.floor((options.at ?? new Date()).getTime() / 1000),
    ...(options.pushName ? { pushName: options.pushName } : {}),
  });
  const key = {
    ...proto.MessageKey.toObject(proto.MessageKey.fromObject(info.key ?? {})),
    ...(options.fromAlt ? { remoteJidAlt: options.fromAlt } : {}),
    addressingMode: options.from.endsWith('@lid') ? 'lid' : 'pn',
  };
  return Object.assign(info, { key }) as WAMessage;
}

/**
 * A message Baileys could not decrypt, as it upserts it: the key and metadata with no content,
 * `messageStubType` CIPHERTEXT and the error in `messageStubParameters` ("Bad MAC", "No session",
 * or "Message absent from node" for a Click-to-WhatsApp ad message that came without its content).
 * @see https://github.com/WhiskeySockets/Baileys/blob/master/src/Utils/decode-wa-message.ts
 */
export function unreadableMessage(options: { from: string; id?: string; pushName?: string; reason: string; at?: Date }): WAMessage {
  const info = receivedMessage({ from: options.from, message: {}, ...(options.id ? { id: options.id } : {}), ...(options.pushName ? { pushName: options.pushName } : {}), ...(options.at ? { at: options.at } : {}) });
  delete info.message;
  info.messageStubType = proto.WebMessageInfo.StubType.CIPHERTEXT;
  info.messageStubParameters = [options.reason];
  return info;
}

interface SentRecord {
  jid: string;
  content: AnyMessageContent;
  id: string;
}

/**
 * A scripted WhatsApp for the adapter: it implements the part of Baileys' socket the adapter
 * uses and emits what Baileys emits (QR codes, creds updates, "restart required" after pairing,
 * upserts, receipts, closes with Baileys' status codes). The test plays the phone and the
 * people writing to the business.
 */
export class FakeWhatsApp implements WhatsAppDriver {
  readonly sockets: FakeWhatsAppSocket[] = [];
  /** Numbers on WhatsApp: the digits asked for → the JID WhatsApp answers with. */
  readonly accounts = new Map<string, string>();
  /** Media on WhatsApp's CDN, by direct path. */
  readonly media = new Map<string, Buffer>();
  /** Downloads of these paths fail this many more times (the CDN answers 5xx) before they work. */
  readonly mediaFailures = new Map<string, number>();
  /** Downloads of these paths never answer (a stalled transfer). */
  readonly mediaStalls = new Set<string>();
  /** Every download asked for, by direct path. */
  readonly downloads: string[] = [];
  /** What web.whatsapp.com says the current WhatsApp Web version is (null: it cannot be reached). */
  webVersion: WAVersion | null = null;
  versionRequests = 0;
  /** The next sockets that start from stored credentials are closed with these instead of opening, one each. */
  readonly closesOnStart: Error[] = [];

  connect(options: SocketOptions): WhatsAppSocket {
    const socket = new FakeWhatsAppSocket(this, options);
    this.sockets.push(socket);
    setImmediate(() => socket.boot());
    return socket;
  }

  async downloadMedia(message: WAMessage): Promise<Buffer> {
    const content = normalizeMessageContent(message.message);
    const media = content?.imageMessage ?? content?.videoMessage ?? content?.audioMessage ?? content?.documentMessage ?? content?.stickerMessage;
    if (!media?.directPath || !media.mediaKey) throw new Error('not a media message');
    this.downloads.push(media.directPath);
    if (this.mediaStalls.has(media.directPath)) return new Promise<Buffer>(() => undefined);
    const failures = this.mediaFailures.get(media.directPath) ?? 0;
    if (failures > 0) {
      this.mediaFailures.set(media.directPath, failures - 1);
      throw disconnect(503, 'media server unavailable');
    }
    const data = this.media.get(media.directPath);
    if (!data) throw disconnect(404, 'media not found (expired on the CDN)');
    return data;
  }

  async latestWebVersion(): Promise<WAVersion | null> {
    this.versionRequests++;
    return this.webVersion;
  }

  /** The socket that is open now (the latest one not ended). */
  get live(): FakeWhatsAppSocket | undefined {
    return [...this.sockets].reverse().find((socket) => !socket.ended);
  }

  /** Everything sent through any socket, oldest first. */
  get sent(): SentRecord[] {
    return this.sockets.flatMap((socket) => socket.sent);
  }
}

export class FakeWhatsAppSocket implements WhatsAppSocket {
  private readonly emitter = new EventEmitter();
  readonly ev: WhatsAppSocket['ev'] = {
    on: (event, listener) => void this.emitter.on(event, listener),
    off: (event, listener) => void this.emitter.off(event, listener),
  };
  /** Raw stanzas, as Baileys' WebSocketClient emits them (`CB:ack,class:message`, …). */
  readonly stanzas = new EventEmitter();
  readonly ws: WhatsAppSocket['ws'] = {
    on: (event, listener) => this.stanzas.on(event, listener) as never,
    off: (event, listener) => this.stanzas.off(event, listener) as never,
  };
  /** When set, the server keeps its acks of what we send (they are in `withheldAcks`). */
  withholdAcks = false;
  readonly withheldAcks: BinaryNode[] = [];
  user: WhatsAppSocket['user'] = undefined;
  ended = false;
  opened = false;
  qrs: string[] = [];
  readonly sent: SentRecord[] = [];
  readonly presences: { type: WAPresence; jid: string | undefined }[] = [];
  /** Chats the device asked to hear typing from. */
  readonly presenceSubscriptions: string[] = [];
  readonly numberChecks: string[][] = [];
  readonly pairingCodeRequests: string[] = [];
  /** Messages Baileys dropped before decrypting (`shouldIgnoreJid`). */
  readonly dropped: WAMessage[] = [];
  /** When set, pings go unanswered (a connection that is open but dead). */
  silent = false;
  readonly signalRepository: WhatsAppSocket['signalRepository'];

  constructor(
    private readonly fake: FakeWhatsApp,
    readonly options: SocketOptions,
  ) {
    const keys = options.auth.keys;
    this.signalRepository = {
      lidMapping: {
        // Where Baileys' LIDMappingStore keeps it: `<lid user>_reverse` → phone user.
        getPNForLID: async (lid: string) => {
          const user = jidDecode(lid)?.user;
          if (!user) return null;
          const stored = await keys.get('lid-mapping', [`${user}_reverse`]);
          const pn = stored[`${user}_reverse`];
          return pn ? `${pn}@s.whatsapp.net` : null;
        },
      },
    };
  }

  emit<T extends keyof BaileysEventMap>(event: T, data: BaileysEventMap[T]): void {
    this.emitter.emit(event, data);
  }

  /** What Baileys does on start: open with stored credentials, or issue a QR code to scan. */
  boot(): void {
    if (this.ended) return;
    this.emit('connection.update', { connection: 'connecting' });
    const creds = this.options.auth.creds;
    if (creds.account && creds.me) {
      const refused = this.fake.closesOnStart.shift();
      if (refused) {
        this.close(refused);
        return;
      }
      this.user = creds.me;
      this.opened = true;
      this.emit('connection.update', { connection: 'open', receivedPendingNotifications: true });
    } else {
      this.rotateQr();
    }
  }

  rotateQr(): string {
    const qr = `2@${randomBytes(24).toString('base64')},${randomBytes(32).toString('base64')},${this.qrs.length}`;
    this.qrs.push(qr);
    this.emit('connection.update', { qr });
    return qr;
  }

  /**
   * The phone scans the QR code (or takes the pairing code): WhatsApp sends the device identity,
   * Baileys stores credentials and keys, and the server asks for a new socket (515).
   */
  async link(phoneDigits: string, lidUser = `${Date.now()}${sequence++}`): Promise<void> {
    const creds = this.options.auth.creds;
    creds.me = { id: `${phoneDigits}:12@s.whatsapp.net`, lid: `${lidUser}:12@lid`, name: 'Acme Solar' };
    creds.account = proto.ADVSignedDeviceIdentity.fromObject({
      details: randomBytes(32),
      accountSignatureKey: randomBytes(32),
      accountSignature: randomBytes(64),
      deviceSignature: randomBytes(64),
    });
    creds.platform = 'android';
    this.emit('creds.update', { me: creds.me, account: creds.account, platform: creds.platform });
    await this.options.auth.keys.set({
      'pre-key': { '1': { public: randomBytes(32), private: randomBytes(32) } },
      'app-state-sync-key': { AAAAAQ: proto.Message.AppStateSyncKeyData.fromObject({ keyData: randomBytes(32), timestamp: Date.now() }) },
    });
    this.close(disconnect(DisconnectCode.restartRequired, 'Stream Errored (restart required)'));
  }

  /**
   * Baileys uploads new pre-keys: it advances the credentials in memory (its own `creds.update`
   * listener) and commits the keys it generated, and the process dies before the `creds.update`
   * it emitted was written on its own.
   * @see https://github.com/WhiskeySockets/Baileys/blob/master/src/Utils/signal.ts (getNextPreKeys)
   */
  async uploadPreKeysThenCrash(count: number): Promise<number> {
    const creds = this.options.auth.creds;
    const first = creds.nextPreKeyId;
    const preKeys: Record<string, { public: Buffer; private: Buffer }> = {};
    for (let id = first; id < first + count; id++) preKeys[id] = { public: randomBytes(32), private: randomBytes(32) };
    Object.assign(creds, { nextPreKeyId: first + count, firstUnuploadedPreKeyId: first + count });
    await this.options.auth.keys.set({ 'pre-key': preKeys });
    return first + count;
  }

  /** WhatsApp tells the device who a LID is, as Baileys stores and announces it. */
  async learnLid(lid: string, pn: string): Promise<void> {
    const lidUser = jidDecode(lid)!.user;
    const pnUser = jidDecode(pn)!.user;
    await this.options.auth.keys.set({ 'lid-mapping': { [pnUser]: lidUser, [`${lidUser}_reverse`]: pnUser } });
    this.emit('lid-mapping.update', { lid, pn });
  }

  /** Contacts synced from the phone's address book (Baileys' contactAction: `id` the phone, with its `lid`). */
  contacts(contacts: Contact[]): void {
    this.emit('contacts.upsert', contacts);
  }

  /** The person of a one-to-one chat types (`composing`) or stops (`paused`), as WhatsApp reports it. */
  presence(jid: string, presence: WAPresence): void {
    this.emit('presence.update', { id: jid, presences: { [jid]: { lastKnownPresence: presence } } });
  }

  /** Messages arrive; as Baileys does, chats its `shouldIgnoreJid` names are acked and dropped unread. */
  receive(messages: WAMessage[], type: 'notify' | 'append' = 'notify'): void {
    const kept = messages.filter((message) => !this.options.shouldIgnoreJid(message.key.remoteJid ?? ''));
    this.dropped.push(...messages.filter((message) => !kept.includes(message)));
    if (kept.length > 0) this.emit('messages.upsert', { messages: kept, type });
  }

  /**
   * A history sync chunk, as Baileys processes one it was allowed to: the LID ⇄ phone pairs it
   * carries are stored with the keys, then `messaging-history.set` gives the chats, contacts and messages.
   */
  async history(data: { messages: WAMessage[]; lidPnMappings?: { lid: string; pn: string }[]; contacts?: Contact[]; syncType: proto.HistorySync.HistorySyncType }): Promise<void> {
    for (const { lid, pn } of data.lidPnMappings ?? []) {
      const lidUser = jidDecode(lid)!.user;
      const pnUser = jidDecode(pn)!.user;
      await this.options.auth.keys.set({ 'lid-mapping': { [pnUser]: lidUser, [`${lidUser}_reverse`]: pnUser } });
    }
    this.emit('messaging-history.set', { chats: [], contacts: data.contacts ?? [], messages: data.messages, lidPnMappings: data.lidPnMappings ?? [], syncType: data.syncType, isLatest: true, progress: 100 });
  }

  /** The server finally acknowledges what it held back. */
  releaseAcks(): void {
    for (const ack of this.withheldAcks.splice(0)) this.stanzas.emit('CB:ack,class:message', ack);
  }

  /** A receipt for a message we sent. */
  receipt(remoteJid: string, id: string, status: proto.WebMessageInfo.Status): void {
    this.emit('messages.update', [{ key: { remoteJid, id, fromMe: true }, update: { status } }]);
  }

  /** The server closes the socket (what Baileys reports as `connection: "close"`). */
  close(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('connection.update', { connection: 'close', lastDisconnect: { error, date: new Date() } });
  }

  async end(error: Error | undefined): Promise<void> {
    this.close(error ?? disconnect(DisconnectCode.connectionClosed, 'Connection Closed'));
  }

  async sendMessage(jid: string, content: AnyMessageContent): Promise<WAMessage | undefined> {
    if (this.ended || !this.opened) throw disconnect(DisconnectCode.connectionClosed, 'Connection Closed');
    const id = messageId();
    this.sent.push({ jid, content, id });
    const ack: BinaryNode = { tag: 'ack', attrs: { class: 'message', id, from: jid, t: String(Math.floor(Date.now() / 1000)) } };
    if (this.withholdAcks) this.withheldAcks.push(ack);
    else setImmediate(() => this.stanzas.emit('CB:ack,class:message', ack));
    return proto.WebMessageInfo.fromObject({
      key: { remoteJid: jid, fromMe: true, id },
      message: messageOf(content),
      messageTimestamp: Math.floor(Date.now() / 1000),
      status: proto.WebMessageInfo.Status.PENDING,
    }) as WAMessage;
  }

  async sendPresenceUpdate(type: WAPresence, jid?: string): Promise<void> {
    this.presences.push({ type, jid });
  }

  async presenceSubscribe(jid: string): Promise<void> {
    this.presenceSubscriptions.push(jid);
  }

  async onWhatsApp(...numbers: string[]): Promise<{ jid: string; exists: boolean }[] | undefined> {
    this.numberChecks.push(numbers);
    return numbers.map((number) => {
      const digits = number.replace(/\D/g, '');
      const jid = this.fake.accounts.get(digits);
      return jid ? { jid, exists: true } : { jid: `${digits}@s.whatsapp.net`, exists: false };
    });
  }

  async requestPairingCode(phoneNumber: string): Promise<string> {
    if (this.ended) throw disconnect(DisconnectCode.connectionClosed, 'Connection Closed');
    this.pairingCodeRequests.push(phoneNumber);
    return 'K7Q2ZX4M';
  }

  async query(node: BinaryNode, timeoutMs?: number): Promise<BinaryNode> {
    if (this.ended) throw disconnect(DisconnectCode.connectionClosed, 'Connection Closed');
    if (this.silent) {
      await new Promise((resolve) => setTimeout(resolve, timeoutMs ?? 1_000));
      throw disconnect(DisconnectCode.timedOut, 'Timed Out');
    }
    return { tag: 'iq', attrs: { id: String(node.attrs.id ?? ''), type: 'result' } };
  }
}

/** The proto message Baileys builds for what was sent (enough of it for the tests and retries). */
function messageOf(content: AnyMessageContent): proto.IMessage {
  if ('text' in content) return { extendedTextMessage: { text: content.text } };
  if ('image' in content) return { imageMessage: { caption: content.caption ?? null, mimetype: content.mimetype ?? 'image/jpeg' } };
  if ('video' in content) return { videoMessage: { caption: content.caption ?? null, mimetype: content.mimetype ?? 'video/mp4' } };
  if ('audio' in content) return { audioMessage: { mimetype: content.mimetype ?? 'audio/ogg', ptt: content.ptt ?? false } };
  if ('document' in content) return { documentMessage: { caption: content.caption ?? null, mimetype: content.mimetype, fileName: content.fileName ?? null } };
  throw new Error(`the fake does not send ${Object.keys(content).join(', ')}`);
}
