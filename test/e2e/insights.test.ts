import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../../src/paths.js';
import { leadHistory } from '../support/history.js';
import { TestSmtpServer } from '../support/smtp.js';
import { createWebform, eventually, postForm, type Stack, startStack } from '../support/stack.js';
import { launchChromium, setLanguage, signIn } from './browser.js';

const owner = { email: 'owner@acme.test', password: 'correct horse battery' };
const screenshots = projectPath('docs', 'screenshots');
// A finished week in the past (São Paulo, -03:00 all year since 2019): Monday 2 to Sunday 8 March 2026.
const week = 'from=2026-03-02&to=2026-03-08&groupBy=day';
const local = (time: string) => new Date(`${time}-03:00`);

describe('the insights page in a browser', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let browser: Browser;
  let ownerContext: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];
  const reps: Record<'ana' | 'bruno', { id: string; email: string; password: string }> = {
    ana: { id: '', email: 'ana@acme.test', password: 'ana secret words' },
    bruno: { id: '', email: 'bruno@acme.test', password: 'bruno secret words' },
  };

  async function newPage(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport, timezoneId: 'Europe/Lisbon' });
    const created = await context.newPage();
    created.on('pageerror', (error) => {
      throw error;
    });
    created.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    return { context, page: created };
  }

  let loads = 0;
  /** Loads the page afresh on a view, as a shared link would (a new path query forces a real load). */
  async function openInsights(target: Page, search: string): Promise<void> {
    loads += 1;
    await target.goto(`/?load=${loads}#/insights?${search}`);
    await target.locator('[data-insight="leads-created"], .empty-state').first().waitFor();
    await target.locator('.insights-page [aria-busy="true"]').waitFor({ state: 'detached' });
  }

  /** The leads-created totals as the table shows them: first column → count. */
  async function totals(target: Page): Promise<Record<string, string>> {
    const rows = target.locator('[data-table="leads-created-totals"] tbody tr');
    await rows.first().waitFor();
    const entries = await rows.evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th')!.textContent!.trim(), tr.querySelector('td')!.textContent!.trim()]));
    return Object.fromEntries(entries);
  }

  /** The names the drill-down lists, sorted. */
  async function drilled(target: Page, expectedCount: number): Promise<string[]> {
    const items = target.locator('.drill .drill-list li');
    await eventually(async () => expect(await items.count()).toBe(expectedCount));
    return (await items.locator('a').allTextContents()).sort();
  }

  beforeAll(async () => {
    fs.mkdirSync(screenshots, { recursive: true });
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } });
    const patched = await stack.api('PATCH', '/api/v1/workspace', { timeZone: 'America/Sao_Paulo' });
    expect(patched.status).toBe(200);
    for (const [key, name] of [
      ['ana', 'Ana Lima'],
      ['bruno', 'Bruno Reis'],
    ] as const) {
      const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name, email: reps[key].email, role: 'rep', password: reps[key].password });
      expect(created.status).toBe(201);
      reps[key].id = created.body.id;
    }
    const quota = await stack.api('POST', '/api/v1/quotas', { period: '2026-03', target: 4 });
    expect(quota.status).toBe(201);

    const prisma = stack.gateway.deps.db.prisma;
    const h = leadHistory(prisma, (await prisma.workspace.findFirstOrThrow()).id);
    const alice = await h.lead({ name: 'Alice Almeida', at: local('2026-03-02T10:00:00'), channel: 'webform', ownerId: reps.ana.id }); // Mon 10h
    const arthur = await h.lead({ name: 'Arthur Alves', at: local('2026-03-02T10:20:00'), channel: 'email', ownerId: reps.ana.id }); // Mon 10h
    await h.lead({ name: 'Amanda Antunes', at: local('2026-03-04T15:00:00'), channel: 'webform', ownerId: reps.ana.id }); // Wed 15h
    await h.lead({ name: 'Bianca Borges', at: local('2026-03-03T09:00:00'), channel: 'whatsapp', ownerId: reps.bruno.id }); // Tue 09h
    const breno = await h.lead({ name: 'Breno Barros', at: local('2026-03-04T15:30:00'), channel: 'webform', ownerId: reps.bruno.id }); // Wed 15h
    // Ana answers Alice in 4 minutes and Arthur in 20; Amanda waits.
    await h.outbound(alice, local('2026-03-02T10:04:00'), { userId: reps.ana.id });
    await h.outbound(arthur, local('2026-03-02T10:40:00'), { userId: reps.ana.id });
    await h.stage(alice, 'qualified', local('2026-03-05T11:00:00'));
    await h.stage(breno, 'qualified', local('2026-03-05T12:00:00'));
    await h.stage(breno, 'unqualified', local('2026-03-06T12:00:00'), 'price');

    browser = await launchChromium();
    ({ context: ownerContext, page } = await newPage());
    await signIn(page, owner.email, owner.password);
    await setLanguage(page, 'English');
    await page.getByRole('link', { name: 'Inbox' }).waitFor();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await smtp?.stop();
  });

  it('shows the leads per channel, and a bar\'s leads each linking to its conversation', async () => {
    await openInsights(page, week);
    expect(await totals(page)).toEqual({ 'Web form': '3', Email: '1', WhatsApp: '1' });
    await expect(page.locator('.kpis div', { hasText: 'Leads created' }).locator('dd').textContent()).resolves.toBe('5');
    await expect(page.locator('.kpis div', { hasText: 'Lost' }).locator('dd').textContent()).resolves.toBe('1');
    // Four leads neither won nor lost: open, so the win rate is of Breno's loss alone.
    await expect(page.locator('.kpis div', { hasText: 'Still open' }).locator('dd').textContent()).resolves.toBe('4');
    await expect(page.locator('.kpis div', { hasText: 'Win rate' }).locator('dd').textContent()).resolves.toBe('0%');
    // The chart is drawn (Chart.js on a canvas, under the page's CSP).
    const canvas = page.getByRole('img', { name: /^Chart: Leads created/ });
    await eventually(async () => expect(await canvas.evaluate((element) => (element as unknown as { width: number }).width)).toBeGreaterThan(100));

    await page.getByRole('button', { name: 'Show the leads: Channel: Web form' }).click();
    await page.getByRole('heading', { name: 'Leads: Channel: Web form' }).waitFor();
    expect(await drilled(page, 3)).toEqual(['Alice Almeida', 'Amanda Antunes', 'Breno Barros']);

    // One bar of the stacked chart, as its table cell: Monday 2 March, web form.
    await page.locator('[data-insight="leads-created"] details summary').click();
    await page.getByRole('button', { name: /^Show the leads: Mar 2, 2026 · Web form$/ }).click();
    expect(await drilled(page, 1)).toEqual(['Alice Almeida']);

    await page.setViewportSize({ width: 1280, height: 2950 });
    await page.locator('main.page').evaluate((main) => main.scrollTo(0, 0));
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(screenshots, 'insights-en.png') });
    await page.setViewportSize({ width: 1280, height: 900 });

    await page.locator('.drill-list a', { hasText: 'Alice Almeida' }).click();
    await page.locator('.conversation-head').getByRole('heading', { name: 'Alice Almeida' }).waitFor();
    expect(page.url()).toMatch(/#\/inbox\/lead_/);
  });

  it('drills into a funnel stage and a heatmap cell; shows speed to lead, follow-ups and the quota', async () => {
    await openInsights(page, week);
    const qualified = page.locator('[data-table="funnel"] tr[data-stage="qualified"]');
    await expect(qualified.locator('td').first().textContent()).resolves.toBe('2');
    await qualified.getByRole('button', { name: 'Show the leads: Reached: Qualified' }).click();
    expect(await drilled(page, 2)).toEqual(['Alice Almeida', 'Breno Barros']);
    await expect(page.locator('[data-table="loss-reasons"] tbody tr').allTextContents()).resolves.toEqual(['price1']);

    // On the chart itself: the pointer shows over a bar, and a click there lists its leads. The
    // funnel's first bar (Open, every lead) spans the chart's width, so the middle column meets it.
    const funnelChart = page.getByRole('img', { name: /^Chart: Stage funnel/ });
    await funnelChart.scrollIntoViewIfNeeded();
    const box = (await funnelChart.boundingBox())!;
    let hit: { x: number; y: number } | undefined;
    for (let y = 2; y < box.height && !hit; y += 4) {
      await page.mouse.move(box.x + box.width / 2, box.y + y);
      if (await funnelChart.evaluate((canvas) => canvas.classList.contains('pointer'))) hit = { x: box.x + box.width / 2, y: box.y + y };
    }
    expect(hit, 'no bar under the pointer').toBeDefined();
    await page.mouse.click(hit!.x, hit!.y);
    await page.getByRole('heading', { name: 'Leads: Reached: Open' }).waitFor();
    expect(await drilled(page, 5)).toEqual(['Alice Almeida', 'Amanda Antunes', 'Arthur Alves', 'Bianca Borges', 'Breno Barros']);

    await page.getByRole('button', { name: 'Monday 10h: 2 leads' }).click();
    expect(await drilled(page, 2)).toEqual(['Alice Almeida', 'Arthur Alves']);
    await expect(page.getByRole('button', { name: 'Wednesday 15h: 2 leads' }).isVisible()).resolves.toBe(true);
    await expect(page.locator('[data-table="arrivals"] button').count()).resolves.toBe(3);

    // Ana: three conversations, two answered, one of them within 5 minutes (4 min), the other in 20; Amanda waits.
    const ana = page.locator('[data-insight="speed"] tr', { hasText: 'Ana Lima' }).first();
    await expect(ana.locator('td').allTextContents()).resolves.toEqual(['3', '2', '1', '12 min', '18.4 min', '33.3%', '33.3%', '66.7%']);
    const followUp = page.locator('[data-table="follow-up"] tr', { hasText: 'Bruno Reis' });
    await expect(followUp.locator('td').first().textContent()).resolves.toBe('2');
    const quota = page.locator('[data-table="quotas"] tbody tr');
    await expect(quota.locator('td').allTextContents()).resolves.toEqual(['All products', '4', '2', '50%']);
  });

  it('keeps the view in the URL: the split, the grouping and the filters survive a reload', async () => {
    await openInsights(page, week);
    await page.locator('[data-insight="leads-created"]').getByRole('button', { name: 'Owner', exact: true }).click();
    await eventually(async () => expect(await totals(page)).toEqual({ 'Ana Lima': '3', 'Bruno Reis': '2' }));
    await page.getByLabel('Channel', { exact: true }).selectOption({ label: 'Web form' });
    await eventually(async () => expect(await totals(page)).toEqual({ 'Ana Lima': '2', 'Bruno Reis': '1' }));
    await page.getByLabel('Group by').selectOption({ label: 'Week' });
    await eventually(() => expect(page.url()).toContain('groupBy=week'));
    expect(page.url()).toContain('split=owner');
    expect(page.url()).toContain('channel=webform');

    await page.reload();
    await page.locator('[data-insight="leads-created"]').waitFor();
    await eventually(async () => expect(await totals(page)).toEqual({ 'Ana Lima': '2', 'Bruno Reis': '1' }));
    await expect(page.getByLabel('Group by').inputValue()).resolves.toBe('week');
    await page.locator('[data-insight="leads-created"] details summary').click();
    await expect(page.locator('[data-table="leads-created-buckets"] tbody th').allTextContents()).resolves.toEqual(['Week of Mar 2, 2026']);
    await page.locator('[data-insight="leads-created"]').getByRole('button', { name: 'Show the leads: Owner: Ana Lima' }).click();
    expect(await drilled(page, 2)).toEqual(['Alice Almeida', 'Amanda Antunes']);
  });

  it('offers each table and the lead export as CSV, with the filters of the view', async () => {
    await openInsights(page, `${week}&channel=webform`);
    const exportHref = await page.getByRole('link', { name: 'Export all leads (CSV)' }).getAttribute('href');
    expect(exportHref).toContain('channel=webform');
    const exported = await ownerContext.request.get(exportHref!);
    expect(exported.headers()['content-type']).toContain('text/csv');
    const lines = (await exported.text()).trim().split(/\r\n/);
    expect(lines[0]).toMatch(/^id,name,stage,/);
    expect(lines.slice(1).map((line) => line.split(',')[1]).sort()).toEqual(['Alice Almeida', 'Amanda Antunes', 'Breno Barros']);

    const tableHref = await page.getByRole('link', { name: 'Download CSV: Leads created', exact: true }).getAttribute('href');
    const table = await (await ownerContext.request.get(tableHref!)).text();
    expect(table.trim().split(/\r\n/)[0]).toBe('bucket,start,end,key,label,leads');
    expect(table).toContain('2026-03-04');
    for (const section of ['Speed to lead', 'Follow-up', 'Stage funnel', 'Quota vs actual', 'Sequences', 'When leads arrive']) {
      const href = await page.getByRole('link', { name: `Download CSV: ${section}`, exact: true }).getAttribute('href');
      const response = await ownerContext.request.get(href!);
      expect(response.status(), section).toBe(200);
      expect(response.headers()['content-type'], section).toContain('text/csv');
    }
  });

  it('says so when the period has no leads, and the presets pick up a lead that just arrived', async () => {
    await openInsights(page, 'from=2025-01-06&to=2025-01-12');
    await page.getByText('No leads in this period with these filters.').waitFor();
    await expect(page.locator('[data-insight]').count()).resolves.toBe(0);

    const form = await createWebform(stack, { name: 'Website' });
    expect((await postForm(stack, form, { name: 'Paula Prado', email: 'paula@example.com', message: 'Quero um orçamento' })).status).toBe(202);
    await eventually(async () => expect((await stack.api<{ data: unknown[] }>('GET', '/api/v1/leads')).body.data.length).toBe(6));
    await page.getByRole('button', { name: 'Last 7 days' }).click();
    await eventually(async () => expect(await totals(page)).toEqual({ 'Web form': '1' }));
    await expect(page.getByRole('button', { name: 'Last 7 days' }).getAttribute('aria-pressed')).resolves.toBe('true');
    await page.getByRole('button', { name: 'Show the leads: Channel: Web form' }).click();
    expect(await drilled(page, 1)).toEqual(['Paula Prado']);
  });

  it('speaks Brazilian Portuguese, with numbers and dates in that language', async () => {
    await setLanguage(page, 'Português (Brasil)');
    await openInsights(page, week);
    await page.getByRole('heading', { name: 'Leads criados' }).waitFor();
    expect(await totals(page)).toEqual({ Formulário: '3', 'E-mail': '1', WhatsApp: '1' });
    const ana = page.locator('[data-insight="speed"] tr', { hasText: 'Ana Lima' }).first();
    await expect(ana.locator('td').nth(5).textContent()).resolves.toBe('33,3%');
    await page.locator('[data-insight="leads-created"] details summary').click();
    await expect(page.locator('[data-table="leads-created-buckets"] tbody th').first().textContent()).resolves.toBe('2 de mar. de 2026');
    await page.getByRole('button', { name: 'Segunda-feira 10h: 2 leads' }).click();
    expect(await drilled(page, 2)).toEqual(['Alice Almeida', 'Arthur Alves']);
    await page.setViewportSize({ width: 1280, height: 2950 });
    await page.locator('main.page').evaluate((main) => main.scrollTo(0, 0));
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(screenshots, 'insights-pt-BR.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
    await setLanguage(page, 'English');
  });

  it('shows a rep only their own figures when reps see only their own leads', async () => {
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own', repsCanClaim: false })).status).toBe(200);
    const rep = await newPage();
    await signIn(rep.page, reps.ana.email, reps.ana.password);
    await setLanguage(rep.page, 'English');
    await openInsights(rep.page, week);
    expect(await totals(rep.page)).toEqual({ 'Web form': '2', Email: '1' });
    await expect(rep.page.locator('[data-table="follow-up"] tbody th').allTextContents()).resolves.toEqual(['Ana Lima']);
    await rep.page.getByRole('button', { name: 'Show the leads: Channel: Web form' }).click();
    expect(await drilled(rep.page, 2)).toEqual(['Alice Almeida', 'Amanda Antunes']);
    // Asking for Bruno's leads in the URL still shows none of them.
    await openInsights(rep.page, `${week}&ownerId=${reps.bruno.id}`);
    await rep.page.getByText('No leads in this period with these filters.').waitFor();
    await rep.context.close();
  });

  it('fits a phone screen, and no chart breaks the Content-Security-Policy', async () => {
    const phone = await newPage({ width: 390, height: 844 });
    await signIn(phone.page, owner.email, owner.password);
    await openInsights(phone.page, week);
    await phone.page.getByRole('img', { name: /^Chart: Leads created/ }).waitFor();
    // A string: the test's own TypeScript has no DOM types.
    const widths = await phone.page.evaluate<{ page: number; insights: number; view: number; wide: string[] }>(
      `({ page: document.documentElement.scrollWidth, insights: document.querySelector('.insights-page').scrollWidth, view: window.innerWidth,
          wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
            .slice(0, 5).map((e) => e.tagName + '.' + e.className) })`,
    );
    expect(widths.page, widths.wide.join(' ')).toBeLessThanOrEqual(widths.view);
    expect(widths.insights).toBeLessThanOrEqual(widths.view);
    await phone.context.close();
    expect(cspViolations).toEqual([]);
  });
});
