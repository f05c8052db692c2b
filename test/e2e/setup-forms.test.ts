import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MailUser, TestMailServers } from '../support/mail-servers.js';
import { createWebform, eventually, postForm, type Stack, startStack } from '../support/stack.js';
import { launchChromium, signIn } from './browser.js';

const owner = { email: 'owner@acme.test', password: 'correct horse battery' };
const mailbox: MailUser = { address: 'vendas@acme.test', password: 'caixa-secreta-42' };

/**
 * The setup forms an owner fills in instead of JSON, in a real browser at a phone's width against
 * the real server (PGlite, embedded queue); what they store is read back through the API.
 */
describe('setup forms in a browser', () => {
  let stack: Stack;
  let servers: TestMailServers;
  let browser: Browser;
  let page: Page;
  let productId = '';
  let ownerId = '';

  const form = () => page.locator('form.resource-form');
  const saved = async <T,>(path: string) => {
    const { status, body } = await stack.api<{ data: T[] }>('GET', `/api/v1${path}`);
    expect(status).toBe(200);
    return body.data;
  };

  beforeAll(async () => {
    [servers, stack, browser] = await Promise.all([TestMailServers.start([mailbox]), startStack({ db: 'pglite', queue: 'embedded', env: { LEADGATE_OUTBOUND_ALLOW_PRIVATE: 'true' } }), launchChromium()]);
    expect((await stack.api('PATCH', '/api/v1/workspace', { locale: 'en' })).status).toBe(200);
    const product = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Solar panels', keywords: ['solar'] });
    expect(product.status).toBe(201);
    productId = product.body.id;
    await stack.api('POST', '/api/v1/products', { name: 'Batteries', keywords: ['battery'] });
    ownerId = (await saved<{ id: string; email: string }>('/users')).find((user) => user.email === owner.email)!.id;

    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport: { width: 390, height: 844 }, timezoneId: 'America/Sao_Paulo' });
    page = await context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
    await signIn(page, owner.email, owner.password);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await servers?.stop();
  });

  it('creates an assignment rule matching a product, showing the API\'s validation error first', async () => {
    await page.goto('/#/setup/assignment-rules/new');
    await form().getByLabel('Name', { exact: true }).fill('Solar to the owner');
    await form().getByLabel('Priority').fill('10');
    await form().getByLabel('Product', { exact: true }).selectOption({ label: 'Solar panels' });
    await form().getByLabel('Strategy').selectOption('fixed');
    // No user yet: the API refuses and says why, next to the form.
    await form().getByRole('button', { name: 'Save' }).click();
    await expect(form().getByRole('alert').textContent()).resolves.toContain('userIds');

    // Picked by name: the page never asks for an id.
    await form().getByRole('group', { name: 'Users' }).getByLabel('Owner', { exact: true }).check();
    await form().getByRole('button', { name: 'Save' }).click();
    await form().waitFor({ state: 'detached' });
    const rules = await saved<{ name: string; match: Record<string, string>; strategy: string; userIds: string[] }>('/assignment-rules');
    expect(rules).toEqual([expect.objectContaining({ name: 'Solar to the owner', match: { productId }, strategy: 'fixed', userIds: [ownerId] })]);
  });

  it('creates scoring rules from a condition picked in the form', async () => {
    await page.goto('/#/setup/scoring-rules/new');
    await form().getByLabel('Name', { exact: true }).fill('Wants solar');
    await form().getByLabel('Points').fill('15');
    await form().getByLabel('Condition').selectOption('product');
    await form().getByLabel('Product', { exact: true }).selectOption({ label: 'Solar panels' });
    await form().getByRole('button', { name: 'Save' }).click();
    await form().waitFor({ state: 'detached' });

    await page.goto('/#/setup/scoring-rules/new');
    await form().getByLabel('Name', { exact: true }).fill('Big company');
    await form().getByLabel('Points').fill('5');
    await form().getByLabel('Condition').selectOption('custom_field');
    await form().getByLabel('Field name').fill('employees');
    await form().getByLabel('Comparison').selectOption('gte');
    await form().getByLabel('Value').fill('50');
    await form().getByRole('button', { name: 'Save' }).click();
    await form().waitFor({ state: 'detached' });

    const rules = await saved<{ name: string; points: number; when: unknown }>('/scoring-rules');
    // The workspace starts with default rules; these two come last, in creation order.
    expect(rules.slice(-2).map(({ name, points, when }) => ({ name, points, when }))).toEqual([
      { name: 'Wants solar', points: 15, when: { type: 'product', productId } },
      { name: 'Big company', points: 5, when: { type: 'custom_field', field: 'employees', gte: 50 } },
    ]);
  });

  it('creates a sequence with two reordered steps and automatic enrolment', async () => {
    const templates = await saved<{ id: string; name: string; locale: string; channel: string }>('/templates');
    const [first, second] = templates.filter((template) => template.locale === 'en');
    expect(first && second).toBeTruthy();
    const label = (template: { name: string; locale: string; channel: string }) => `${template.name} · ${template.locale} · ${template.channel}`;

    await page.goto('/#/setup/sequences/new');
    await form().getByLabel('Name', { exact: true }).fill('Welcome drip');
    const step = (n: number): Locator => form().getByRole('group', { name: `Step ${n}` });
    await step(1).getByLabel('Wait', { exact: true }).fill('2');
    await step(1).getByLabel('Unit').selectOption('hours');
    await step(1).getByLabel('Template').selectOption({ label: label(first!) });
    await form().getByRole('button', { name: 'Add a step' }).click();
    await step(2).getByLabel('Unit').selectOption('days');
    await step(2).getByLabel('Wait', { exact: true }).fill('3');
    await step(2).getByLabel('Template').selectOption({ label: label(second!) });
    await step(2).getByLabel('Channel').selectOption('email');
    await form().getByRole('button', { name: 'Move up: Step 2' }).click();
    // The moved row keeps what was typed in it.
    await expect(step(1).getByLabel('Wait', { exact: true }).inputValue()).resolves.toBe('3');
    await expect(step(1).getByLabel('Unit').inputValue()).resolves.toBe('days');

    await form().getByLabel('Automatically, for new leads that match').check();
    await form().getByRole('group', { name: /^At stages/ }).getByLabel('Open').check();
    await form().getByRole('group', { name: /^Wanting products/ }).getByLabel('Solar panels').check();
    await form().getByRole('button', { name: 'Save' }).click();
    await form().waitFor({ state: 'detached' });

    const sequences = await saved<{ name: string; steps: unknown[]; enrol: unknown }>('/sequences');
    expect(sequences).toHaveLength(1);
    expect(sequences[0]!.steps).toEqual([
      { waitMinutes: 3 * 1440, templateId: second!.id, channel: 'email' },
      { waitMinutes: 120, templateId: first!.id },
    ]);
    expect(sequences[0]!.enrol).toEqual({ stages: ['open'], productIds: [productId] });
  });

  it('sets Monday\'s working hours and quiet hours on the workspace', async () => {
    await page.goto('/#/setup/workspace');
    const monday = page.getByRole('group', { name: 'Monday' });
    await monday.getByRole('checkbox', { name: 'Monday' }).check();
    await monday.getByLabel('Monday: From').fill('08:30');
    await monday.getByLabel('Monday: To').fill('12:15');
    const sunday = page.getByRole('group', { name: 'Sunday' });
    await sunday.getByRole('checkbox', { name: 'Sunday' }).uncheck();
    await page.getByLabel('No messages sent during quiet hours').check();
    await page.getByLabel('Quiet hours: From').fill('22:00');
    await page.getByLabel('Quiet hours: To').fill('07:00');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

    const { body: workspace } = await stack.api<{ workingHours: Record<string, unknown>; quietHours: unknown }>('GET', '/api/v1/workspace');
    expect(workspace.workingHours.mon).toEqual([['08:30', '12:15']]);
    expect(workspace.workingHours.sun ?? []).toEqual([]);
    expect(workspace.quietHours).toEqual({ start: '22:00', end: '07:00' });
  });

  it('creates a mailbox source from the form and never shows its password back', async () => {
    await page.goto('/#/setup/sources');
    const create = page.locator('form.inline-form').first();
    await create.getByLabel('Kind').selectOption('email');
    await create.getByLabel('Name', { exact: true }).fill('Sales mailbox');
    await create.getByLabel('Email address').fill(mailbox.address);
    for (const [legend, endpoint] of [
      ['Incoming mail (IMAP)', servers.imap],
      ['Outgoing mail (SMTP)', servers.smtp],
    ] as const) {
      const group = create.getByRole('group', { name: legend });
      await group.getByLabel('Host').fill(endpoint.host);
      await group.getByLabel('Port', { exact: true }).fill(String(endpoint.port));
      await group.getByRole('checkbox', { name: /TLS from the start/ }).uncheck();
      await group.getByLabel('User name').fill(mailbox.address);
      await group.getByLabel('Password').fill(legend.includes('IMAP') ? 'not-the-password' : mailbox.password);
    }
    // The server refuses the wrong IMAP password: the reason shows by the form, nothing is created.
    await create.getByRole('button', { name: 'Add' }).click();
    await create.getByRole('alert').waitFor();
    expect(await saved('/sources')).toEqual([]);

    await create.getByRole('group', { name: 'Incoming mail (IMAP)' }).getByLabel('Password').fill(mailbox.password);
    await create.getByRole('button', { name: 'Add' }).click();
    await page.locator('.source-detail', { hasText: 'Sales mailbox' }).waitFor();

    const [source] = await saved<{ id: string; kind: string; address: string }>('/sources');
    expect(source).toMatchObject({ kind: 'email', address: mailbox.address });
    await eventually(async () => {
      const { body } = await stack.api<{ status: { state: string } }>('GET', `/api/v1/sources/${source!.id}`);
      expect(body.status.state).toBe('connected');
    });
    // Neither the API nor the page holds the secret any longer.
    const { body: stored } = await stack.api('GET', `/api/v1/sources/${source!.id}`);
    expect(JSON.stringify(stored)).not.toContain(mailbox.password);
    await create.getByLabel('Kind').selectOption('email');
    for (const field of await page.locator('input').all()) expect(await field.inputValue()).not.toBe(mailbox.password);
    expect(await page.content()).not.toContain(mailbox.password);
  });

  it("lists a form's submissions the rate limit refused, and releases one into a lead", async () => {
    const form = await createWebform(stack, { name: 'Fair stand', rateLimitPerMinute: 1 });
    expect((await postForm(stack, form, { name: 'Ana Feira', email: 'ana.feira@example.com' })).status).toBe(202);
    expect((await postForm(stack, form, { name: 'Bruno Feira', email: 'bruno.feira@example.com' })).status).toBe(429);

    // Created through the API: a fresh load shows it among the sources.
    await page.goto(`/#/setup/sources/${form.id}`);
    await page.reload();
    const refused = page.getByRole('region', { name: 'Refused submissions' });
    const entry = refused.getByRole('listitem').filter({ hasText: 'bruno.feira@example.com' });
    await entry.waitFor();
    expect(await entry.textContent()).toContain('rate limited');
    await entry.getByRole('button', { name: 'Release' }).click();
    await refused.getByText('None.').waitFor();
    await eventually(async () => {
      const { body } = await stack.api<{ data: { name: string }[] }>('GET', '/api/v1/leads?q=bruno.feira');
      expect(body.data.map((lead) => lead.name)).toEqual(['Bruno Feira']);
    });
  });
});
