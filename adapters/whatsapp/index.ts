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
import { SourceConnections } from '../../src/channels/source-connections.js';
import { ChannelError, ConnectionElsewhereError } from '../../src/errors.js';
import type { WhatsAppConnection } from './connection.js';
import type { WhatsAppDriver } from './driver.js';
import type { PairingAnswer, PairingRequest, StoredQr } from './pairing.js';
import { sourceSpec, storedSettings } from './settings.js';
import { stateKeys } from './state-keys.js';
import { type ConnectionTiming, defaultTiming } from './timing.js';

export type { WhatsAppDriver, WhatsAppSocket, SocketOptions } from './driver.js';
export { defaultTiming, type ConnectionTiming } from './timing.js';

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
  private readonly timing: ConnectionTiming;
  private readonly connections: SourceConnections<WhatsAppConnection>;

  constructor(private readonly options: WhatsAppAdapterOptions = {}) {
    this.timing = { ...defaultTiming, ...options.timing };
    const linking: LinkingSpec = {
      currentQr: (ctx, source) => this.currentQr(ctx, source),
      requestPairingCode: (ctx, source, phone) => this.requestPairingCode(ctx, source, phone),
    };
    this.source = { ...(sourceSpec as unknown as SourceKindSpec), linking };
    // A relink (or a change of what is ignored) changes the fingerprint and restarts the connection.
    this.connections = new SourceConnections(
      this.kind,
      async (source, ctx, print) => {
        // Baileys and the connection's code load with the first number: a gateway without one never pays for them.
        const [{ WhatsAppConnection }, driver] = await Promise.all([import('./connection.js'), options.driver ?? import('./driver.js').then((module) => module.baileysDriver)]);
        return new WhatsAppConnection(source, ctx, driver, this.timing, options.version, print);
      },
      fingerprint,
    );
  }

  async start(ctx: AdapterContext): Promise<void> {
    await this.connections.start(ctx);
  }

  sourceChanged(): void {
    this.connections.changed();
  }

  automaticDailyCap(settings: Record<string, unknown>): number {
    return storedSettings.parse(settings).automaticPerPersonPerDay;
  }

  async stop(): Promise<void> {
    await this.connections.stop();
  }

  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const live = this.connections.get(connection.id);
    if (!live?.isConnected) {
      // With several processes, the job may have come to one that does not hold the number.
      throw new ConnectionElsewhereError('whatsapp_not_connected', 'the WhatsApp number is not connected in this process', this.timing.elsewhereRetryMs);
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

/** What the connection is made of: a change of the daily cap does not restart it. */
function fingerprint(source: SourceRecord): string {
  const { ignore, linkGeneration } = storedSettings.parse(source.settings);
  return createHash('sha256').update(JSON.stringify({ ignore, linkGeneration })).digest('hex');
}
