import { z } from 'zod';
import type { SourceKindSpec, SourceRecord } from '../../src/channels/contract.js';
import { oauthCallbackPath, type OAuthProvider, oauthProviders, oauthSecrets, oauthSettings, readOAuth } from '../../src/channels/oauth.js';
import { type FieldError, ValidationError } from '../../src/errors.js';

const host = z.string().trim().min(1).max(255);
const port = z.number().int().min(1).max(65535);

/**
 * One connection as the API takes it: a password, or a fixed OAuth2 access token; neither with
 * `oauth`, which signs in with tokens of its own grant. `user` defaults to the address.
 */
const serverInput = z
  .object({
    host,
    port,
    secure: z.boolean().describe('true for implicit TLS (IMAPS 993, SMTPS 465); false upgrades with STARTTLS when offered'),
    user: z.string().min(1).max(320).optional(),
    password: z.string().min(1).max(2000).optional(),
    accessToken: z.string().min(1).max(10_000).optional(),
  })
  .strict();

const oauthInput = z
  .object({
    provider: z.enum(oauthProviders).describe('google (Gmail, Google Workspace) or microsoft (Microsoft 365, Outlook)'),
    clientId: z.string().trim().min(1).max(500).describe('The OAuth client id of the business\'s own app (Google Cloud console, Microsoft Entra)'),
    clientSecret: z.string().min(1).max(2000).optional().describe('Write-only; required when the client is first given'),
    tenant: z
      .string()
      .regex(/^[\w.-]{1,100}$/)
      .optional()
      .describe('Microsoft: the directory (tenant) id or domain of a single-tenant app; default organizations'),
  })
  .strict();

/** What each provider's mailboxes need: the scopes that allow IMAP and SMTP, and their servers. */
export const providerDefaults: Record<OAuthProvider, { scope: string; imap: ServerSettings; smtp: ServerSettings }> = {
  google: {
    scope: 'https://mail.google.com/',
    imap: { host: 'imap.gmail.com', port: 993, secure: true, user: '' },
    smtp: { host: 'smtp.gmail.com', port: 465, secure: true, user: '' },
  },
  microsoft: {
    scope: 'offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send',
    imap: { host: 'outlook.office365.com', port: 993, secure: true, user: '' },
    smtp: { host: 'smtp.office365.com', port: 587, secure: false, user: '' },
  },
};

const createSchema = z
  .object({
    address: z.email().transform((address) => address.toLowerCase()),
    imap: serverInput.optional().describe('Required unless oauth is given (then the provider\'s server is the default)'),
    smtp: serverInput.optional().describe('Required unless oauth is given (then the provider\'s server is the default)'),
    oauth: oauthInput
      .nullable()
      .optional()
      .describe('Sign in with Google or Microsoft (XOAUTH2): then connect with POST /api/v1/sources/{id}/oauth/authorize; null goes back to passwords'),
    mailbox: z.string().min(1).max(200).optional().describe('The folder watched for new mail (default INBOX)'),
    appendToSent: z.boolean().optional().describe('Also store sent replies in the mailbox\'s Sent folder'),
    rejectUnauthorized: z.boolean().optional().describe('false accepts self-signed server certificates'),
  })
  .strict();
export type EmailSourceInput = z.infer<typeof createSchema>;

const serverSettings = z.object({ host: z.string(), port: z.number(), secure: z.boolean(), user: z.string() });
type ServerSettings = z.infer<typeof serverSettings>;
const serverSecret = z.object({ password: z.string().optional(), accessToken: z.string().optional() });

export const storedSettings = z.object({
  address: z.string(),
  imap: serverSettings,
  smtp: serverSettings,
  mailbox: z.string().default('INBOX'),
  appendToSent: z.boolean().default(false),
  rejectUnauthorized: z.boolean().default(true),
  oauth: oauthSettings.optional(),
});
export const storedSecrets = z.object({ imap: serverSecret.default({}), smtp: serverSecret.default({}), oauth: oauthSecrets.optional() });
export type EmailSettings = z.infer<typeof storedSettings>;
export type EmailSecrets = z.infer<typeof storedSecrets>;

export interface ServerAccess {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password?: string;
  accessToken?: string;
  /** A new access token when the server refused the last one (a mailbox that signs in with OAuth). */
  renewToken?: () => Promise<string>;
  rejectUnauthorized: boolean;
}

/** How to reach one of the mailbox's servers; a mailbox that signs in with OAuth uses `token`, its grant's current access token. */
export function serverAccess(
  settings: EmailSettings,
  secrets: EmailSecrets,
  which: 'imap' | 'smtp',
  token?: { accessToken: string; renew?: () => Promise<string> },
): ServerAccess {
  if (settings.oauth) {
    return {
      ...settings[which],
      ...(token ? { accessToken: token.accessToken } : {}),
      ...(token?.renew ? { renewToken: token.renew } : {}),
      rejectUnauthorized: settings.rejectUnauthorized,
    };
  }
  return { ...settings[which], ...secrets[which], rejectUnauthorized: settings.rejectUnauthorized };
}

/** Whether the mailbox signs in with OAuth and has a grant to sign in with. */
export function oauthState(settings: EmailSettings, secrets: EmailSecrets): 'none' | 'not_connected' | 'revoked' | 'connected' {
  if (!settings.oauth) return 'none';
  if (settings.oauth.revokedAt) return 'revoked';
  return secrets.oauth?.refreshToken ? 'connected' : 'not_connected';
}

