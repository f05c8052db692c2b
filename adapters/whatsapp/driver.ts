import makeWASocket, {
  type AuthenticationState,
  type BaileysEventEmitter,
  Browsers,
  downloadMediaMessage,
  fetchLatestWaWebVersion,
  type UserFacingSocketConfig,
  type WAMessage,
  type WAMessageKey,
  type WAVersion,
  proto,
} from '@whiskeysockets/baileys';
import type { Logger } from 'pino';

type BaileysSocket = ReturnType<typeof makeWASocket>;
/** The logger Baileys writes to (pino's shape). */
export type BaileysLogger = NonNullable<Parameters<typeof makeWASocket>[0]['logger']>;

/**
 * The part of Baileys' socket the adapter uses, with Baileys' own types: a test double
 * implements exactly this, and a change in Baileys' signatures breaks it at compile time.
 */
export interface WhatsAppSocket {
  ev: Pick<BaileysEventEmitter, 'on' | 'off'>;
  /** The raw stanzas, as `CB:<tag>,<attr>:<value>` events: the server's ack of a sent message has no `ev` event. */
  ws: Pick<BaileysSocket['ws'], 'on' | 'off'>;
  readonly user: BaileysSocket['user'];
  sendMessage: BaileysSocket['sendMessage'];
  sendPresenceUpdate: BaileysSocket['sendPresenceUpdate'];
  /** WhatsApp tells a device when someone types only in chats it subscribed to. */
  presenceSubscribe: BaileysSocket['presenceSubscribe'];
  onWhatsApp: BaileysSocket['onWhatsApp'];
  requestPairingCode: BaileysSocket['requestPairingCode'];
  query: BaileysSocket['query'];
  end: BaileysSocket['end'];
  signalRepository: { lidMapping: Pick<BaileysSocket['signalRepository']['lidMapping'], 'getPNForLID'> };
}

export interface SocketOptions {
  auth: AuthenticationState;
  /** Unset: the version Baileys was released with. */
  version: WAVersion | undefined;
  logger: BaileysLogger;
  /** Baileys asks for a message it must send again (a retry receipt): from our own tables. */
  getMessage(key: WAMessageKey): Promise<proto.IMessage | undefined>;
  /** Chats that are no conversation with a lead (groups, status, …): Baileys drops them before decrypting. */
  shouldIgnoreJid(jid: string): boolean;
}

/** How the adapter reaches WhatsApp: Baileys in production, a scripted double in tests. */
export interface WhatsAppDriver {
  connect(options: SocketOptions): WhatsAppSocket;
  /** The decrypted bytes of a received media message. */
  downloadMedia(message: WAMessage, socket: WhatsAppSocket, logger: Logger): Promise<Buffer>;
  /**
   * The WhatsApp Web version web.whatsapp.com serves now, when WhatsApp refuses ours as outdated
   * (405); null when it cannot be learnt (then the configured one is kept).
   */
  latestWebVersion(logger: Logger): Promise<WAVersion | null>;
}

/**
 * History WhatsApp sends a newly linked device: the first bootstrap, recent chats and push
 * names teach Baileys who each privacy id (LID) is and the contacts' names. Never the full
 * history, and never on demand. History is not turned into leads: the adapter does not listen
 * to `messaging-history.set`.
 */
const historyKept = new Set<proto.Message.HistorySyncType>([
  proto.Message.HistorySyncType.INITIAL_BOOTSTRAP,
  proto.Message.HistorySyncType.RECENT,
  proto.Message.HistorySyncType.PUSH_NAME,
]);

/** What the adapter asks of Baileys' socket. */
export function socketConfig(options: SocketOptions): UserFacingSocketConfig {
  return {
    auth: options.auth,
    ...(options.version ? { version: options.version } : {}),
    logger: options.logger,
    getMessage: options.getMessage,
    shouldIgnoreJid: options.shouldIgnoreJid,
    // A browser WhatsApp knows: a custom name breaks pairing codes.
    browser: Browsers.ubuntu('Chrome'),
    // The phone keeps showing notifications while the gateway is connected.
    markOnlineOnConnect: false,
    syncFullHistory: false,
    shouldSyncHistoryMessage: (notification) => notification.syncType !== null && notification.syncType !== undefined && historyKept.has(notification.syncType),
    // Our own sends are recorded by the outbound path; echoing them would store them twice.
    emitOwnEvents: false,
  };
}

/** The real thing: WhatsApp Web's multi-device protocol through Baileys. */
export const baileysDriver: WhatsAppDriver = {
  connect(options) {
    return makeWASocket(socketConfig(options));
  },
  async latestWebVersion(logger) {
    // Reaches web.whatsapp.com: bounded, so a stalled answer cannot hold the reconnect up.
    const latest = await fetchLatestWaWebVersion({ signal: AbortSignal.timeout(15_000) });
    if (latest.isLatest) return latest.version;
    logger.warn({ err: latest.error }, 'could not learn the current WhatsApp Web version');
    return null;
  },
  async downloadMedia(message, socket, logger) {
    const real = socket as unknown as BaileysSocket;
    return downloadMediaMessage(message, 'buffer', {}, { logger, reuploadRequest: real.updateMediaMessage });
  },
};
