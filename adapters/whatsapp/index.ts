import { createHash, randomUUID } from 'node:crypto';
import type { WAVersion } from '@whiskeysockets/baileys';
import type {
  AdapterContext,
  ChannelAdapter,
  LinkingSpec,
  OutboundConnection,
  OutboundMessage,
  SourceKindSpec,
  SourceRecord,
} from '../../src/channels/contract.js';
import { ChannelError } from '../../src/errors.js';
import { type ConnectionTiming, defaultTiming, type PairingAnswer, type PairingRequest, stateKeys, type StoredQr, WhatsAppConnection } from './connection.js';
import { baileysDriver, type WhatsAppDriver } from './driver.js';
import { sourceSpec, storedSettings } from './settings.js';

export { baileysDriver, type WhatsAppDriver, type WhatsAppSocket, type SocketOptions } from './driver.js';
export { defaultTiming, type ConnectionTiming } from './connection.js';

export interface WhatsAppAdapterOptions {
  driver?: WhatsAppDriver;
  /** Unset: the WhatsApp Web version Baileys was released with. */
  version?: WAVersion;
  timing?: Partial<ConnectionTiming>;
}

/** A QR code is good for about a minute after WhatsApp issued it (it rotates them meanwhile). */
const qrLifetimeMs = 60_000;
const pairingWaitMs = 20_000;

/**
 * WhatsApp: the business's own number, linked as a device (QR code or pairing code) through
 * Baileys. One process at a time holds each number's connection.
 */
export class WhatsAppAdapter implements ChannelAdapter {
  readonly kind = 'whatsapp';
  readonly sends = ['whatsapp'] as const;
  readonly source: SourceKindSpec;
  private readonly driver: WhatsAppDriver;
  private readonly timing: ConnectionTiming;
  private readonly connections = new Map<string, WhatsAppConnection>();
  private ctx: AdapterContext | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly options: WhatsAppAdapterOptions = {}) {
    this.driver = options.driver ?? baileysDriver;
    this.timing = { ...defaultTiming, ...options.timing };
    const linking: LinkingSpec = {
      currentQr: (ctx, source) => this.currentQr(ctx, source),
      requestPairingCode: (ctx, source, phone) => this.requestPairingCode(ctx, source, phone),
    };
    this.source = { ...(sourceSpec as unknown as SourceKindSpec), linking };
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) throw new Error('the WhatsApp adapter is already started');
    this.ctx = ctx;
    await this.refresh();
    // Sources created, relinked or deleted through another process show up within this interval.
    this.refreshTimer = setInterval(() => this.sourceChanged(), 5_000);
    this.refreshTimer.unref();
  }

  sourceChanged(): void {
    if (!this.ctx) return;
    this.refreshing = this.refreshing.then(() => this.refresh()).catch((error: unknown) => this.ctx?.logger.error({ err: error }, 'could not refresh WhatsApp sources'));
  }

  async stop(): Promise<void> {
    clearInterval(this.refreshTimer);
    await this.refreshing;
    await Promise.all([...this.connections.values()].map((connection) => connection.stop()));
    this.connections.clear();
    this.ctx = undefined;
  }

  /** One connection per live WhatsApp source; a relinked source gets a fresh one. */
  private async refresh(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const sources = await ctx.listSources(this.kind);
    const wanted = new Map(sources.map((source) => [source.id, source]));
    for (const [id, connection] of this.connections) {
      const source = wanted.get(id);
      if (!source || fingerprint(source) !== connection.fingerprint) {
        this.connections.delete(id);
        await connection.stop();
      }
    }
    for (const source of sources) {
      if (this.connections.has(source.id)) continue;
      const connection = new WhatsAppConnection(source, ctx, this.driver, this.timing, this.options.version, fingerprint(source));
      this.connections.set(source.id, connection);
      connection.start();
    }
  }

  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const live = this.connections.get(connection.id);
    if (!live?.isConnected) {
      throw new ChannelError('whatsapp_not_connected', 'the WhatsApp number is not connected in this process right now', true);
    }
    return { externalId: await live.send(message) };
  }

  private async currentQr(ctx: AdapterContext, source: SourceRecord): Promise<string | null> {
    const stored = await ctx.state.get<StoredQr | null>(source.id, stateKeys.qr);
    if (!stored || Date.now() - Date.parse(stored.at) > qrLifetimeMs) return null;
    return stored.qr;
  }

  /**
   * Asks whichever process holds the number (through the source's state) and waits for its
   * answer: only the socket that is pairing can get a code from WhatsApp.
   */
  private async requestPairingCode(ctx: AdapterContext, source: SourceRecord, phone: string): Promise<string> {
    const request: PairingRequest = { id: randomUUID(), phone, at: new Date().toISOString() };
    await ctx.state.set(source.id, stateKeys.pairingRequest, request);
    this.connections.get(source.id)?.pairingRequested();
    const deadline = Date.now() + pairingWaitMs;
    while (Date.now() < deadline) {
      const answer = await ctx.state.get<PairingAnswer>(source.id, stateKeys.pairingAnswer);
      if (answer?.id === request.id) {
        if (answer.code) return answer.code;
        throw new ChannelError('pairing_failed', `WhatsApp gave no pairing code: ${answer.error ?? 'no reason'}`, true);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new ChannelError('pairing_unavailable', 'no connection of this source is waiting to be linked right now (it is linked already, or still starting): try again in a few seconds', true);
  }
}

/** What a connection depends on: a relink (or a change of what is ignored) restarts it. */
function fingerprint(source: SourceRecord): string {
  return createHash('sha256').update(JSON.stringify(storedSettings.parse(source.settings))).digest('hex');
}
