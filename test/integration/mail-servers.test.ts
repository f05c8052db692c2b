import net from 'node:net';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MailUser, TestMailServers } from '../support/mail-servers.js';

const sales: MailUser = { address: 'sales@acme.test', password: 'sales-secret' };
const support: MailUser = { address: 'support@acme.test', password: 'support-secret' };

function message(subject: string, to: string): string {
  return [`From: Lead <lead@example.com>`, `To: ${to}`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '')}@example.com>`, '', `About ${subject}.`, ''].join('\r\n');
}

async function uidValidity(servers: TestMailServers, user: MailUser): Promise<bigint> {
  const client = new ImapFlow({ ...servers.imap, auth: { user: user.address, pass: user.password }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.mailboxOpen('INBOX', { readOnly: true })).uidValidity;
  } finally {
    await client.logout();
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('TestMailServers', () => {
  let servers: TestMailServers;

  beforeAll(async () => {
    servers = await TestMailServers.start([sales, support]);
  });

  afterAll(async () => {
    await servers?.stop();
  });

  function sender(user: MailUser = sales): nodemailer.Transporter {
    return nodemailer.createTransport({
      host: servers.smtp.host,
      port: servers.smtp.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: user.address, pass: user.password },
    });
  }

  it('stores authenticated submissions in the local user’s INBOX with the UID dovecot assigns', async () => {
    const transport = sender();
    await transport.sendMail({ from: 'lead@example.com', to: sales.address, subject: 'first', text: 'hello' });
    transport.close();
    const inbox = await servers.mailbox(sales);
    expect(inbox).toHaveLength(1);
    expect(inbox[0]!.uid).toBe(1);
    expect(inbox[0]!.raw.toString()).toContain('Subject: first');
    expect(await servers.mailbox(support)).toEqual([]);
  });

  it('deliver() resolves once the message is stored, byte for byte', async () => {
    const raw = message('inbound', support.address);
    await servers.deliver(raw, { from: 'lead@example.com', to: [support.address] });
    const inbox = await servers.mailbox(support);
    expect(inbox.map((m) => m.uid)).toEqual([1]);
    expect(inbox[0]!.raw.toString()).toBe(raw);
  });

  it('records mail for non-local recipients as relayed', async () => {
    const transport = sender();
    await transport.sendMail({ from: sales.address, to: 'lead@example.com', cc: support.address, subject: 'reply', text: 'thanks' });
    transport.close();
    expect(servers.relayed).toHaveLength(1);
    expect(servers.relayed[0]!.envelope).toEqual({ from: sales.address, to: ['lead@example.com'] });
    expect(servers.relayed[0]!.raw.toString()).toContain('Subject: reply');
    expect((await servers.mailbox(support)).map((m) => m.uid)).toEqual([1, 2]);
  });

  it('rejects a wrong password with 535', async () => {
    const transport = sender({ address: sales.address, password: 'wrong' });
    await expect(transport.sendMail({ from: sales.address, to: 'lead@example.com', text: 'x' })).rejects.toMatchObject({ responseCode: 535 });
    transport.close();
  });

  it('fails the next DATA commands on request, leaving deliver() alone', async () => {
    servers.failNextSmtp(1, 451, '4.3.0 try again later');
    const transport = sender();
    await expect(transport.sendMail({ from: sales.address, to: 'lead@example.com', text: 'x' })).rejects.toMatchObject({ responseCode: 451 });
    await transport.sendMail({ from: sales.address, to: 'lead@example.com', text: 'x' });

    servers.failNextSmtp(2, 550, '5.1.1 no such user');
    await servers.deliver(message('unaffected', sales.address), { from: 'lead@example.com', to: [sales.address] });
    await expect(transport.sendMail({ from: sales.address, to: 'lead@example.com', text: 'x' })).rejects.toMatchObject({ responseCode: 550 });
    servers.clearSmtpFailures();
    await transport.sendMail({ from: sales.address, to: 'lead@example.com', text: 'x' });
    transport.close();
  });

  it('recreateInbox changes UIDVALIDITY, empties the INBOX, restarts UIDs and disconnects open sessions', async () => {
    const before = await uidValidity(servers, sales);
    expect((await servers.mailbox(sales)).length).toBeGreaterThan(0);
    const watcher = new ImapFlow({ ...servers.imap, auth: { user: sales.address, pass: sales.password }, logger: false });
    watcher.on('error', () => undefined);
    await watcher.connect();
    await watcher.mailboxOpen('INBOX');
    const closed = new Promise<void>((resolve) => watcher.once('close', () => resolve()));
    void watcher.idle().catch(() => undefined);

    await servers.recreateInbox(sales);
    await closed;
    expect(await uidValidity(servers, sales)).not.toBe(before);
    expect(await servers.mailbox(sales)).toEqual([]);
    await servers.deliver(message('after', sales.address), { from: 'lead@example.com', to: [sales.address] });
    expect((await servers.mailbox(sales)).map((m) => m.uid)).toEqual([1]);
    expect((await servers.mailbox(support)).map((m) => m.uid)).toEqual([1, 2]);
  });

  it('runs independent instances side by side and frees the ports on stop', async () => {
    const other = await TestMailServers.start([sales]);
    try {
      expect(other.imap.port).not.toBe(servers.imap.port);
      expect(other.smtp.port).not.toBe(servers.smtp.port);
      expect(await other.mailbox(sales)).toEqual([]);
    } finally {
      await other.stop();
    }
    expect(await accepts(other.imap.port)).toBe(false);
    expect(await accepts(other.smtp.port)).toBe(false);
    expect(await accepts(servers.imap.port)).toBe(true);
  });
});
