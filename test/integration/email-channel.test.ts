import fs from 'node:fs';
import { simpleParser } from 'mailparser';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MailUser, TestMailServers } from '../support/mail-servers.js';
import { eventually, defaultBackends, type Stack, startStack } from '../support/stack.js';

const mailbox: MailUser = { address: 'vendas@acme.test', password: 'caixa-secreta' };
const support: MailUser = { address: 'suporte@acme.test', password: 'suporte-secreta' };

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../fixtures/email/${name}`, import.meta.url), 'utf8');
}

interface Lead {
  id: string;
  contactId: string;
  name: string | null;
  email: string | null;
  channel: string;
}
interface MessageView {
  id: string;
  direction: 'in' | 'out';
  channel: string;
  text: string | null;
  fullText: string | null;
  subject: string | null;
  status: string;
  error?: string;
  errorCode?: string;
}

let counter = 0;
function enquiry(from: string, subject: string, body: string, headers: Record<string, string> = {}): { raw: string; messageId: string } {
  const messageId = `<enquiry-${Date.now()}-${++counter}@customer.example>`;
  const lines = [
    `From: ${from}`,
    `To: Acme Vendas <${mailbox.address}>`,
    `Subject: ${subject}`,
    `Message-ID: ${messageId}`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    '',
    body,
  ];
  return { raw: `${lines.join('\r\n')}\r\n`, messageId };
}

describe.each(defaultBackends)('the email channel on $db with the $queue queue', ({ db, queue }) => {
  let servers: TestMailServers;
  let stack: Stack;
  let sourceId: string;

  const connection = () => ({
    imap: { host: servers.imap.host, port: servers.imap.port, secure: false, user: mailbox.address, password: mailbox.password },
    smtp: { host: servers.smtp.host, port: servers.smtp.port, secure: false, user: mailbox.address, password: mailbox.password },
  });

  async function leadsFrom(address: string): Promise<Lead[]> {
    const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(address)}`);
    return body.data;
  }
  async function conversation(leadId: string): Promise<MessageView[]> {
    const { body } = await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`);
    return body.data;
  }
  async function deliver(mail: { raw: string }, from: string) {
    await servers.deliver(mail.raw, { from, to: [mailbox.address] });
  }
  const relayedTo = (address: string) => servers.relayed.filter((mail) => mail.envelope.to.includes(address));

  beforeAll(async () => {
    servers = await TestMailServers.start([mailbox, support]);
    // The test's IMAP and SMTP servers listen on loopback, which the gateway refuses unless told.
    stack = await startStack({ db, queue, env: { LEADGATE_OUTBOUND_ALLOW_PRIVATE: 'true' } });
    await stack.api('PATCH', '/api/v1/workspace', { name: 'Acme Solar', locale: 'en' });
    const { status, body } = await stack.api<{ id: string; status: { state: string } }>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'Sales mailbox',
      address: mailbox.address,
      ...connection(),
      appendToSent: true,
    });
    expect(status).toBe(201);
    sourceId = body.id;
    await eventually(async () => {
      const { body: source } = await stack.api<{ status: { state: string; connectedAs?: string } }>('GET', `/api/v1/sources/${sourceId}`);
      expect(source.status).toMatchObject({ state: 'connected', connectedAs: mailbox.address });
    });
  });

  afterAll(async () => {
    await stack?.close();
    await servers?.stop();
  });

  it('refuses a mailbox it cannot log in to, saying which connection failed', async () => {
    const wrongImap = await stack.api<{ type: string; errors: { path: string }[]; detail: string }>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'Wrong password',
      address: mailbox.address,
      ...connection(),
      imap: { ...connection().imap, password: 'nope' },
    });
    expect(wrongImap.status).toBe(422);
    expect(wrongImap.body.type).toBe('https://leadgate.dev/problems/source-connection-failed');
    expect(wrongImap.body.errors.map((e) => e.path)).toEqual(['imap']);
    expect(wrongImap.body.detail).toMatch(/authentication/i);

    const wrongSmtp = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'Nothing listening',
      address: mailbox.address,
      ...connection(),
      smtp: { ...connection().smtp, port: 1 },
    });
    expect(wrongSmtp.status).toBe(422);
    expect(wrongSmtp.body.errors.map((e) => e.path)).toEqual(['smtp']);
    const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/sources');
    expect(body.data).toHaveLength(1);
  });

  it('turns a delivered enquiry into a lead, acknowledges it in the same thread, and keeps a copy in Sent', async () => {
    const mail = enquiry('Ana Souza <Ana.Souza@customer.example>', 'Solar panels for my house', 'Hello,\r\nhow much for a 5 kWp system?\r\n\r\nAna');
    await deliver(mail, 'ana.souza@customer.example');
    const lead = await eventually(async () => {
      const leads = await leadsFrom('ana.souza@customer.example');
      expect(leads).toHaveLength(1);
      return leads[0]!;
    });
    expect(lead).toMatchObject({ name: 'Ana Souza', email: 'ana.souza@customer.example', channel: 'email' });
    const messages = await eventually(async () => {
      const found = await conversation(lead.id);
      expect(found.map((m) => [m.direction, m.status])).toEqual([
        ['in', 'received'],
        ['out', 'sent'],
      ]);
      return found;
    });
    expect(messages[0]).toMatchObject({ channel: 'email', subject: 'Solar panels for my house' });
    expect(messages[0]!.text).toContain('how much for a 5 kWp system?');

    const ack = await simpleParser(relayedTo('ana.souza@customer.example')[0]!.raw);
    expect(ack.from?.value[0]?.address).toBe(mailbox.address);
    expect(ack.inReplyTo).toBe(mail.messageId);
    expect(ack.headers.get('auto-submitted')).toBe('auto-replied');
    expect(ack.text).toContain('Hi Ana,');

    await eventually(async () => {
      const sent = await servers.mailbox(mailbox, 'Sent');
      const copies = await Promise.all(sent.map(async (m) => (await simpleParser(m.raw)).messageId));
      expect(copies).toContain(ack.messageId);
    });
  });

  it('threads a rep\'s reply and the customer\'s answer into one conversation', async () => {
    const first = enquiry('Bruno Lima <bruno@customer.example>', 'Quote for a warehouse', 'Can you quote 40 panels?');
    await deliver(first, 'bruno@customer.example');
    const lead = await eventually(async () => {
      const leads = await leadsFrom('bruno@customer.example');
      expect(leads).toHaveLength(1);
      return leads[0]!;
    });
    await eventually(async () => expect((await conversation(lead.id)).map((m) => m.status)).toEqual(['received', 'sent']));

    const sent = await stack.api<{ messageId: string; channel: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Sure: 40 panels come to 52,000 BRL installed.' });
    expect(sent.status).toBe(202);
    expect(sent.body.channel).toBe('email');
    const reply = await eventually(async () => {
      const found = await Promise.all(relayedTo('bruno@customer.example').map((m) => simpleParser(m.raw)));
      const match = found.find((m) => m.text?.includes('52,000 BRL'));
      expect(match).toBeDefined();
      return match!;
    });
    expect(reply.subject).toBe('Re: Quote for a warehouse');
    expect(reply.inReplyTo).toBeTruthy();
    expect([reply.references].flat()).toContain(first.messageId);

    // The customer answers from another address, in a reply to our message only.
    const answer = enquiry('Bruno Lima <bruno.lima@othermail.example>', 'Re: Quote for a warehouse', 'Great, let us go ahead.\r\n\r\nOn Tue, Acme wrote:\r\n> Sure: 40 panels come to 52,000 BRL installed.', {
      'In-Reply-To': reply.messageId!,
      References: `${first.messageId} ${reply.messageId}`,
    });
    await deliver(answer, 'bruno.lima@othermail.example');
    const thread = await eventually(async () => {
      const found = await conversation(lead.id);
      expect(found).toHaveLength(4);
      return found;
    });
    expect(thread.map((m) => m.direction)).toEqual(['in', 'out', 'out', 'in']);
    expect(thread[3]!.text).toBe('Great, let us go ahead.');
    expect(thread[3]!.fullText).toContain('> Sure: 40 panels');
    expect(await leadsFrom('bruno.lima@othermail.example')).toHaveLength(0);
  });

  it('makes no lead of an auto-reply or a mailing list, and keeps them as rejected events', async () => {
    await deliver(enquiry('Out Of Office <ooo@customer.example>', 'Automatic reply: away', 'I am away until Monday.', { 'Auto-Submitted': 'auto-replied' }), 'ooo@customer.example');
    await deliver(enquiry('Newsletter <news@vendor.example>', 'Our November deals', 'Big sale!', { 'List-Id': '<deals.vendor.example>', Precedence: 'bulk' }), 'news@vendor.example');
    await eventually(async () => {
      const { body } = await stack.api<{ data: { reason: string }[] }>('GET', `/api/v1/inbound-events?status=rejected&sourceId=${sourceId}`);
      expect(body.data.map((e) => e.reason).join('\n')).toMatch(/auto reply: Auto-Submitted: auto-replied/);
      expect(body.data.map((e) => e.reason).join('\n')).toMatch(/mailing list/);
    });
    expect(await leadsFrom('ooo@customer.example')).toHaveLength(0);
    expect(await leadsFrom('news@vendor.example')).toHaveLength(0);
    expect(relayedTo('ooo@customer.example')).toHaveLength(0);
  });

  it("takes a website form sent through the mailbox itself, and mail through the business's own Google Group, as leads of their Reply-To", async () => {
    await deliver({ raw: fixture('form-via-own-mailbox.eml') }, mailbox.address);
    await deliver({ raw: fixture('google-group-own-domain.eml') }, 'contato+bncbdh5jz7xqmhrb4exx2nqmgqexample@acme.test');
    for (const [address, name, text] of [
      ['rafaela.dias@cliente.test', 'Rafaela Dias', 'Meu WhatsApp é (19) 99812-3344.'],
      ['thiago.moreira@fazenda.test', 'Thiago Moreira', 'Tenho um galpão de 800 m²'],
    ] as const) {
      const lead = await eventually(async () => {
        const leads = await leadsFrom(address);
        expect(leads).toHaveLength(1);
        return leads[0]!;
      });
      expect(lead).toMatchObject({ name, email: address, channel: 'email' });
      const messages = await eventually(async () => {
        const found = await conversation(lead.id);
        expect(found.map((m) => [m.direction, m.status])).toEqual([
          ['in', 'received'],
          ['out', 'sent'],
        ]);
        return found;
      });
      expect(messages[0]!.text).toContain(text);
      // The acknowledgement goes to the person, never back to the mailbox or the group.
      expect(relayedTo(address)).toHaveLength(1);
    }
    expect(await leadsFrom('vendas@acme.test')).toHaveLength(0);
    expect(await leadsFrom('contato@acme.test')).toHaveLength(0);
  });

  it('marks a bounced address undeliverable and the message that bounced as failed', async () => {
    await deliver(enquiry('Gone <gone@customer.example>', 'Question', 'Do you install in Recife?'), 'gone@customer.example');
    const lead = await eventually(async () => {
      const leads = await leadsFrom('gone@customer.example');
      expect(leads).toHaveLength(1);
      return leads[0]!;
    });
    await eventually(async () => expect((await conversation(lead.id)).map((m) => m.status)).toEqual(['received', 'sent']));
    const bounce = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>',
      `To: ${mailbox.address}`,
      'Subject: Undelivered Mail Returned to Sender',
      `Message-ID: <bounce-${Date.now()}@mx.customer.example>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--b1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.customer.example',
      '',
      'Final-Recipient: rfc822; gone@customer.example',
      'Action: failed',
      'Status: 5.1.1',
      '--b1--',
      '',
    ].join('\r\n');
    await servers.deliver(bounce, { from: '', to: [mailbox.address] });
    await eventually(async () => {
      const { body } = await stack.api<{ identities: { value: string; undeliverable: boolean }[] }>('GET', `/api/v1/contacts/${lead.contactId}`);
      expect(body.identities).toEqual([{ kind: 'email', value: 'gone@customer.example', undeliverable: true }]);
    });
    const messages = await conversation(lead.id);
    expect(messages[1]).toMatchObject({ direction: 'out', status: 'failed', errorCode: 'bounced' });
    expect(await leadsFrom('mailer-daemon@mx.customer.example')).toHaveLength(0);
    const reply = await stack.api<{ type: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Still there?' });
    expect(reply.status).toBe(422);
    expect(reply.body.type).toBe('https://leadgate.dev/problems/no-reply-channel');
  });

  it('takes a mail whose body and subject decode to a NUL, and the mail after it', async () => {
    // Quoted-printable "=00" is how a NUL reaches the parser: a raw NUL byte never passes IMAP APPEND.
    const nul = enquiry('Nulo <nulo@customer.example>', '=?UTF-8?Q?Or=C3=A7amento=00urgente?=', 'Preciso de=00 um or=C3=A7amento.', {
      'Content-Transfer-Encoding': 'quoted-printable',
    });
    await deliver({ raw: nul.raw.replace('Content-Transfer-Encoding: 8bit\r\n', '') }, 'nulo@customer.example');
    await deliver(enquiry('Depois <depois@customer.example>', 'Next one', 'The mail after it.'), 'depois@customer.example');
    for (const address of ['nulo@customer.example', 'depois@customer.example']) {
      await eventually(async () => expect(await leadsFrom(address)).toHaveLength(1));
    }
    const lead = (await leadsFrom('nulo@customer.example'))[0]!;
    const [message] = await conversation(lead.id);
    expect(message!.text).toBe('Preciso de um orçamento.');
    expect(message!.subject).toBe('Orçamentourgente');
  });

  it('starts the reconnect backoff over after every healthy connection', async () => {
    const source = async () => (await stack.api<{ status: { state: string; nextRetryAt?: string } }>('GET', `/api/v1/sources/${sourceId}`)).body.status;
    // Three drops in a row, each after the mailbox was connected again: each waits the first step (1 s), not 1, 2, then 4 s.
    for (let drop = 1; drop <= 3; drop++) {
      const kickedAt = Date.now();
      await servers.kick(mailbox);
      const reconnecting = await eventually(async () => {
        const status = await source();
        expect(status.state).toBe('reconnecting');
        return status;
      });
      expect(new Date(reconnecting.nextRetryAt!).getTime() - kickedAt).toBeLessThan(1_900);
      await eventually(async () => expect((await source()).state).toBe('connected'));
    }
  });

  it('stops logging in with a refused password until the settings change', async () => {
    const created = await stack.api<{ id: string }>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'Support mailbox',
      address: support.address,
      imap: { ...connection().imap, user: support.address, password: support.password },
      smtp: { ...connection().smtp, user: support.address, password: support.password },
    });
    expect(created.status).toBe(201);
    const source = async () =>
      (await stack.api<{ status: { state: string; lastError?: string; nextRetryAt?: string } }>('GET', `/api/v1/sources/${created.body.id}`)).body.status;
    await eventually(async () => expect((await source()).state).toBe('connected'));

    // The password is changed at the provider and the connection drops: the stored one is refused.
    await servers.setPassword(support, 'changed-at-the-provider');
    await servers.kick(support);
    const failed = await eventually(async () => {
      const status = await source();
      expect(status.state).toBe('error');
      return status;
    });
    expect(failed.lastError).toMatch(/authentication failed/i);
    expect(failed.nextRetryAt).toBeUndefined();

    // Were it still retrying, it would log in again within a second or two once the old password works again.
    await servers.setPassword(support, support.password);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await source()).toMatchObject({ state: 'error', lastError: failed.lastError });

    // New credentials are new settings: the mailbox is watched again.
    await servers.setPassword(support, 'the-new-password');
    const updated = await stack.api('PATCH', `/api/v1/sources/${created.body.id}`, {
      imap: { ...connection().imap, user: support.address, password: 'the-new-password' },
      smtp: { ...connection().smtp, user: support.address, password: 'the-new-password' },
    });
    expect(updated.status).toBe(200);
    await eventually(async () => expect((await source()).state).toBe('connected'));
    await stack.api('DELETE', `/api/v1/sources/${created.body.id}`);
  });

  it('misses nothing and takes nothing twice across a restart and a recreated mailbox', async () => {
    const before = enquiry('Carla <carla@customer.example>', 'Before', 'first');
    await deliver(before, 'carla@customer.example');
    await eventually(async () => expect(await leadsFrom('carla@customer.example')).toHaveLength(1));

    const whileDown = [1, 2, 3].map((n) => enquiry(`Down ${n} <down${n}@customer.example>`, `While down ${n}`, `message ${n}`));
    await stack.restart(async () => {
      for (const [index, mail] of whileDown.entries()) await deliver(mail, `down${index + 1}@customer.example`);
    });
    for (const n of [1, 2, 3]) {
      await eventually(async () => expect(await leadsFrom(`down${n}@customer.example`)).toHaveLength(1), 30_000);
    }

    // A recreated mailbox starts its UIDs over: the same mail again must not become a second message.
    await stack.restart(async () => {
      await servers.recreateInbox(mailbox);
      await deliver(before, 'carla@customer.example');
      await deliver(enquiry('Davi <davi@customer.example>', 'After', 'new mailbox'), 'davi@customer.example');
    });
    await eventually(async () => expect(await leadsFrom('davi@customer.example')).toHaveLength(1), 30_000);
    const carla = (await leadsFrom('carla@customer.example'))[0]!;
    expect((await conversation(carla.id)).filter((m) => m.direction === 'in')).toHaveLength(1);
    for (const n of [1, 2, 3]) {
      const lead = (await leadsFrom(`down${n}@customer.example`))[0]!;
      expect((await conversation(lead.id)).filter((m) => m.direction === 'in')).toHaveLength(1);
    }
  });
});

