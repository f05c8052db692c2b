import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';
import { launchChromium, signIn } from './browser.js';

interface MessageView {
  id: string;
  direction: 'in' | 'out';
  text: string | null;
  status: string;
  scheduledAt: string | null;
  attachments: { filename: string }[];
}

/** The reply box of the inbox in a real browser: files, scheduled sends, retries, and its dialogs. */
describe('the reply box in a browser', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let browser: Browser;
  let form: WebformSource;
  let page: Page;
  let leadId = '';
  const timeZone = 'America/Sao_Paulo';

  const outbound = async () =>
    (await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`)).body.data.filter((message) => message.direction === 'out');
  const mailsTo = (address: string) => smtp.received.filter((mail) => mail.envelope.to.includes(address));
  const replyBox = () => page.getByRole('textbox', { name: 'Write a reply (type / for saved replies)' });
  const sendButton = () => page.locator('form.composer button[type="submit"]');

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <sales@acme.test>' } });
    expect((await stack.api('PATCH', '/api/v1/workspace', { locale: 'en', timeZone })).status).toBe(200);
    browser = await launchChromium();
    form = await createWebform(stack, { name: 'Website', autoReplyTemplate: null });
    await postForm(stack, form, { name: 'Rafa Reply', email: 'rafa@example.com', message: 'Can you send me the proposal?' });
    leadId = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?q=rafa%40example.com');
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });

    const context = await browser.newContext({ baseURL: stack.baseUrl, locale: 'en-US', viewport: { width: 1280, height: 800 }, timezoneId: timeZone });
    page = await context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
    await signIn(page, 'owner@acme.test', 'correct horse battery');
    await page.goto(`/#/inbox/${leadId}`);
    await replyBox().waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await smtp?.stop();
  });

  it('attaches a file with the button and another by dropping it, and the email arrives with both, byte for byte', async () => {
    const photo = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2048)]);
    await page.locator('form.composer input[type="file"]').setInputFiles({ name: 'roof.png', mimeType: 'image/png', buffer: photo });
    await page.locator('.attached-files', { hasText: 'roof.png' }).waitFor();
    // What a browser hands a drop of a file from the desktop (written as page code: no DOM types here).
    const dropped = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['%PDF-1.4\\nproposal body'], 'proposal.pdf', { type: 'application/pdf' }));
      return transfer;
    })()`);
    await page.locator('form.composer').dispatchEvent('dragover', { dataTransfer: dropped });
    await page.locator('form.composer').dispatchEvent('drop', { dataTransfer: dropped });
    await page.locator('.attached-files', { hasText: 'proposal.pdf' }).waitFor();
    await replyBox().fill('Here is the proposal and the photo of your roof.');
    await sendButton().click();

    const [mail] = await eventually(() => {
      const mails = mailsTo('rafa@example.com');
      expect(mails).toHaveLength(1);
      return mails;
    });
    expect(mail!.mail.attachments.map((file) => file.filename)).toEqual(['roof.png', 'proposal.pdf']);
    expect(Buffer.compare(mail!.mail.attachments[0]!.content, photo)).toBe(0);
    expect(mail!.mail.attachments[1]!.content.toString('latin1')).toBe('%PDF-1.4\nproposal body');
    await page.locator('.timeline .message.out a.attachment', { hasText: 'roof.png' }).waitFor();
    await expect(page.locator('.attached-files').count()).resolves.toBe(0);
  });

  it('schedules a reply for a time in the workspace\'s zone, shows it as scheduled, and cancels it', async () => {
    await page.locator('form.composer').getByRole('button', { name: 'Later', exact: true }).click();
    const at = new Date(Date.now() + 2 * 3600_000);
    at.setUTCSeconds(0, 0);
    const local = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .format(at)
      .replace(' ', 'T');
    await page.getByLabel('Send at').fill(local);
    await replyBox().fill('Checking in tomorrow morning.');
    await sendButton().click();

    const scheduled = await eventually(async () => {
      const message = (await outbound()).find((item) => item.text === 'Checking in tomorrow morning.');
      expect(message?.status).toBe('scheduled');
      return message!;
    });
    expect(scheduled.scheduledAt).toBe(at.toISOString());
    const bubble = page.locator('.timeline .message.out', { hasText: 'Checking in tomorrow morning.' });
    await bubble.locator('.delivery', { hasText: 'Scheduled for' }).waitFor();
    await bubble.getByRole('button', { name: 'Cancel sending' }).click();
    await bubble.locator('.delivery', { hasText: 'Canceled' }).waitFor();
    const { body } = await stack.api<MessageView>('GET', `/api/v1/messages/${scheduled.id}`);
    expect(body.status).toBe('canceled');
    expect(mailsTo('rafa@example.com').map((mail) => mail.mail.text?.trim())).not.toContain('Checking in tomorrow morning.');
  });

  it('retries a failed reply: the same message goes out, not a new one', async () => {
    // After a scheduled send the box is back to sending now.
    await expect(sendButton().textContent()).resolves.toBe('Send');
    smtp.failNext(1, 550, 'Mailbox unavailable');
    await replyBox().fill('This one bounces first.');
    await sendButton().click();
    const bubble = page.locator('.timeline .message.out', { hasText: 'This one bounces first.' });
    await bubble.locator('.delivery', { hasText: 'Failed' }).waitFor();
    const [failed] = (await outbound()).filter((item) => item.text === 'This one bounces first.');
    await bubble.getByRole('button', { name: 'Retry' }).click();
    await bubble.locator('.delivery', { hasText: 'Sent' }).waitFor();
    const copies = (await outbound()).filter((item) => item.text === 'This one bounces first.');
    expect(copies.map((item) => [item.id, item.status])).toEqual([[failed!.id, 'sent']]);
    expect(mailsTo('rafa@example.com').filter((mail) => mail.mail.text?.trim() === 'This one bounces first.')).toHaveLength(1);
  });

  it('stops a sequence from the lead panel, and asks for the loss reason in a dialog of the page', async () => {
    const sequence = await stack.api<{ id: string }>('POST', '/api/v1/sequences', { name: 'Warm-up', steps: [{ waitMinutes: 600, templateId: 'en.thank_you.email' }] });
    expect((await stack.api('POST', `/api/v1/leads/${leadId}/sequences`, { sequenceId: sequence.body.id })).status).toBe(201);
    await page.reload();
    const panel = page.getByRole('complementary', { name: 'Lead details' });
    await panel.getByRole('button', { name: 'Stop Warm-up' }).click();
    await panel.locator('.enrollments', { hasText: 'stopped' }).waitFor();
    const enrolments = await stack.api<{ data: { status: string; stopReason: string }[] }>('GET', `/api/v1/leads/${leadId}/sequences`);
    expect(enrolments.body.data).toMatchObject([{ status: 'stopped', stopReason: 'stopped by hand' }]);

    await panel.getByLabel('Stage').selectOption('unqualified');
    const dialog = page.getByRole('dialog', { name: 'Why is this lead unqualified?' });
    await dialog.getByRole('textbox').fill('Bought from a competitor');
    await dialog.getByRole('button', { name: 'OK' }).click();
    await eventually(async () => {
      const lead = await stack.api<{ stage: string }>('GET', `/api/v1/leads/${leadId}`);
      expect(lead.body.stage).toBe('unqualified');
    });
    const activities = await stack.api<{ data: { kind: string; data: Record<string, unknown> }[] }>('GET', `/api/v1/leads/${leadId}/activities`);
    expect(JSON.stringify(activities.body.data.find((item) => item.kind === 'lead.stage_changed')?.data)).toContain('Bought from a competitor');
  });
});
