import path from 'node:path';
import { z } from 'zod';
import { defaultOAuthEndpoints, type OAuthEndpoints, type OAuthProvider } from './channels/oauth-endpoints.js';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: optionalString.pipe(z.url().optional()),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  LEADGATE_DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  LEADGATE_SECRET_KEY: optionalString,
  /** Redis key prefix of the Bull queues: gateways sharing one Redis keep apart by it. */
  LEADGATE_QUEUE_PREFIX: z.string().regex(/^[\w.-]{1,50}$/).default('leadgate'),
  LEADGATE_WEBHOOKS_ALLOW_PRIVATE: booleanFromEnv.default(false),
  /** Mailbox servers (and webhooks) may be private, loopback or reserved addresses: an on-premises mail server, tests. */
  LEADGATE_OUTBOUND_ALLOW_PRIVATE: booleanFromEnv.default(false),
  SMTP_URL: optionalString.pipe(
    z
      .string()
      .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
      .optional(),
  ),
  SMTP_FROM: optionalString,
  LEADGATE_ADMIN_EMAIL: optionalString.pipe(z.email().optional()),
  LEADGATE_ADMIN_PASSWORD: optionalString.pipe(z.string().min(8, 'must have at least 8 characters').optional()),
  LEADGATE_API_KEY: optionalString.pipe(z.string().min(24, 'must have at least 24 characters').optional()),
  LEADGATE_DEFAULT_COUNTRY: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166 alpha-2 country code')
    .transform((code) => code.toUpperCase())
    .default('BR'),
  /** `false` runs the HTTP side only: inbound events wait for a worker process. */
  LEADGATE_WORKERS: booleanFromEnv.default(true),
  LEADGATE_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  LEADGATE_SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(30).default(8),
  LEADGATE_RETRY_BASE_MS: z.coerce.number().int().min(1).default(5_000),
  LEADGATE_RETRY_MAX_MS: z.coerce.number().int().min(1).default(15 * 60_000),
  /** Messages a minute per connection, for every channel (default: WhatsApp 20, SMS 60, email 120). */
  LEADGATE_SEND_RATE_PER_MINUTE: z.coerce.number().positive().optional(),
  /**
   * How long a worker may go without renewing its hold on the messages it is sending (it renews
   * every third of this) before it is presumed dead.
   */
  LEADGATE_SEND_LEASE_MS: z.coerce.number().int().min(500).default(120_000),
  /** Messages one dispatcher round claims and sends at once. */
  LEADGATE_SEND_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  LEADGATE_SEND_OWNER_WAIT_MS: z.coerce.number().int().min(500).default(15 * 60_000),
  LEADGATE_WHATSAPP_ACK_TIMEOUT_MS: z.coerce.number().int().min(100).default(2 * 60_000),
  /** First retry of a failed webhook delivery after about this long, then doubling. */
  LEADGATE_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).default(10_000),
  LEADGATE_SWEEP_INTERVAL_MS: z.coerce.number().int().min(50).default(5_000),
  /** How long stopping may take before the process exits anyway: below orchestrators' kill grace (often 30 s). */
  LEADGATE_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(20_000),
  /** After a web form's secret is rotated, the old one still works this long, while sites are updated. */
  LEADGATE_FORM_SECRET_GRACE_HOURS: z.coerce.number().min(0).max(24 * 90).default(24),
  /** API requests a minute per credential (an API key, a session); 0 turns the limit off. */
  LEADGATE_API_RATE_PER_KEY: z.coerce.number().int().min(0).default(600),
  /** API requests a minute per client address, signed in or not; 0 turns the limit off. */
  LEADGATE_API_RATE_PER_ADDRESS: z.coerce.number().int().min(0).default(1_200),
  /** A process that stops renewing its hold on a mailbox loses it to another after this long. */
  LEADGATE_CONNECTION_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  /**
   * The WhatsApp Web version the gateway presents when linking (it cannot be fetched at start):
   * WhatsApp refuses versions it has retired, so a linking failure after an update is fixed here.
   */
  LEADGATE_WHATSAPP_WEB_VERSION: optionalString.pipe(
    z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, 'must be a version such as 2.3000.1023456789')
      .optional(),
  ),
  LEADGATE_MAX_UPLOAD_BYTES: z.coerce.number().int().min(1).default(10 * 1024 * 1024),
  /**
   * Meta's Graph API, without a version (each call adds its own): a proxy, or a fake in tests,
   * can stand in for it. A configured address, so loopback is allowed.
   */
  LEADGATE_META_GRAPH_URL: z.url({ protocol: /^https?$/ }).default('https://graph.facebook.com'),
  LEADGATE_META_GRAPH_VERSION: z
    .string()
    .regex(/^v\d+\.\d+$/, 'must be a Graph API version such as v21.0')
    .default('v21.0'),
  /** The metrics listener's port (Prometheus text at /metrics); unset: no metrics are served. */
  LEADGATE_METRICS_PORT: optionalString.transform((value) => (value === undefined ? undefined : Number(value))).pipe(z.number().int().min(0).max(65535).optional()),
  /** Where the metrics listener listens: loopback unless a scraper elsewhere must reach it. */
  LEADGATE_METRICS_HOST: z.string().default('127.0.0.1'),
  /** Required as a Bearer token on /metrics when set; must be set when the listener is not on loopback. */
  LEADGATE_METRICS_TOKEN: optionalString.pipe(z.string().min(16, 'must have at least 16 characters').optional()),
  /** Express's "trust proxy": set it when a reverse proxy adds X-Forwarded-For (e.g. `1` or `loopback`). */
  LEADGATE_TRUST_PROXY: z.string().default('false'),
  /** OAuth endpoints of the mail providers (defaults: Google's and Microsoft's own); `{tenant}` stands for a source's tenant. */
  LEADGATE_OAUTH_GOOGLE_AUTHORIZE_URL: optionalString.pipe(z.url().optional()),
  LEADGATE_OAUTH_GOOGLE_TOKEN_URL: optionalString.pipe(z.url().optional()),
  LEADGATE_OAUTH_MICROSOFT_AUTHORIZE_URL: optionalString.pipe(z.url().optional()),
  LEADGATE_OAUTH_MICROSOFT_TOKEN_URL: optionalString.pipe(z.url().optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** PUBLIC_URL was set: providers (Twilio fetching MMS media) can reach the gateway from outside. */
  publicUrlConfigured: boolean;
  database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string };
  dataDir: string;
  redisUrl: string | undefined;
  queuePrefix: string;
  secretKey: string | undefined;
  webhooksAllowPrivate: boolean;
  outboundAllowPrivate: boolean;
  smtp: { url: string; from: string } | undefined;
  bootstrap: {
    adminEmail: string | undefined;
    adminPassword: string | undefined;
    apiKey: string | undefined;
    defaultCountry: string;
  };
  workers: { enabled: boolean; concurrency: number };
  retry: { maxAttempts: number; baseMs: number; maxMs: number };
  sweepIntervalMs: number;
  shutdownTimeoutMs: number;
  formSecretGraceMs: number;
  /** Requests a minute to /api/v1 per credential and per address (0: no limit). */
  apiRate: { perKey: number; perAddress: number };
  webhookRetryBaseMs: number;
  sendLeaseMs: number;
  sendBatchSize: number;
  /** A send waits this long for a process to hold its connection (a WhatsApp number) before it fails. */
  sendOwnerWaitMs: number;
  /** A WhatsApp send the server has not acknowledged after this long is marked failed. */
  whatsappAckTimeoutMs: number;
  sendRatePerMinute: number | undefined;
  maxUploadBytes: number;
  connectionLeaseMs: number;
  /** Meta's Graph API: base URL without a version, and the version every call uses. */
  metaGraph: { url: string; version: string };
  /** Unset: the version the bundled WhatsApp library was released with. */
  whatsappWebVersion: [number, number, number] | undefined;
  trustProxy: boolean | number | string;
  /** Authorization and token endpoints of each OAuth provider mailboxes sign in with. */
  oauth: Record<OAuthProvider, OAuthEndpoints>;
  /** The metrics listener: on `port` when set (else none unless a test opens one), at `host`, behind `token` when set. */
  metrics: { port: number | undefined; host: string; token: string | undefined };
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
  }
}

