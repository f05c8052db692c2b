import { createHash } from 'node:crypto';
import type { ImapFlow } from 'imapflow';
import type { AdapterContext, InboundEvent, SourceRecord } from '../../src/channels/contract.js';
import { ChannelError, errorMessage } from '../../src/errors.js';
import { classifyImapError, type HostPolicy, imapClient } from './connections.js';
import { parseMail } from './parse.js';
import { oauthState, serverAccess, storedSecrets, storedSettings, type EmailSecrets, type EmailSettings } from './settings.js';

interface Cursor {
  uidValidity: string;
  lastUid: number;
  syncedAt: string;
}

export interface WatcherTiming {
  leaseMs: number;
  /** Idle connections look again this often, in case a notification was missed. */
  safetyPollMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export const defaultTiming: WatcherTiming = { leaseMs: 30_000, safetyPollMs: 60_000, retryBaseMs: 1_000, retryMaxMs: 60_000 };

/** Keeps raw mail with the event when it is small enough to be worth replaying. */
const maxRawBytesKept = 512 * 1024;

/**
 * Watches one mailbox: holds the lease so only one process reads it, fetches everything above
 * the stored UID on every (re)connect, then waits in IDLE. A mail is stored before the cursor
 * moves past it, so a crash at any point means fetching it again, which capture ignores.
 */
export class MailboxWatcher {
  private client: ImapFlow | undefined;
  private stopped = false;
  private failures = 0;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private syncing: Promise<void> = Promise.resolve();
  /** The next login asks the provider for a new access token. */
  private renewToken = false;
  /** A refused login was tried once more with a new token since the last good connection. */
  private renewedAfterRefusal = false;

  constructor(
    private readonly source: SourceRecord,
    private readonly ctx: AdapterContext,
    private readonly timing: WatcherTiming,
    /** What the watcher connects with; a source whose fingerprint changes gets a new watcher. */
    readonly fingerprint: string,
    private readonly policy: HostPolicy = { allowPrivate: false },
  ) {}

  get sourceId(): string {
    return this.source.id;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.client?.close();
    await this.running;
    await this.ctx.leases.release(this.leaseKey).catch((error: unknown) => this.ctx.logger.warn({ err: error }, 'could not release a mailbox lease'));
  }

