import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebform, eventually, defaultBackends, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Lead {
  owner: { id: string } | null;
  assignment: { ruleId: string | null; reason: string | null };
}

describe.each(defaultBackends)('assignment of new leads on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let n = 0;
  const users: Record<string, string> = {};

  async function user(name: string, extra: Record<string, unknown> = {}) {
    const { body } = await stack.api<{ id: string }>('POST', '/api/v1/users', { name, email: `${name.toLowerCase()}@acme.test`, role: 'rep', ...extra });
    users[name] = body.id;
    return body.id;
  }

  /** Posts a new person through the form and returns their lead once it exists. */
  async function newLead(form: WebformSource, fields: Record<string, string> = {}): Promise<Lead> {
    const email = `person${++n}@example.com`;
    expect((await postForm(stack, form, { name: `Person ${n}`, email, ...fields })).status).toBe(202);
    return eventually(async () => {
      const { body } = await stack.api<{ data: (Lead & { id: string })[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(email)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }

  beforeAll(async () => {
    stack = await startStack({ db, queue });
    await user('Ana');
    await user('Bruno');
    // Working hours with no day in them: never available.
    await user('Noite', { workingHours: {} });
    await user('Inativo', { active: false });
  });
  afterAll(async () => stack?.close());

  it('follows the first matching rule, skipping users who are off or inactive', async () => {
    const { body: product } = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Bomba de Calor' });
    const form = await createWebform(stack, { name: 'Product form' });
    const { status, body: rule } = await stack.api<{ id: string }>('POST', '/api/v1/assignment-rules', {
      name: 'Heat pumps',
      priority: 1,
      match: { productId: product.id },
      strategy: 'fixed',
      userIds: [users.Noite, users.Inativo, users.Bruno],
    });
    expect(status).toBe(201);
    const lead = await newLead(form, { produto: 'Bomba de Calor' });
    expect(lead.owner?.id).toBe(users.Bruno);
    expect(lead.assignment).toEqual({ ruleId: rule.id, reason: 'rule "Heat pumps" (fixed)' });
  });

  it('takes turns with round robin, and sends the rest of the leads to the next rule or the fallbacks', async () => {
    const site = await createWebform(stack, { name: 'Site' });
    const { body: turns } = await stack.api<{ id: string }>('POST', '/api/v1/assignment-rules', {
      name: 'Site leads',
      priority: 5,
      match: { sourceId: site.id, channel: 'webform' },
      strategy: 'round_robin',
      userIds: [users.Ana, users.Bruno],
    });
    const owners = [];
    for (let i = 0; i < 4; i++) owners.push((await newLead(site)).owner?.id);
    expect(new Set(owners.slice(0, 2))).toEqual(new Set([users.Ana, users.Bruno]));
    expect(owners.slice(2)).toEqual(owners.slice(0, 2));

    // A rule nobody can serve falls through to the next one.
    await stack.api('POST', '/api/v1/assignment-rules', { name: 'Night shift', priority: 2, match: { sourceId: site.id }, strategy: 'fixed', userIds: [users.Noite] });
    const fellThrough = await newLead(site);
    expect(fellThrough.assignment.ruleId).toBe(turns.id);

    // An inactive rule is not tried at all.
    await stack.api('POST', '/api/v1/assignment-rules', { name: 'Off', priority: 0, match: {}, strategy: 'fixed', userIds: [users.Ana], active: false });
    expect((await newLead(site)).assignment.ruleId).toBe(turns.id);

    const owned = await createWebform(stack, { name: 'Owned form', ownerId: users.Ana });
    const fallback = await newLead(owned);
    expect(fallback).toMatchObject({ owner: { id: users.Ana }, assignment: { ruleId: null, reason: 'source owner' } });
  });

  it('gives the lead to the rep with the fewest open leads with least open', async () => {
    const form = await createWebform(stack, { name: 'Balanced' });
    const { body: rules } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/assignment-rules');
    for (const rule of rules.data) await stack.api('PATCH', `/api/v1/assignment-rules/${rule.id}`, { active: false });
    await stack.api('POST', '/api/v1/assignment-rules', { name: 'Balance', priority: 1, match: { sourceId: form.id }, strategy: 'least_open', userIds: [users.Ana, users.Bruno] });
    // Every open lead so far goes to Ana; then one closed lead goes to Bruno, which does not count.
    const { body: all } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?limit=200');
    for (const lead of all.data) await stack.api('PATCH', `/api/v1/leads/${lead.id}`, { ownerId: users.Ana });
    await stack.api('PATCH', `/api/v1/leads/${all.data[0]!.id}`, { ownerId: users.Bruno, stage: 'customer' });
    expect((await newLead(form)).owner?.id).toBe(users.Bruno);
    expect((await newLead(form)).owner?.id).toBe(users.Bruno);
  });

  it('refuses a rule naming users or products of nobody', async () => {
    const { status, body } = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/assignment-rules', {
      name: 'Broken',
      priority: 1,
      match: { productId: 'prd_missing' },
      strategy: 'round_robin',
      userIds: ['usr_missing'],
    });
    expect(status).toBe(422);
    expect(body.errors.map((e) => e.path).sort()).toEqual(['match.productId', 'userIds']);
  });
});