describe('a mailbox shared by two worker processes on PostgreSQL', () => {
  let servers: TestMailServers;
  let stack: Stack;
  let second: Gateway | undefined;

  beforeAll(async () => {
    servers = await TestMailServers.start([mailbox]);
    stack = await startStack({ db: 'postgres', queue: 'bull', env: { LEADGATE_CONNECTION_LEASE_MS: '1500', LEADGATE_OUTBOUND_ALLOW_PRIVATE: 'true' } });
  });
  afterAll(async () => {
    await second?.close();
    await stack?.close();
    await servers?.stop();
  });

  it('is read by one of them at a time, and the other takes over when the first stops', async () => {
    const { body: source } = await stack.api<{ id: string }>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'Shared',
      address: mailbox.address,
      imap: { ...servers.imap, user: mailbox.address, password: mailbox.password },
      smtp: { ...servers.smtp, user: mailbox.address, password: mailbox.password },
      autoReplyTemplate: null,
    });
    // Read through whichever gateway is still open.
    const holder = async () => ((await (second ?? stack.gateway).deps.db.prisma.lease.findUnique({ where: { key: `email:${source.id}` } }))?.holder);
    await eventually(async () => expect(await holder()).toBe(stack.gateway.deps.holderId));

    second = await Gateway.create(loadConfig(stack.env), { logger: pino({ level: 'silent' }), queuePrefix: `lgtest-second-${Date.now()}` });
    await second.startWorkers();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await holder()).toBe(stack.gateway.deps.holderId);

    const leadsFrom = async (address: string) =>
      second!.deps.db.prisma.lead.count({ where: { contact: { identities: { some: { value: address } } } } });
    await servers.deliver(enquiry('First <first@customer.example>', 'One', 'one').raw, { from: 'first@customer.example', to: [mailbox.address] });
    await eventually(async () => expect(await leadsFrom('first@customer.example')).toBe(1));

    await stack.gateway.close();
    await eventually(async () => expect(await holder()).toBe(second!.deps.holderId), 10_000);
    await servers.deliver(enquiry('Second <second@customer.example>', 'Two', 'two').raw, { from: 'second@customer.example', to: [mailbox.address] });
    await eventually(async () => expect(await leadsFrom('second@customer.example')).toBe(1), 15_000);
    expect(await leadsFrom('first@customer.example')).toBe(1);
  });
});
