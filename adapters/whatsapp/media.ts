import { BufferJSON, proto, type WAMessage } from '@whiskeysockets/baileys';
import type { AdapterContext, DueAttachment } from '../../src/channels/contract.js';
import { errorMessage } from '../../src/errors.js';
import type { WhatsAppDriver, WhatsAppSocket } from './driver.js';

/** Downloads at once per number: enough that one stalled transfer holds up nothing else. */
const mediaConcurrency = 3;

export interface MediaTiming {
  mediaTimeoutMs: number;
  mediaAttempts: number;
  mediaRetryBaseMs: number;
}

/**
 * Files of received messages, fetched after their message is stored: a few at a time per
 * number, each tried again with backoff, by the process that holds the number. A socket that
 * closes ends its downloads, which the next socket tries again without counting them.
 */
export class MediaDownloads {
  /** The look for due files now running, and the downloads it started (by attachment id). */
  private mediaLook: Promise<void> | undefined;
  private mediaAgain = false;
  private readonly downloads = new Map<string, Promise<void>>();
  /** When each recent download ended: a look that read the table before then has an old view of it. */
  private readonly downloadEndedAt = new Map<string, number>();
  /** Ends the downloads of the socket that closed (they are tried again on the next one, uncounted). */
  private mediaAbort = new AbortController();

  constructor(
    private readonly ctx: AdapterContext,
    private readonly source: { id: string },
    private readonly driver: WhatsAppDriver,
    private readonly timing: MediaTiming,
    private readonly log: (level: 'warn' | 'error', message: string, error: unknown, fields?: Record<string, unknown>) => void,
    /** The socket is the connection's current one, connected, and the connection is not stopping. */
    private readonly live: (socket: WhatsAppSocket) => boolean,
    private readonly stopped: () => boolean,
  ) {}

  /** Resolves once the running look and its downloads are over. */
  async settled(): Promise<void> {
    await this.mediaLook;
    await Promise.all(this.downloads.values());
  }

  /** A new socket: downloads follow it, and end with `abort()` when it closes. */
  begin(): AbortController {
    const media = new AbortController();
    this.mediaAbort = media;
    return media;
  }

  /**
   * Starts downloads of the files of stored messages whose next try is due, a few at a time (a
   * stalled transfer holds up no other file), while this socket is connected. Called while a
   * look is running, it looks once more when that one is done.
   */
  fetch(socket: WhatsAppSocket): void {
    if (!this.live(socket)) return;
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
              if (!signal.aborted) this.fetch(socket);
            });
          this.downloads.set(file.id, download);
        }
      } while (this.mediaAgain && !signal.aborted && !this.stopped());
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
}

/** The received message as stored with its event, with what it takes to download its file. */
function storedMessage(raw: unknown): WAMessage | null {
  const message = (raw as { message?: unknown } | null)?.message;
  if (!message || typeof message !== 'object') return null;
  const revived = JSON.parse(JSON.stringify(message), BufferJSON.reviver) as Record<string, unknown>;
  return proto.WebMessageInfo.fromObject(revived) as WAMessage;
}
