/**
 * Time from SMTP delivery into the mailbox to the lead existing in the gateway (the IDLE path),
 * against the baseline of a bare IMAP client in IDLE on the same mailbox hearing of the same mail.
 *
 *   npm run bench:email            BENCH_MAILS=30 BENCH_TARGETS=pglite,postgres
 */
import { performance } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import { type MailUser, TestMailServers } from '../test/support/mail-servers.js';
import { type DbKind, startStack } from '../test/support/stack.js';

const mails = Number(process.env.BENCH_MAILS ?? 30);
const targets = (process.env.BENCH_TARGETS ?? 'pglite,postgres').split(',').filter(Boolean) as DbKind[];
const user: MailUser = { address: 'vendas@acme.test', password: 'bench-password' };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function mail(n: number, run: string): string {
  return [
    `From: Lead ${n} <lead${n}-${run}@customer.example>`,
    `To: ${user.address}`,
    `Subject: Enquiry ${n}`,
    `Message-ID: <bench-${run}-${n}@customer.example>`,
    `Date: ${new Date().toUTCString()}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `How much does it cost? (${n})`,
    '',
  ].join('\r\n');
}

/** A bare IMAP client in IDLE: how soon the server tells anyone about a delivered mail. */
async function idleBaseline(servers: TestMailServers): Promise<number[]> {
  const client = new ImapFlow({ ...servers.imap, auth: { user: user.address, pass: user.password }, logger: false, autoIdleDelay: 300 });
  await client.connect();
  await client.mailboxOpen('INBOX');
  const latencies: number[] = [];
  let notify: (() => void) | undefined;
  client.on('exists', () => notify?.());
  for (let n = 0; n < mails; n++) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const heard = new Promise<void>((resolve) => (notify = resolve));
    await servers.deliver(mail(n, 'baseline'), { from: 'x@customer.example', to: [user.address] });
    const delivered = performance.now();
    await heard;
    latencies.push(performance.now() - delivered);
  }
  await client.logout();
  return latencies;
}

async function gatewayLatencies(servers: TestMailServers, db: DbKind): Promise<number[]> {
  const stack = await startStack({ db, queue: db === 'pglite' ? 'embedded' : 'bull', env: { LEADGATE_OUTBOUND_ALLOW_PRIVATE: 'true' } });
  try {
    const { status, body } = await stack.api<{ id: string }>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'bench',
      address: user.address,
      autoReplyTemplate: null,
      imap: { ...servers.imap, user: user.address, password: user.password },
      smtp: { ...servers.smtp, user: user.address, password: user.password },
    });
    if (status !== 201) throw new Error(`creating the email source answered ${status}: ${JSON.stringify(body)}`);
    const prisma = stack.gateway.deps.db.prisma;
    for (;;) {
      const source = await prisma.source.findUniqueOrThrow({ where: { id: body.id } });
      if ((source.status as { state?: string } | null)?.state === 'connected') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const latencies: number[] = [];
    for (let n = 0; n < mails; n++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const address = `lead${n}-${db}@customer.example`;
      await servers.deliver(mail(n, db), { from: address, to: [user.address] });
      const delivered = performance.now();
      for (;;) {
        const found = await prisma.contactIdentity.findFirst({ where: { kind: 'email', value: address }, select: { contact: { select: { leads: { select: { id: true } } } } } });
        if (found && found.contact.leads.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      latencies.push(performance.now() - delivered);
    }
    return latencies;
  } finally {
    await stack.close();
  }
}

const servers = await TestMailServers.start([user]);
try {
  const rows: [string, number[]][] = [['IMAP IDLE notification (baseline)', await idleBaseline(servers)]];
  for (const db of targets) rows.push([`delivery → lead (${db})`, await gatewayLatencies(servers, db)]);
  const [, baseline] = rows[0]!;
  console.log(`\nEmail latency, ${mails} mails each, delivered one at a time (ms)\n`);
  console.log('what                                  |    p50 |    p95 |    max | p50 vs baseline');
  console.log('--------------------------------------|--------|--------|--------|----------------');
  for (const [name, values] of rows) {
    const ratio = percentile(values, 50) / percentile(baseline, 50);
    console.log(
      `${name.padEnd(37)} | ${percentile(values, 50).toFixed(1).padStart(6)} | ${percentile(values, 95).toFixed(1).padStart(6)} | ${Math.max(...values).toFixed(1).padStart(6)} | ${ratio.toFixed(1)}x`,
    );
  }
} finally {
  await servers.stop();
}
