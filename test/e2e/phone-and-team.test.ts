import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';
import { launchChromium, setLanguage, signIn } from './browser.js';

const owner = { email: 'owner@acme.test', password: 'correct horse battery' };
const phoneSize = { width: 390, height: 844 };

/** The inbox on a phone, and what a team sees change while the page stays open. */
describe('the inbox on a phone and for a growing team', () => {
  let stack: Stack;
  let browser: Browser;
  let form: WebformSource;
  let leadId = '';

  async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport, timezoneId: 'America/Sao_Paulo' });
    const created = await context.newPage();
    created.on('pageerror', (error) => {
      throw error;
    });
    return { context, page: created };
  }

  /** Where an element sits horizontally, and whether anything of it lies outside the viewport. */
  async function horizontalBox(page: Page, selector: string): Promise<{ left: number; right: number }> {
    const box = await page.locator(selector).first().boundingBox();
    expect(box, selector).not.toBeNull();
    return { left: box!.x, right: box!.x + box!.width };
  }

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded' });
    browser = await launchChromium();
    form = await createWebform(stack, { name: 'Website' });
    const posted = await postForm(stack, form, {
      name: 'Maria Aparecida dos Santos Nascimento Ferreira',
      email: 'maria@example.com',
      // 88 characters, no line break: the kind of message that used to widen the list.
      message: 'Gostaria de receber uma proposta completa para o plano anual com vinte e cinco usuários.',
    });
    expect(posted.status).toBe(202);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('fits the list, its controls and the navigation on a 390 px phone', async () => {
    const { context, page } = await newPage(phoneSize);
    await signIn(page, owner.email, owner.password);
    await setLanguage(page, 'English');
    await page.goto('/#/inbox');
    const row = page.locator('.row', { hasText: 'Maria Aparecida' });
    await row.waitFor({ timeout: 15_000 });
    leadId = (await row.locator('a').getAttribute('href'))!.split('/').pop()!;

    expect(await page.evaluate<number>('document.scrollingElement.scrollWidth')).toBeLessThanOrEqual(phoneSize.width);
    expect(await page.evaluate<number>("document.querySelector('.conversation-list').scrollWidth")).toBeLessThanOrEqual(phoneSize.width);
    for (const selector of ['.filters input[type=search]', '.filters button[aria-expanded]', '.row .when', '.row .channels', '.row .preview']) {
      const box = await horizontalBox(page, selector);
      expect(box.left, selector).toBeGreaterThanOrEqual(0);
      expect(box.right, selector).toBeLessThanOrEqual(phoneSize.width);
    }
    // Every page of the navigation is in view, none behind a sideways scroll.
    for (const name of ['Inbox', 'Pipeline', 'Insights', 'Setup']) {
      const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
      const box = await link.boundingBox();
      expect(box, name).not.toBeNull();
      expect(box!.x, name).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width, name).toBeLessThanOrEqual(phoneSize.width);
      expect(box!.y + box!.height, name).toBeLessThanOrEqual(phoneSize.height);
    }
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Setup', exact: true }).click();
    await page.waitForURL(/#\/setup/);

    // The conversation: its header is one row, the page no wider than the phone.
    await page.goto(`/#/inbox/${leadId}`);
    await page.getByRole('heading', { name: /Maria Aparecida/ }).waitFor();
    await page.locator('.message.in').first().waitFor();
    expect(await page.evaluate<number>('document.scrollingElement.scrollWidth')).toBeLessThanOrEqual(phoneSize.width);
    const head = await page.locator('.conversation-head').boundingBox();
    expect(head!.height).toBeLessThanOrEqual(56);
    const resolve = await horizontalBox(page, '.conversation-head button:has-text("Resolve")');
    expect(resolve.right).toBeLessThanOrEqual(phoneSize.width);
    await context.close();
  });

  it('offers a teammate added elsewhere as owner and for a mention without a reload', async () => {
    const { context, page } = await newPage();
    await signIn(page, owner.email, owner.password);
    await setLanguage(page, 'English');
    await page.goto(`/#/inbox/${leadId}`);
    const ownerPicker = page.getByLabel('Owner', { exact: true });
    await ownerPicker.waitFor();
    await expect(ownerPicker.locator('option', { hasText: 'Nina Nova' }).count()).resolves.toBe(0);

    const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Nina Nova', email: 'nina@acme.test', role: 'rep', password: 'nina secret words' });
    expect(created.status).toBe(201);
    await ownerPicker.locator('option', { hasText: 'Nina Nova' }).waitFor({ state: 'attached', timeout: 10_000 });
    await ownerPicker.selectOption({ label: 'Nina Nova' });
    await eventually(async () => {
      const lead = await stack.api<{ owner: { id: string } | null }>('GET', `/api/v1/leads/${leadId}`);
      expect(lead.body.owner?.id).toBe(created.body.id);
    });

    await page.locator('.timeline').click();
    await page.keyboard.press('n');
    await page.keyboard.type('Falar com @Nin');
    await page.getByRole('listbox', { name: 'Mention a teammate' }).getByRole('button', { name: '@Nina Nova' }).waitFor();

    await context.close();
  });

  it('picks the users of an assignment rule and the product of a quota by name, never by id', async () => {
    const { context, page } = await newPage();
    await signIn(page, owner.email, owner.password);
    await setLanguage(page, 'English');
    const nina = (await stack.api<{ data: { id: string; name: string }[] }>('GET', '/api/v1/users')).body.data.find((user) => user.name === 'Nina Nova')!;

    await page.goto('/#/setup/assignment-rules/new');
    await page.locator('.resource-form').waitFor();
    await expect(page.getByRole('textbox', { name: /User/ }).count()).resolves.toBe(0);
    await page.getByLabel('Name', { exact: true }).fill('Nina takes them all');
    await page.getByLabel('Priority', { exact: true }).fill('5');
    await page.getByLabel('Strategy', { exact: true }).selectOption({ label: 'Round robin' });
    await page.getByRole('group', { name: 'Users' }).getByLabel('Nina Nova').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.table td', { hasText: 'Nina takes them all' }).waitFor();
    const rules = await stack.api<{ data: { name: string; userIds: string[] }[] }>('GET', '/api/v1/assignment-rules');
    expect(rules.body.data.find((rule) => rule.name === 'Nina takes them all')?.userIds).toEqual([nina.id]);

    // A product added while the form is open is offered at once.
    await page.goto('/#/setup/quotas/new');
    const productPicker = page.getByLabel('Product', { exact: true });
    await productPicker.waitFor();
    await expect(productPicker.evaluate((element) => element.tagName)).resolves.toBe('SELECT');
    const product = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Plano Anual', keywords: [] });
    expect(product.status).toBe(201);
    await productPicker.locator('option', { hasText: 'Plano Anual' }).waitFor({ state: 'attached', timeout: 10_000 });
    await page.getByLabel('Period', { exact: true }).fill('2031-03');
    await productPicker.selectOption({ label: 'Plano Anual' });
    await page.getByLabel('Target', { exact: true }).fill('40');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.table td', { hasText: 'Plano Anual' }).waitFor();
    const quotas = await stack.api<{ data: { period: string; productId: string | null }[] }>('GET', '/api/v1/quotas');
    expect(quotas.body.data.find((quota) => quota.period === '2031-03')?.productId).toBe(product.body.id);
    await context.close();
  });

  it('keeps the newest line of the timeline in view when the reply box grows', async () => {
    for (let n = 1; n <= 8; n++) expect((await stack.api('POST', `/api/v1/leads/${leadId}/notes`, { text: `Nota número ${n}\nsegunda linha\nterceira linha` })).status).toBe(201);
    const { context, page } = await newPage(phoneSize);
    await signIn(page, owner.email, owner.password);
    await setLanguage(page, 'Português (Brasil)');
    await page.goto(`/#/inbox/${leadId}`);
    const newest = page.locator('.timeline .note', { hasText: 'Nota número 8' });
    await newest.waitFor();
    const timeline = page.locator('.timeline');
    // The timeline overflows, so something is hidden whenever it is not scrolled to the end.
    expect(await timeline.evaluate((element) => element.scrollHeight > element.clientHeight)).toBe(true);
    const inView = async () => {
      const [line, box] = [await newest.boundingBox(), await timeline.boundingBox()];
      return line!.y + line!.height <= box!.y + box!.height + 1;
    };
    await expect.poll(inView).toBe(true);
    const before = (await page.locator('.composer').boundingBox())!.height;
    await page.locator('.composer-actions button[aria-pressed]').click();
    await page.locator('.schedule-field').waitFor();
    expect((await page.locator('.composer').boundingBox())!.height).toBeGreaterThan(before);
    await expect.poll(inView).toBe(true);
    await context.close();
  });

  it('offers a rep the same views on the board as in the inbox, Reopen only when not open, and role names in words', async () => {
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own', repsCanClaim: true })).status).toBe(200);
    const rep = await newPage();
    await signIn(rep.page, 'nina@acme.test', 'nina secret words');
    await setLanguage(rep.page, 'English');
    await rep.page.goto('/#/inbox');
    const inboxViews = await rep.page.getByRole('tablist', { name: 'View' }).getByRole('tab').allTextContents();
    await rep.page.goto('/#/board');
    const boardViews = await rep.page.getByLabel('View', { exact: true }).locator('option').allTextContents();
    expect(boardViews).toEqual(inboxViews);
    expect(boardViews).not.toContain('All');
    await rep.context.close();
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' })).status).toBe(200);

    const { context, page } = await newPage();
    await signIn(page, owner.email, owner.password);
    await setLanguage(page, 'English');
    await page.goto(`/#/inbox/${leadId}`);
    const head = page.locator('.conversation-head');
    await head.getByRole('button', { name: 'Resolve' }).waitFor();
    await expect(head.getByRole('button', { name: 'Reopen' }).count()).resolves.toBe(0);
    await head.getByRole('button', { name: 'Resolve' }).click();
    await head.getByRole('button', { name: 'Reopen' }).waitFor();
    await expect(head.getByRole('button', { name: 'Resolve' }).count()).resolves.toBe(0);
    const lead = await stack.api<{ conversation: { status: string } }>('GET', `/api/v1/leads/${leadId}`);
    expect(lead.body.conversation.status).toBe('resolved');

    await setLanguage(page, 'Português (Brasil)');
    await page.goto('/#/setup/users');
    const roles = page.locator('.table tbody tr td:nth-child(3)');
    await roles.first().waitFor();
    const shown = await roles.allTextContents();
    expect(shown).toEqual(expect.arrayContaining(['Dono', 'Vendedor']));
    expect(shown).not.toContain('owner');
    expect(shown).not.toContain('rep');
    await context.close();
  });
});