  private get leaseKey(): string {
    return `email:${this.source.id}`;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const owner = await this.ctx.leases.acquire(this.leaseKey, this.timing.leaseMs);
        if (!owner) {
          // Another process reads this mailbox; take over only when its lease runs out.
          await this.sleep(this.timing.leaseMs / 3);
          continue;
        }
        await this.session();
      } catch (error) {
        if (this.stopped) break;
        const failure = error instanceof ChannelError ? error : classifyImapError(error);
        if (failure.code === 'oauth_not_connected' || failure.code === 'oauth_revoked') {
          // Nothing to sign in with until someone connects the mailbox again, which starts a new watcher.
          await this.ctx.setStatus(this.source.id, failure.code === 'oauth_revoked' ? { state: 'error', lastError: failure.message } : { state: 'pairing', detail: failure.message });
          await this.ctx.leases.release(this.leaseKey).catch((releaseError: unknown) => this.ctx.logger.warn({ err: releaseError }, 'could not release a mailbox lease'));
          return;
        }
        if (failure.code === 'imap_auth' && this.oauth && !this.renewedAfterRefusal) {
          // An access token the server refuses may have been revoked early: one new token, at once.
          this.renewedAfterRefusal = true;
          this.renewToken = true;
          continue;
        }
        if (failure.code === 'imap_auth') {
          // Each retry with a refused password counts against the account: providers lock it after
          // a few. Nothing but new settings can fix it, and new settings start a new watcher.
          await this.ctx.setStatus(this.source.id, { state: 'error', lastError: failure.message });
          this.ctx.logger.warn({ sourceId: this.source.id, err: failure }, 'mailbox login refused; waiting for new settings');
          await this.ctx.leases.release(this.leaseKey).catch((releaseError: unknown) => this.ctx.logger.warn({ err: releaseError }, 'could not release a mailbox lease'));
          return;
        }
        this.failures++;
        const delay = Math.min(this.timing.retryMaxMs, this.timing.retryBaseMs * 2 ** (this.failures - 1));
        await this.ctx.setStatus(this.source.id, {
          state: failure.retryable ? 'reconnecting' : 'error',
          lastError: failure.message,
          nextRetryAt: new Date(Date.now() + delay).toISOString(),
        });
        this.ctx.logger.warn({ sourceId: this.source.id, err: failure, delay }, 'mailbox connection failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  /** One connection, from login until it closes or the lease is lost. */
  private get oauth(): boolean {
    return Boolean(storedSettings.parse(this.source.settings).oauth);
  }

  /** The access token of a mailbox that signs in with OAuth; nothing for one with a password. */
  private async token(settings: EmailSettings, secrets: EmailSecrets): Promise<{ accessToken: string } | undefined> {
    if (!settings.oauth) return undefined;
    const state = oauthState(settings, secrets);
    const provider = settings.oauth.provider === 'google' ? 'Google' : 'Microsoft';
    if (state === 'revoked') throw new ChannelError('oauth_revoked', settings.oauth.revokedReason ?? `${provider} refused the stored authorization: connect the mailbox again`, false);
    if (state === 'not_connected') {
      throw new ChannelError('oauth_not_connected', `waiting for the mailbox to be connected with ${provider}: Connect in Setup → Sources`, false);
    }
    const renew = this.renewToken;
    this.renewToken = false;
    return { accessToken: await this.ctx.oauth.accessToken(this.source.id, { renew }) };
  }

  private async session(): Promise<void> {
    const settings = storedSettings.parse(this.source.settings);
    const secrets = storedSecrets.parse(this.source.secrets);
    const token = await this.token(settings, secrets);
    const client = await imapClient(serverAccess(settings, secrets, 'imap', token), this.policy, {
      // Back to IDLE soon after each fetch, so a new mail becomes a lead in well under a second.
      autoIdleDelay: 300,
      maxIdleTime: 5 * 60_000,
    });
    this.client = client;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', (error: Error) => this.ctx.logger.warn({ sourceId: this.source.id, err: error }, 'mailbox connection error'));
    await this.ctx.setStatus(this.source.id, { state: 'connecting' });
    await client.connect();
    try {
      const mailbox = await client.mailboxOpen(settings.mailbox);
      client.on('exists', () => this.sync(client, settings));
      await this.sync(client, settings, mailbox.uidValidity, mailbox.uidNext);
      await this.ctx.setStatus(this.source.id, { state: 'connected', connectedAs: settings.address, lastSyncAt: new Date().toISOString() });
      // A connection that got this far was healthy: the next drop starts the backoff over.
      this.failures = 0;
      this.renewedAfterRefusal = false;
      this.ctx.logger.info({ sourceId: this.source.id, mailbox: settings.mailbox }, 'watching mailbox');
      const renew = setInterval(() => {
        this.ctx.leases.acquire(this.leaseKey, this.timing.leaseMs).then(
          (owner) => {
            if (!owner) {
              this.ctx.logger.warn({ sourceId: this.source.id }, 'mailbox lease lost; disconnecting');
              client.close();
            }
          },
          (error: unknown) => this.ctx.logger.warn({ err: error }, 'could not renew a mailbox lease'),
        );
      }, this.timing.leaseMs / 3);
      const poll = setInterval(() => void this.sync(client, settings), this.timing.safetyPollMs);
      try {
        await Promise.race([closed, new Promise<void>((resolve) => (this.wake = resolve))]);
      } finally {
        clearInterval(renew);
        clearInterval(poll);
      }
      if (!this.stopped) throw new Error('the IMAP connection closed');
    } finally {
      client.close();
      await this.syncing;
    }
  }

  /** Serialises syncs: a notification that arrives mid-sync runs another one after it. */
  private sync(client: ImapFlow, settings: EmailSettings, uidValidity?: bigint, uidNext?: number): Promise<void> {
    this.syncing = this.syncing
      .then(() => this.fetchNew(client, settings, uidValidity ?? (client.mailbox ? client.mailbox.uidValidity : undefined), uidNext))
      .catch((error: unknown) => {
        this.ctx.logger.warn({ sourceId: this.source.id, err: error }, 'mailbox sync failed; the next one retries');
        client.close();
      });
    return this.syncing;
  }

  private async fetchNew(client: ImapFlow, settings: EmailSettings, uidValidity: bigint | undefined, uidNext?: number): Promise<void> {
    if (this.stopped || !client.usable || uidValidity === undefined) return;
    const cursorKey = `cursor:${settings.mailbox}`;
    let cursor = await this.ctx.state.get<Cursor>(this.source.id, cursorKey);
    const validity = uidValidity.toString();
    let range: string | { since: Date };
    if (!cursor) {
      // A newly connected mailbox starts from now: years of old mail are not new leads.
      const next = uidNext ?? (await client.status(settings.mailbox, { uidNext: true })).uidNext ?? 1;
      cursor = { uidValidity: validity, lastUid: next - 1, syncedAt: new Date().toISOString() };
      await this.ctx.state.set(this.source.id, cursorKey, cursor);
      return;
    }
    if (cursor.uidValidity !== validity) {
      // Every stored UID is meaningless now. Fetch what arrived since the last sync (a day of
      // margin); the Message-ID is the idempotency key, so mail seen before is not taken twice.
      range = { since: new Date(new Date(cursor.syncedAt).getTime() - 24 * 3600_000) };
      this.ctx.logger.warn({ sourceId: this.source.id, from: cursor.uidValidity, to: validity }, 'UIDVALIDITY changed; resyncing by Message-ID');
      cursor = { uidValidity: validity, lastUid: 0, syncedAt: cursor.syncedAt };
    } else {
      range = `${cursor.lastUid + 1}:*`;
    }
    const found = await client.search(typeof range === 'string' ? { uid: range } : range, { uid: true });
    const uids = (found || []).filter((uid) => uid > cursor!.lastUid).sort((a, b) => a - b);
    for (const uid of uids) {
      if (this.stopped) return;
      const message = await client.fetchOne(String(uid), { uid: true, source: true, internalDate: true }, { uid: true });
      if (message && message.source) await this.captureMail(message.source, uid, settings, message.internalDate);
      cursor = { uidValidity: validity, lastUid: uid, syncedAt: new Date().toISOString() };
      await this.ctx.state.set(this.source.id, cursorKey, cursor);
    }
    if (uids.length > 0) await this.ctx.setStatus(this.source.id, { state: 'connected', connectedAs: settings.address, lastSyncAt: new Date().toISOString() });
  }

  private async captureMail(raw: Buffer, uid: number, settings: EmailSettings, internalDate: Date | string | undefined): Promise<void> {
    const parsed = await parseMail(raw, { maxAttachmentBytes: this.ctx.maxUploadBytes, ownAddresses: [settings.address] });
    const sender = parsed.replyTo ?? parsed.from;
    const tooLarge = parsed.attachments.filter((attachment) => attachment.tooLarge);
    const event: InboundEvent = {
      channel: 'email',
      sourceId: this.source.id,
      externalId: parsed.messageId ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`,
      from: { ...(sender ? { email: sender.address } : {}), ...(sender?.name ? { name: sender.name } : {}) },
      // When the gateway took it: the server's INTERNALDATE has whole seconds only, and would
      // sort an answer before the reply it answers.
      receivedAt: new Date(),
      text: parsed.text,
      fullText: parsed.fullText,
      ...(parsed.html ? { html: parsed.html } : {}),
      ...(parsed.subject ? { subject: parsed.subject } : {}),
      threadRefs: [...new Set([...parsed.references, ...(parsed.inReplyTo ? [parsed.inReplyTo] : [])])],
      // A bounce carries the report and our own returned mail: nothing of the lead's.
      attachments:
        parsed.kind === 'message' ? parsed.attachments.flatMap((a) => (a.data ? [{ filename: a.filename, contentType: a.contentType, data: a.data }] : [])) : [],
      // Too-large attachments are not stored, but the lead's record says they were there.
      fields: Object.fromEntries(tooLarge.map((a) => [`attachment not stored (too large): ${a.filename}`, `${a.size} bytes`])),
      ...(parsed.kind === 'bounce' ? { bounce: { recipients: parsed.bouncedRecipients, reason: parsed.reason ?? 'delivery failed' } } : {}),
      raw: {
        mailbox: settings.mailbox,
        uid,
        messageId: parsed.messageId,
        internalDate: internalDate ? new Date(internalDate).toISOString() : null,
        ...(raw.length <= maxRawBytesKept ? { source: raw.toString('utf8') } : { sourceBytes: raw.length }),
      },
    };
    const rejected = parsed.kind === 'auto_reply' || parsed.kind === 'mailing_list' ? `${parsed.kind.replace('_', ' ')}: ${parsed.reason}` : undefined;
    try {
      await this.ctx.capture(event, rejected ? { rejectedBecause: rejected } : {});
    } catch (error) {
      throw new Error(`could not store mail UID ${uid}: ${errorMessage(error)}`, { cause: error });
    }
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
