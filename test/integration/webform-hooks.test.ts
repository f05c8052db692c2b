import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

const problemType = (code: string) => `https://leadgate.dev/problems/${code}`;

interface EventRow {
  id: string;
  status: string;
  reason: string | null;
  leadId: string | null;
}

describe('the web form webhook', () => {
  let stack: Stack;
  let form: WebformSource;

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { LEADGATE_MAX_UPLOAD_BYTES: '200000' } });
    form = await createWebform(stack, { thankYouUrl: 'https://www.acme.test/obrigado', allowedOrigins: ['https://www.acme.test'] });
  });
  afterAll(async () => stack?.close());

  async function events(status?: string): Promise<EventRow[]> {
    const { body } = await stack.api<{ data: EventRow[] }>('GET', `/api/v1/inbound-events${status ? `?status=${status}` : ''}`);
    return body.data;
  }

  describe('refuses what it cannot trust or read, with problem+json and never a 5xx', () => {
    const cases: [string, () => Promise<Awaited<ReturnType<typeof postForm>>>, number, string][] = [
      ['a missing token', () => postForm(stack, form, { name: 'x' }, { token: null }), 401, 'unauthorized'],
      ['a wrong token', () => postForm(stack, form, { name: 'x' }, { token: 'wfs_wrong' }), 401, 'unauthorized'],
      [
        'a signature over another body',
        () =>
          postForm(stack, form, { name: 'x' }, {
            token: null,
            headers: { 'x-leadgate-signature': `sha256=${createHmac('sha256', form.secret).update('{"name":"y"}').digest('hex')}` },
          }),
        401,
        'unauthorized',
      ],
      ['malformed JSON', () => postForm(stack, form, '{"name": "Ana",'), 400, 'malformed-body'],
      ['an unsupported content type', () => postForm(stack, form, 'name=x', { headers: { 'content-type': 'text/plain' } }), 415, 'unsupported-media-type'],
      ['a body over the upload limit', () => postForm(stack, form, { name: 'x', message: 'a'.repeat(300_000) }), 413, 'payload-too-large'],
      ['an empty JSON object', () => postForm(stack, form, {}), 422, 'validation-failed'],
      ['a JSON array of nothing', () => postForm(stack, form, []), 422, 'validation-failed'],
      [
        'a source that does not exist',
        () => postForm(stack, { ...form, id: 'src_doesnotexist' }, { name: 'x' }),
        404,
        'not-found',
      ],
      [
        'an origin the form does not allow',
        () => postForm(stack, form, { name: 'x' }, { headers: { origin: 'https://evil.example' } }),
        403,
        'origin-not-allowed',
      ],
    ];
    it.each(cases)('%s', async (_name, send, status, code) => {
      const before = (await events()).length;
      const response = await send();
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.json).toMatchObject({ type: problemType(code), status });
      expect(response.text).not.toMatch(/at .*\.ts:\d+/);
      expect(await events()).toHaveLength(before);
    });
  });

  it('accepts a body signed with the form secret (HMAC-SHA256)', async () => {
    const body = JSON.stringify({ name: 'Signed Lead', email: 'signed@example.com' });
    const signature = `sha256=${createHmac('sha256', form.secret).update(body).digest('hex')}`;
    const response = await postForm(stack, form, body, { token: null, headers: { 'x-leadgate-signature': signature } });
    expect(response.status).toBe(202);
  });

  it('accepts the token in the query string', async () => {
    const response = await fetch(`${stack.baseUrl}/hooks/forms/${form.id}?token=${encodeURIComponent(form.secret)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Query Token', email: 'query@example.com' }),
    });
    expect(response.status).toBe(202);
  });

  it('sends a plain HTML form on to the thank-you page', async () => {
    const response = await fetch(`${stack.baseUrl}/hooks/forms/${form.id}?token=${encodeURIComponent(form.secret)}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { accept: 'text/html,application/xhtml+xml', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ nome: 'Helena Prado', email: 'helena@example.com', mensagem: 'Olá' }).toString(),
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('https://www.acme.test/obrigado');
    await eventually(async () => {
      const { body } = await stack.api<{ data: { name: string }[] }>('GET', '/api/v1/leads?q=helena');
      expect(body.data.map((l) => l.name)).toEqual(['Helena Prado']);
    });
  });

  it('answers CORS for an allowed origin, preflight included', async () => {
    const preflight = await fetch(`${stack.baseUrl}/hooks/forms/${form.id}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://www.acme.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-leadgate-token' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://www.acme.test');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/X-Leadgate-Token/i);
    const response = await postForm(stack, form, { name: 'Browser Lead', email: 'browser@example.com' }, { headers: { origin: 'https://www.acme.test' } });
    expect(response.status).toBe(202);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://www.acme.test');
  });

  it('stores a multipart upload as an attachment of the message', async () => {
    const data = new FormData();
    data.set('name', 'Igor Matos');
    data.set('email', 'igor@example.com');
    data.set('message', 'Segue a planta da casa');
    data.set('planta', new Blob([Buffer.from('%PDF-1.4 fake plan')], { type: 'application/pdf' }), 'planta.pdf');
    const response = await postForm(stack, form, data);
    expect(response.status).toBe(202);
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?q=igor');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    const { body: messages } = await stack.api<{ data: { attachments: { filename: string; size: number; contentType: string; url: string }[] }[] }>(
      'GET',
      `/api/v1/leads/${lead.id}/messages`,
    );
    const attachment = messages.data[0]!.attachments[0]!;
    expect(attachment).toMatchObject({ filename: 'planta.pdf', contentType: 'application/pdf', size: 18 });
    const download = await fetch(`${stack.baseUrl}${attachment.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('%PDF-1.4 fake plan');
  });

  it('records a honeypot submission as spam without a lead, and tells the bot nothing', async () => {
    const response = await postForm(stack, form, { name: 'Spam Bot', email: 'bot@spam.example', _gotcha: 'http://spam.example' });
    expect(response.status).toBe(202);
    const rejected = await events('rejected');
    expect(rejected.some((e) => e.reason?.includes('_gotcha'))).toBe(true);
    const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/leads?q=bot');
    expect(body.data).toHaveLength(0);
  });

  it('rate-limits one address per form, and keeps what it refused', async () => {
    const limited = await createWebform(stack, { name: 'Limited', rateLimitPerMinute: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await postForm(stack, limited, { name: `Flood ${i}`, email: `flood${i}@example.com` })).status);
    expect(statuses).toEqual([202, 202, 429]);
    const third = await postForm(stack, limited, { name: 'Flood 3', email: 'flood3@example.com' });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    const { body } = await stack.api<{ data: EventRow[] }>('GET', `/api/v1/inbound-events?sourceId=${limited.id}&status=rejected`);
    expect(body.data).toHaveLength(2);
    expect(body.data[0]!.reason).toMatch(/rate limited/);
  });

  it('releases a submission the rate limit refused into a lead, once', async () => {
    const limited = await createWebform(stack, { name: 'Busy fair stand', rateLimitPerMinute: 1 });
    expect((await postForm(stack, limited, { name: 'Primeira Visita', email: 'primeira@example.com' })).status).toBe(202);
    expect((await postForm(stack, limited, { name: 'Segunda Visita', email: 'segunda@example.com', telefone: '(11) 97777-1234' })).status).toBe(429);
    const { body: rejected } = await stack.api<{ data: EventRow[] }>('GET', `/api/v1/inbound-events?sourceId=${limited.id}&status=rejected`);
    expect(rejected.data).toHaveLength(1);
    expect((await stack.api<{ data: unknown[] }>('GET', '/api/v1/leads?q=segunda')).body.data).toHaveLength(0);

    const released = await stack.api<EventRow>('POST', `/api/v1/inbound-events/${rejected.data[0]!.id}/release`);
    expect(released.status).toBe(202);
    expect(released.body).toMatchObject({ id: rejected.data[0]!.id, status: 'pending' });
    expect(released.body.reason).toMatch(/^released by .*rate limited/);
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; name: string; phone: string }[] }>('GET', '/api/v1/leads?q=segunda');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    expect(lead).toMatchObject({ name: 'Segunda Visita', phone: '+5511977771234' });
    await eventually(async () => {
      const { body } = await stack.api<{ data: EventRow[] }>('GET', `/api/v1/inbound-events?sourceId=${limited.id}&status=processed`);
      expect(body.data.map((e) => e.leadId)).toContain(lead.id);
    });

    const again = await stack.api<{ type: string }>('POST', `/api/v1/inbound-events/${rejected.data[0]!.id}/release`);
    expect(again.status).toBe(409);
    expect(again.body.type).toBe(problemType('conflict'));
    const missing = await stack.api<{ type: string }>('POST', '/api/v1/inbound-events/evt_doesnotexist/release');
    expect(missing.status).toBe(404);
  });

  it('does not rate-limit signed posts, which servers such as Zapier or RD Station send from one address', async () => {
    const limited = await createWebform(stack, { name: 'Server to server', rateLimitPerMinute: 2 });
    const signedPost = (n: number) => {
      const body = JSON.stringify({ name: `Zap ${n}`, email: `zap${n}@example.com` });
      const signature = `sha256=${createHmac('sha256', limited.secret).update(body).digest('hex')}`;
      return postForm(stack, limited, body, { token: null, headers: { 'x-leadgate-signature': signature } });
    };
    const statuses: number[] = [];
    for (let n = 0; n < 5; n++) statuses.push((await signedPost(n)).status);
    expect(statuses).toEqual([202, 202, 202, 202, 202]);
    // Posts with only the token (a browser's) are still limited.
    const unsigned: number[] = [];
    for (let n = 0; n < 3; n++) unsigned.push((await postForm(stack, limited, { name: `Browser ${n}`, email: `browser${n}@example.com` })).status);
    expect(unsigned).toEqual([202, 202, 429]);
    const { body } = await stack.api<{ data: EventRow[] }>('GET', `/api/v1/inbound-events?sourceId=${limited.id}&status=rejected`);
    expect(body.data).toHaveLength(1);
  });

  it('captures every lead of an RD Station webhook post', async () => {
    const rdStation = fs.readFileSync(new URL('../fixtures/webform/rd-station.json', import.meta.url), 'utf8');
    const response = await postForm(stack, form, rdStation);
    expect(response.status).toBe(202);
    expect((response.json?.events as unknown[]).length).toBe(2);
    for (const [q, expected] of [
      ['patricia.rocha', { name: 'Patrícia Rocha', email: 'patricia.rocha@clinicavida.test', phone: '+551134567890' }],
      ['marcos.lima', { name: 'Marcos Lima', email: 'marcos.lima@padarialima.test', phone: '+5521998761234' }],
    ] as const) {
      await eventually(async () => {
        const { body } = await stack.api<{ data: Record<string, unknown>[] }>('GET', `/api/v1/leads?q=${q}`);
        expect(body.data).toHaveLength(1);
        expect(body.data[0]).toMatchObject(expected);
      });
    }
    // Each lead's event keeps its own part of the post, not the whole batch again.
    const { body: stored } = await stack.api<{ data: { externalId: string; payload: unknown }[] }>('GET', `/api/v1/inbound-events?sourceId=${form.id}`);
    const marcos = stored.data.find((e) => e.externalId.startsWith('rd-station:a1b2c3d4'))!;
    expect(JSON.stringify(marcos.payload)).toContain('padarialima');
    expect(JSON.stringify(marcos.payload)).not.toContain('clinicavida');
    // RD Station retries the same post: nothing new.
    const retry = await postForm(stack, form, rdStation);
    expect(retry.status).toBe(200);
  });

  it("reads a phone and an email by their values when no field name says so, in the workspace's country", async () => {
    expect((await postForm(stack, form, { 'Campo 1': 'Valéria Nunes', 'Campo 2': 'valeria@example.com', 'Campo 3': '(31) 98222-7788' })).status).toBe(202);
    await eventually(async () => {
      const { body } = await stack.api<{ data: Record<string, unknown>[] }>('GET', '/api/v1/leads?q=valeria');
      expect(body.data).toHaveLength(1);
      expect(body.data[0]).toMatchObject({ email: 'valeria@example.com', phone: '+5531982227788', needsContactInfo: false });
    });
  });

  it('captures a submission with neither email nor phone as a lead needing contact info', async () => {
    expect((await postForm(stack, form, { name: 'Sem Contato', mensagem: 'Me liguem' })).status).toBe(202);
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { needsContactInfo: boolean; email: null; phone: null }[] }>('GET', '/api/v1/leads?q=sem%20contato');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    expect(lead).toMatchObject({ needsContactInfo: true, email: null, phone: null });
  });

  it('keeps an unparseable phone visibly on the lead instead of dropping it', async () => {
    expect((await postForm(stack, form, { name: 'Fone Errado', email: 'fone@example.com', telefone: '12' })).status).toBe(202);
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { phone: null; customFields: Record<string, string> }[] }>('GET', '/api/v1/leads?q=fone%20errado');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    expect(lead.phone).toBeNull();
    expect(Object.values(lead.customFields).join(' ')).toContain('"12"');
  });

  it('deduplicates by the form builder\'s own submission id', async () => {
    const typeform = {
      event_id: '01HTYPEFORMEVENT',
      event_type: 'form_response',
      form_response: {
        form_id: 'abc123',
        token: 'tok_1',
        submitted_at: '2026-11-25T12:00:00Z',
        definition: { fields: [{ id: 'f1', title: 'Your name', type: 'short_text', ref: 'name' }, { id: 'f2', title: 'Email', type: 'email', ref: 'email' }] },
        answers: [
          { type: 'text', text: 'Typeform Lead', field: { id: 'f1', type: 'short_text', ref: 'name' } },
          { type: 'email', email: 'tf@example.com', field: { id: 'f2', type: 'email', ref: 'email' } },
        ],
      },
    };
    const first = await postForm(stack, form, typeform);
    expect(first.status).toBe(202);
    // Typeform retries with the same event id; a different body (e.g. a resent timestamp) is still the same submission.
    const retry = await postForm(stack, form, { ...typeform, form_response: { ...typeform.form_response, submitted_at: '2026-11-25T12:00:05Z' } });
    expect(retry.status).toBe(200);
    expect(retry.json?.eventId).toBe(first.json?.eventId);
  });
});
