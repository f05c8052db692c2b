import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import { createTestDatabase, redisUrl, type TestDatabase } from './services.js';

export type DbKind = 'pglite' | 'postgres';
export type QueueKind = 'embedded' | 'bull';

export interface StackOptions {
  db: DbKind;
  queue: QueueKind;
  smtp?: { url: string; from: string };
  env?: Record<string, string>;
  /**
   * Leave the business profile unconfirmed, so the inbox asks its owner for it at sign-in. By
   * default the profile is confirmed at start: most browser tests are about other pages.
   */
  askBusinessProfile?: boolean;
  /** Options of the built-in adapters, e.g. a WhatsApp double (test/support/fake-whatsapp.ts). */
  adapterOptions?: GatewayOptions['adapterOptions'];
}

export interface Stack {
  baseUrl: string;
  apiKey: string;
  gateway: Gateway;
  dataDir: string;
  /** The environment the gateway was configured from. */
  env: Record<string, string>;
  /** Bull's key prefix: another gateway with the same one shares the queues. */
  queuePrefix: string;
  /** Stops the gateway, runs `meanwhile` while it is down, and starts a new one on the same data. */
  restart(meanwhile?: () => Promise<void>): Promise<void>;
  /** JSON request to the API with the workspace's key. */
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }>;
  close(): Promise<void>;
}

/** Every combination the gateway supports in production, for tests that must hold on all of them. */
export const allBackends: { db: DbKind; queue: QueueKind }[] = [
  { db: 'pglite', queue: 'embedded' },
  { db: 'postgres', queue: 'bull' },
  { db: 'pglite', queue: 'bull' },
  { db: 'postgres', queue: 'embedded' },
];

/** The two ends: embedded defaults, and the production servers. */
export const mainBackends = allBackends.slice(0, 2);

/**
 * For tests whose subject does not depend on the database or the queue: the embedded defaults,
 * which most installations run. The capture flow, crash recovery, sending and the migrations run
 * on every backend (see README, Tests). `TEST_ALL_BACKENDS=1` runs these on both ends as well.
 */
export const defaultBackends: { db: DbKind; queue: QueueKind }[] = process.env.TEST_ALL_BACKENDS ? mainBackends : allBackends.slice(0, 1);

/**
 * Gives an embedded database that does not exist yet a copy of the migrated template made in
 * test/support/global-setup.ts: what a gateway would have after its first start, without the
 * seconds PGlite's initdb takes. The gateway still checks and applies migrations when it opens it.
 */
export function seedEmbeddedDatabase(env: Record<string, string>): void {
  // Outside vitest (a benchmark) there is no template: the gateway runs initdb as a new install does.
  if (!process.env.VITEST) return;
  const { database } = loadConfig(env);
  if (database.kind !== 'pglite' || database.dataDir.startsWith('memory://') || fs.existsSync(database.dataDir)) return;
  fs.cpSync(inject('pgliteTemplate'), database.dataDir, { recursive: true });
}

export function stackEnv(options: StackOptions, dataDir: string, database?: TestDatabase): Record<string, string> {
  return {
    LEADGATE_DATA_DIR: dataDir,
    LEADGATE_API_KEY: `lg_test_${randomBytes(16).toString('hex')}`,
    LEADGATE_ADMIN_EMAIL: 'owner@acme.test',
    LEADGATE_ADMIN_PASSWORD: 'correct horse battery',
    LEADGATE_RETRY_BASE_MS: '50',
    LEADGATE_RETRY_MAX_MS: '400',
    // The sweeper only finds work whose queue job was lost (a killed process, say). Each sweep
    // is a few queries: every 200 ms an idle gateway on PGlite spent a quarter of a core on it.
    LEADGATE_SWEEP_INTERVAL_MS: '1000',
    LOG_LEVEL: 'silent',
    // Every test client is 127.0.0.1 with one key: the API's throttle is tested on its own (api-throttle.test.ts).
    LEADGATE_API_RATE_PER_KEY: '0',
    LEADGATE_API_RATE_PER_ADDRESS: '0',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...(options.queue === 'bull' ? { REDIS_URL: redisUrl } : {}),
    ...(options.smtp ? { SMTP_URL: options.smtp.url, SMTP_FROM: options.smtp.from } : {}),
    ...options.env,
  };
}

