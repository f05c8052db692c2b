import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { clockPast, createWebform, defaultBackends, eventually, postForm, settle, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Enrollment {
  sequenceId: string;
  status: string;
  stopReason: string | null;
  nextStep: number;
  nextStepAt: string | null;
}

describe.each(defaultBackends)('nurture sequences on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let form: WebformSource;
  let n = 0;

  async function sequence(name: string, secondWaitMinutes: number, enrol: Record<string, unknown> | null = null) {
    const { status, body } = await stack.api<{ id: string }>('POST', '/api/v1/sequences', {
      name,
      steps: [
        { waitMinutes: 0, templateId: 'product_introduction' },
        { waitMinutes: secondWaitMinutes, templateId: 'follow_up_reminder' },
      ],
      enrol,
    });
    expect(status).toBe(201);
    return body.id;
  }

  async function newLead(): Promise<{ id: string; email: string }> {
    const email = `nurture${++n}@example.com`;
    await postForm(stack, form, { name: `Lead ${n}`, email });
    const id = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(email)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });
    return { id, email };
  }

  const enrollments = async (leadId: string) => (await stack.api<{ data: Enrollment[] }>('GET', `/api/v1/leads/${leadId}/sequences`)).body.data;
  const mailsTo = (email: string) => smtp.received.filter((m) => m.envelope.to.includes(email));

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db, queue, smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } });
    await stack.api('PATCH', '/api/v1/workspace', { name: 'Acme Solar', locale: 'en' });
    form = await createWebform(stack, { autoReplyTemplate: null });
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('enrols new leads by rule and sends every step once, in order, after its wait', async () => {
    const welcome = await sequence('Welcome', 0.02, { stages: ['open'] });
    const second = await newLead();
    // Enrolment happened with the lead; later tests enrol by hand.
    await stack.api('PATCH', `/api/v1/sequences/${welcome}`, { enrol: null });
    await eventually(async () => expect((await enrollments(second.id)).map((e) => [e.sequenceId, e.status])).toEqual([[welcome, 'completed']]), 20_000);
    const mails = await eventually(() => {
      expect(mailsTo(second.email)).toHaveLength(2);
      return mailsTo(second.email);
    });
    expect(mails[0]!.mail.text).toContain('our products and services');
    expect(mails[1]!.mail.subject).toMatch(/.+/);
    const { body: timeline } = await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${second.id}/activities`);
    const kinds = timeline.data.map((a) => a.kind).reverse().filter((k) => k.startsWith('sequence.'));
    expect(kinds).toEqual(['sequence.enrolled', 'sequence.step_sent', 'sequence.step_sent', 'sequence.completed']);
  });

  it('stops when the lead replies', async () => {
    const sequenceId = await sequence('Stops on reply', 0.05);
    const lead = await newLead();
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId })).status).toBe(201);
    await eventually(() => expect(mailsTo(lead.email)).toHaveLength(1));
    const secondDue = await eventually(async () => {
      const [enrolment] = await enrollments(lead.id);
      expect(enrolment).toMatchObject({ status: 'active', nextStep: 1 });
      return new Date(enrolment!.nextStepAt!);
    });
    await postForm(stack, form, { name: `Lead ${n}`, email: lead.email, message: 'Yes, tell me more' });
    await eventually(async () => expect((await enrollments(lead.id))[0]).toMatchObject({ status: 'stopped', stopReason: 'the lead replied' }), 20_000);
    // Past the moment the second step was due, and everything due then done: it never went.
    await clockPast(secondDue);
    await settle(stack);
    expect(mailsTo(lead.email)).toHaveLength(1);
  });

  it('stops at an exit stage, and runs once per lead', async () => {
    const sequenceId = await sequence('Stops at qualified', 0.05);
    const lead = await newLead();
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId })).status).toBe(201);
    expect((await stack.api<{ type: string }>('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId })).status).toBe(409);
    await eventually(() => expect(mailsTo(lead.email)).toHaveLength(1));
    await stack.api('PATCH', `/api/v1/leads/${lead.id}`, { stage: 'qualified' });
    await eventually(async () => expect((await enrollments(lead.id))[0]).toMatchObject({ status: 'stopped', stopReason: 'the lead reached qualified' }), 20_000);
    expect(mailsTo(lead.email)).toHaveLength(1);
  });

  it('waits out the quiet hours of the workspace', async () => {
    const now = new Date();
    const hhmm = (date: Date) => new Intl.DateTimeFormat('en-GB', { timeZone: 'America/Sao_Paulo', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);
    await stack.api('PATCH', '/api/v1/workspace', { quietHours: { start: hhmm(new Date(now.getTime() - 3600_000)), end: hhmm(new Date(now.getTime() + 3600_000)) } });
    const sequenceId = await sequence('Quiet', 1);
    const lead = await newLead();
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId })).status).toBe(201);
    const waiting = await eventually(async () => {
      const [enrollment] = await enrollments(lead.id);
      expect(new Date(enrollment!.nextStepAt!).getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
      return enrollment!;
    });
    expect(waiting).toMatchObject({ status: 'active', nextStep: 0 });
    expect(mailsTo(lead.email)).toHaveLength(0);
    await stack.api('PATCH', '/api/v1/workspace', { quietHours: null });
  });

  it('lets the lead unsubscribe from nurture email with one click, and stops nurture there', async () => {
    const first = await sequence('Newsletter', 0.01);
    const lead = await newLead();
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId: first })).status).toBe(201);
    const mail = await eventually(() => {
      expect(mailsTo(lead.email).length).toBeGreaterThanOrEqual(1);
      return mailsTo(lead.email)[0]!;
    });
    const link = /To stop receiving these emails: (\S+)/.exec(mail.mail.text ?? '')?.[1];
    expect(link).toMatch(/^http:\/\/localhost:3000\/unsubscribe\//);
    // mailparser gathers the List-* headers under "list".
    expect(mail.mail.headers.get('list')).toEqual({ unsubscribe: { url: link }, 'unsubscribe-post': { name: 'List-Unsubscribe=One-Click' } });
    const local = link!.replace('http://localhost:3000', stack.baseUrl);

    const tampered = await fetch(`${local.slice(0, -3)}abc`);
    expect(tampered.status).toBe(404);
    expect(tampered.headers.get('content-type')).toMatch(/problem\+json/);
    const confirm = await fetch(local);
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain('<form method="post">');
    const clicked = await fetch(local, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(clicked.status).toBe(200);

    const { body: lead2 } = await stack.api<{ contactId: string }>('GET', `/api/v1/leads/${lead.id}`);
    const { body: contact } = await stack.api<{ optOuts: string[] }>('GET', `/api/v1/contacts/${lead2.contactId}`);
    expect(contact.optOuts).toEqual(['email']);
    const second = await sequence('After unsubscribing', 1);
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId: second })).status).toBe(201);
    await eventually(async () => {
      const found = (await enrollments(lead.id)).find((e) => e.sequenceId === second);
      expect(found).toMatchObject({ status: 'stopped', stopReason: 'the contact opted out of email' });
    });
  });

  it('skips a step whose condition the lead does not meet, and says why', async () => {
    const { body: sequence } = await stack.api<{ id: string }>('POST', '/api/v1/sequences', {
      name: 'Conditional',
      steps: [
        { waitMinutes: 0, templateId: 'thank_you', when: { stages: ['customer'] } },
        { waitMinutes: 0, templateId: 'follow_up_reminder', when: { stages: ['open', 'contacted'] } },
      ],
    });
    const lead = await newLead();
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId: sequence.id })).status).toBe(201);
    await eventually(async () => expect((await enrollments(lead.id))[0]!.status).toBe('completed'));
    await eventually(() => expect(mailsTo(lead.email)).toHaveLength(1));
    const { body: timeline } = await stack.api<{ data: { kind: string; data: { reason?: string; step?: number } }[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
    const skipped = timeline.data.find((a) => a.kind === 'sequence.step_skipped')!;
    expect(skipped.data).toMatchObject({ step: 0, reason: 'the lead is open, not customer' });
  });
});
