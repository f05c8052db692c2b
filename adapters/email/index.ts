import nodemailer from 'nodemailer';
import { z } from 'zod';
import type { ChannelAdapter, OutboundConnection, OutboundMessage } from '../../src/channels/contract.js';
import { ChannelError } from '../../src/errors.js';

const connectionSchema = z.object({
  settings: z.object({ from: z.string().min(3) }),
  secrets: z.object({ smtpUrl: z.string().regex(/^smtps?:\/\//) }),
});

/** Network failures that a later attempt can get past. */
const transientNetworkCodes = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNREFUSED', 'ECONNRESET', 'EDNS', 'EHOSTUNREACH', 'EPIPE']);

/**
 * SMTP 4xx and connection failures are transient; 5xx is permanent.
 * @see https://www.rfc-editor.org/rfc/rfc5321#section-4.2.1
 */
export function classifySmtpError(error: unknown): ChannelError {
  const { responseCode, code, response, message } = (error ?? {}) as { responseCode?: number; code?: string; response?: string; message?: string };
  const text = response ?? message ?? String(error);
  if (typeof responseCode === 'number') {
    const retryable = responseCode < 500;
    return new ChannelError(retryable ? 'smtp_transient' : 'smtp_rejected', `SMTP ${responseCode}: ${text}`, retryable, { cause: error });
  }
  if (code === 'EAUTH') return new ChannelError('smtp_auth', `SMTP authentication failed: ${text}`, false, { cause: error });
  if (code === 'EENVELOPE') return new ChannelError('invalid_address', `the address was refused: ${text}`, false, { cause: error });
  return new ChannelError('smtp_unreachable', `SMTP connection failed: ${text}`, code ? transientNetworkCodes.has(code) || code.startsWith('E') : true, {
    cause: error,
  });
}

/** Email out over SMTP: the gateway's own SMTP_URL for web-form auto-replies. */
export class EmailAdapter implements ChannelAdapter {
  readonly kind = 'email';
  readonly sends = ['email'] as const;
  private readonly transports = new Map<string, nodemailer.Transporter>();

  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const parsed = connectionSchema.safeParse(connection);
    if (!parsed.success) throw new ChannelError('invalid_connection', `email connection ${connection.id} is not configured for SMTP`, false);
    const transport = this.transport(connection.id, parsed.data.secrets.smtpUrl);
    const domain = parsed.data.settings.from.split('@').pop()?.replace(/[>\s]/g, '') || 'leadgate.local';
    // Our own message id, so the customer's replies thread to it and a resend is recognisable.
    const messageId = `<${message.id}@${domain}>`;
    try {
      await transport.sendMail({
        from: parsed.data.settings.from,
        to: message.to,
        subject: message.subject ?? '',
        text: message.text,
        ...(message.html ? { html: message.html } : {}),
        messageId,
        ...(message.inReplyTo ? { inReplyTo: message.inReplyTo } : {}),
        ...(message.references ? { references: message.references } : {}),
        ...(message.headers ? { headers: message.headers } : {}),
      });
      return { externalId: messageId };
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  async stop(): Promise<void> {
    for (const transport of this.transports.values()) transport.close();
    this.transports.clear();
  }

  private transport(id: string, url: string): nodemailer.Transporter {
    const key = `${id}:${url}`;
    let transport = this.transports.get(key);
    if (!transport) {
      transport = nodemailer.createTransport(url);
      this.transports.set(key, transport);
    }
    return transport;
  }
}