/** A whole gateway in this process: real database, real queue, HTTP on a free loopback port. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-test-'));
  const database = options.db === 'postgres' ? await createTestDatabase() : undefined;
  const env = stackEnv(options, dataDir, database);
  seedEmbeddedDatabase(env);
  const config = loadConfig(env);
  const queuePrefix = `lgtest-${randomBytes(4).toString('hex')}`;
  const boot = async (port: number) => {
    const gateway = await Gateway.create(config, {
      logger: pino({ level: process.env.TEST_LOG ?? 'silent' }),
      queuePrefix,
      ...(options.adapterOptions ? { adapterOptions: options.adapterOptions } : {}),
    });
    await gateway.startWorkers();
    return { gateway, port: await gateway.listen(port, '127.0.0.1') };
  };
  const first = await boot(0);
  const baseUrl = `http://127.0.0.1:${first.port}`;
  const apiKey = env.LEADGATE_API_KEY!;
  const stack: Stack = {
    baseUrl,
    apiKey,
    gateway: first.gateway,
    dataDir,
    env,
    queuePrefix,
    api: (method, urlPath, body) => apiRequest(baseUrl, apiKey, method, urlPath, body),
    restart: async (meanwhile) => {
      await stack.gateway.close();
      await meanwhile?.();
      stack.gateway = (await boot(first.port)).gateway;
    },
    close: async () => {
      await stack.gateway.close();
      await database?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (!options.askBusinessProfile) {
    // Straight in the database: setting up must not spend the API budget a test may be measuring.
    await stack.gateway.deps.db.prisma.workspace.updateMany({ data: { profileConfirmedAt: new Date() } });
  }
  return stack;
}

export async function apiRequest<T>(baseUrl: string, apiKey: string, method: string, urlPath: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
}

/**
 * Lets the gateway act on everything that is due now: one round of each background poller
 * (sequence steps, webhook deliveries, follow-up timers, score decay), then the queues drained.
 * What has not happened when this resolves was not going to happen now; checks that something
 * never happens wait for this rather than for a fixed time.
 */
export async function settle(stack: Stack): Promise<void> {
  await stack.gateway.drain();
  await stack.gateway.runPollersOnce();
  await stack.gateway.drain();
}

/** Resolves once the clock has passed `at` (a moment something would have been due). */
export async function clockPast(at: Date | number): Promise<void> {
  const wait = new Date(at).getTime() - Date.now() + 1;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Polls until check stops throwing; fails with the last error after timeoutMs. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

export interface WebformSource {
  id: string;
  secret: string;
  webhookUrl: string;
}

export async function createWebform(stack: Stack, fields: Record<string, unknown> = {}): Promise<WebformSource> {
  const { status, body } = await stack.api<WebformSource & Record<string, unknown>>('POST', '/api/v1/sources', { kind: 'webform', name: 'Website', ...fields });
  if (status !== 201) throw new Error(`creating a web form answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

export async function postForm(
  stack: Stack,
  source: WebformSource,
  body: unknown,
  options: { headers?: Record<string, string>; token?: string | null } = {},
) {
  const token = options.token === undefined ? source.secret : options.token;
  // fetch sets the right content type (with the multipart boundary) for these by itself.
  const isForm = body instanceof URLSearchParams || body instanceof FormData;
  const response = await fetch(`${stack.baseUrl}/hooks/forms/${source.id}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...(isForm ? {} : { 'content-type': 'application/json' }), ...(token ? { 'x-leadgate-token': token } : {}), ...options.headers },
    body: typeof body === 'string' || isForm ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : null;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  return { status: response.status, headers: response.headers, text, json };
}
