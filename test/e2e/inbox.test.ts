import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../../src/paths.js';
import { TestSmtpServer } from '../support/smtp.js';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';
import { launchChromium, setLanguage, signIn } from './browser.js';

const owner = { email: 'owner@acme.test', password: 'correct horse battery' };
const screenshots = projectPath('docs', 'screenshots');

/**
 * The inbox page in a real browser against the real server (PGlite, embedded queue): one
 * Chromium for the whole file, a fresh context (cookie jar) per person.
 */
describe('the inbox in a browser', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let browser: Browser;
  let form: WebformSource;
  let ownerContext: BrowserContext;
  let page: Page;
  let leadId = '';
  const reps: Record<string, { id: string; email: string; password: string }> = {};

  async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport, timezoneId: 'America/Sao_Paulo' });
    const created = await context.newPage();
    created.on('pageerror', (error) => {
      throw error;
    });
    return { context, page: created };
  }

  async function shoot(target: Page, name: string): Promise<void> {
    await target.waitForTimeout(150);
    await target.screenshot({ path: path.join(screenshots, `${name}.png`) });
  }

  beforeAll(async () => {
    // The page as `npm install` builds it: the server serves web/dist.
    fs.mkdirSync(screenshots, { recursive: true });
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <sales@acme.test>' } });
    browser = await launchChromium();
    form = await createWebform(stack, { name: 'Website' });
    for (const [key, name] of [
      ['rita', 'Rita Rep'],
      ['otto', 'Otto Rep'],
    ] as const) {
      const user = { email: `${key}@acme.test`, password: `${key} secret words` };
      const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name, email: user.email, role: 'rep', password: user.password });
      expect(created.status).toBe(201);
      reps[key] = { id: created.body.id, ...user };
    }
    ({ context: ownerContext, page } = await newPage());
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await smtp?.stop();
  });

  it('serves the page under a strict Content-Security-Policy', async () => {
    const response = await fetch(`${stack.baseUrl}/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|https?:\/\//);
  });

  it('signs the owner in; the page speaks the workspace language until the user picks another', async () => {
    const login = await newPage();
    await login.page.goto('/');
    await shoot(login.page, 'sign-in-en');
    await login.page.getByRole('button', { name: 'Português (Brasil)' }).click();
    await expect(login.page.getByRole('heading', { name: 'Entrar no leadgate' }).isVisible()).resolves.toBe(true);
    await shoot(login.page, 'sign-in-pt-BR');
    await login.context.close();

    await signIn(page, owner.email, owner.password);
    // The workspace is Brazilian: Portuguese first.
    await page.getByRole('link', { name: 'Caixa de entrada' }).waitFor();
    await setLanguage(page, 'English');
    await page.getByRole('link', { name: 'Inbox' }).waitFor();
  });

  it('shows a web form posted from outside in the list without a reload', async () => {
    await page.goto('/#/inbox');
    // The list opens on Open conversations: with none yet, it says the inbox is done.
    await page.getByText('All done: no open conversations.').waitFor();
    const posted = await postForm(stack, form, { name: 'Paula Prado', email: 'paula@example.com', telefone: '(11) 98888-1234', message: 'Quero saber o preço do plano anual' });
    expect(posted.status).toBe(202);
    const row = page.locator('.row', { hasText: 'Paula Prado' });
    await row.waitFor({ timeout: 15_000 });
    // The newest message is the shipped acknowledgement the gateway sent by itself.
    await expect(row.locator('.preview').textContent()).resolves.toContain('Obrigado por entrar em contato');
    await expect(row.locator('.unread-count').textContent()).resolves.toBe('1');
    leadId = (await row.locator('a').getAttribute('href'))!.split('/').pop()!;
  });

  it('shows when it is offline, and catches up live once reconnected', async () => {
    await page.goto('/#/inbox');
    await page.locator('.row', { hasText: 'Paula Prado' }).waitFor();
    await ownerContext.setOffline(true);
    await page.getByRole('status').filter({ hasText: 'Offline' }).waitFor();
    await ownerContext.setOffline(false);
    await page.getByRole('status').filter({ hasText: /Offline|Reconnecting/ }).waitFor({ state: 'detached', timeout: 15_000 });
    await postForm(stack, form, { name: 'Quirino Queiroz', email: 'quirino@example.com', message: 'Vocês entregam em Campinas?' });
    await page.locator('.row', { hasText: 'Quirino Queiroz' }).waitFor({ timeout: 15_000 });
  });

  it('replies by email from the conversation and the mail reaches the SMTP server', async () => {
    await page.locator('.row', { hasText: 'Paula Prado' }).click();
    await page.locator('.conversation-head').getByRole('heading', { name: 'Paula Prado' }).waitFor();
    await page.locator('.message.in', { hasText: 'Quero saber o preço do plano anual' }).waitFor();
    // The channels a reply can take (and where each goes) arrive from the API after the conversation.
    await expect.poll(() => page.getByLabel('Reply channel').inputValue(), { timeout: 10_000 }).toBe('email');
    await page.getByLabel(/^Write a reply/).fill('Olá Paula! O plano anual custa R$ 1.200.');
    await page.getByRole('button', { name: 'Send' }).click();
    const mail = await eventually(() => {
      const found = smtp.received.find((item) => item.mail.text?.includes('O plano anual custa R$ 1.200.'));
      expect(found).toBeDefined();
      return found!;
    }, 20_000);
    expect(mail.envelope.to).toEqual(['paula@example.com']);
    await page.locator('.message.out', { hasText: 'O plano anual custa' }).locator('.delivery', { hasText: /Sent|Delivered/ }).waitFor({ timeout: 15_000 });
    await shoot(page, 'inbox-en');
  });

  it('adds a private note with the n key', async () => {
    await page.locator('.timeline').click();
    await page.keyboard.press('n');
    await page.keyboard.type('Ligar amanhã cedo, prefere WhatsApp');
    await page.getByRole('button', { name: 'Add note' }).click();
    const note = page.locator('.timeline .note', { hasText: 'Ligar amanhã cedo' });
    await note.waitFor();
    await expect(note.textContent()).resolves.toContain('Private note');
    const activities = await stack.api<{ data: { kind: string; data: { text?: string } }[] }>('GET', `/api/v1/leads/${leadId}/activities`);
    expect(activities.body.data.find((item) => item.kind === 'note.added')?.data.text).toBe('Ligar amanhã cedo, prefere WhatsApp');
  });

  it('moves the lead to Qualified by dragging its card on the board', async () => {
    await page.getByRole('link', { name: 'Pipeline' }).click();
    const card = page.locator('.lead-card', { hasText: 'Paula Prado' });
    await card.waitFor();
    await card.dragTo(page.locator('.column[data-stage="qualified"]'));
    await page.locator('.column[data-stage="qualified"] .lead-card', { hasText: 'Paula Prado' }).waitFor();
    await eventually(async () => {
      const lead = await stack.api<{ stage: string }>('GET', `/api/v1/leads/${leadId}`);
      expect(lead.body.stage).toBe('qualified');
    });
    const activities = await stack.api<{ data: { kind: string; data: { after?: string } }[] }>('GET', `/api/v1/leads/${leadId}/activities`);
    expect(activities.body.data.some((item) => item.kind === 'lead.stage_changed' && item.data.after === 'qualified')).toBe(true);
    await shoot(page, 'board-en');
  });

  it('schedules a follow-up for the rep, who sees it in their list', async () => {
    await page.goto(`/#/inbox/${leadId}`);
    await page.getByLabel('Owner', { exact: true }).selectOption({ label: 'Rita Rep' });
    await eventually(async () => {
      const lead = await stack.api<{ owner: { id: string } | null }>('GET', `/api/v1/leads/${leadId}`);
      expect(lead.body.owner?.id).toBe(reps.rita!.id);
    });
    await page.getByLabel('Follow-up date and time').fill('2031-03-14T10:30');
    await page.getByLabel('What to do').fill('Enviar proposta revisada');
    await page.getByRole('button', { name: 'Schedule' }).click();
    await page.locator('.follow-ups li', { hasText: 'Enviar proposta revisada' }).waitFor();

    const rita = await newPage();
    await signIn(rita.page, reps.rita!.email, reps.rita!.password);
    await setLanguage(rita.page, 'English');
    const row = rita.page.locator('.row', { hasText: 'Paula Prado' });
    await row.waitFor();
    await expect.poll(() => row.locator('.follow-up-at').textContent()).toContain('3/14/31');
    const followUps = await stack.api<{ data: { ownerId: string; note: string }[] }>('GET', `/api/v1/follow-ups?ownerId=${reps.rita!.id}`);
    expect(followUps.body.data.map((item) => item.note)).toContain('Enviar proposta revisada');
    await rita.context.close();
  });

  it('keeps a rep out of another rep\'s conversation when visibility is "own"', async () => {
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' })).status).toBe(200);
    const otto = await newPage();
    await signIn(otto.page, reps.otto!.email, reps.otto!.password);
    await setLanguage(otto.page, 'English');
    await otto.page.goto(`/#/inbox/${leadId}`);
    await otto.page.getByText('This conversation does not exist or is not yours to see.').waitFor();
    await expect(otto.page.locator('.row', { hasText: 'Paula Prado' }).count()).resolves.toBe(0);
    await otto.context.close();
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
  });

  it('locks sign-in after repeated wrong passwords', async () => {
    const stranger = await newPage();
    await stranger.page.goto('/');
    for (let attempt = 1; attempt <= 5; attempt++) {
      await stranger.page.getByLabel('Email').fill(reps.otto!.email);
      await stranger.page.getByLabel('Password').fill(`guess number ${attempt}`);
      await stranger.page.getByRole('button', { name: 'Sign in' }).click();
      await stranger.page.getByRole('alert').filter({ hasText: attempt < 5 ? 'not right' : 'Too many failed attempts' }).waitFor();
    }
    // Even the right password waits now.
    await stranger.page.getByLabel('Password').fill(reps.otto!.password);
    await stranger.page.getByRole('button', { name: 'Sign in' }).click();
    await stranger.page.getByRole('alert').filter({ hasText: /Try again in \d+ seconds/ }).waitFor();
    await expect(stranger.page.getByRole('navigation', { name: 'Main' }).count()).resolves.toBe(0);
    await stranger.context.close();
  });

  it('saves screenshots of the main pages in both languages, and on a phone', async () => {
    for (const [language, suffix] of [
      ['Português (Brasil)', 'pt-BR'],
      ['English', 'en'],
    ] as const) {
      await setLanguage(page, language);
      await page.goto(`/#/inbox/${leadId}`);
      await page.locator('.timeline .note').waitFor();
      if (suffix === 'pt-BR') await shoot(page, `inbox-${suffix}`);
      await page.goto('/#/board');
      await page.locator('.lead-card').first().waitFor();
      if (suffix === 'pt-BR') await shoot(page, `board-${suffix}`);
      await page.goto(`/#/setup/sources/${form.id}`);
      await page.locator('.source-detail').waitFor();
      await shoot(page, `setup-sources-${suffix}`);
      await page.goto('/#/setup/workspace');
      await page.locator('.resource-form').waitFor();
      await shoot(page, `setup-workspace-${suffix}`);
      await page.goto('/#/inbox');
      await page.keyboard.press('Control+k');
      await page.getByRole('dialog').waitFor();
      await page.keyboard.type('Paula');
      await page.getByRole('option', { name: /Paula Prado/ }).waitFor();
      await shoot(page, `command-bar-${suffix}`);
      await page.keyboard.press('Enter');
      await page.waitForURL(new RegExp(`#/inbox/${leadId}$`));
    }
    const phone = await ownerContext.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`/#/inbox/${leadId}`);
    await phone.locator('.timeline .note').waitFor();
    await shoot(phone, 'phone-conversation-en');
    await phone.close();
    for (const name of ['inbox-en', 'inbox-pt-BR', 'board-en', 'board-pt-BR', 'sign-in-en', 'sign-in-pt-BR', 'setup-sources-en', 'setup-sources-pt-BR']) {
      expect(fs.statSync(path.join(screenshots, `${name}.png`)).size).toBeGreaterThan(5_000);
    }
  });
});