function split(server: z.infer<typeof serverInput>, address: string) {
  const { password, accessToken, user, ...settings } = server;
  return { settings: { ...settings, user: user ?? address }, secret: { ...(password ? { password } : {}), ...(accessToken ? { accessToken } : {}) } };
}

/**
 * The OAuth client as given, with the grant kept while provider, client and tenant stay the same
 * (a new client secret for the same app keeps working with the same refresh token).
 */
function prepareOAuth(input: z.infer<typeof oauthInput>, address: string, previous: ReturnType<typeof readOAuth>) {
  const clientSecret = input.clientSecret ?? previous?.secrets.clientSecret;
  if (!clientSecret) throw new ValidationError([{ path: 'oauth.clientSecret', message: 'is required with a new OAuth client' }]);
  const same =
    previous && previous.settings.provider === input.provider && previous.settings.clientId === input.clientId && previous.settings.tenant === input.tenant;
  const { authorizedAt, revokedAt, revokedReason } = same ? previous.settings : {};
  const refreshToken = same ? previous.secrets.refreshToken : undefined;
  return {
    settings: {
      provider: input.provider,
      clientId: input.clientId,
      ...(input.tenant ? { tenant: input.tenant } : {}),
      scope: providerDefaults[input.provider].scope,
      loginHint: address,
      ...(authorizedAt ? { authorizedAt } : {}),
      ...(revokedAt ? { revokedAt } : {}),
      ...(revokedReason ? { revokedReason } : {}),
    },
    secrets: { clientSecret, ...(refreshToken ? { refreshToken } : {}) },
  };
}

export function sourceSpec(verify: NonNullable<SourceKindSpec['verify']>): SourceKindSpec<EmailSourceInput> {
  return {
    createSchema,
    // A partial update still replaces a whole connection (host, port, credentials) at once.
    updateSchema: createSchema.partial(),
    prepare(input, previous) {
      const settings: Record<string, unknown> = { ...(previous?.settings ?? {}) };
      const secrets: Record<string, unknown> = { ...(previous?.secrets ?? {}) };
      const address = input.address ?? String(settings.address ?? '');
      if (input.oauth === null) {
        delete settings.oauth;
        delete secrets.oauth;
      } else if (input.oauth) {
        const prepared = prepareOAuth(input.oauth, address, previous ? readOAuth(previous) : null);
        settings.oauth = prepared.settings;
        secrets.oauth = prepared.secrets;
      }
      const provider = (settings.oauth as { provider?: OAuthProvider } | undefined)?.provider;
      const errors: FieldError[] = [];
      for (const which of ['imap', 'smtp'] as const) {
        const server = input[which];
        if (server) {
          if (provider && (server.password || server.accessToken)) {
            errors.push({ path: `${which}.password`, message: 'a mailbox that signs in with oauth takes no password or accessToken' });
          }
          if (!provider && Boolean(server.password) === Boolean(server.accessToken)) errors.push({ path: `${which}.password`, message: 'give either password or accessToken' });
          const { settings: s, secret } = split(server, address);
          settings[which] = s;
          secrets[which] = provider ? {} : secret;
        } else if (!settings[which] && provider) {
          settings[which] = { ...providerDefaults[provider][which], user: address };
          secrets[which] = {};
        } else if (!settings[which]) {
          errors.push({ path: which, message: 'is required (or sign in with oauth)' });
        } else if (provider && input.oauth) {
          // Passwords go when the mailbox moves to OAuth.
          secrets[which] = {};
        } else if (!provider && input.oauth === null) {
          errors.push({ path: `${which}.password`, message: 'give the password (or accessToken) the mailbox signs in with instead of oauth' });
        }
      }
      if (errors.length > 0) throw new ValidationError(errors);
      for (const key of ['address', 'mailbox', 'appendToSent', 'rejectUnauthorized'] as const) {
        if (input[key] !== undefined) settings[key] = input[key];
      }
      return { settings: storedSettings.parse(settings), secrets: storedSecrets.parse(secrets) };
    },
    verify,
    present(source: SourceRecord, publicUrl: string) {
      const settings = storedSettings.parse(source.settings);
      const secrets = storedSecrets.parse(source.secrets);
      const oauth = settings.oauth;
      return {
        address: settings.address,
        imap: settings.imap,
        smtp: settings.smtp,
        mailbox: settings.mailbox,
        appendToSent: settings.appendToSent,
        rejectUnauthorized: settings.rejectUnauthorized,
        // The client id and the grant's state; never the client secret nor a token.
        ...(oauth
          ? {
              oauth: {
                provider: oauth.provider,
                clientId: oauth.clientId,
                ...(oauth.tenant ? { tenant: oauth.tenant } : {}),
                scope: oauth.scope,
                redirectUrl: `${publicUrl}${oauthCallbackPath}`,
                state: oauthState(settings, secrets),
                ...(oauth.authorizedAt ? { authorizedAt: oauth.authorizedAt } : {}),
                ...(oauth.revokedAt ? { revokedAt: oauth.revokedAt, revokedReason: oauth.revokedReason } : {}),
              },
            }
          : {}),
      };
    },
  };
}
