import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../../src/paths.js';
import { DisconnectCode, disconnect, FakeWhatsApp, receivedMessage } from '../support/fake-whatsapp.js';
import { eventually, type Stack, startStack } from '../support/stack.js';
import { launchChromium, setLanguage, signIn } from './browser.js';

const screenshots = projectPath('docs', 'screenshots');

// jsQR's bundle exports the function itself, while its types describe an ES default export.
const jsQR = createRequire(import.meta.url)('jsqr') as (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;

/** What a phone camera would read from the QR code the page shows now (the image as the page loaded it). */
async function qrOnPage(page: Page): Promise<string> {
  // In the page (as text: the tests are compiled without the DOM's types).
  const image = await page.evaluate<{ width: number; height: number; pixels: number[] } | null>(`(() => {
    const img = document.querySelector('img.qr');
    if (!img || !img.complete || img.naturalWidth === 0) return null;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    return { width: canvas.width, height: canvas.height, pixels: Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data) };
  })()`);
  if (!image) throw new Error('the QR code image has not loaded');
  const found = jsQR(new Uint8ClampedArray(image.pixels), image.width, image.height);
  if (!found) throw new Error('no readable QR code on the page');
  return found.data;
}

async function signInInEnglish(page: Page): Promise<void> {
  await signIn(page, 'owner@acme.test', 'correct horse battery');
  await setLanguage(page, 'English');
}

/**
 * Linking a WhatsApp number from the setup page, in a real browser against the real server; the
 * fake WhatsApp issues and rotates the codes and plays the phone that scans one.
 */
describe('pairing a WhatsApp number in the browser', () => {
  const fake = new FakeWhatsApp();
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    fs.mkdirSync(screenshots, { recursive: true });
    stack = await startStack({ db: 'pglite', queue: 'embedded', adapterOptions: { whatsapp: { driver: fake, timing: { typingMs: 20, sendGapMs: 10 } } } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('shows the live QR code, follows its rotation, and shows the linked number once the phone scans it', async () => {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
    await signInInEnglish(page);

    await page.goto('/#/setup/sources');
    await page.getByLabel('Kind').selectOption({ label: 'WhatsApp' });
    await page.getByLabel('Name', { exact: true }).fill('Vendas WhatsApp');
    await page.getByRole('button', { name: 'Add' }).click();
    const detail = page.locator('.source-detail');
    await detail.getByText('Waiting for pairing').waitFor();

    // The code WhatsApp issued, readable by a phone's camera.
    const first = await eventually(async () => {
      expect(fake.live?.qrs.length).toBe(1);
      const read = await qrOnPage(page);
      expect(read).toBe(fake.live!.qrs[0]);
      return read;
    });
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(screenshots, 'whatsapp-qr-en.png') });

    // WhatsApp replaces it: the page follows without a reload.
    const rotated = fake.live!.rotateQr();
    expect(rotated).not.toBe(first);
    await eventually(async () => expect(await qrOnPage(page)).toBe(rotated), 30_000, 250);

    // The phone scans it: linked, with the business's number, and the code is gone.
    await fake.live!.link('5511955550000');
    await detail.getByText('Connected', { exact: true }).waitFor({ timeout: 15_000 });
    await expect(detail.locator('.linked-number').textContent()).resolves.toBe('+5511955550000');
    await expect(detail.locator('img.qr').count()).resolves.toBe(0);

    // Once linked, the number's daily cap on automatic messages to one person can be changed here.
    const cap = detail.getByLabel('Automatic messages per person a day');
    await expect(cap.inputValue()).resolves.toBe('3');
    await cap.fill('2');
    await detail.getByRole('button', { name: 'Save' }).click();
    await detail.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'whatsapp-linked-en.png') });
    const { body: sources } = await stack.api<{ data: { kind: string; automaticPerPersonPerDay?: number }[] }>('GET', '/api/v1/sources');
    expect(sources.data.find((source) => source.kind === 'whatsapp')?.automaticPerPersonPerDay).toBe(2);
    await context.close();
  });

  it('shows the person typing in their conversation while WhatsApp says so', async () => {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signInInEnglish(page);
    const jid = '5511955507777@s.whatsapp.net';
    fake.live!.receive([receivedMessage({ from: jid, pushName: 'Tina Rocha', message: { conversation: 'Oi! Vocês instalam em Campinas?' } })]);
    const row = page.locator('.conversation-list li', { hasText: 'Tina Rocha' });
    await row.waitFor({ timeout: 15_000 });
    await row.locator('a').click();
    await page.getByText('Vocês instalam em Campinas?').waitFor();
    await eventually(() => expect(fake.live!.presenceSubscriptions).toContain(jid));

    fake.live!.presence(jid, 'composing');
    await page.getByText('Tina Rocha is typing…').waitFor({ timeout: 15_000 });
    fake.live!.presence(jid, 'paused');
    await page.getByText('Tina Rocha is typing…').waitFor({ state: 'detached', timeout: 15_000 });
    await context.close();
  });

  it('offers to link again once another session took the link over, and connects with the kept credentials', async () => {
    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signInInEnglish(page);
    const { body: sources } = await stack.api<{ data: { id: string; kind: string }[] }>('GET', '/api/v1/sources');
    const source = sources.data.find((candidate) => candidate.kind === 'whatsapp')!;
    await page.goto(`/#/setup/sources/${source.id}`);
    const detail = page.locator('.source-detail');
    await detail.getByText('Connected', { exact: true }).waitFor({ timeout: 15_000 });

    const replaced = fake.live!;
    replaced.close(disconnect(DisconnectCode.connectionReplaced, 'Stream Errored (conflict)'));
    await detail.getByText('another WhatsApp Web session with this link took over (440, connection replaced)').waitFor({ timeout: 15_000 });
    await detail.getByText('Error', { exact: true }).waitFor();
    await detail.getByRole('button', { name: 'Link again' }).click();
    await detail.getByText('Connected', { exact: true }).waitFor({ timeout: 15_000 });
    expect(fake.live).not.toBe(replaced);
    expect(fake.live!.qrs).toEqual([]);
    await context.close();
  });
});