/** The only place that reads the environment. Throws ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  if (e.SMTP_URL && !e.SMTP_FROM) {
    throw new ConfigError(['SMTP_FROM: required when SMTP_URL is set (the From address of auto-replies)']);
  }
  if (e.LEADGATE_METRICS_PORT !== undefined && !e.LEADGATE_METRICS_TOKEN && !isLoopback(e.LEADGATE_METRICS_HOST)) {
    throw new ConfigError([`LEADGATE_METRICS_TOKEN: required when the metrics listen beyond loopback (LEADGATE_METRICS_HOST=${e.LEADGATE_METRICS_HOST})`]);
  }
  const dataDir = path.resolve(e.LEADGATE_DATA_DIR);
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    publicUrlConfigured: e.PUBLIC_URL !== undefined,
    database: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', dataDir: path.join(dataDir, 'db') },
    dataDir,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.LEADGATE_QUEUE_PREFIX,
    secretKey: e.LEADGATE_SECRET_KEY,
    webhooksAllowPrivate: e.LEADGATE_WEBHOOKS_ALLOW_PRIVATE || e.LEADGATE_OUTBOUND_ALLOW_PRIVATE,
    outboundAllowPrivate: e.LEADGATE_OUTBOUND_ALLOW_PRIVATE,
    smtp: e.SMTP_URL && e.SMTP_FROM ? { url: e.SMTP_URL, from: e.SMTP_FROM } : undefined,
    bootstrap: {
      adminEmail: e.LEADGATE_ADMIN_EMAIL,
      adminPassword: e.LEADGATE_ADMIN_PASSWORD,
      apiKey: e.LEADGATE_API_KEY,
      defaultCountry: e.LEADGATE_DEFAULT_COUNTRY,
    },
    workers: { enabled: e.LEADGATE_WORKERS, concurrency: e.LEADGATE_WORKER_CONCURRENCY },
    retry: { maxAttempts: e.LEADGATE_SEND_MAX_ATTEMPTS, baseMs: e.LEADGATE_RETRY_BASE_MS, maxMs: e.LEADGATE_RETRY_MAX_MS },
    sweepIntervalMs: e.LEADGATE_SWEEP_INTERVAL_MS,
    shutdownTimeoutMs: e.LEADGATE_SHUTDOWN_TIMEOUT_MS,
    formSecretGraceMs: Math.round(e.LEADGATE_FORM_SECRET_GRACE_HOURS * 3600_000),
    apiRate: { perKey: e.LEADGATE_API_RATE_PER_KEY, perAddress: e.LEADGATE_API_RATE_PER_ADDRESS },
    webhookRetryBaseMs: e.LEADGATE_WEBHOOK_RETRY_BASE_MS,
    sendLeaseMs: e.LEADGATE_SEND_LEASE_MS,
    sendBatchSize: e.LEADGATE_SEND_BATCH_SIZE,
    sendOwnerWaitMs: e.LEADGATE_SEND_OWNER_WAIT_MS,
    whatsappAckTimeoutMs: e.LEADGATE_WHATSAPP_ACK_TIMEOUT_MS,
    sendRatePerMinute: e.LEADGATE_SEND_RATE_PER_MINUTE,
    maxUploadBytes: e.LEADGATE_MAX_UPLOAD_BYTES,
    connectionLeaseMs: e.LEADGATE_CONNECTION_LEASE_MS,
    metaGraph: { url: e.LEADGATE_META_GRAPH_URL.replace(/\/+$/, ''), version: e.LEADGATE_META_GRAPH_VERSION },
    whatsappWebVersion: e.LEADGATE_WHATSAPP_WEB_VERSION ? (e.LEADGATE_WHATSAPP_WEB_VERSION.split('.').map(Number) as [number, number, number]) : undefined,
    trustProxy: parseTrustProxy(e.LEADGATE_TRUST_PROXY),
    oauth: {
      google: {
        authorizeUrl: e.LEADGATE_OAUTH_GOOGLE_AUTHORIZE_URL ?? defaultOAuthEndpoints.google.authorizeUrl,
        tokenUrl: e.LEADGATE_OAUTH_GOOGLE_TOKEN_URL ?? defaultOAuthEndpoints.google.tokenUrl,
      },
      microsoft: {
        authorizeUrl: e.LEADGATE_OAUTH_MICROSOFT_AUTHORIZE_URL ?? defaultOAuthEndpoints.microsoft.authorizeUrl,
        tokenUrl: e.LEADGATE_OAUTH_MICROSOFT_TOKEN_URL ?? defaultOAuthEndpoints.microsoft.tokenUrl,
      },
    },
    metrics: { port: e.LEADGATE_METRICS_PORT, host: e.LEADGATE_METRICS_HOST, token: e.LEADGATE_METRICS_TOKEN },
    logLevel: e.LOG_LEVEL,
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true' || value === 'false') return value === 'true';
  return /^\d+$/.test(value) ? Number(value) : value;
}
