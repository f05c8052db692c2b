import fc from 'fast-check';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/security/tokens.js';
import { FakeWhatsApp } from '../support/fake-whatsapp.js';
import { bodyOf, type Hints, type OpenApiDocument, type Operation, operations, pathValueOf, queryOf } from '../support/openapi.js';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

/** Requests per operation: with the workspace's key, and without any credential. */
const runsWithKey = 9;
const runsAnonymous = 2;
const seed = 20_261_203;

interface Sent {
  method: string;
  url: string;
  contentType?: string;
  body?: string;
}

interface Answer {
  status: number;
  contentType: string;
  type?: unknown;
}

/**
 * Every operation of /openapi.json, called with requests generated from its own schemas and
 * then spoiled (NUL characters, half surrogate pairs, deep nesting, huge numbers, wrong types,
 * prototype keys, unknown ids), by a caller with the workspace's key and by one with no
 * credential. Whatever the request, the gateway answers with a 4xx problem or does what was
 * asked, and stays up: never a 5xx.
 */
describe('every operation of the OpenAPI document, fuzzed', () => {
  let stack: Stack;
  let form: WebformSource;
  let document: OpenApiDocument;
  const ids: Record<string, string[]> = {};
  const hints: Hints = { ids: [], words: ['webform', 'email', 'whatsapp', 'twilio', 'sms', 'voice', 'open', 'customer', 'owner', 'rep', 'manager', 'me', 'none'] };

  beforeAll(async () => {
    // Only the gateway on loopback: a generated webhook or Twilio call never leaves the machine.
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db: 'pglite', queue: 'embedded', adapterOptions: { whatsapp: { driver: new FakeWhatsApp() } } });
    form = await createWebform(stack, { rateLimitPerMinute: 100_000 });
    await postForm(stack, form, { name: 'Ana Fuzz', email: 'ana@fuzz.example', telefone: '(11) 98765-4321', mensagem: 'Quero um orçamento' });
    await postForm(stack, form, { name: 'Bia Fuzz', email: 'bia@fuzz.example' });
    await stack.api('POST', '/api/v1/users', { name: 'Rui Rep', email: 'rui@acme.test', role: 'rep', password: 'rui long password' });
    await stack.api('POST', '/api/v1/products', { name: 'Solar' });
    await stack.api('POST', '/api/v1/segments', { name: 'Residencial' });
    await stack.api('POST', '/api/v1/api-keys', { name: 'spare' });
    const leads = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; contactId: string }[] }>('GET', '/api/v1/leads?q=fuzz.example');
      expect(body.data).toHaveLength(2);
      return body.data;
    });
    document = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as OpenApiDocument;

    // Ids that exist, by the collection that names them in a path (`/leads/{id}` → leads).
    const prisma = stack.gateway.deps.db.prisma;
    const ownKey = await prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(stack.apiKey) } });
    const owner = await prisma.user.findFirstOrThrow({ where: { email: 'owner@acme.test' } });
    const keep = new Set([ownKey.id, owner.id]);
    for (const op of operations(document)) {
      const match = /^\/api\/v1\/([\w-]+)$/.exec(op.path);
      if (op.method !== 'GET' || !match) continue;
      const response = await fetch(`${stack.baseUrl}${op.path}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      if (!response.headers.get('content-type')?.startsWith('application/json')) {
        await response.body?.cancel();
        continue;
      }
      const body = (await response.json()) as { data?: { id?: string; slug?: string }[] } | { id?: string; slug?: string }[];
      const rows = Array.isArray(body) ? body : body?.data;
      if (Array.isArray(rows)) ids[match[1]!] = rows.map((row) => row.id ?? row.slug).filter((id): id is string => typeof id === 'string' && !keep.has(id));
    }
    ids.leads = leads.map((lead) => lead.id);
    ids.conversations = ids.leads;
    ids.contacts = leads.map((lead) => lead.contactId);
    const messages = await prisma.message.findMany({ select: { id: true } });
    ids.messages = messages.map((message) => message.id);
    ids.forms = [form.id];
    hints.ids = [...new Set(Object.values(ids).flat())];
  });
  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  const send = async (request: Sent, headers: Record<string, string>): Promise<Answer> => {
    const response = await fetch(`${stack.baseUrl}${request.url}`, {
      method: request.method,
      redirect: 'manual',
      headers: { ...headers, ...(request.contentType ? { 'content-type': request.contentType } : {}) },
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const contentType = response.headers.get('content-type') ?? '';
    if (contentType.startsWith('text/event-stream')) {
      await response.body?.cancel();
      return { status: response.status, contentType };
    }
    const text = await response.text();
    let type: unknown;
    if (contentType.startsWith('application/problem+json')) type = (JSON.parse(text) as { type?: unknown }).type;
    return { status: response.status, contentType, type };
  };

  /** The requests of one operation: its path with ids that exist or do not, its query, its body. */
  const requestsFor = (op: Operation): fc.Arbitrary<Sent> => {
    const segments = op.path.split('/');
    const pathParts = segments.map((segment, index) => {
      if (!/^\{\w+\}$/.test(segment)) return fc.constant(segment);
      // `/leads/{id}/sequences/{sequenceId}`: ids of the collection the segment before names.
      const collection = segment === '{sourceId}' && op.path.startsWith('/hooks/forms') ? 'forms' : segment === '{sequenceId}' ? 'sequences' : segments[index - 1]!;
      return pathValueOf(ids[collection] ?? []);
    });
    const body = op.jsonBody || op.formBody ? bodyOf(op.jsonBody, hints) : fc.constant(undefined);
    return fc.tuple(fc.tuple(...pathParts), queryOf(op.parameters, hints), body).map(([parts, query, raw]) => ({
      method: op.method,
      url: parts.join('/') + query,
      ...(raw ? { contentType: raw.contentType, body: raw.text } : {}),
    }));
  };

  it('answers every generated request with a problem or a success, never a 5xx, and stays up', { timeout: 300_000 }, async () => {
    const all = operations(document);
    expect(all.length).toBeGreaterThan(100);
    // What removes things last, so that what the others are called with still exists for most of the run.
    const ordered = [...all.filter((op) => op.method !== 'DELETE'), ...all.filter((op) => op.method === 'DELETE')];
    const failures: string[] = [];
    let sent = 0;
    for (const op of ordered) {
      for (const [who, headers, numRuns] of [
        ['key', { authorization: `Bearer ${stack.apiKey}`, 'x-leadgate-token': form.secret }, runsWithKey],
        ['anonymous', {}, runsAnonymous],
      ] as const) {
        const result = await fc.check(
          fc.asyncProperty(requestsFor(op), async (request) => {
            const answer = await send(request, headers);
            sent++;
            if (answer.status >= 500) throw new Error(`answered ${answer.status} ${String(answer.type)}`);
            if (answer.status >= 400 && (!answer.contentType.startsWith('application/problem+json') || typeof answer.type !== 'string')) {
              throw new Error(`answered ${answer.status} as ${answer.contentType}`);
            }
          }),
          { seed: seed + sent, numRuns, endOnFailure: true },
        );
        if (result.failed) {
          const example = result.counterexample?.[0] as Sent | undefined;
          failures.push(`${who} ${op.method} ${op.path}: ${example?.method} ${example?.url.slice(0, 300)} ${example?.contentType ?? ''} ${example?.body?.slice(0, 300) ?? ''} (${String(result.errorInstance)})`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(all.length * (runsWithKey + runsAnonymous) * 0.9);
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
    expect((await stack.api('GET', '/api/v1/workspace')).status).toBe(200);
  });
});
