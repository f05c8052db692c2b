import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';
import { launchChromium, signIn } from './browser.js';

const owner = { email: 'owner@acme.test', password: 'correct horse battery' };
const phoneSize = { width: 390, height: 844 };

interface Lead {
  id: string;
  contactId: string;
  name: string | null;
  products: { id: string; name: string }[];
  conversation: { status: string };
}

/** What someone coming from another CRM expects: inbox zero, a reply's subject and address, a full lead panel, contacts. */
describe('the inbox as a CRM user expects it', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let browser: Browser;
  let form: WebformSource;
  let lead: Lead;
  let desktop: { context: BrowserContext; page: Page };
  /** Maria's second contact, as it was before the merge. */
  let other: Lead;

  async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport, timezoneId: 'America/Sao_Paulo' });
    const page = await context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
    await signIn(page, owner.email, owner.password);
    return { context, page };
  }
  const leadNamed = (q: string, count = 1) =>
    eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(q)}`);
      expect(body.data).toHaveLength(count);
      return body.data;
    });

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <sales@acme.test>' } });
    expect((await stack.api('PATCH', '/api/v1/workspace', { locale: 'en', name: 'Acme Solar' })).status).toBe(200);
    browser = await launchChromium();
    form = await createWebform(stack, { name: 'Landing page', autoReplyTemplate: null });
    expect((await stack.api('POST', '/api/v1/products', { name: 'Solar kit', keywords: [] })).status).toBe(201);
    const posted = await postForm(stack, form, {
      name: 'Maria Fernanda Ferreira',
      email: 'maria.fernanda@example.com',
      phone: '+55 11 98765-4321',
      message: 'Quero um orçamento',
      utm_source: 'google',
      utm_campaign: 'solar-verao-2027-campanha-com-um-nome-muito-comprido-que-nao-cabe-em-uma-linha-so',
    });
    expect(posted.status).toBe(202);
    [lead] = (await leadNamed('maria.fernanda@example.com')) as [Lead];
    desktop = await newPage();
    desktop.page.on('dialog', (dialog) => {
      throw new Error(`a browser dialog opened: ${dialog.message()}`);
    });
  });

  afterAll(async () => {
    await desktop?.context.close();
    await browser?.close();
    await stack?.close();
    await smtp?.stop();
  });

  it('shows the lead panel with a header, origin, campaign and products, its fields editable and long values wrapped', async () => {
    const { page } = desktop;
    await page.goto(`/#/inbox/${lead.id}`);
    const panel = page.getByRole('complementary', { name: 'Lead details' });
    await panel.getByRole('heading', { name: 'Maria Fernanda Ferreira' }).waitFor();
    await expect(panel.locator('.avatar').textContent()).resolves.toBe('MF');
    await expect(panel.locator('.contact-points').textContent()).resolves.toContain('+5511987654321');
    const facts = panel.locator('.facts').first();
    await expect(facts.textContent()).resolves.toContain('Landing page');
    await expect(facts.textContent()).resolves.toContain('Campaign source');
    await expect(facts.textContent()).resolves.toContain('google');
    // The campaign's long name wraps inside the panel instead of widening it.
    expect(await panel.evaluate((element) => element.scrollWidth <= element.clientWidth)).toBe(true);
    // Fields look like fields: a visible border, not plain text.
    const border = String(await panel.getByLabel('Company').evaluate('(element) => getComputedStyle(element).borderTopColor'));
    expect(border).not.toBe('rgba(0, 0, 0, 0)');

    await panel.getByRole('group', { name: 'Products' }).getByLabel('Solar kit').check();
    await eventually(async () => {
      const { body } = await stack.api<Lead>('GET', `/api/v1/leads/${lead.id}`);
      expect(body.products.map((product) => product.name)).toEqual(['Solar kit']);
    });
    await panel.getByLabel('Company').fill('Ferreira Telhados');
    await panel.getByLabel('Company').press('Enter');
    await eventually(async () => expect((await stack.api<{ company: string }>('GET', `/api/v1/leads/${lead.id}`)).body.company).toBe('Ferreira Telhados'));
    await panel.getByText('None: this is their only one.').waitFor();
  });

  it('replies by email with a subject, showing the address it goes to', async () => {
    const { page } = desktop;
    await page.goto(`/#/inbox/${lead.id}`);
    const channel = page.getByLabel('Reply channel');
    await channel.locator('option', { hasText: 'maria.fernanda@example.com' }).waitFor({ state: 'attached' });
    await expect(channel.locator('option:checked').textContent()).resolves.toBe('Email · maria.fernanda@example.com');
    const subject = page.getByLabel('Subject', { exact: true });
    await expect(subject.inputValue()).resolves.toBe('Acme Solar');
    await subject.fill('Your solar kit quote');
    await page.getByRole('textbox', { name: /Write a reply/ }).fill('Here is the quote you asked for.');
    await page.locator('form.composer button[type="submit"]').click();
    const mail = await eventually(() => {
      const found = smtp.received.find((item) => item.envelope.to.includes('maria.fernanda@example.com'));
      expect(found).toBeDefined();
      return found!;
    });
    expect(mail.mail.subject).toBe('Your solar kit quote');
  });

  it('opens on open conversations: resolving one empties the list, and Any finds it', async () => {
    const { page } = desktop;
    await page.goto('/#/inbox');
    const statusTabs = page.getByRole('tablist', { name: 'Status' });
    await expect(statusTabs.getByRole('tab', { name: 'Open' }).getAttribute('aria-selected')).resolves.toBe('true');
    await page.locator('.row', { hasText: 'Maria Fernanda' }).click();
    await page.locator('.conversation-head').getByRole('button', { name: 'Resolve' }).click();
    await page.locator('.row', { hasText: 'Maria Fernanda' }).waitFor({ state: 'detached' });
    await page.getByText('All done: no open conversations.').waitFor();
    expect((await stack.api<Lead>('GET', `/api/v1/leads/${lead.id}`)).body.conversation.status).toBe('resolved');
    await statusTabs.getByRole('tab', { name: 'Any', exact: true }).click();
    await page.locator('.row', { hasText: 'Maria Fernanda' }).waitFor();
  });

  it('finds a contact and merges another into it by hand with an in-page confirmation', async () => {
    expect((await postForm(stack, form, { name: 'Maria F.', phone: '+55 21 91234-0000' })).status).toBe(202);
    [other] = (await leadNamed('Maria F.')) as [Lead];
    const { page } = desktop;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts' }).click();
    await page.getByLabel('Search name, email or phone').fill('98765-4321');
    await page.locator('.contact-list .row', { hasText: 'Maria Fernanda Ferreira' }).click();
    const detail = page.locator('.contact-detail');
    await detail.getByRole('heading', { name: 'Maria Fernanda Ferreira' }).waitFor();
    await detail.getByLabel('Find the contact to merge').fill('Maria F.');
    await detail.locator('.merge-candidates li', { hasText: '+5521912340000' }).getByRole('button', { name: 'Merge into this one' }).click();
    await detail.getByRole('group', { name: 'Merge contacts' }).getByRole('button', { name: 'Merge contacts' }).click();
    await detail.getByRole('status').filter({ hasText: 'Maria F. was merged into this contact.' }).waitFor();
    await detail.locator('.contact-points', { hasText: '+5521912340000' }).waitFor();
    expect((await stack.api<Lead>('GET', `/api/v1/leads/${other.id}`)).body.contactId).toBe(lead.contactId);
  });

  it('lists the contact\'s other conversation in the lead panel, and undoes the merge from the contact', async () => {
    const { page } = desktop;
    const detail = page.locator('.contact-detail');
    // The lead panel lists the contact's other conversation, which keeps its own timeline.
    await page.goto(`/#/inbox/${lead.id}`);
    const panel = page.getByRole('complementary', { name: 'Lead details' });
    await panel.locator('.other-conversations a').first().click();
    await page.waitForURL(new RegExp(`#/inbox/${other.id}$`));
    await page.locator('.message.in').first().waitFor();

    await page.goto(`/#/contacts/${lead.contactId}`);
    await detail.locator('.merges li', { hasText: 'Merged by hand' }).getByRole('button', { name: 'Undo merge' }).click();
    await detail.getByRole('status').filter({ hasText: 'is a contact of their own again' }).waitFor();
    await eventually(async () => expect((await stack.api<Lead>('GET', `/api/v1/leads/${other.id}`)).body.contactId).toBe(other.contactId));
    await detail.locator('.contact-points', { hasText: '+5521912340000' }).waitFor({ state: 'detached' });
  });

  it('fits the contacts page and the lead panel on a 390 px phone', async () => {
    const { context, page } = await newPage(phoneSize);
    await page.goto('/#/contacts');
    await page.locator('.contact-list .row').first().waitFor();
    expect(await page.evaluate<number>('document.scrollingElement.scrollWidth')).toBeLessThanOrEqual(phoneSize.width);
    await page.locator('.contact-list .row', { hasText: 'Maria Fernanda Ferreira' }).click();
    await page.locator('.contact-detail').getByRole('heading', { name: 'Maria Fernanda Ferreira' }).waitFor();
    expect(await page.evaluate<number>('document.scrollingElement.scrollWidth')).toBeLessThanOrEqual(phoneSize.width);

    await page.goto(`/#/inbox/${lead.id}`);
    await page.getByRole('button', { name: 'Details' }).click();
    const panel = page.getByRole('complementary', { name: 'Lead details' });
    await panel.getByRole('heading', { name: 'Maria Fernanda Ferreira' }).waitFor();
    const box = (await panel.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(phoneSize.width);
    expect(await panel.evaluate((element) => element.scrollWidth <= element.clientWidth)).toBe(true);
    await context.close();
  });
});
