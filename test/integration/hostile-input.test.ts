import net from 'node:net';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInRaw } from '../support/session.js';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

/**
 * Input an attacker (or a broken integration) sends to the public hooks and to the API. The
 * embedded database is where such input once crashed the process, so that is where it is tried.
 */
describe('hostile input on the embedded database', () => {
  let stack: Stack;
  let form: WebformSource;

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { PUBLIC_URL: 'https://gateway.example' } });
    form = await createWebform(stack, { rateLimitPerMinute: 10_000 });
  });
  afterAll(async () => stack?.close());

  const nested = (levels: number) => `${'{"a":'.repeat(levels)}"x"${'}'.repeat(levels)}`;
  const expectProblem = async (response: Response, status: number) => {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await response.json()) as { type: string; errors?: { path: string }[] };
  };
  const alive = async () => expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);

  it('answers 422 to a form post nested thousands of levels deep, before storing it, and goes on', async () => {
    for (const levels of [1_500, 10_000]) {
      const response = await fetch(`${stack.baseUrl}/hooks/forms/${form.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
        body: `{"name":"Deep","email":"deep@example.com","extra":${nested(levels)}}`,
      });
      const problem = await expectProblem(response, 422);
      expect(problem.type).toBe('https://leadgate.dev/problems/validation-failed');
    }
    await alive();
    const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/inbound-events');
    expect(body.data).toEqual([]);
    expect((await postForm(stack, form, { name: 'Honest', email: 'honest@example.com' })).status).toBe(202);
  });

  it('stores honest submissions posted together with ones carrying a NUL or half a surrogate pair, and those too, minus those characters', async () => {
    const honest = Array.from({ length: 30 }, (_, n) => postForm(stack, form, { name: `Pessoa ${n}`, email: `pessoa${n}@lote.example`, mensagem: 'Olá' }));
    const broken = [
      postForm(stack, form, { name: 'Nul\u0000 Byte', email: 'nul@lote.example', mensagem: 'a\u0000b' }),
      // JSON.stringify writes a lone surrogate as the escape \ud800, which is valid JSON.
      postForm(stack, form, { name: 'Meia \ud800', email: 'surrogate@lote.example', mensagem: 'emoji cortado \ud83d' }),
    ];
    const answers = await Promise.all([...honest, ...broken]);
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202));
    const names = await eventually(async () => {
      const { body } = await stack.api<{ data: { name: string }[] }>('GET', '/api/v1/leads?q=lote.example&limit=100');
      expect(body.data).toHaveLength(32);
      return body.data.map((lead) => lead.name);
    });
    expect(names).toContain('Nul Byte');
    expect(names).toContain('Meia \ufffd');
    await alive();
  });

  it('answers harmless bad input to the API with a 4xx problem, never a 500', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.baseUrl}${path}`, { headers: { authorization: `Bearer ${stack.apiKey}`, ...headers } });
    // A session cookie the gateway never set: as if there were none.
    await expectProblem(await fetch(`${stack.baseUrl}/api/v1/leads`, { headers: { cookie: 'lg_session=%' } }), 401);
    // Ids and query parameters with a NUL, or an escape that is not UTF-8.
    await expectProblem(await fetch(`${stack.baseUrl}/hooks/forms/x%00`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 404);
    await expectProblem(await get('/api/v1/leads/lead_x%00'), 404);
    await expectProblem(await get('/api/v1/leads/%ED%A0%80'), 404);
    const query = await expectProblem(await get('/api/v1/leads?q=a%00b'), 422);
    expect(query.errors?.[0]?.path).toBe('q');
    // JSON strings with a NUL or a lone surrogate, signed in or not.
    for (const body of ['{"email":"a\\u0000@x.com","password":"correct horse battery"}', '{"email":"\\ud800@x.com","password":"correct horse battery"}']) {
      const problem = await expectProblem(await fetch(`${stack.baseUrl}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }), 422);
      expect(problem.errors?.[0]?.path).toBe('email');
    }
    const deep = (method: string, path: string) =>
      fetch(`${stack.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: `{"name":"x","customFields":${nested(2_000)}}`,
      });
    await expectProblem(await deep('PATCH', '/api/v1/workspace'), 422);
    // No route takes it: the body is not even read.
    await expectProblem(await deep('POST', '/api/v1/leads'), 404);
    await alive();
  });

  it('names the session cookie __Host- over https, and still reads one set under the plain name', async () => {
    const answer = await signInRaw(stack.baseUrl, 'owner@acme.test', 'correct horse battery');
    expect(answer.status).toBe(201);
    const setCookie = answer.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^__Host-lg_session=[\w-]{40,};/);
    expect(setCookie).toMatch(/; Secure/i);
    expect(setCookie).toMatch(/; Path=\//i);
    expect(setCookie).not.toMatch(/Domain=/i);
    const token = /^__Host-lg_session=([\w-]+)/.exec(setCookie)![1]!;
    const as = (cookie: string) => fetch(`${stack.baseUrl}/api/v1/session`, { headers: { cookie } });
    expect((await as(`__Host-lg_session=${token}`)).status).toBe(200);
    expect((await as(`lg_session=${token}`)).status).toBe(200);
    // Signing out clears both names.
    const csrf = answer.body.csrfToken as string;
    const out = await fetch(`${stack.baseUrl}/api/v1/session`, { method: 'DELETE', headers: { cookie: `__Host-lg_session=${token}`, 'x-csrf-token': csrf } });
    expect(out.status).toBe(204);
    const cleared = out.headers.getSetCookie().map((cookie) => cookie.split('=')[0]);
    expect(cleared.sort()).toEqual(['__Host-lg_session', 'lg_session']);
    expect((await as(`__Host-lg_session=${token}`)).status).toBe(401);
  });

  it('marks API answers not to be stored or sniffed, errors included', async () => {
    for (const response of [
      await fetch(`${stack.baseUrl}/api/v1/leads`, { headers: { authorization: `Bearer ${stack.apiKey}` } }),
      await fetch(`${stack.baseUrl}/api/v1/leads`),
      await fetch(`${stack.baseUrl}/api/v1/leads?limit=0`, { headers: { authorization: `Bearer ${stack.apiKey}` } }),
      await fetch(`${stack.baseUrl}/api/v1/no-such-route`, { headers: { authorization: `Bearer ${stack.apiKey}` } }),
    ]) {
      expect(response.headers.get('cache-control'), response.url).toBe('no-store');
      expect(response.headers.get('x-content-type-options'), response.url).toBe('nosniff');
    }
  });

  it('exports cells that a spreadsheet would read as a formula as text', async () => {
    const formulas = ['=HYPERLINK("https://evil.example","click")', '+55 11 3333', '-2+3', '@SUM(A1)'];
    for (const [n, name] of formulas.entries()) await postForm(stack, form, { name, email: `formula${n}@csv.example` });
    await eventually(async () => {
      const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/leads?q=csv.example');
      expect(body.data).toHaveLength(formulas.length);
    });
    const response = await fetch(`${stack.baseUrl}/api/v1/insights/leads?format=csv`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(response.status).toBe(200);
    const csv = await response.text();
    for (const formula of formulas) {
      const quoted = `'${formula}`;
      const cell = quoted.includes('"') || quoted.includes(',') ? `"${quoted.replaceAll('"', '""')}"` : quoted;
      expect(csv).toContain(`,${cell},`);
    }
    for (const line of csv.trimEnd().split('\r\n')) expect(line.split(',').slice(1).some((value) => /^[=+\-@]/.test(value))).toBe(false);
  });

  it('refuses mailbox servers in the private network without connecting, so open and closed ports look alike', async () => {
    const connections: net.Socket[] = [];
    const listener = net.createServer((socket) => {
      connections.push(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
    const open = (listener.address() as net.AddressInfo).port;
    try {
      const details: string[] = [];
      for (const [host, port] of [['127.0.0.1', open], ['127.0.0.1', 1], ['[::ffff:10.0.0.1]', 993], ['169.254.169.254', 80]] as const) {
        const server = { host: host.replace(/^\[|\]$/g, ''), port, secure: false, user: 'u', password: 'p' };
        const { status, body } = await stack.api<{ type: string; detail: string; errors: { path: string }[] }>('POST', '/api/v1/sources', {
          kind: 'email',
          name: 'Probe',
          address: 'probe@example.com',
          imap: server,
          smtp: { ...server, host: 'smtp.example.com' },
        });
        expect(status).toBe(422);
        expect(body.errors.map((e) => e.path)).toEqual(['imap']);
        expect(body.detail).toMatch(/private, loopback or reserved/);
        details.push(body.detail.replace(/ \d+$/, ''));
      }
      expect(details[0]).toBe(details[1]);
      expect(connections).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });

  it('answers 422 to a signed Twilio webhook with a repeated parameter', async () => {
    const authToken = 'a'.repeat(32);
    const { body: source } = await stack.api<{ id: string; webhooks: { sms: string } }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'Line',
      accountSid: `AC${'1'.repeat(32)}`,
      authToken,
      phoneNumber: '+5511400012345',
    });
    const params = { MessageSid: `SM${'2'.repeat(32)}`, From: ['+5511911111111', '+5511922222222'], To: '+5511400012345', Body: 'oi' };
    const signature = twilio.getExpectedTwilioSignature(authToken, source.webhooks.sms, params);
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) for (const item of [value].flat()) body.append(name, item);
    const response = await fetch(source.webhooks.sms.replace('https://gateway.example', stack.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body,
    });
    const problem = await expectProblem(response, 422);
    expect(problem.errors).toEqual([{ path: 'From', message: 'is sent more than once' }]);
  });
});
