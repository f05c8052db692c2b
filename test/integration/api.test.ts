import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { hashApiKey } from '../../src/security/tokens.js';
import { apiRequest, createWebform, eventually, defaultBackends, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Lead {
  id: string;
  name: string;
  stage: string;
  channel: string;
  tags: string[];
  dealValue: number | null;
  owner: { id: string } | null;
  products: { id: string; name: string }[];
  customFields: Record<string, unknown>;
  createdAt: string;
}

describe.each(defaultBackends)('the REST API on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let form: WebformSource;
  const names = ['Ana Costa', 'Bruno Alves', 'Carla Reis', 'Diego Nunes', 'Elisa Moura'];

  beforeAll(async () => {
    stack = await startStack({ db, queue });
    form = await createWebform(stack);
    for (const [i, name] of names.entries()) {
      await postForm(stack, form, { name, email: `${name.split(' ')[0]!.toLowerCase()}@example.com`, telefone: `(11) 9${String(i).repeat(4)}-123${i}` });
    }
    await eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads');
      expect(body.data).toHaveLength(names.length);
    });
  });
  afterAll(async () => stack?.close());

  it('refuses requests without a valid API key, as problem+json', async () => {
    const missing = await fetch(`${stack.baseUrl}/api/v1/leads`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await apiRequest(stack.baseUrl, 'lg_not_a_key', 'GET', '/api/v1/leads');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ type: 'https://leadgate.dev/problems/unauthorized', status: 401 });
  });

  it('names every invalid field', async () => {
    const { status, body } = await stack.api<{ type: string; errors: { path: string; message: string }[] }>('POST', '/api/v1/users', {
      name: '',
      email: 'not-an-email',
      role: 'boss',
    });
    expect(status).toBe(422);
    expect(body.type).toBe('https://leadgate.dev/problems/validation-failed');
    expect(body.errors.map((e) => e.path).sort()).toEqual(['email', 'name', 'role']);
    const badQuery = await stack.api<{ errors: { path: string }[] }>('GET', '/api/v1/leads?limit=500&stage=won');
    expect(badQuery.status).toBe(422);
    expect(badQuery.body.errors.map((e) => e.path).sort()).toEqual(['query.limit', 'query.stage']);
    const malformed = await fetch(`${stack.baseUrl}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ type: 'https://leadgate.dev/problems/malformed-body' });
  });

  it('answers an unknown route and an unknown lead with a 404 problem', async () => {
    expect((await stack.api('GET', '/api/v1/nothing-here')).status).toBe(404);
    const { status, body } = await stack.api('GET', '/api/v1/leads/lead_missing');
    expect(status).toBe(404);
    expect(body).toMatchObject({ type: 'https://leadgate.dev/problems/not-found' });
  });

  it('lists leads newest first, page by page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response: { body: { data: Lead[]; nextCursor: string | null } } = await stack.api('GET', `/api/v1/leads?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...response.body.data.map((lead) => lead.name));
      cursor = response.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...names].reverse());
  });

  it('finds leads by any part of the name, email or phone', async () => {
    const byName = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=carla');
    expect(byName.body.data.map((l) => l.name)).toEqual(['Carla Reis']);
    const byEmail = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=diego%40example');
    expect(byEmail.body.data.map((l) => l.name)).toEqual(['Diego Nunes']);
    const byPhone = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent('94444-1234')}`);
    expect(byPhone.body.data.map((l) => l.name)).toEqual(['Elisa Moura']);
    const none = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=zzz');
    expect(none.body.data).toEqual([]);
  });

  it('changes a lead and writes who changed what, before and after', async () => {
    const product = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Consultoria', keywords: [] });
    const rep = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Renato', email: 'renato@acme.test', role: 'rep' });
    const { body: list } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=bruno');
    const lead = list.data[0]!;
    const { status, body } = await stack.api<Lead>('PATCH', `/api/v1/leads/${lead.id}`, {
      stage: 'qualified',
      ownerId: rep.body.id,
      tags: ['vip'],
      dealValue: 1500.5,
      products: [product.body.id],
      customFields: { origem: 'feira' },
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ stage: 'qualified', tags: ['vip'], dealValue: 1500.5, owner: { id: rep.body.id }, products: [{ name: 'Consultoria' }] });
    expect(body.customFields.origem).toBe('feira');

    const { body: timeline } = await stack.api<{ data: { kind: string; actor: { type: string }; data: Record<string, unknown> }[] }>(
      'GET',
      `/api/v1/leads/${lead.id}/activities`,
    );
    const stageChange = timeline.data.find((a) => a.kind === 'lead.stage_changed')!;
    expect(stageChange).toMatchObject({ actor: { type: 'api_key' }, data: { before: 'open', after: 'qualified' } });
    const assigned = timeline.data.find((a) => a.kind === 'lead.assigned' && a.actor.type === 'api_key')!;
    expect(assigned.data).toMatchObject({ before: lead.owner?.id ?? null, after: rep.body.id });
    const updated = timeline.data.find((a) => a.kind === 'lead.updated')!;
    expect(updated.data.changes).toMatchObject({ tags: { before: [], after: ['vip'] }, dealValue: { before: null, after: 1500.5 } });

    const invalid = await stack.api<{ errors: { path: string }[] }>('PATCH', `/api/v1/leads/${lead.id}`, { stage: 'won', products: ['prd_nope'] });
    expect(invalid.status).toBe(422);
    expect(invalid.body.errors.map((e) => e.path)).toEqual(['stage']);
  });

  it('adds a note to the timeline', async () => {
    const { body: list } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=ana');
    const { status, body } = await stack.api<{ kind: string; data: { text: string } }>('POST', `/api/v1/leads/${list.data[0]!.id}/notes`, {
      text: 'Ligou de volta, quer visita na sexta',
    });
    expect(status).toBe(201);
    expect(body).toMatchObject({ kind: 'note.added', data: { text: 'Ligou de volta, quer visita na sexta' } });
    const { body: timeline } = await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${list.data[0]!.id}/activities?limit=1`);
    expect(timeline.data.map((a) => a.kind)).toEqual(['note.added']);
  });

  it('keeps every workspace to its own rows', async () => {
    const prisma = stack.gateway.deps.db.prisma;
    const otherKey = `lg_other_${newId('k')}`;
    const workspaceId = newId('ws');
    await prisma.workspace.create({ data: { id: workspaceId, name: 'Other business', workingHours: {} } });
    await prisma.apiKey.create({ data: { id: newId('key'), workspaceId, name: 'other', prefix: 'lg_othe', hash: hashApiKey(otherKey) } });
    const { body: mine } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?limit=1');
    const leadId = mine.data[0]!.id;
    const other = (method: string, path: string, body?: unknown) => apiRequest(stack.baseUrl, otherKey, method, path, body);
    expect((await other('GET', '/api/v1/leads')).body).toEqual({ data: [], nextCursor: null });
    expect((await other('GET', `/api/v1/leads/${leadId}`)).status).toBe(404);
    expect((await other('PATCH', `/api/v1/leads/${leadId}`, { stage: 'customer' })).status).toBe(404);
    expect((await other('GET', `/api/v1/leads/${leadId}/activities`)).status).toBe(404);
    expect((await other('POST', `/api/v1/leads/${leadId}/notes`, { text: 'x' })).status).toBe(404);
    expect((await other('GET', `/api/v1/sources/${form.id}`)).status).toBe(404);
    expect((await other('GET', '/api/v1/sources')).body).toEqual({ data: [], nextCursor: null });
    expect((await stack.api<Lead>('GET', `/api/v1/leads/${leadId}`)).body.stage).not.toBe('customer');
  });

  it('never returns a source secret other than the web form\'s own, and stores that one sealed', async () => {
    const { body } = await stack.api<{ secret: string; webhookUrl: string }>('GET', `/api/v1/sources/${form.id}`);
    expect(body.secret).toBe(form.secret);
    expect(body.webhookUrl).toBe(`http://localhost:3000/hooks/forms/${form.id}`);
    const row = await stack.gateway.deps.db.prisma.source.findUniqueOrThrow({ where: { id: form.id } });
    expect(row.secrets).not.toContain(form.secret);
    expect(JSON.stringify(row.settings)).not.toContain(form.secret);
  });

  it('updates and deletes a source; a deleted form stops taking submissions', async () => {
    const extra = await createWebform(stack, { name: 'Temporary' });
    const patched = await stack.api<{ name: string; rateLimitPerMinute: number; secret: string }>('PATCH', `/api/v1/sources/${extra.id}`, {
      name: 'Renamed',
      rateLimitPerMinute: 5,
    });
    expect(patched.body).toMatchObject({ name: 'Renamed', rateLimitPerMinute: 5, secret: extra.secret });
    const badField = await stack.api<{ errors: { path: string }[] }>('PATCH', `/api/v1/sources/${extra.id}`, { rateLimitPerMinute: -1, colour: 'red' });
    expect(badField.status).toBe(422);
    expect(badField.body.errors.map((e) => e.path).sort()).toEqual(['(body)', 'rateLimitPerMinute']);
    expect((await stack.api('DELETE', `/api/v1/sources/${extra.id}`)).status).toBe(204);
    expect((await postForm(stack, extra, { name: 'Late', email: 'late@example.com' })).status).toBe(404);
  });

  it('describes itself in OpenAPI 3.1 from the same schemas', async () => {
    const response = await fetch(`${stack.baseUrl}/openapi.json`);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> } }>> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/api/v1/leads', '/api/v1/leads/{id}', '/api/v1/sources', '/hooks/forms/{sourceId}']));
    const userSchema = document.paths['/api/v1/users']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(userSchema.properties ?? {})).toEqual(expect.arrayContaining(['name', 'email', 'role', 'password']));
    expect(userSchema.required).toEqual(expect.arrayContaining(['name', 'email', 'role']));
  });

  it('tells health and readiness apart', async () => {
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { database: 'ok', queue: `${queue}: ok` } });
  });

  it('lists the pipeline stages in the workspace locale', async () => {
    const { body } = await stack.api<{ data: { slug: string; label: string }[] }>('GET', '/api/v1/stages');
    expect(body.data.map((s) => s.slug)).toEqual(['open', 'contacted', 'nurture', 'qualified', 'negotiation', 'customer', 'inactive', 'unqualified']);
    expect(body.data[0]!.label).toBe('Aberto');
    await stack.api('PATCH', '/api/v1/workspace', { locale: 'en' });
    const { body: english } = await stack.api<{ data: { label: string }[] }>('GET', '/api/v1/stages');
    expect(english.data[0]!.label).toBe('Open');
  });
});
