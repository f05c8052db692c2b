import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { eventually, type Stack, startStack } from '../support/stack.js';
import { launchChromium, signIn } from './browser.js';

const owner = { email: 'owner@acme.test', password: 'correct horse battery' };
const phoneSize = { width: 390, height: 844 };

/** A new owner's first sign-in (the business profile), and a teammate invited by email who sets their own password. */
describe('onboarding a business and its team', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let browser: Browser;

  async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport, timezoneId: 'America/Sao_Paulo' });
    const page = await context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
    page.on('dialog', (dialog) => {
      throw new Error(`a browser dialog opened: ${dialog.message()}`);
    });
    return { context, page };
  }

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', askBusinessProfile: true, smtp: { url: smtp.url, from: 'Acme <sales@acme.test>' } });
    expect((await stack.api('PATCH', '/api/v1/workspace', { locale: 'en' })).status).toBe(200);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await smtp?.stop();
  });

  it('asks a new owner for the business name, time zone (picked from a list) and hours on a phone', async () => {
    const { context, page } = await newPage(phoneSize);
    await signIn(page, owner.email, owner.password);
    const dialog = page.getByRole('dialog', { name: 'Your business' });
    await dialog.waitFor();
    const box = (await dialog.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(phoneSize.width);
    await expect(dialog.getByLabel('Business name').inputValue()).resolves.toBe('My business');
    await dialog.getByLabel('Business name').fill('Acme Solar');
    const zone = dialog.getByLabel('Time zone');
    await expect(zone.evaluate((element) => element.tagName)).resolves.toBe('SELECT');
    expect(await zone.locator('option').count()).toBeGreaterThan(300);
    await zone.selectOption('America/Manaus');
    await dialog.getByRole('group', { name: 'Saturday' }).getByRole('checkbox').check();
    await dialog.getByLabel('Email signature').fill('Acme Solar · (92) 3333-0000');
    await dialog.getByRole('button', { name: 'Save and start' }).click();
    await dialog.waitFor({ state: 'detached' });
    const { body } = await stack.api<{ name: string; timeZone: string; signature: string; profileConfirmed: boolean; workingHours: Record<string, unknown> }>('GET', '/api/v1/workspace');
    expect(body).toMatchObject({ name: 'Acme Solar', timeZone: 'America/Manaus', signature: 'Acme Solar · (92) 3333-0000', profileConfirmed: true });
    expect(body.workingHours.sat).toEqual([['09:00', '18:00']]);
    // Asked once: the next sign-in goes straight to the inbox.
    await page.reload();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await expect(page.getByRole('dialog', { name: 'Your business' }).count()).resolves.toBe(0);
    await context.close();
  });

  it('invites a teammate, who sets their own password through the emailed link; the link works once', async () => {
    const owners = await newPage();
    await signIn(owners.page, owner.email, owner.password);
    await owners.page.goto('/#/setup/users/new');
    const form = owners.page.locator('.resource-form');
    await form.waitFor();
    await expect(form.getByLabel(/Password/).count()).resolves.toBe(0);
    await form.getByLabel('Name', { exact: true }).fill('Nina Nova');
    await form.getByLabel('Email', { exact: true }).fill('nina@acme.test');
    await form.getByLabel('Role', { exact: true }).selectOption('rep');
    await form.getByRole('button', { name: 'Send invite' }).click();
    await owners.page.getByRole('status').filter({ hasText: 'Invitation sent' }).waitFor();
    const row = owners.page.locator('.table tr', { hasText: 'nina@acme.test' });
    await row.getByText('Invited').waitFor();
    const mail = await eventually(() => {
      const found = smtp.received.find((item) => item.envelope.to.includes('nina@acme.test'));
      expect(found).toBeDefined();
      return found!.mail;
    });
    const link = /#\/invite\/\S+/.exec(mail.text ?? '')![0];

    const nina = await newPage();
    await nina.page.goto(`/${link}`);
    await nina.page.getByRole('heading', { name: 'Join Acme Solar' }).waitFor();
    await nina.page.getByLabel('New password').fill('nina chose this one');
    await nina.page.getByRole('button', { name: 'Set password and sign in' }).click();
    await nina.page.getByRole('navigation', { name: 'Main' }).waitFor();
    await expect(nina.page.locator('.menu > button').textContent()).resolves.toBe('Nina Nova');
    await nina.context.close();

    const again = await newPage();
    await again.page.goto(`/${link}`);
    await again.page.getByRole('alert').filter({ hasText: 'no longer works' }).waitFor();
    await again.context.close();

    await owners.page.reload();
    await owners.page.locator('.table tr', { hasText: 'nina@acme.test' }).waitFor();
    await expect(owners.page.locator('.table tr', { hasText: 'nina@acme.test' }).getByText('Invited').count()).resolves.toBe(0);
    await owners.context.close();
  });
});
