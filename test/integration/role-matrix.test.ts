import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenApiDocument, type Operation, operations, valueOf } from '../support/openapi.js';
import { type SessionClient, signIn } from '../support/session.js';
import { createWebform, eventually, postForm, type Stack, startStack } from '../support/stack.js';

type Principal = 'anonymous' | 'bad key' | 'revoked key' | 'rep' | 'manager' | 'owner' | 'workspace key';
const principals: Principal[] = ['anonymous', 'bad key', 'revoked key', 'rep', 'manager', 'owner', 'workspace key'];

/** A body no operation accepts: a field none has, a NUL, a number where text goes. */
const invalidBody = JSON.stringify({ 'no such field': 'a\u0000b', name: 42, email: ['x'], kind: { nested: true } });

/**
 * Every operation of the API, as each kind of caller, generated from /openapi.json: who may call
 * an operation is what its `x-leadgate-roles` and `x-leadgate-credential` say, and these come from
 * the same declaration the route's guard reads. Without credentials (or with a bad or revoked
 * key) the answer is 401; with a role the operation is not for, 403, before the request's fields
 * are looked at; with an allowed role, neither.
 */
describe('the role × route matrix of the OpenAPI document', () => {
  let stack: Stack;
  let document: OpenApiDocument;
  let revokedKey: string;
  const sessions: Partial<Record<'rep' | 'manager' | 'owner', SessionClient>> = {};
  const passwords = { rep: 'rep long password', manager: 'manager long password', owner: 'correct horse battery' };
  const emails = { rep: 'rep@acme.test', manager: 'manager@acme.test', owner: 'owner@acme.test' };

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded' });
    for (const role of ['rep', 'manager'] as const) {
      expect((await stack.api('POST', '/api/v1/users', { name: role, email: emails[role], role, password: passwords[role] })).status).toBe(201);
    }
    for (const role of ['rep', 'manager', 'owner'] as const) sessions[role] = await signIn(stack.baseUrl, emails[role], passwords[role]);
    const made = await stack.api<{ id: string; key: string }>('POST', '/api/v1/api-keys', { name: 'to revoke' });
    revokedKey = made.body.key;
    expect((await stack.api('DELETE', `/api/v1/api-keys/${made.body.id}`)).status).toBe(204);
    document = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as OpenApiDocument;
  });
  afterAll(async () => stack?.close());

  const headersOf = (who: Principal, op: Operation): Record<string, string> => {
    switch (who) {
      case 'anonymous':
        return {};
      case 'bad key':
        return { authorization: 'Bearer lg_not_a_key_of_this_gateway_0000000000' };
      case 'revoked key':
        return { authorization: `Bearer ${revokedKey}` };
      case 'workspace key':
        return { authorization: `Bearer ${stack.apiKey}` };
      default: {
        const session = sessions[who]!;
        return { cookie: session.cookie, ...(op.method === 'GET' ? {} : { 'x-csrf-token': session.csrfToken }) };
      }
    }
  };

  /** What the document says the principal gets: 401, 403, or neither (`allowed`). */
  const expected = (who: Principal, op: Operation): 401 | 403 | 'allowed' => {
    if (op.credential === 'none') return 'allowed';
    if (who === 'anonymous' || who === 'bad key' || who === 'revoked key') return 401;
    if (who === 'workspace key') {
      if (op.credential === 'user' || op.credential === 'session') return 403;
      return op.roles!.includes('owner') ? 'allowed' : 403;
    }
    return op.roles!.includes(who) ? 'allowed' : 403;
  };

  it('declares the roles and the credential of every operation of the API', () => {
    const api = operations(document).filter((op) => op.path.startsWith('/api/v1/'));
    expect(api.length).toBeGreaterThan(100);
    for (const op of api) {
      expect(op.roles, `${op.method} ${op.path}`).toBeDefined();
      expect(op.roles!.every((role) => ['owner', 'manager', 'rep'].includes(role)), `${op.method} ${op.path}`).toBe(true);
      expect(['none', 'any', 'user', 'session'], `${op.method} ${op.path}`).toContain(op.credential);
    }
    // Setup is for owners and managers; API keys for owners only.
    const roles = (method: string, path: string) => api.find((op) => op.method === method && op.path === path)?.roles;
    expect(roles('POST', '/api/v1/templates')).toEqual(['owner', 'manager']);
    expect(roles('POST', '/api/v1/api-keys')).toEqual(['owner']);
    expect(roles('GET', '/api/v1/leads')).toEqual(['owner', 'manager', 'rep']);
  });

  it('answers each kind of caller as the document says, for every operation', { timeout: 300_000 }, async () => {
    const api = operations(document).filter((op) => op.path.startsWith('/api/v1/'));
    const wrong: string[] = [];
    let calls = 0;
    for (const op of api) {
      const url = op.path.replace(/\{\w+\}/g, 'zz_missing');
      const takesBody = op.method !== 'GET' && op.method !== 'DELETE';
      for (const who of principals) {
        const want = expected(who, op);
        const response = await fetch(`${stack.baseUrl}${url}`, {
          method: op.method,
          headers: { ...headersOf(who, op), ...(takesBody ? { 'content-type': 'application/json' } : {}) },
          ...(takesBody ? { body: invalidBody } : {}),
        });
        calls++;
        const contentType = response.headers.get('content-type') ?? '';
        const text = contentType.startsWith('text/event-stream') ? (await response.body?.cancel(), '') : await response.text();
        const type = contentType.startsWith('application/problem+json') ? (JSON.parse(text) as { type: string }).type : undefined;
        const got = `${response.status}${type ? ` ${type.replace('https://leadgate.dev/problems/', '')}` : ''}`;
        const ok =
          want === 401
            ? response.status === 401 && type === 'https://leadgate.dev/problems/unauthorized'
            : want === 403
              ? response.status === 403 && type === 'https://leadgate.dev/problems/forbidden'
              : response.status !== 401 && response.status !== 403 && response.status < 500;
        if (!ok) wrong.push(`${who} ${op.method} ${op.path}: wanted ${want}, got ${got}`);
        // Signing out with the session ends it: the next operations get a new one.
        if ((who === 'rep' || who === 'manager' || who === 'owner') && op.method === 'DELETE' && /^\/api\/v1\/sessions?$/.test(op.path)) {
          sessions[who] = await signIn(stack.baseUrl, emails[who], passwords[who]);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(calls).toBe(api.length * principals.length);
  });

  it('keeps a rep who sees only their own leads from reading or changing another\'s through any operation that names a lead', { timeout: 300_000 }, async () => {
    const form = await createWebform(stack);
    await postForm(stack, form, { name: 'Sara Secreta', email: 'sara@hidden.example', telefone: '(11) 98888-7777', mensagem: 'orçamento sigiloso' });
    const hidden = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; contactId: string }[] }>('GET', '/api/v1/leads?q=hidden.example');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    const { body: users } = await stack.api<{ data: { id: string; email: string }[] }>('GET', '/api/v1/users');
    const manager = users.data.find((user) => user.email === emails.manager)!;
    const rep = users.data.find((user) => user.email === emails.rep)!;
    await stack.api('PATCH', `/api/v1/leads/${hidden.id}`, { ownerId: manager.id });
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own', repsCanClaim: true });
    const messages = (await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads/${hidden.id}/messages`)).body.data.map((message) => message.id);
    const before = (await stack.api<Record<string, unknown>>('GET', `/api/v1/leads/${hidden.id}`)).body;
    const activitiesBefore = (await stack.api<{ data: unknown[] }>('GET', `/api/v1/leads/${hidden.id}/activities?limit=200`)).body.data.length;
    // What names the lead: its id, its contact's, its messages', in a path, a query or a body.
    const named: Record<string, string[]> = { leads: [hidden.id], conversations: [hidden.id], contacts: [hidden.contactId], messages };
    const hints = { ids: [hidden.id, hidden.contactId, rep.id, ...messages], words: ['open', 'customer', 'email', 'sms', 'whatsapp'] };
    const reaching = operations(document).filter((op) => {
      if (!op.path.startsWith('/api/v1/') || !op.roles?.includes('rep')) return false;
      const viaPath = /\/(leads|conversations|contacts|messages)\/\{id\}/.test(op.path);
      const viaQuery = op.parameters.some((parameter) => parameter.in === 'query' && parameter.name === 'leadId');
      const viaBody = JSON.stringify(op.jsonBody ?? {}).includes('"leadId"');
      return viaPath || viaQuery || viaBody;
    });
    expect(reaching.length).toBeGreaterThan(15);
    const leaks: string[] = [];
    const repSession = await signIn(stack.baseUrl, emails.rep, passwords.rep);
    for (const op of reaching) {
      const collection = /\/api\/v1\/([\w-]+)\/\{id\}/.exec(op.path)?.[1];
      const urls = (collection && named[collection]) || [op.path];
      const bodies = op.jsonBody ? fc.sample(valueOf(op.jsonBody, hints, 0), { numRuns: 6, seed: 7 }) : [undefined];
      for (const id of urls) {
        for (const raw of bodies) {
          const takesLeadId = Boolean((op.jsonBody?.properties as Record<string, unknown> | undefined)?.leadId);
          const body = raw && typeof raw === 'object' && takesLeadId ? { ...raw, leadId: hidden.id } : raw;
          const path = op.path.replace('{id}', id).replace(/\{\w+\}/g, 'zz_missing') + (op.parameters.some((p) => p.name === 'leadId' && p.in === 'query') ? `?leadId=${hidden.id}` : '');
          const answer = await repSession.request<unknown>(op.method, path, op.method === 'GET' || op.method === 'DELETE' ? undefined : (body ?? {}));
          const text = JSON.stringify(answer.body);
          if ((answer.status >= 200 && answer.status < 300 && !(op.method === 'GET' && !op.path.includes('{id}') && !text.includes(hidden.id))) || text.includes('Secreta') || text.includes('hidden.example')) {
            leaks.push(`${op.method} ${path} ${JSON.stringify(body)?.slice(0, 200)}: ${answer.status} ${text.slice(0, 200)}`);
          }
        }
      }
    }
    expect(leaks).toEqual([]);
    const after = (await stack.api<Record<string, unknown>>('GET', `/api/v1/leads/${hidden.id}`)).body;
    expect(after).toEqual(before);
    expect((await stack.api<{ data: unknown[] }>('GET', `/api/v1/leads/${hidden.id}/activities?limit=200`)).body.data).toHaveLength(activitiesBefore);
  });
});
