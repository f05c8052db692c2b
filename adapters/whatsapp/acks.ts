import { proto, type WAMessageUpdate } from '@whiskeysockets/baileys';
import { type AdapterContext, type CaptureResult, type InboundEvent, noAckCode } from '../../src/channels/contract.js';
import { toJson } from './normalize.js';
import { stateKeys } from './state-keys.js';

const deliveryStatuses: Partial<Record<number, 'sent' | 'delivered' | 'read' | 'failed'>> = {
  [proto.WebMessageInfo.Status.ERROR]: 'failed',
  [proto.WebMessageInfo.Status.SERVER_ACK]: 'sent',
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: 'delivered',
  [proto.WebMessageInfo.Status.READ]: 'read',
  [proto.WebMessageInfo.Status.PLAYED]: 'read',
};

/**
 * What became of our sends: WhatsApp's receipts (sent, delivered, read, failed), and the server's
 * acks, which a send must get within `ackTimeoutMs` or be marked failed (`no_ack`). The sends
 * awaiting an ack are kept in the source's state, so a restart goes on waiting for them.
 */
export class AckTracker {
  /**
   * Our sends the server has not acknowledged yet (WhatsApp id → when sent), mirrored in the
   * source's state so that a restart keeps waiting for them.
   */
  private awaitingAck: Promise<Map<string, number>> | undefined;
  private ackWrites: Promise<void> = Promise.resolve();
  /** Acks that can overtake the end of their own send. */
  private readonly recentAcks = new Set<string>();

  constructor(
    private readonly ctx: AdapterContext,
    private readonly source: { id: string },
    private readonly ackTimeoutMs: number,
    private readonly log: (level: 'warn' | 'error', message: string, error: unknown, fields?: Record<string, unknown>) => void,
    /** Stores an event, retrying while the database does not answer. */
    private readonly captureUntilStored: (event: InboundEvent) => Promise<CaptureResult>,
  ) {}

  /** Resolves once the last write of the sends awaiting an ack is done. */
  async settled(): Promise<void> {
    await this.ackWrites;
  }

  waiting(): Promise<Map<string, number>> {
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

  saveWaiting(waiting: Map<string, number>): Promise<void> {
    const snapshot = Object.fromEntries([...waiting].map(([id, at]) => [id, new Date(at).toISOString()]));
    this.ackWrites = this.ackWrites
      .then(() => this.ctx.state.set(this.source.id, stateKeys.awaitingAck, snapshot))
      .catch((error: unknown) => this.log('warn', 'could not store the WhatsApp sends awaiting an ack', error));
    return this.ackWrites;
  }

  /** From now on the send must be acknowledged within `ackTimeoutMs`. */
  async awaitAck(id: string): Promise<void> {
    try {
      const waiting = await this.waiting();
      if (this.recentAcks.has(id)) return;
      waiting.set(id, Date.now());
      await this.saveWaiting(waiting);
    } catch (error) {
      this.log('warn', 'could not note a WhatsApp send as awaiting its ack', error);
    }
  }

  async acknowledged(ids: string[]): Promise<void> {
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
  async checkAcks(): Promise<void> {
    let waiting: Map<string, number>;
    try {
      waiting = await this.waiting();
    } catch (error) {
      this.log('warn', 'could not read the WhatsApp sends awaiting an ack', error);
      return;
    }
    const now = Date.now();
    const late = [...waiting].filter(([, at]) => now - at >= this.ackTimeoutMs);
    if (late.length === 0) return;
    const seconds = Math.round(this.ackTimeoutMs / 1000);
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

  /** Receipts of what we sent: sent (the server has it), delivered (the phone), read. */
  async statuses(updates: WAMessageUpdate[]): Promise<void> {
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
}
