import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { z } from 'zod';
import type { AdapterContext, ChannelAdapter, OutboundConnection, OutboundMessage, SourceKindSpec } from '../../src/channels/contract.js';
import { SourceConnections } from '../../src/channels/source-connections.js';
import { ChannelError } from '../../src/errors.js';
import { classifyImapError, classifySmtpError, type HostPolicy, imapClient, pinnedHost, smtpTransport, verifyConnections } from './connections.js';
import { defaultTiming, MailboxWatcher, type WatcherTiming } from './mailbox-watcher.js';
import { serverAccess, sourceSpec, storedSecrets, storedSettings, type EmailSettings, type EmailSecrets } from './settings.js';

/** The gateway's own SMTP_URL: web-form leads are answered through it. */
const systemConnection = z.object({
  settings: z.object({ from: z.string().min(3) }),
  secrets: z.object({ smtpUrl: z.string().regex(/^smtps?:\/\//) }),
});

/**
 * Email: a business's mailbox as a source (IMAP in, with IDLE; SMTP out, threaded), and the
 * gateway's own SMTP for replies to leads from other channels.
 */
export class EmailAdapter implements ChannelAdapter {
  readonly kind = 'email';
  readonly sends = ['email'] as const;
  readonly source: SourceKindSpec;
  private readonly transports = new Map<string, nodemailer.Transporter<SMTPTransport.SentMessageInfo>>();
  /** One watcher per live email source; a changed source gets a fresh one. */
  private readonly watchers: SourceConnections<MailboxWatcher>;
  private ctx: AdapterContext | undefined;

  constructor(
    timing: WatcherTiming = defaultTiming,
    private readonly policy: HostPolicy = { allowPrivate: false },
  ) {
    this.watchers = new SourceConnections(this.kind, (source, ctx, print) => new MailboxWatcher(source, ctx, timing, print, policy), fingerprint);
    this.source = sourceSpec(async (prepared, options) => {
      const settings = storedSettings.parse(prepared.settings);
      const secrets = storedSecrets.parse(prepared.secrets);
      const token = options?.accessToken ? { accessToken: options.accessToken } : undefined;
      // A mailbox that signs in with OAuth is tried once it has a token (when it is connected).
      if (settings.oauth && !token) return;
      await verifyConnections(serverAccess(settings, secrets, 'imap', token), serverAccess(settings, secrets, 'smtp', token), policy);
    }) as unknown as SourceKindSpec;
  }

  async start(ctx: AdapterContext): Promise<void> {
    await this.watchers.start(ctx);
    this.ctx = ctx;
  }

  sourceChanged(): void {
    this.watchers.changed();
  }

  async stop(): Promise<void> {
    await this.watchers.stop();
    for (const transport of this.transports.values()) transport.close();
    this.transports.clear();
    this.ctx = undefined;
  }

  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const system = systemConnection.safeParse(connection);
    if (system.success) {
      return this.deliver(connection.id, system.data.secrets.smtpUrl, system.data.settings.from, message);
    }
    const settings = storedSettings.safeParse(connection.settings);
    const secrets = storedSecrets.safeParse(connection.secrets);
    if (!settings.success || !secrets.success) {
      throw new ChannelError('invalid_connection', `email connection ${connection.id} has no usable SMTP settings`, false);
    }
    const token = settings.data.oauth ? await this.token(connection.id) : undefined;
    const sent = await this.deliver(connection.id, serverAccess(settings.data, secrets.data, 'smtp', token), settings.data.address, message);
    if (settings.data.appendToSent) await this.appendToSent(connection.id, settings.data, secrets.data, sent.raw, token);
    return sent;
  }

  /**
   * The current access token of a mailbox that signs in with OAuth, and a way to a new one when
   * the server refuses it. A grant the provider refused fails the send at once (`oauth_revoked`).
   */
  private async token(sourceId: string): Promise<{ accessToken: string; renew: () => Promise<string> }> {
    const ctx = this.ctx;
    if (!ctx) throw new ChannelError('not_started', 'the email channel is not started in this process', true);
    return { accessToken: await ctx.oauth.accessToken(sourceId), renew: () => ctx.oauth.accessToken(sourceId, { renew: true }) };
  }

  private async deliver(
    connectionId: string,
    server: string | ReturnType<typeof serverAccess>,
    from: string,
    message: OutboundMessage,
  ): Promise<{ externalId: string; raw: Buffer }> {
    const domain = from.split('@').pop()?.replace(/[>\s]/g, '') || 'leadgate.local';
    // Our own Message-ID, derived from our message id: the customer's replies thread to it.
    const messageId = `<${message.id}@${domain}>`;
    const raw = await new MailComposer({
      from,
      to: message.to,
      subject: message.subject ?? '',
      text: message.text,
      ...(message.html ? { html: message.html } : {}),
      messageId,
      date: new Date(),
      ...(message.inReplyTo ? { inReplyTo: message.inReplyTo } : {}),
      ...(message.references?.length ? { references: message.references } : {}),
      ...(message.headers ? { headers: message.headers } : {}),
      ...(message.attachments?.length
        ? { attachments: message.attachments.map((file) => ({ filename: file.filename, content: file.data, contentType: file.contentType })) }
        : {}),
    })
      .compile()
      .build();
    // A mailbox that signs in with OAuth gets a transport per send, with the token current now.
    const oauth = typeof server !== 'string' && Boolean(server.renewToken);
    const transport = oauth ? await smtpTransport(server as ReturnType<typeof serverAccess>, this.policy) : await this.transport(connectionId, server);
    try {
      await transport.sendMail({ envelope: { from: address(from), to: [message.to] }, raw });
    } catch (error) {
      // The token could not be renewed: say why in the provider's words, not as an SMTP failure.
      if (error instanceof ChannelError) throw error;
      throw classifySmtpError(error);
    } finally {
      if (oauth) transport.close();
    }
    return { externalId: messageId, raw };
  }

  /** The business's own mail client shows the reply too; a failure here does not unsend it. */
  private async appendToSent(connectionId: string, settings: EmailSettings, secrets: EmailSecrets, raw: Buffer, token?: { accessToken: string }): Promise<void> {
    const client = await imapClient(serverAccess(settings, secrets, 'imap', token), this.policy);
    client.on('error', (error: Error) => this.ctx?.logger.warn({ err: error, sourceId: connectionId }, 'IMAP error while storing a sent mail'));
    try {
      await client.connect();
      const folders = await client.list();
      const sent = folders.find((folder) => folder.specialUse === '\\Sent') ?? folders.find((folder) => /^(sent|enviados|sent items|sent messages)$/i.test(folder.name));
      const path = sent?.path ?? 'Sent';
      if (!sent) await client.mailboxCreate(path);
      await client.append(path, raw, ['\\Seen']);
    } catch (error) {
      this.ctx?.logger.warn({ err: classifyImapError(error), sourceId: connectionId }, 'sent, but could not store a copy in the Sent folder');
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  /**
   * A mailbox's server is checked against the outbound policy on every send and the transport is
   * kept per checked address, so a server that moves is followed and one that moves into the
   * private network is refused. The gateway's own SMTP_URL is the operator's: not checked.
   */
  private async transport(connectionId: string, server: string | ReturnType<typeof serverAccess>) {
    const pinned = typeof server === 'string' ? undefined : await pinnedHost(server, this.policy, 'smtp');
    const key = `${connectionId}:${createHash('sha256').update(JSON.stringify([server, pinned])).digest('hex')}`;
    let transport = this.transports.get(key);
    if (!transport) {
      transport = typeof server === 'string' ? nodemailer.createTransport(server) : await smtpTransport(server, this.policy, pinned);
      this.transports.set(key, transport);
    }
    return transport;
  }
}

/** The bare address of "Name <address>". */
function address(from: string): string {
  return /<([^>]+)>/.exec(from)?.[1] ?? from;
}

/**
 * Changes to what a watcher connects with restart it; other changes (the name) do not. A refresh
 * token the provider rotates is the same grant; a new consent (authorizedAt) or a revoked grant
 * is not.
 */
function fingerprint(source: { settings: Record<string, unknown>; secrets: Record<string, unknown> }): string {
  const { oauth, ...secrets } = source.secrets as { oauth?: { refreshToken?: string } };
  const { refreshToken: _rotating, ...client } = oauth ?? {};
  return createHash('sha256').update(JSON.stringify([source.settings, secrets, client])).digest('hex');
}
