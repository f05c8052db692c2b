import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { newId } from '../../src/ids.js';
import { InsightCountCompactor, InsightCountRebuilder } from '../../src/insights/counts.js';
import { systemActor } from '../../src/leads/activities.js';
import { changeStage } from '../../src/leads/pipeline.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

type Count = { day: string; fact: string; key: string | null; n: number };

/**
 * The daily counts behind the insights are kept by triggers as leads are written. Whatever the
 * sequence of writes, they must say what the rows say: checked against exact expectations and
 * against a rebuild from scratch after every step.
 */
describe.each(['pglite', 'postgres'] as const)('daily insight counts on %s', (kind) => {
  let database: Database;
  let testDatabase: TestDatabase | undefined;
  const workspaceId = newId('ws');
  const users = { ana: newId('usr'), bruno: newId('usr') };
  const products = { solar: newId('prod'), bateria: newId('prod') };

  /** The counts as they stand: deltas summed, zeros left out. */
  const counts = async (): Promise<Count[]> =>
    database.prisma.$queryRaw<Count[]>`
      SELECT to_char(day, 'YYYY-MM-DD') AS day, fact, key, sum(n)::int AS n FROM insight_counts WHERE "workspaceId" = ${workspaceId}
      GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3 NULLS FIRST`;

  /** The counts a rebuild from the rows would write, read inside a transaction that is then undone. */
  const rebuilt = async (): Promise<Count[]> => {
    let result: Count[] = [];
    await database.prisma
      .$transaction(async (tx) => {
        await tx.$executeRaw`SELECT insight_counts_rebuild(${workspaceId})`;
        result = await tx.$queryRaw<Count[]>`
          SELECT to_char(day, 'YYYY-MM-DD') AS day, fact, key, sum(n)::int AS n FROM insight_counts WHERE "workspaceId" = ${workspaceId}
          GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3 NULLS FIRST`;
        throw new Rollback();
      })
      .catch((error: unknown) => {
        if (!(error instanceof Rollback)) throw error;
      });
    return result;
  };

  const expectCounts = async (expected: Count[]) => {
    const kept = await counts();
    expect(kept).toEqual(expected);
    expect(await rebuilt()).toEqual(kept);
  };

  const fact = (day: string, name: string, key: string | null, n = 1): Count => ({ day, fact: name, key, n });
  const leadFacts = (
    day: string,
    hour: string,
    lead: { channel: string; ownerId: string | null; segment: string | null; stage: string; entered?: string[]; furthest?: string },
    n = 1,
  ) => [
    fact(day, 'channel', lead.channel, n),
    ...(lead.entered ?? []).map((stage) => fact(day, 'entered', stage, n)),
    fact(day, 'furthest', lead.furthest ?? 'open', n),
    fact(day, 'hour', hour, n),
    fact(day, 'owner', lead.ownerId, n),
    fact(day, 'segment', lead.segment, n),
    fact(day, 'source', null, n),
    fact(day, 'stage', lead.stage, n),
  ];
  const sorted = (rows: Count[]) =>
    [...rows].sort((a, b) => a.day.localeCompare(b.day) || a.fact.localeCompare(b.fact) || (a.key === null ? -1 : b.key === null ? 1 : a.key.localeCompare(b.key)));

  const createLead = async (input: { at: string; channel: string; ownerId: string | null; segment: string | null }) => {
    const contactId = newId('ct');
    const id = newId('lead');
    await database.prisma.contact.create({ data: { id: contactId, workspaceId, name: 'Contato', createdAt: new Date(input.at) } });
    await database.prisma.lead.create({
      data: { id, workspaceId, contactId, channel: input.channel, ownerId: input.ownerId, segment: input.segment, createdAt: new Date(input.at) },
    });
    return { id, contactId };
  };

  beforeAll(async () => {
    if (kind === 'postgres') testDatabase = await createTestDatabase();
    database = await openDatabase(kind === 'postgres' ? { kind, url: testDatabase!.url } : { kind, dataDir: 'memory://' });
    await database.prisma.workspace.create({ data: { id: workspaceId, name: 'Acme', timeZone: 'America/Sao_Paulo', workingHours: {} } });
    for (const [name, id] of Object.entries(users)) {
      await database.prisma.user.create({ data: { id, workspaceId, name, email: `${name}@acme.test`, role: 'rep' } });
    }
    for (const [name, id] of Object.entries(products)) await database.prisma.product.create({ data: { id, workspaceId, name } });
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('follow every write to leads, their products and their stages, in the workspace\'s local days', async () => {
    // 02:30 UTC is 23:30 of the 3rd in São Paulo; 03:30 UTC is 01:30 of the 4th, whose midnight
    // did not exist (daylight saving began).
    const ana = await createLead({ at: '2018-11-04T02:30:00Z', channel: 'whatsapp', ownerId: users.ana, segment: 'residencial' });
    const other = await createLead({ at: '2018-11-04T03:30:00Z', channel: 'webform', ownerId: null, segment: null });
    const anaFacts = { channel: 'whatsapp', ownerId: users.ana, segment: 'residencial', stage: 'open' };
    const otherFacts = { channel: 'webform', ownerId: null, segment: null, stage: 'open' };
    await expectCounts(
      sorted([
        ...leadFacts('2018-11-03', '23', anaFacts),
        fact('2018-11-03', 'product', null),
        ...leadFacts('2018-11-04', '01', otherFacts),
        fact('2018-11-04', 'product', null),
      ]),
    );

    // Products: the first replaces "no product", the last one removed brings it back.
    await database.prisma.leadProduct.create({ data: { workspaceId, leadId: ana.id, productId: products.solar } });
    await database.prisma.leadProduct.create({ data: { workspaceId, leadId: ana.id, productId: products.bateria } });
    await database.prisma.leadProduct.delete({ where: { leadId_productId: { leadId: ana.id, productId: products.solar } } });
    await database.prisma.leadProduct.create({ data: { workspaceId, leadId: other.id, productId: products.solar } });
    await database.prisma.leadProduct.delete({ where: { leadId_productId: { leadId: other.id, productId: products.solar } } });

    // Qualified on the 10th (local): counts for quotas, overall and for the lead's product.
    await database.prisma.$transaction((tx) =>
      changeStage(tx, { workspaceId, leadId: ana.id, to: 'qualified', reason: null, actor: systemActor, at: new Date('2018-11-10T12:00:00Z') }),
    );
    // The other lead is lost, and why counts too.
    await database.prisma.$transaction((tx) =>
      changeStage(tx, { workspaceId, leadId: other.id, to: 'unqualified', reason: 'preço', actor: systemActor, at: new Date('2018-11-05T12:00:00Z') }),
    );
    // Another owner, and a first response within its deadline.
    await database.prisma.lead.update({
      where: { id: ana.id },
      data: { ownerId: users.bruno, firstResponseDueAt: new Date('2018-11-04T12:15:00Z'), firstResponseAt: new Date('2018-11-04T12:05:00Z') },
    });
    const anaNow = { ...anaFacts, ownerId: users.bruno, stage: 'qualified', entered: ['qualified'], furthest: 'qualified' };
    await expectCounts(
      sorted([
        ...leadFacts('2018-11-03', '23', anaNow),
        fact('2018-11-03', 'product', products.bateria),
        fact('2018-11-03', 'sla_assigned', users.bruno),
        fact('2018-11-03', 'sla_touched', users.bruno),
        ...leadFacts('2018-11-04', '01', { ...otherFacts, stage: 'unqualified', entered: ['unqualified'] }),
        fact('2018-11-04', 'lost', 'preço'),
        fact('2018-11-04', 'product', null),
        fact('2018-11-10', 'qualified', null),
        fact('2018-11-10', 'qualified_product', products.bateria),
      ]),
    );

    // A product added after the lead qualified counts for that product's quota too.
    await database.prisma.leadProduct.create({ data: { workspaceId, leadId: ana.id, productId: products.solar } });
    // Deleting a contact deletes its lead, and the lead takes its facts with it.
    await database.prisma.contact.delete({ where: { id: other.contactId } });
    await expectCounts(
      sorted([
        ...leadFacts('2018-11-03', '23', anaNow),
        fact('2018-11-03', 'product', products.bateria),
        fact('2018-11-03', 'product', products.solar),
        fact('2018-11-03', 'sla_assigned', users.bruno),
        fact('2018-11-03', 'sla_touched', users.bruno),
        fact('2018-11-10', 'qualified', null),
        fact('2018-11-10', 'qualified_product', products.bateria),
        fact('2018-11-10', 'qualified_product', products.solar),
      ]),
    );

    // Another time zone moves the local days: 02:30 UTC is 08:00 of the 4th in Kolkata. The change
    // notes the zone the counts are still in, and the rebuild moves them.
    await database.prisma.workspace.update({ where: { id: workspaceId }, data: { timeZone: 'Asia/Kolkata' } });
    expect((await database.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).insightCountsTimeZone).toBe('America/Sao_Paulo');
    expect(await new InsightCountRebuilder({ prisma: database.prisma, logger: pino({ level: 'silent' }), pollMs: 1_000 }).rebuildPending()).toBe(1);
    expect((await database.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).insightCountsTimeZone).toBeNull();
    await expectCounts(
      sorted([
        ...leadFacts('2018-11-04', '08', anaNow),
        fact('2018-11-04', 'product', products.bateria),
        fact('2018-11-04', 'product', products.solar),
        fact('2018-11-04', 'sla_assigned', users.bruno),
        fact('2018-11-04', 'sla_touched', users.bruno),
        fact('2018-11-10', 'qualified', null),
        fact('2018-11-10', 'qualified_product', products.bateria),
        fact('2018-11-10', 'qualified_product', products.solar),
      ]),
    );
  });

  it('follow leads and products written many rows per statement, as a batch of inbound events writes them', async () => {
    const day = '2025-06-10';
    const onDay = async () => (await counts()).filter((row) => row.day === day);
    const contactId = newId('ct');
    await database.prisma.contact.create({ data: { id: contactId, workspaceId, name: 'Lote' } });
    const [first, second] = [newId('lead'), newId('lead')];
    await database.prisma.lead.createMany({
      data: [first, second].map((id) => ({ id, workspaceId, contactId, channel: 'webform', ownerId: users.ana, segment: null, createdAt: new Date(`${day}T15:00:00Z`) })),
    });
    const leadOnDay = { channel: 'webform', ownerId: users.ana, segment: null, stage: 'open' };
    // The workspace is on Kolkata's time by now: 15:00 UTC is 20:30 there.
    expect(await onDay()).toEqual(sorted([...leadFacts(day, '20', leadOnDay, 2), fact(day, 'product', null, 2)]));

    // Two products at once: the lead stops counting as having none, once.
    await database.prisma.leadProduct.createMany({
      data: [products.solar, products.bateria].map((productId) => ({ workspaceId, leadId: first, productId })),
    });
    expect(await onDay()).toEqual(
      sorted([...leadFacts(day, '20', leadOnDay, 2), fact(day, 'product', null, 1), fact(day, 'product', products.bateria), fact(day, 'product', products.solar)]),
    );
    // Both removed at once: it counts as having none again, once.
    await database.prisma.leadProduct.deleteMany({ where: { leadId: first } });
    expect(await onDay()).toEqual(sorted([...leadFacts(day, '20', leadOnDay, 2), fact(day, 'product', null, 2)]));
    expect(await rebuilt()).toEqual(await counts());
    await database.prisma.contact.delete({ where: { id: contactId } });
    expect(await onDay()).toEqual([]);
  });

  it('fold into one row per day, fact and value without changing a sum', async () => {
    const before = await counts();
    const rows = async () => (await database.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM insight_counts WHERE "workspaceId" = ${workspaceId}`)[0]!.n;
    await database.prisma.lead.updateMany({ where: { workspaceId }, data: { stage: 'negotiation' } });
    await database.prisma.lead.updateMany({ where: { workspaceId }, data: { stage: 'qualified' } });
    expect(await rows()).toBeGreaterThan(before.length);

    const compactor = new InsightCountCompactor({ prisma: database.prisma, logger: pino({ level: 'silent' }), pollMs: 60_000 });
    expect(await compactor.compact()).toBeGreaterThan(0);
    expect(await counts()).toEqual(before);
    expect(await rows()).toBe(before.length);
    // Nothing new: the next round finds nothing to fold.
    expect(await compactor.compact()).toBe(0);
  });

  it('keep each lead\'s acknowledgement time and its response windows\' owner', async () => {
    const lead = await createLead({ at: '2026-03-02T12:00:00Z', channel: 'email', ownerId: users.ana, segment: null });
    const window = await database.prisma.responseWindow.create({
      data: { id: newId('rw'), workspaceId, leadId: lead.id, channel: 'email', openedAt: new Date('2026-03-02T12:00:00Z'), dueAt: new Date('2026-03-02T12:15:00Z') },
    });
    const windowOwner = async () => (await database.prisma.responseWindow.findUniqueOrThrow({ where: { id: window.id } })).ownerId;
    expect(await windowOwner()).toBe(users.ana);
    await database.prisma.lead.update({ where: { id: lead.id }, data: { ownerId: users.bruno } });
    expect(await windowOwner()).toBe(users.bruno);

    const acknowledgedAt = async () => (await database.prisma.lead.findUniqueOrThrow({ where: { id: lead.id } })).acknowledgedAt?.toISOString() ?? null;
    const message = (input: { automatic: boolean; idempotencyKey: string; sentAt: string | null; sequenceStep?: { enrollmentId: string; step: number } }) =>
      database.prisma.message.create({
        data: {
          id: newId('msg'),
          workspaceId,
          leadId: lead.id,
          direction: 'out',
          channel: 'email',
          status: input.sentAt ? 'sent' : 'queued',
          text: 'Recebemos sua mensagem',
          automatic: input.automatic,
          idempotencyKey: input.idempotencyKey,
          sequenceEnrollmentId: input.sequenceStep?.enrollmentId ?? null,
          sequenceStep: input.sequenceStep?.step ?? null,
          sentAt: input.sentAt ? new Date(input.sentAt) : null,
        },
      });
    // A sequence step and a person's reply are not acknowledgements; a queued one is not yet.
    const otherEnrollment = newId('enr');
    await message({ automatic: true, idempotencyKey: `sequence:${otherEnrollment}:0`, sequenceStep: { enrollmentId: otherEnrollment, step: 0 }, sentAt: '2026-03-02T12:00:05Z' });
    await message({ automatic: false, idempotencyKey: newId('idem'), sentAt: '2026-03-02T12:00:06Z' });
    const queued = await message({ automatic: true, idempotencyKey: `auto-reply:${lead.id}`, sentAt: null });
    expect(await acknowledgedAt()).toBeNull();
    await database.prisma.message.update({ where: { id: queued.id }, data: { status: 'sent', sentAt: new Date('2026-03-02T12:00:30Z') } });
    expect(await acknowledgedAt()).toBe('2026-03-02T12:00:30.000Z');
    // The first one out counts, whatever the order they are recorded in.
    await message({ automatic: true, idempotencyKey: newId('idem'), sentAt: '2026-03-02T12:00:20Z' });
    await message({ automatic: true, idempotencyKey: newId('idem'), sentAt: '2026-03-02T12:05:00Z' });
    expect(await acknowledgedAt()).toBe('2026-03-02T12:00:20.000Z');
  });

  it('keep each enrolment\'s first reply and first opt-out after it, whichever was written first', async () => {
    const lead = await createLead({ at: '2026-04-01T12:00:00Z', channel: 'whatsapp', ownerId: null, segment: null });
    const { contactId } = await database.prisma.lead.findUniqueOrThrow({ where: { id: lead.id }, select: { contactId: true } });
    const inbound = (at: string) =>
      database.prisma.message.create({ data: { id: newId('msg'), workspaceId, leadId: lead.id, direction: 'in', channel: 'whatsapp', status: 'received', text: 'Oi', createdAt: new Date(at) } });
    const sequence = await database.prisma.sequence.create({ data: { id: newId('seq'), workspaceId, name: 'Boas-vindas', steps: [], exitStages: [], active: false } });
    // Before the enrolment is written: a message before it (not a reply) and one after it.
    await inbound('2026-04-01T12:00:00Z');
    await inbound('2026-04-03T09:00:00Z');
    const enrollment = await database.prisma.sequenceEnrollment.create({
      data: { id: newId('enr'), workspaceId, sequenceId: sequence.id, leadId: lead.id, nextStepAt: new Date('2026-04-02T12:00:00Z'), enrolledAt: new Date('2026-04-02T12:00:00Z') },
    });
    const outcome = async () => {
      const row = await database.prisma.sequenceEnrollment.findUniqueOrThrow({ where: { id: enrollment.id } });
      return { firstReplyAt: row.firstReplyAt?.toISOString() ?? null, optedOutAt: row.optedOutAt?.toISOString() ?? null };
    };
    expect(await outcome()).toEqual({ firstReplyAt: '2026-04-03T09:00:00.000Z', optedOutAt: null });
    // After it: an earlier reply recorded late moves the first reply; opting out is noted once.
    await inbound('2026-04-02T15:00:00Z');
    await database.prisma.contactOptOut.create({ data: { workspaceId, contactId, channel: 'whatsapp', createdAt: new Date('2026-04-04T10:00:00Z') } });
    await database.prisma.contactOptOut.create({ data: { workspaceId, contactId, channel: 'email', createdAt: new Date('2026-04-05T10:00:00Z') } });
    expect(await outcome()).toEqual({ firstReplyAt: '2026-04-02T15:00:00.000Z', optedOutAt: '2026-04-04T10:00:00.000Z' });
  });

  it('keep what became of each enrolment\'s steps, as a derivation from the rows says', async () => {
    const lead = await createLead({ at: '2026-05-01T12:00:00Z', channel: 'email', ownerId: null, segment: null });
    const { contactId } = await database.prisma.lead.findUniqueOrThrow({ where: { id: lead.id }, select: { contactId: true } });
    const sequence = await database.prisma.sequence.create({ data: { id: newId('seq'), workspaceId, name: 'Nutrição', steps: [], exitStages: [], active: false } });
    const enrollment = await database.prisma.sequenceEnrollment.create({
      data: { id: newId('enr'), workspaceId, sequenceId: sequence.id, leadId: lead.id, nextStepAt: new Date('2026-05-02T12:00:00Z'), enrolledAt: new Date('2026-05-02T12:00:00Z') },
    });
    const activity = (kind: 'sequence.step_sent' | 'sequence.step_skipped', step: number, at: string) =>
      database.prisma.activity.create({ data: { id: newId('act'), workspaceId, leadId: lead.id, kind, actorType: 'system', data: { sequenceId: sequence.id, step }, createdAt: new Date(at) } });
    /** A step as the runner writes it: its message, then the activity naming it. */
    const sendStep = async (step: number, at: string, status: string) => {
      const message = await database.prisma.message.create({
        data: { id: newId('msg'), workspaceId, leadId: lead.id, direction: 'out', channel: 'email', status, text: 'Novidades', automatic: true, idempotencyKey: `sequence:${enrollment.id}:${step}`, sequenceEnrollmentId: enrollment.id, sequenceStep: step, createdAt: new Date(at) },
      });
      await activity('sequence.step_sent', step, at);
      return message.id;
    };
    const columns = { stepsSent: true, stepsFailed: true, stepsSkipped: true, repliedAfterStep: true, optedOutAfterStep: true } as const;
    const outcome = async () => database.prisma.sequenceEnrollment.findUniqueOrThrow({ where: { id: enrollment.id }, select: columns });
    const sortedSteps = (row: Awaited<ReturnType<typeof outcome>>) => ({ ...row, stepsSent: [...row.stepsSent].sort(), stepsFailed: [...row.stepsFailed].sort(), stepsSkipped: [...row.stepsSkipped].sort() });

    const first = await sendStep(0, '2026-05-02T12:00:05Z', 'queued');
    expect(await outcome()).toEqual({ stepsSent: [], stepsFailed: [], stepsSkipped: [], repliedAfterStep: null, optedOutAfterStep: null });
    await database.prisma.message.update({ where: { id: first }, data: { status: 'sent' } });
    await database.prisma.message.update({ where: { id: first }, data: { status: 'delivered' } });
    // A failed step that a retry sent after all counts once, as sent.
    const second = await sendStep(1, '2026-05-02T13:00:00Z', 'failed');
    expect(await outcome()).toMatchObject({ stepsSent: [0], stepsFailed: [1] });
    await database.prisma.message.update({ where: { id: second }, data: { status: 'sent' } });
    await activity('sequence.step_skipped', 2, '2026-05-02T13:10:00Z');
    // Another enrolment's message of the same lead changes nothing here.
    const another = newId('enr');
    await database.prisma.message.create({
      data: { id: newId('msg'), workspaceId, leadId: lead.id, direction: 'out', channel: 'email', status: 'failed', text: 'Outra', automatic: true, idempotencyKey: `sequence:${another}:1`, sequenceEnrollmentId: another, sequenceStep: 1 },
    });
    await database.prisma.message.create({ data: { id: newId('msg'), workspaceId, leadId: lead.id, direction: 'in', channel: 'email', status: 'received', text: 'Quero', createdAt: new Date('2026-05-02T13:30:00Z') } });
    // The opt-out is written before the step that went out ahead of it (its transaction committed later).
    await database.prisma.contactOptOut.create({ data: { workspaceId, contactId, channel: 'email', createdAt: new Date('2026-05-02T14:00:00Z') } });
    await sendStep(3, '2026-05-02T13:45:00Z', 'sent');
    const kept = sortedSteps(await outcome());
    expect(kept).toEqual({ stepsSent: [0, 1, 3], stepsFailed: [], stepsSkipped: [2], repliedAfterStep: 1, optedOutAfterStep: 3 });

    // What a bulk load derives (the seed, the migration that added these columns) is the same.
    await database.prisma
      .$transaction(async (tx) => {
        await tx.sequenceEnrollment.update({ where: { id: enrollment.id }, data: { stepsSent: [], stepsFailed: [], stepsSkipped: [], repliedAfterStep: null, optedOutAfterStep: null, firstReplyAt: null, optedOutAt: null } });
        await tx.$executeRaw`SELECT sequence_enrollments_derive(${workspaceId})`;
        await tx.$executeRaw`SELECT sequence_enrollment_steps_derive(${workspaceId})`;
        const derived = await tx.sequenceEnrollment.findUniqueOrThrow({ where: { id: enrollment.id }, select: columns });
        expect(sortedSteps(derived)).toEqual(kept);
        throw new Rollback();
      })
      .catch((error: unknown) => {
        if (!(error instanceof Rollback)) throw error;
      });
  });

  it('go with their workspace', async () => {
    expect((await counts()).length).toBeGreaterThan(0);
    await database.prisma.workspace.delete({ where: { id: workspaceId } });
    expect(await database.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM insight_counts`).toEqual([{ n: 0 }]);
  });
});

// Only PostgreSQL has writers that overlap: PGlite runs one transaction at a time.
describe('folding daily insight counts while a writer is still open, on PostgreSQL', () => {
  let database: Database;
  let testDatabase: TestDatabase;
  const workspaceId = newId('ws');

  beforeAll(async () => {
    testDatabase = await createTestDatabase();
    database = await openDatabase({ kind: 'postgres', url: testDatabase.url });
    await database.prisma.workspace.create({ data: { id: workspaceId, name: 'Acme', timeZone: 'America/Sao_Paulo', workingHours: {} } });
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('folds a delta whose transaction committed after the round that passed its id', async () => {
    const lead = async (at: string) => {
      const contactId = newId('ct');
      await database.prisma.contact.create({ data: { id: contactId, workspaceId } });
      await database.prisma.lead.create({ data: { id: newId('lead'), workspaceId, contactId, channel: 'email', createdAt: new Date(at) } });
    };
    const stageRows = async () =>
      database.prisma.$queryRaw<{ day: string; rows: number; n: number }[]>`
        SELECT to_char(day, 'YYYY-MM-DD') AS day, count(*)::int AS rows, sum(n)::int AS n FROM insight_counts
        WHERE "workspaceId" = ${workspaceId} AND fact = 'stage' GROUP BY 1 ORDER BY 1`;
    const compactor = new InsightCountCompactor({ prisma: database.prisma, logger: pino({ level: 'silent' }), pollMs: 60_000 });
    await lead('2026-05-04T15:00:00Z');
    await lead('2026-05-05T15:00:00Z');
    await compactor.compact();
    await compactor.compact();
    await compactor.compact();

    // A writer takes its ids for the 5th and stays open; another writes the 4th after it and commits.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    const slow = database.prisma.$transaction(
      async (tx) => {
        const contactId = newId('ct');
        await tx.contact.create({ data: { id: contactId, workspaceId } });
        await tx.lead.create({ data: { id: newId('lead'), workspaceId, contactId, channel: 'email', createdAt: new Date('2026-05-05T16:00:00Z') } });
        written();
        await held;
      },
      { timeout: 30_000 },
    );
    await wrote;
    await lead('2026-05-04T16:00:00Z');
    await compactor.compact();
    release();
    await slow;
    // The round after looks again at the ids the last one passed: the 5th's late row is folded too.
    await compactor.compact();
    expect(await stageRows()).toEqual([
      { day: '2026-05-04', rows: 1, n: 2 },
      { day: '2026-05-05', rows: 1, n: 2 },
    ]);
  });
});

class Rollback extends Error {}
