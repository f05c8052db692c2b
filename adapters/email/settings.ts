import { z } from 'zod';
import type { SourceKindSpec, SourceRecord } from '../../src/channels/contract.js';

const host = z.string().trim().min(1).max(255);
const port = z.number().int().min(1).max(65535);

/** One connection as the API takes it: a password, or an OAuth2 access token. */
const serverInput = z
  .object({
    host,
    port,
    secure: z.boolean().describe('true for implicit TLS (IMAPS 993, SMTPS 465); false upgrades with STARTTLS when offered'),
    user: z.string().min(1).max(320),
    password: z.string().min(1).max(2000).optional(),
    accessToken: z.string().min(1).max(10_000).optional(),
  })
  .strict()
  .refine((server) => Boolean(server.password) !== Boolean(server.accessToken), { message: 'give either password or accessToken', path: ['password'] });

const createSchema = z
  .object({
    address: z.email().transform((address) => address.toLowerCase()),
    imap: serverInput,
    smtp: serverInput,
    mailbox: z.string().min(1).max(200).optional().describe('The folder watched for new mail (default INBOX)'),
    appendToSent: z.boolean().optional().describe('Also store sent replies in the mailbox\'s Sent folder'),
    rejectUnauthorized: z.boolean().optional().describe('false accepts self-signed server certificates'),
  })
  .strict();
export type EmailSourceInput = z.infer<typeof createSchema>;

const serverSettings = z.object({ host: z.string(), port: z.number(), secure: z.boolean(), user: z.string() });
const serverSecret = z.object({ password: z.string().optional(), accessToken: z.string().optional() });

export const storedSettings = z.object({
  address: z.string(),
  imap: serverSettings,
  smtp: serverSettings,
  mailbox: z.string().default('INBOX'),
  appendToSent: z.boolean().default(false),
  rejectUnauthorized: z.boolean().default(true),
});
export const storedSecrets = z.object({ imap: serverSecret, smtp: serverSecret });
export type EmailSettings = z.infer<typeof storedSettings>;
export type EmailSecrets = z.infer<typeof storedSecrets>;

export interface ServerAccess {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password?: string;
  accessToken?: string;
  rejectUnauthorized: boolean;
}

export function serverAccess(settings: EmailSettings, secrets: EmailSecrets, which: 'imap' | 'smtp'): ServerAccess {
  return { ...settings[which], ...secrets[which], rejectUnauthorized: settings.rejectUnauthorized };
}

function split(server: z.infer<typeof serverInput>) {
  const { password, accessToken, ...settings } = server;
  return { settings, secret: { ...(password ? { password } : {}), ...(accessToken ? { accessToken } : {}) } };
}

export function sourceSpec(verify: NonNullable<SourceKindSpec['verify']>): SourceKindSpec<EmailSourceInput> {
  return {
    createSchema,
    // A partial update still replaces a whole connection (host, port, credentials) at once.
    updateSchema: createSchema.partial(),
    prepare(input, previous) {
      const settings: Record<string, unknown> = { ...(previous?.settings ?? {}) };
      const secrets: Record<string, unknown> = { ...(previous?.secrets ?? {}) };
      for (const which of ['imap', 'smtp'] as const) {
        const server = input[which];
        if (!server) continue;
        const { settings: s, secret } = split(server);
        settings[which] = s;
        secrets[which] = secret;
      }
      for (const key of ['address', 'mailbox', 'appendToSent', 'rejectUnauthorized'] as const) {
        if (input[key] !== undefined) settings[key] = input[key];
      }
      return { settings: storedSettings.parse(settings), secrets: storedSecrets.parse(secrets) };
    },
    verify,
    present(source: SourceRecord) {
      const settings = storedSettings.parse(source.settings);
      return {
        address: settings.address,
        imap: settings.imap,
        smtp: settings.smtp,
        mailbox: settings.mailbox,
        appendToSent: settings.appendToSent,
        rejectUnauthorized: settings.rejectUnauthorized,
      };
    },
  };
}
