import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { apiRequest, createWebform, type Stack, startStack } from '../support/stack.js';

const rateLimited = 'https://leadgate.dev/problems/rate-limited';

async function expectLimited(response: { status: number; headers: Headers; body: unknown }) {
  expect(response.status).toBe(429);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
  expect((response.body as { type: string }).type).toBe(rateLimited);
}

async function get(baseUrl: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}/api/v1/leads`, { headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
}

describe('API throttling in one process', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { LEADGATE_API_RATE_PER_KEY: '5', LEADGATE_API_RATE_PER_ADDRESS: '9' } });
  });
  afterAll(async () => stack?.close());

  it('answers 429 with Retry-After past a key\'s budget and past an address\'s, and leaves the form hooks alone', async () => {
    const form = await createWebform(stack, {});
    const second = await stack.api<{ key: string }>('POST', '/api/v1/api-keys', { name: 'second' });
    expect(second.status).toBe(201);
    // The workspace key: 2 requests made above, 3 more within its 5 a minute.
    for (let i = 0; i < 3; i++) expect((await stack.api('GET', '/api/v1/leads')).status).toBe(200);
    await expectLimited(await stack.api('GET', '/api/v1/leads'));
    // Another key has its own budget, within the address's 9 (6 made).
    for (let i = 0; i < 3; i++) expect((await apiRequest(stack.baseUrl, second.body.key, 'GET', '/api/v1/leads')).status).toBe(200);
    // The address has spent its 9: even without a key, or signing in, it waits.
    await expectLimited(await get(stack.baseUrl));
    await expectLimited(await apiRequest(stack.baseUrl, second.body.key, 'GET', '/api/v1/leads'));

    // Form posts keep their own rules: a token's per-form limit, and none for signed posts.
    const token = await fetch(`${stack.baseUrl}/hooks/forms/${form.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
      body: JSON.stringify({ name: 'Ana', email: 'ana@throttle.example' }),
    });
    expect(token.status).toBe(202);
    for (let i = 0; i < 12; i++) {
      const body = JSON.stringify({ name: `Pessoa ${i}`, email: `p${i}@throttle.example` });
      const signed = await fetch(`${stack.baseUrl}/hooks/forms/${form.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-leadgate-signature': `sha256=${createHmac('sha256', form.secret).update(body).digest('hex')}` },
        body,
      });
      expect(signed.status).toBe(202);
    }
  });
});

describe('API throttling shared through Redis', () => {
  let stack: Stack;
  let other: Gateway;
  let otherUrl: string;

  beforeAll(async () => {
    stack = await startStack({ db: 'postgres', queue: 'bull', env: { LEADGATE_API_RATE_PER_KEY: '6', LEADGATE_API_RATE_PER_ADDRESS: '0' } });
    // A second API process on the same database and Redis.
    other = await Gateway.create(loadConfig(stack.env), { logger: pino({ level: 'silent' }), queuePrefix: stack.queuePrefix });
    otherUrl = `http://127.0.0.1:${await other.listen(0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    await other?.close();
    await stack?.close();
  });

  it('counts a key\'s requests to every process together', async () => {
    const auth = { authorization: `Bearer ${stack.apiKey}` };
    for (let i = 0; i < 6; i++) expect((await get(i % 2 ? otherUrl : stack.baseUrl, auth)).status, `request ${i}`).toBe(200);
    await expectLimited(await get(stack.baseUrl, auth));
    await expectLimited(await get(otherUrl, auth));
  });
});
