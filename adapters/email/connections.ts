import net from 'node:net';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { ChannelError } from '../../src/errors.js';
import { checkHost, OutboundAddressError } from '../../src/security/outbound-address.js';
import type { ServerAccess } from './settings.js';

/** Network failures that a later attempt can get past. */
const transientNetworkCodes = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNREFUSED', 'ECONNRESET', 'EDNS', 'EHOSTUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'CONNECT_TIMEOUT']);

function looksLikeTls(error: { code?: unknown; message?: unknown }): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  const message = typeof error.message === 'string' ? error.message : '';
  return code.startsWith('ERR_TLS') || code === 'EPROTO' || /certificate|ssl|tls|wrong version number/i.test(message);
}

/**
 * SMTP 4xx and connection failures are transient; 5xx is permanent.
 * @see https://www.rfc-editor.org/rfc/rfc5321#section-4.2.1
 */
export function classifySmtpError(error: unknown): ChannelError {
  const details = (error ?? {}) as { responseCode?: number; code?: string; response?: string; message?: string };
  const text = details.response ?? details.message ?? String(error);
  if (typeof details.responseCode === 'number' && details.code !== 'EAUTH') {
    const retryable = details.responseCode < 500;
    return new ChannelError(retryable ? 'smtp_transient' : 'smtp_rejected', `SMTP ${details.responseCode}: ${text}`, retryable, { cause: error });
  }
  if (details.code === 'EAUTH') return new ChannelError('smtp_auth', `SMTP authentication failed: ${text}`, false, { cause: error });
  if (details.code === 'EENVELOPE') return new ChannelError('smtp_address', `the address was refused: ${text}`, false, { cause: error });
  if (looksLikeTls(details)) return new ChannelError('smtp_tls', `SMTP TLS failed: ${text}`, false, { cause: error });
  const retryable = !details.code || transientNetworkCodes.has(details.code);
  return new ChannelError('smtp_unreachable', `SMTP connection failed: ${text}`, retryable, { cause: error });
}

/**
 * A refused login is permanent, except `[UNAVAILABLE]`: the server could not check the
 * credentials just now (its authentication backend is down), and a later login may pass.
 * @see https://www.rfc-editor.org/rfc/rfc5530#section-3
 */
export function classifyImapError(error: unknown): ChannelError {
  const details = (error ?? {}) as { authenticationFailed?: boolean; serverResponseCode?: string; code?: string; message?: string; responseText?: string };
  const text = details.responseText ?? details.message ?? String(error);
  if (details.authenticationFailed && details.serverResponseCode?.toUpperCase() === 'UNAVAILABLE') {
    return new ChannelError('imap_auth_unavailable', `IMAP authentication is unavailable for now: ${text}`, true, { cause: error });
  }
  if (details.authenticationFailed) return new ChannelError('imap_auth', `IMAP authentication failed: ${text}`, false, { cause: error });
  if (looksLikeTls(details)) return new ChannelError('imap_tls', `IMAP TLS failed: ${text}`, false, { cause: error });
  return new ChannelError('imap_unreachable', `IMAP connection failed: ${text}`, true, { cause: error });
}

/** Whether mailbox servers may be private, loopback or reserved addresses. */
export interface HostPolicy {
  allowPrivate: boolean;
}

/**
 * The server's address, checked against the outbound policy before anything connects (so a
 * workspace cannot probe the gateway's own network, nor tell its open ports from closed ones),
 * and then used for the connection itself so that the name cannot resolve elsewhere meanwhile.
 * The name stays the TLS server name, for SNI and the certificate check.
 */
export async function pinnedHost(access: ServerAccess, policy: HostPolicy, protocol: 'imap' | 'smtp'): Promise<{ host: string; servername?: string }> {
  let addresses: string[];
  try {
    addresses = await checkHost(access.host, policy);
  } catch (error) {
    if (!(error instanceof OutboundAddressError)) throw error;
    throw new ChannelError(
      `${protocol}_refused`,
      `${protocol.toUpperCase()} server ${access.host} is a private, loopback or reserved address; set LEADGATE_OUTBOUND_ALLOW_PRIVATE=true to allow it`,
      false,
      { cause: error },
    );
  }
  const [address] = addresses;
  // A name that does not resolve: the client says so in its own words.
  if (!address || net.isIP(access.host)) return { host: access.host };
  return { host: address, servername: access.host };
}

export async function imapClient(access: ServerAccess, policy: HostPolicy, extra: Partial<ImapFlowOptions> = {}): Promise<ImapFlow> {
  const pinned = await pinnedHost(access, policy, 'imap');
  return new ImapFlow({
    ...pinned,
    port: access.port,
    secure: access.secure,
    auth: access.accessToken ? { user: access.user, accessToken: access.accessToken } : { user: access.user, pass: access.password ?? '' },
    tls: { rejectUnauthorized: access.rejectUnauthorized },
    logger: false,
    connectionTimeout: 15_000,
    greetingTimeout: 10_000,
    ...extra,
  });
}

export async function smtpTransport(
  access: ServerAccess,
  policy: HostPolicy,
  pinned?: { host: string; servername?: string },
): Promise<nodemailer.Transporter<SMTPTransport.SentMessageInfo>> {
  pinned ??= await pinnedHost(access, policy, 'smtp');
  return nodemailer.createTransport({
    ...pinned,
    port: access.port,
    secure: access.secure,
    auth: access.accessToken
      ? {
          type: 'OAuth2',
          user: access.user,
          accessToken: access.accessToken,
          // Asked only when the server refused the token: nodemailer then tries once more with a new one.
          ...(access.renewToken ? { provisionCallback: renewCallback(access.renewToken) } : {}),
        }
      : { user: access.user, pass: access.password ?? '' },
    tls: { rejectUnauthorized: access.rejectUnauthorized },
    connectionTimeout: 15_000,
    greetingTimeout: 10_000,
  });
}

function renewCallback(renew: () => Promise<string>) {
  return (_user: string, _renew: boolean, callback: (error: Error | null, accessToken: string, expires: number) => void) => {
    renew().then(
      (token) => callback(null, token, 0),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), '', 0),
    );
  };
}

/** Logs in to both servers and out again; throws a ChannelError naming the one that failed. */
export async function verifyConnections(imap: ServerAccess, smtp: ServerAccess, policy: HostPolicy): Promise<void> {
  const client = await imapClient(imap, policy, { verifyOnly: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw classifyImapError(error);
  } finally {
    client.close();
  }
  const transport = await smtpTransport(smtp, policy);
  try {
    await transport.verify();
  } catch (error) {
    throw classifySmtpError(error);
  } finally {
    transport.close();
  }
}
