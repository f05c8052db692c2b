import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import type { Auth } from '../../src/http/route.js';
import { newId } from '../../src/ids.js';
import { leadsCreatedTotals } from '../../src/insights/leads-created.js';
import { resolveScope, insightQuery } from '../../src/insights/query.js';
import { recordActivity, systemActor } from '../../src/leads/activities.js';
import { leadHistory } from '../support/history.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, createWebform, eventually, defaultBackends, postForm, type Stack, startStack } from '../support/stack.js';

const at = (iso: string) => new Date(iso);

interface Table<Row> {
  period: { timeZone: string; from: string; to: string; groupBy: string };
  data: Row[];
}

describe.each(defaultBackends)('insights on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let prisma: Db;
  let workspaceId: string;
  const users: Record<'ana' | 'bruno', string> = { ana: '', bruno: '' };
  const products: Record<'solar' | 'bateria', string> = { solar: '', bateria: '' };
  const leads: Record<string, { id: string; contactId: string; channel: string }> = {};

  const get = async <T,>(path: string) => {
    const response = await stack.api<T>('GET', path);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  };
  // Around Brazil's last daylight-saving start: midnight of 2018-11-04 did not exist in São Paulo.
  const november = 'from=2018-11-02&to=2018-11-05';

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db, queue, smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } });
    prisma = stack.gateway.deps.db.prisma;
    const patched = await stack.api('PATCH', '/api/v1/workspace', {
      timeZone: 'America/Sao_Paulo',
      workingHours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((day) => [day, [['09:00', '18:00']]])),
      firstResponseSlaMinutes: 15,
    });
    expect(patched.status).toBe(200);
    workspaceId = (await prisma.workspace.findFirstOrThrow()).id;
    for (const [key, name] of [['ana', 'Ana Lima'], ['bruno', 'Bruno Reis']] as const) {
      const { status, body } = await stack.api<{ id: string }>('POST', '/api/v1/users', { name, email: `${key}@acme.test`, role: 'rep' });
      expect(status).toBe(201);
      users[key] = body.id;
    }
    for (const [key, name] of [['solar', 'Solar'], ['bateria', 'Bateria']] as const) {
      products[key] = (await stack.api<{ id: string }>('POST', '/api/v1/products', { name, keywords: [] })).body.id;
    }

    const h = leadHistory(prisma, workspaceId);
    // Local times in São Paulo: -03:00 until 2018-11-04 00:00, then -02:00 (the clock jumped to 01:00).
    leads.l1 = await h.lead({ name: 'L1', at: at('2018-11-03T02:30:00Z'), channel: 'webform', ownerId: users.ana, productId: products.solar, segment: 'residencial' }); // Fri 02 23:30
    leads.l2 = await h.lead({ name: 'L2', at: at('2018-11-03T03:30:00Z'), channel: 'email', ownerId: users.bruno, productId: products.solar }); // Sat 03 00:30
    leads.l3 = await h.lead({ name: 'L3', at: at('2018-11-04T02:30:00Z'), channel: 'webform', ownerId: users.ana, productId: products.bateria }); // Sat 03 23:30
    leads.l4 = await h.lead({ name: 'L4', at: at('2018-11-05T02:30:00Z'), channel: 'sms', ownerId: users.bruno }); // Mon 05 00:30 (-02)
    leads.l5 = await h.lead({ name: 'L5', at: at('2018-11-04T12:00:00Z'), channel: 'email', ownerId: users.ana, productId: products.solar }); // Sun 04 10:00
    leads.l6 = await h.lead({ name: 'L6', at: at('2018-11-05T12:00:00Z'), channel: 'webform', ownerId: users.bruno, productId: products.bateria, segment: 'empresa' }); // Mon 05 10:00

    // Acknowledgements and a sequence step: automatic, never a response.
    await h.outbound(leads.l1!, at('2018-11-03T02:30:20Z'), { automatic: true, idempotencyKey: `auto-reply:${leads.l1!.id}` });
    await h.outbound(leads.l2!, at('2018-11-03T03:30:40Z'), { automatic: true, idempotencyKey: `auto-reply:${leads.l2!.id}` });
    // People answer (each first answer makes the lead Contacted). Working hours start Mon 05 09:00 = 11:00Z.
    await h.outbound(leads.l1!, at('2018-11-05T12:10:00Z'), { userId: users.ana });
    await h.outbound(leads.l2!, at('2018-11-05T13:00:00Z'), { userId: users.bruno });
    await h.outbound(leads.l3!, at('2018-11-05T12:30:00Z'), { userId: users.ana });
    await h.outbound(leads.l5!, at('2018-11-05T11:10:00Z'), { userId: users.ana });
    await h.outbound(leads.l6!, at('2018-11-05T12:03:00Z'), { userId: users.bruno });
    // L6's contact writes again after the conversation was resolved: a new window, answered in 20 minutes.
    await h.reopen(leads.l6!, at('2018-11-05T17:00:00Z'));
    await h.outbound(leads.l6!, at('2018-11-05T17:20:00Z'), { userId: users.bruno });

    await h.stage(leads.l1!, 'qualified', at('2018-11-06T12:00:00Z'));
    await h.stage(leads.l1!, 'negotiation', at('2018-11-08T12:00:00Z'));
    await h.stage(leads.l1!, 'customer', at('2018-11-10T12:00:00Z'));
    await h.stage(leads.l2!, 'qualified', at('2018-11-07T12:00:00Z'));
    await h.stage(leads.l2!, 'unqualified', at('2018-11-09T12:00:00Z'), 'price');
    await h.stage(leads.l3!, 'unqualified', at('2018-11-06T12:00:00Z'), 'no budget');
    await h.stage(leads.l5!, 'nurture', at('2018-11-06T12:00:00Z'));
    await h.stage(leads.l6!, 'qualified', at('2018-12-03T12:00:00Z'));

    await prisma.followUp.createMany({
      data: [
        { id: newId('fu'), workspaceId, leadId: leads.l4!.id, ownerId: users.bruno, dueAt: at('2018-11-05T15:00:00Z'), note: 'call back' },
        { id: newId('fu'), workspaceId, leadId: leads.l1!.id, ownerId: users.ana, dueAt: at('2018-11-05T20:00:00Z'), note: 'proposal', status: 'done', outcome: 'sent', completedAt: at('2018-11-05T19:00:00Z') },
      ],
    });

    // A two-step sequence (turned off, so nothing runs it now) with three enrolments.
    const sequence = await prisma.sequence.create({
      data: { id: newId('seq'), workspaceId, name: 'Boas-vindas', steps: [{ waitMinutes: 0, templateId: 'product_introduction' }, { waitMinutes: 60, templateId: 'follow_up_reminder' }], exitStages: [], active: false },
    });
    const enrolled = at('2018-11-05T03:00:00Z');
    for (const lead of [leads.l1!, leads.l2!, leads.l4!]) {
      const enrollment = await prisma.sequenceEnrollment.create({
        data: { id: newId('enr'), workspaceId, sequenceId: sequence.id, leadId: lead.id, status: 'completed', nextStep: 2, nextStepAt: enrolled, enrolledAt: enrolled },
      });
      const sendStep = async (step: number, when: Date, status = 'sent') => {
        const messageId = await h.outbound(lead, when, { automatic: true, idempotencyKey: `sequence:${enrollment.id}:${step}`, sequenceStep: { enrollmentId: enrollment.id, step }, status });
        await prisma.$transaction((tx) => recordActivity(tx, { workspaceId, leadId: lead.id, kind: 'sequence.step_sent', actor: systemActor, at: when, data: { sequenceId: sequence.id, step, messageId } }));
      };
      await sendStep(0, at('2018-11-05T03:00:10Z'));
      if (lead === leads.l1) {
        await h.inbound(lead, at('2018-11-05T08:00:00Z'));
        await prisma.$transaction((tx) => recordActivity(tx, { workspaceId, leadId: lead.id, kind: 'sequence.step_skipped', actor: systemActor, at: at('2018-11-05T04:00:00Z'), data: { sequenceId: sequence.id, step: 1, reason: 'the lead replied' } }));
      } else {
        await sendStep(1, at('2018-11-05T04:00:00Z'), lead === leads.l4 ? 'failed' : 'sent');
      }
    }
    await prisma.contactOptOut.create({ data: { workspaceId, contactId: leads.l2!.contactId, channel: 'email', createdAt: at('2018-11-05T05:00:00Z') } });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('counts leads per local day across the daylight-saving change, with each bucket\'s true bounds', async () => {
    const body = await get<Table<{ bucket: string; start: string; end: string; leads: number }>>(`/api/v1/insights/leads-created?${november}&groupBy=day`);
    expect(body.period).toEqual({ timeZone: 'America/Sao_Paulo', from: '2018-11-02T03:00:00.000Z', to: '2018-11-06T02:00:00.000Z', groupBy: 'day' });
    expect(body.data).toEqual([
      { bucket: '2018-11-02', start: '2018-11-02T03:00:00.000Z', end: '2018-11-03T03:00:00.000Z', leads: 1 },
      { bucket: '2018-11-03', start: '2018-11-03T03:00:00.000Z', end: '2018-11-04T03:00:00.000Z', leads: 2 },
      // 23 hours long: the clock went from 00:00 to 01:00.
      { bucket: '2018-11-04', start: '2018-11-04T03:00:00.000Z', end: '2018-11-05T02:00:00.000Z', leads: 1 },
      { bucket: '2018-11-05', start: '2018-11-05T02:00:00.000Z', end: '2018-11-06T02:00:00.000Z', leads: 2 },
    ]);
    // L4 arrived at 00:30 on Monday (a fixed -03:00 would have put it on Sunday, in the week before).
    const weeks = await get<Table<{ bucket: string; leads: number }>>(`/api/v1/insights/leads-created?${november}&groupBy=week`);
    expect(weeks.data.map((row) => [row.bucket, row.leads])).toEqual([['2018-10-29', 4], ['2018-11-05', 2]]);
    const byChannel = await get<Table<{ bucket: string; key: string; leads: number }>>(`/api/v1/insights/leads-created?${november}&groupBy=month&by=channel`);
    expect(byChannel.data.map((row) => [row.bucket, row.key, row.leads])).toEqual([['2018-11-01', 'webform', 3], ['2018-11-01', 'email', 2], ['2018-11-01', 'sms', 1]]);
    const byProduct = await get<Table<{ key: string | null; label: string | null; leads: number }>>(`/api/v1/insights/leads-created?${november}&groupBy=quarter&by=product`);
    expect(byProduct.data.map((row) => [row.label, row.leads])).toEqual([['Solar', 3], ['Bateria', 2], [null, 1]]);
    const filtered = await get<Table<{ leads: number }>>(`/api/v1/insights/leads-created?${november}&groupBy=month&ownerId=${users.ana}&channel=webform`);
    expect(filtered.data.map((row) => row.leads)).toEqual([2]);
  });

  it('counts a period that starts and ends mid-day: whole days and the hours at either end', async () => {
    // 09:00 of Saturday the 3rd to 10:00 of Monday the 5th, local: L3 late on the 3rd, L5 on the
    // 4th, L4 early on the 5th; L6 arrived exactly at the end, which is not part of the period.
    const period = 'from=2018-11-03T12:00:00Z&to=2018-11-05T12:00:00Z&groupBy=day';
    const byChannel = await get<Table<{ bucket: string; key: string; leads: number }>>(`/api/v1/insights/leads-created?${period}&by=channel`);
    expect(byChannel.data.map((row) => [row.bucket, row.key, row.leads])).toEqual([['2018-11-03', 'webform', 1], ['2018-11-04', 'email', 1], ['2018-11-05', 'sms', 1]]);
    const byProduct = await get<Table<{ bucket: string; label: string | null; leads: number }>>(`/api/v1/insights/leads-created?${period}&by=product`);
    expect(byProduct.data.map((row) => [row.bucket, row.label, row.leads])).toEqual([['2018-11-03', 'Bateria', 1], ['2018-11-04', 'Solar', 1], ['2018-11-05', null, 1]]);
    const arrivals = await get<Table<{ dayOfWeek: number; hour: number; leads: number }>>(`/api/v1/insights/arrivals?${period}`);
    expect(arrivals.data.filter((cell) => cell.leads > 0)).toEqual([
      { dayOfWeek: 1, hour: 0, leads: 1 },
      { dayOfWeek: 6, hour: 23, leads: 1 },
      { dayOfWeek: 7, hour: 10, leads: 1 },
    ]);
  });

  it('places arrivals by local weekday and hour', async () => {
    const body = await get<Table<{ dayOfWeek: number; hour: number; leads: number }>>(`/api/v1/insights/arrivals?${november}`);
    expect(body.data).toHaveLength(168);
    expect(body.data.filter((cell) => cell.leads > 0)).toEqual([
      { dayOfWeek: 1, hour: 0, leads: 1 },
      { dayOfWeek: 1, hour: 10, leads: 1 },
      { dayOfWeek: 5, hour: 23, leads: 1 },
      { dayOfWeek: 6, hour: 0, leads: 1 },
      { dayOfWeek: 6, hour: 23, leads: 1 },
      { dayOfWeek: 7, hour: 10, leads: 1 },
    ]);
  });

  it('measures human first response, restarting when a resolved conversation is reopened, and never from an automatic reply', async () => {
    type Row = { key: string; label: string; windows: number; answered: number; unanswered: number; unansweredPastDue: number; firstTouches: number; reopenings: number; p50Seconds: number; p90Seconds: number; within5m: number; within15m: number; within60m: number; acknowledged: number; ackP50Seconds: number; ackP90Seconds: number };
    const wall = await get<Table<Row> & { businessHours: boolean }>(`/api/v1/insights/speed-to-lead?${november}&groupBy=month`);
    expect(wall.businessHours).toBe(false);
    // Windows: six leads plus L6 reopened; L4 never answered. Wall seconds: 207600, 207000, 122400, 83400, 180, 1200.
    expect(wall.data).toEqual([
      expect.objectContaining({
        key: '2018-11-01',
        windows: 7,
        answered: 6,
        // L4 still waits, long past its deadline: beside the percentiles, which cannot show it.
        unanswered: 1,
        unansweredPastDue: 1,
        // One first touch per lead (L6's reopening apart): 180, 83400, 122400, 207000, 207600 s; L4's waits.
        firstTouches: 6,
        firstTouchesAnswered: 5,
        firstTouchP50Seconds: 122400,
        firstTouchP90Seconds: 207000 + 0.6 * 600,
        reopenings: 1,
        p50Seconds: (83400 + 122400) / 2,
        p90Seconds: 207000 + 0.5 * 600,
        within5m: 0.1429,
        within15m: 0.1429,
        within60m: 0.2857,
        // The acknowledgements (20 s and 40 s); the sequence step on L4 is not one.
        acknowledged: 2,
        ackP50Seconds: 30,
        ackP90Seconds: 38,
      }),
    ]);
    // Working time only (Mon–Fri 09:00–18:00 local): 4200, 7200, 5400, 600, 180, 1200.
    const business = await get<Table<Row>>(`/api/v1/insights/speed-to-lead?${november}&groupBy=month&businessHours=true`);
    expect(business.data[0]).toMatchObject({ windows: 7, answered: 6, p50Seconds: 2700, p90Seconds: 6300, within5m: 0.1429, within15m: 0.2857, within60m: 0.4286 });
    const byRep = await get<Table<Row>>(`/api/v1/insights/speed-to-lead?${november}&by=rep&businessHours=true`);
    expect(byRep.data.map((row) => [row.label, row.windows, row.answered, row.unanswered, row.p50Seconds])).toEqual([
      ['Bruno Reis', 4, 3, 1, 1200],
      ['Ana Lima', 3, 3, 0, 4200],
    ]);
    const byChannel = await get<Table<Row>>(`/api/v1/insights/speed-to-lead?${november}&by=channel`);
    expect(byChannel.data.map((row) => [row.key, row.windows, row.answered, row.unanswered, row.firstTouches, row.reopenings])).toEqual([
      ['webform', 4, 4, 0, 3, 1],
      ['email', 2, 2, 0, 2, 0],
      ['sms', 1, 0, 1, 1, 0],
    ]);
  });

  it('gives percentiles that count the windows still unanswered at their age now, per rep and overall', async () => {
    type Row = { label: string; unanswered: number; p50Seconds: number; p90Seconds: number; p50IncludingOpenSeconds: number; p90IncludingOpenSeconds: number; firstTouchP50IncludingOpenSeconds: number; firstTouchP90IncludingOpenSeconds: number };
    // L4 (Bruno's) has waited since 2018-11-05T02:30Z, Mon 00:30 in São Paulo: its age is bounded
    // by the instants before and after each request.
    const opened = at('2018-11-05T02:30:00Z');
    const wallAge = (instant: number) => (instant - opened.getTime()) / 1000;
    // Working time (Mon–Fri 09:00–18:00 São Paulo) from then to an instant, day by day.
    const workingAge = (instant: number) => {
      let total = 0;
      for (let day = DateTime.fromJSDate(opened, { zone: 'America/Sao_Paulo' }).startOf('day'); day.toMillis() < instant; day = day.plus({ days: 1 })) {
        if (day.weekday > 5) continue;
        const from = Math.max(day.set({ hour: 9 }).toMillis(), opened.getTime());
        const to = Math.min(day.set({ hour: 18 }).toMillis(), instant);
        if (to > from) total += (to - from) / 1000;
      }
      return total;
    };
    const bounded = async <T,>(path: string, age: (instant: number) => number) => {
      const before = Date.now();
      const body = await get<T>(path);
      const after = Date.now();
      return { body, low: Math.floor(age(before)), high: Math.ceil(age(after)) };
    };
    const within = (value: number, low: number, high: number) => {
      expect(value).toBeGreaterThanOrEqual(low - 1e-6);
      expect(value).toBeLessThanOrEqual(high + 1e-6);
    };

    // Bruno answered 180, 1200 and 207000 s (wall); L4 waits. Ana answered all three of hers: 83400, 122400, 207600.
    const wall = await bounded<Table<Row>>(`/api/v1/insights/speed-to-lead?${november}&by=rep`, wallAge);
    const [bruno, ana] = wall.body.data;
    expect([bruno!.label, bruno!.unanswered, bruno!.p50Seconds, bruno!.p50IncludingOpenSeconds, bruno!.firstTouchP50IncludingOpenSeconds]).toEqual(['Bruno Reis', 1, 1200, (1200 + 207000) / 2, 207000]);
    // Four windows, the open one the longest: p90 is 70% of the way from 207000 s to its age.
    within(bruno!.p90IncludingOpenSeconds, 207000 + 0.7 * (wall.low - 207000), 207000 + 0.7 * (wall.high - 207000));
    // First touches: L2 (207000), L6 (180) and L4's open window.
    within(bruno!.firstTouchP90IncludingOpenSeconds, 207000 + 0.8 * (wall.low - 207000), 207000 + 0.8 * (wall.high - 207000));
    expect(ana).toMatchObject({ label: 'Ana Lima', unanswered: 0, p50Seconds: 122400, p50IncludingOpenSeconds: 122400, p90IncludingOpenSeconds: ana!.p90Seconds });

    // Working time: Bruno's answered 180, 1200, 7200; L4's age is its working time since it arrived.
    const business = await bounded<Table<Row>>(`/api/v1/insights/speed-to-lead?${november}&by=rep&businessHours=true`, workingAge);
    const brunoAtWork = business.body.data.find((row) => row.label === 'Bruno Reis')!;
    expect([brunoAtWork.p50Seconds, brunoAtWork.p50IncludingOpenSeconds]).toEqual([1200, (1200 + 7200) / 2]);
    within(brunoAtWork.p90IncludingOpenSeconds, 7200 + 0.7 * (business.low - 7200), 7200 + 0.7 * (business.high - 7200));

    // Overall: seven windows, L4's the longest; the median is the fourth, 122400 s.
    const overall = await bounded<Table<Row>>(`/api/v1/insights/speed-to-lead?${november}&groupBy=month`, wallAge);
    expect(overall.body.data[0]).toMatchObject({ p50Seconds: (83400 + 122400) / 2, p50IncludingOpenSeconds: 122400 });
    within(overall.body.data[0]!.p90IncludingOpenSeconds, 207600 + 0.4 * (overall.low - 207600), 207600 + 0.4 * (overall.high - 207600));

    const summary = await get<{ firstResponseByRep: { label: string; medianSeconds: number; medianIncludingOpenSeconds: number }[] }>(`/api/v1/insights/summary?${november}`);
    expect(summary.firstResponseByRep.map((row) => [row.label, row.medianSeconds, row.medianIncludingOpenSeconds])).toEqual([
      ['Bruno Reis', 1200, 104100],
      ['Ana Lima', 122400, 122400],
    ]);
  });

  it('gives first response within the SLA and the follow-up rate (done on time of due, overdue of the same) per rep', async () => {
    type Row = { label: string; assigned: number; touchedWithinSla: number; rate: number; withinSlaRate: number; followUpsDue: number; followUpsDoneOnTime: number; overdue: number; followUpRate: number | null };
    const rows = async (query: string) =>
      (await get<Table<Row>>(`/api/v1/insights/follow-up-rate?${query}`)).data.map(({ label, assigned, touchedWithinSla, rate, withinSlaRate, followUpsDue, followUpsDoneOnTime, overdue, followUpRate }) => ({
        label, assigned, touchedWithinSla, rate, withinSlaRate, followUpsDue, followUpsDoneOnTime, overdue, followUpRate,
      }));
    // Outside the period: Ana's follow-up left open in October, and one due an hour from now.
    const october = await prisma.followUp.create({ data: { id: newId('fu'), workspaceId, leadId: leads.l3!.id, ownerId: users.ana, dueAt: at('2018-10-15T15:00:00Z'), note: 'old' } });
    const soon = await prisma.followUp.create({ data: { id: newId('fu'), workspaceId, leadId: leads.l3!.id, ownerId: users.ana, dueAt: new Date(Date.now() + 3_600_000), note: 'later' } });
    try {
      // SLA 15 working minutes: due Mon 05 09:15 local for the weekend leads; only L5 (09:10) and L6 (3 min) made it.
      // Follow-ups due in November: Ana's done an hour early, Bruno's still open.
      expect(await rows(`${november}&by=rep`)).toEqual([
        { label: 'Ana Lima', assigned: 3, touchedWithinSla: 1, rate: 0.3333, withinSlaRate: 0.3333, followUpsDue: 1, followUpsDoneOnTime: 1, overdue: 0, followUpRate: 1 },
        { label: 'Bruno Reis', assigned: 3, touchedWithinSla: 1, rate: 0.3333, withinSlaRate: 0.3333, followUpsDue: 1, followUpsDoneOnTime: 0, overdue: 1, followUpRate: 0 },
      ]);
      // A follow-up not due yet is neither done on time nor late.
      const aroundNow = `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 7_200_000).toISOString()}`;
      expect(await rows(`${aroundNow}&by=rep`)).toEqual([]);
      expect((await rows('from=2018-10-01&to=2018-10-31&by=rep')).map(({ label, followUpsDue, overdue, followUpRate }) => ({ label, followUpsDue, overdue, followUpRate }))).toEqual([
        { label: 'Ana Lima', followUpsDue: 1, overdue: 1, followUpRate: 0 },
      ]);
    } finally {
      await prisma.followUp.deleteMany({ where: { id: { in: [october.id, soon.id] } } });
    }
  });

  it('builds the stage funnel with conversion, time in stage, won and lost with reasons', async () => {
    const body = await get<Table<{ stage: string; reached: number; conversion: number | null; entered: number; current: number; medianSecondsInStage: number | null }> & { cohort: number; won: number; lost: number; open: number; winRate: number | null; lossReasons: unknown[] }>(
      `/api/v1/insights/funnel?${november}`,
    );
    const row = (stage: string) => body.data.find((r) => r.stage === stage)!;
    expect(body.data.map((r) => [r.stage, r.reached, r.conversion])).toEqual([
      ['open', 6, null],
      ['contacted', 5, 0.8333],
      ['nurture', 1, null],
      ['qualified', 3, 0.6],
      ['negotiation', 1, 0.3333],
      ['customer', 1, 1],
      ['inactive', 0, null],
      ['unqualified', 2, null],
    ]);
    expect(row('qualified').medianSecondsInStage).toBe(2 * 86400);
    expect(row('negotiation').medianSecondsInStage).toBe(2 * 86400);
    expect(row('open').current).toBe(1);
    expect({ cohort: body.cohort, won: body.won, lost: body.lost, open: body.open, winRate: body.winRate, lossReasons: body.lossReasons }).toEqual({
      cohort: 6,
      won: 1,
      lost: 2,
      // L4, L5 (nurture) and L6 (qualified) are neither won nor lost: open, and not losses.
      open: 3,
      winRate: 0.3333,
      lossReasons: [{ reason: 'no budget', leads: 1 }, { reason: 'price', leads: 1 }],
    });
  });

  it('credits each funnel step by owner to who owned the lead then: reassigning does not rewrite the past', async () => {
    const h = leadHistory(prisma, workspaceId);
    // March 2019: L7 reaches Qualified under Ana, is then given to Bruno, who takes it to Negotiation;
    // L8 goes straight from Open to Qualified under Bruno.
    const l7 = await h.lead({ name: 'L7', at: at('2019-03-04T13:00:00Z'), channel: 'webform', ownerId: users.ana });
    await h.stage(l7, 'contacted', at('2019-03-04T14:00:00Z'));
    await h.stage(l7, 'qualified', at('2019-03-05T13:00:00Z'));
    const l8 = await h.lead({ name: 'L8', at: at('2019-03-06T13:00:00Z'), channel: 'email', ownerId: users.bruno });
    await h.stage(l8, 'qualified', at('2019-03-07T13:00:00Z'));
    expect((await stack.api('PATCH', `/api/v1/leads/${l7.id}`, { ownerId: users.bruno })).status).toBe(200);
    expect((await stack.api('PATCH', `/api/v1/leads/${l7.id}`, { stage: 'negotiation' })).status).toBe(200);

    type OwnerRow = { key: string | null; label: string | null; stage: string; reached: number; conversion: number | null; entered: number };
    const body = await get<Table<{ stage: string; reached: number }> & { cohort: number; byOwner: OwnerRow[] }>('/api/v1/insights/funnel?from=2019-03-01&to=2019-03-31&by=owner');
    expect(body.cohort).toBe(2);
    const steps = (label: string) =>
      Object.fromEntries(body.byOwner.filter((row) => row.label === label && (row.reached > 0 || row.entered > 0)).map((row) => [row.stage, [row.reached, row.conversion, row.entered]]));
    // Ana keeps Contacted and Qualified for L7, though Bruno owns it now.
    expect(steps('Ana Lima')).toEqual({ contacted: [1, null, 1], qualified: [1, 1, 1] });
    // Bruno: L8's jump reaches Contacted and Qualified (entering only Qualified); L7's Negotiation is his.
    expect(steps('Bruno Reis')).toEqual({ contacted: [1, null, 0], qualified: [1, 1, 1], negotiation: [1, 1, 1] });
    expect(body.byOwner.some((row) => row.stage === 'open')).toBe(false);
    // Without by=owner the funnel is as before, without the split.
    const plain = await get<Record<string, unknown>>('/api/v1/insights/funnel?from=2019-03-01&to=2019-03-31');
    expect(plain).not.toHaveProperty('byOwner');
  });

  it('sets quotas against qualified leads, agreeing with the quota\'s own progress', async () => {
    const month = (await stack.api<{ id: string }>('POST', '/api/v1/quotas', { period: '2018-11', target: 4 })).body.id;
    const quarter = (await stack.api<{ id: string }>('POST', '/api/v1/quotas', { period: '2018-Q4', target: 10 })).body.id;
    const december = (await stack.api<{ id: string }>('POST', '/api/v1/quotas', { period: '2018-12', productId: products.bateria, target: 2 })).body.id;
    const body = await get<Table<{ quotaId: string; period: string; product: string | null; start: string; target: number; actual: number; ratio: number }>>('/api/v1/insights/quotas?from=2018-11-01&to=2018-12-31');
    // November: L1 and L2, which was lost after it qualified and still counts; December: L6.
    expect(body.data.map((r) => [r.quotaId, r.period, r.product, r.start, r.target, r.actual, r.ratio])).toEqual([
      [quarter, '2018-Q4', null, '2018-10-01T03:00:00.000Z', 10, 3, 0.3],
      [month, '2018-11', null, '2018-11-01T03:00:00.000Z', 4, 2, 0.5],
      [december, '2018-12', 'Bateria', '2018-12-01T02:00:00.000Z', 2, 1, 0.5],
    ]);
    for (const row of body.data) {
      const progress = await get<{ actual: number }>(`/api/v1/quotas/${row.quotaId}/progress`);
      expect(progress.actual).toBe(row.actual);
    }
    // First response within the SLA of November's assigned leads (L5 and L6 of six), under its own name too.
    const monthProgress = await get<{ followUpRate: number; withinSlaRate: number; byRep: { name: string; withinSlaRate: number }[] }>(`/api/v1/quotas/${month}/progress`);
    expect(monthProgress).toMatchObject({ followUpRate: 2 / 6, withinSlaRate: 2 / 6 });
    expect(monthProgress.byRep.map((line) => [line.name, line.withinSlaRate])).toEqual([['Ana Lima', 1 / 3], ['Bruno Reis', 1 / 3]]);
    const onlyNovember = await get<Table<{ period: string }>>(`/api/v1/insights/quotas?${november}`);
    expect(onlyNovember.data.map((r) => r.period)).toEqual(['2018-Q4', '2018-11']);

    // A rep who sees only their own leads: both quota figures count the same leads, their own.
    const keys: Record<'ana' | 'bruno', string> = { ana: '', bruno: '' };
    for (const rep of ['ana', 'bruno'] as const) {
      const created = await stack.api<{ key: string }>('POST', '/api/v1/api-keys', { name: `${rep}'s key`, userId: users[rep] });
      expect(created.status).toBe(201);
      keys[rep] = created.body.key;
    }
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' })).status).toBe(200);
    try {
      const actuals = async (rep: 'ana' | 'bruno') => {
        const insights = await apiRequest<Table<{ quotaId: string; actual: number }>>(stack.baseUrl, keys[rep], 'GET', '/api/v1/insights/quotas?from=2018-11-01&to=2018-12-31');
        expect(insights.status).toBe(200);
        const rows = [];
        for (const row of insights.body.data) {
          const progress = await apiRequest<{ actual: number; byRep: { userId: string; qualified: number }[] }>(stack.baseUrl, keys[rep], 'GET', `/api/v1/quotas/${row.quotaId}/progress`);
          expect(progress.status).toBe(200);
          expect(progress.body.byRep.every((line) => line.userId === users[rep])).toBe(true);
          rows.push({ quotaId: row.quotaId, insights: row.actual, progress: progress.body.actual });
        }
        return rows;
      };
      // Ana qualified L1 in November; Bruno L2 in November and L6 (Bateria) in December.
      expect(await actuals('ana')).toEqual([
        { quotaId: quarter, insights: 1, progress: 1 },
        { quotaId: month, insights: 1, progress: 1 },
        { quotaId: december, insights: 0, progress: 0 },
      ]);
      expect(await actuals('bruno')).toEqual([
        { quotaId: quarter, insights: 2, progress: 2 },
        { quotaId: month, insights: 1, progress: 1 },
        { quotaId: december, insights: 1, progress: 1 },
      ]);
    } finally {
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
    }
  });

  it('sets quotas in deals won and revenue too, for the team and for a rep, crediting who owned the lead at each step', async () => {
    const h = leadHistory(prisma, workspaceId);
    // June 2019. L9 (Ana, 1000.50) qualifies, is won, then lost: it still counts, won and qualified.
    // L10 (2000) qualifies under Ana, goes to Bruno, who wins it. L11 (Bruno, 500) qualifies, then is lost.
    const l9 = await h.lead({ name: 'L9', at: at('2019-06-02T13:00:00Z'), channel: 'webform', ownerId: users.ana });
    const l10 = await h.lead({ name: 'L10', at: at('2019-06-02T14:00:00Z'), channel: 'webform', ownerId: users.ana });
    const l11 = await h.lead({ name: 'L11', at: at('2019-06-02T15:00:00Z'), channel: 'email', ownerId: users.bruno });
    for (const [lead, value] of [[l9, 1000.5], [l10, 2000], [l11, 500]] as const) {
      expect((await stack.api('PATCH', `/api/v1/leads/${lead.id}`, { dealValue: value })).status).toBe(200);
    }
    await h.stage(l9, 'qualified', at('2019-06-03T13:00:00Z'));
    await h.stage(l9, 'customer', at('2019-06-10T13:00:00Z'));
    await h.stage(l9, 'unqualified', at('2019-06-20T13:00:00Z'), 'churned');
    await h.stage(l10, 'qualified', at('2019-06-04T13:00:00Z'));
    expect((await stack.api('PATCH', `/api/v1/leads/${l10.id}`, { ownerId: users.bruno })).status).toBe(200);
    await h.stage(l10, 'customer', at('2019-06-12T13:00:00Z'));
    await h.stage(l11, 'qualified', at('2019-06-05T13:00:00Z'));
    await h.stage(l11, 'unqualified', at('2019-06-08T13:00:00Z'), 'price');

    const create = async (body: Record<string, unknown>) => {
      const created = await stack.api<{ id: string; ownerId: string | null; wonTarget: number | null; revenueTarget: number | null }>('POST', '/api/v1/quotas', body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body;
    };
    const team = await create({ period: '2019-06', target: 3, wonTarget: 4, revenueTarget: 6001 });
    expect(team).toMatchObject({ ownerId: null, wonTarget: 4, revenueTarget: 6001 });
    const ana = await create({ period: '2019-06', target: 2, ownerId: users.ana, wonTarget: 2, revenueTarget: 2001 });
    const bruno = await create({ period: '2019-Q2', target: 1, ownerId: users.bruno, wonTarget: 1, revenueTarget: 4000 });
    expect((await stack.api('POST', '/api/v1/quotas', { period: '2019-06', target: 1, ownerId: 'usr_nobody' })).status).toBe(422);
    expect((await stack.api('POST', '/api/v1/quotas', { period: '2019-06', target: 1, revenueTarget: 10.001 })).status).toBe(422);

    type Row = { quotaId: string; owner: string | null; target: number; actual: number; ratio: number; wonTarget: number; won: number; wonRatio: number; revenueTarget: number; revenue: number; revenueRatio: number };
    const body = await get<Table<Row>>('/api/v1/insights/quotas?from=2019-06-01&to=2019-06-30');
    expect(body.data.map(({ quotaId, owner, target, actual, ratio, wonTarget, won, wonRatio, revenueTarget, revenue, revenueRatio }) => [quotaId, owner, target, actual, ratio, wonTarget, won, wonRatio, revenueTarget, revenue, revenueRatio])).toEqual([
      // Bruno's quarter: L11 qualified under him (L10 under Ana); L10 won by him.
      [bruno.id, 'Bruno Reis', 1, 1, 1, 1, 1, 1, 4000, 2000, 0.5],
      // The team: three qualified (L9 and L11 lost afterwards still count), two won for 3000.50.
      [team.id, null, 3, 3, 1, 4, 2, 0.5, 6001, 3000.5, 0.5],
      // Ana: L9 and L10 qualified under her; L9 won.
      [ana.id, 'Ana Lima', 2, 2, 1, 2, 1, 0.5, 2001, 1000.5, 0.5],
    ]);
    for (const row of body.data) {
      const progress = await get<{ ownerId: string | null; actual: number; won: number; revenue: number; wonRatio: number; revenueRatio: number }>(`/api/v1/quotas/${row.quotaId}/progress`);
      expect([progress.actual, progress.won, progress.revenue, progress.wonRatio, progress.revenueRatio]).toEqual([row.actual, row.won, row.revenue, row.wonRatio, row.revenueRatio]);
    }
    const teamProgress = await get<{ byRep: { name: string; qualified: number; won: number; revenue: number }[] }>(`/api/v1/quotas/${team.id}/progress`);
    expect(teamProgress.byRep.map(({ name, qualified, won, revenue }) => [name, qualified, won, revenue])).toEqual([
      ['Ana Lima', 2, 1, 1000.5],
      ['Bruno Reis', 1, 1, 2000],
    ]);
  });

  it('reports sequence steps: sent, failed, skipped, replied and opted out', async () => {
    const body = await get<Table<Record<string, unknown>>>(`/api/v1/insights/sequences?${november}`);
    expect(body.data.map(({ step, enrolled, sent, failed, skipped, replied, optedOut }) => ({ step, enrolled, sent, failed, skipped, replied, optedOut }))).toEqual([
      { step: 0, enrolled: 3, sent: 3, failed: 0, skipped: 0, replied: 1, optedOut: 0 },
      { step: 1, enrolled: 3, sent: 1, failed: 1, skipped: 1, replied: 0, optedOut: 1 },
    ]);
    // Narrowed to the leads of one channel: only L1 came by web form.
    const webform = await get<Table<Record<string, unknown>>>(`/api/v1/insights/sequences?${november}&channel=webform`);
    expect(webform.data.map(({ step, enrolled, sent, failed, skipped, replied, optedOut }) => ({ step, enrolled, sent, failed, skipped, replied, optedOut }))).toEqual([
      { step: 0, enrolled: 1, sent: 1, failed: 0, skipped: 0, replied: 1, optedOut: 0 },
      { step: 1, enrolled: 1, sent: 0, failed: 0, skipped: 1, replied: 0, optedOut: 0 },
    ]);
  });

  it('lists the leads behind a bar, page by page', async () => {
    type Page = { data: { name: string; frtSeconds: number | null }[]; nextCursor: string | null };
    const names = async (query: string) => (await get<Page>(`/api/v1/insights/leads?${november}&${query}`)).data.map((row) => row.name);
    expect(await names('groupBy=day&bucket=2018-11-05')).toEqual(['L6', 'L4']);
    expect(await names('groupBy=week&bucket=2018-10-29')).toEqual(['L5', 'L3', 'L2', 'L1']);
    expect(await names('by=channel&key=webform')).toEqual(['L6', 'L3', 'L1']);
    expect(await names('by=segment&key=')).toEqual(['L4', 'L5', 'L3', 'L2']);
    expect(await names(`by=product&key=${products.bateria}`)).toEqual(['L6', 'L3']);
    expect(await names('reachedStage=qualified')).toEqual(['L6', 'L2', 'L1']);
    expect(await names('dayOfWeek=6&hour=0')).toEqual(['L2']);
    const first = await get<Page>(`/api/v1/insights/leads?${november}&limit=4`);
    expect(first.data.map((row) => row.name)).toEqual(['L6', 'L4', 'L5', 'L3']);
    expect(first.data[0]!.frtSeconds).toBe(180);
    const second = await get<Page>(`/api/v1/insights/leads?${november}&limit=4&cursor=${first.nextCursor}`);
    expect(second.data.map((row) => row.name)).toEqual(['L2', 'L1']);
    expect(second.nextCursor).toBeNull();
  });

  it('exports every table and the leads as CSV', async () => {
    const csv = async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${stack.baseUrl}${path}`, { headers: { authorization: `Bearer ${stack.apiKey}`, ...headers } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      return response.text();
    };
    expect(await csv(`/api/v1/insights/leads-created?${november}&format=csv`)).toBe(
      'bucket,start,end,leads\r\n' +
        '2018-11-02,2018-11-02T03:00:00.000Z,2018-11-03T03:00:00.000Z,1\r\n' +
        '2018-11-03,2018-11-03T03:00:00.000Z,2018-11-04T03:00:00.000Z,2\r\n' +
        '2018-11-04,2018-11-04T03:00:00.000Z,2018-11-05T02:00:00.000Z,1\r\n' +
        '2018-11-05,2018-11-05T02:00:00.000Z,2018-11-06T02:00:00.000Z,2\r\n',
    );
    const funnel = await csv(`/api/v1/insights/funnel?${november}`, { accept: 'text/csv' });
    expect(funnel.split('\r\n').slice(0, 3)).toEqual(['stage,reached,conversion,entered,current,medianSecondsInStage', expect.stringMatching(/^open,6,,6,1,/), expect.stringMatching(/^contacted,5,0.8333,5,0,/)]);
    for (const table of ['arrivals', 'speed-to-lead', 'follow-up-rate', 'quotas', 'sequences']) {
      expect((await csv(`/api/v1/insights/${table}?${november}&format=csv`)).split('\r\n').length).toBeGreaterThan(2);
    }
    const exported = (await csv(`/api/v1/insights/leads?${november}&format=csv`)).trimEnd().split('\r\n');
    expect(exported[0]).toBe('id,name,stage,ownerId,owner,channel,sourceId,source,products,segment,tags,dealValue,dealCurrency,companySize,score,createdAt,firstResponseAt,frtSeconds,frtBusinessSeconds');
    expect(exported).toHaveLength(7);
    // The score column is the lead's score as its detail shows it (the workspace's scoring rules).
    const { body: l6 } = await stack.api<{ score: number }>('GET', `/api/v1/leads/${leads.l6!.id}`);
    expect(l6.score).toBeGreaterThan(0);
    expect(exported[1]).toBe(`${leads.l6!.id},L6,qualified,${users.bruno},Bruno Reis,webform,,,Bateria,empresa,,,,,${l6.score},2018-11-05T12:00:00.000Z,2018-11-05T12:03:00.000Z,180,180`);
  });

  it('refuses bad parameters with problem+json naming them', async () => {
    const bad = await stack.api<{ type: string; errors: { path: string }[] }>('GET', '/api/v1/insights/leads-created?groupBy=year&from=yesterday&channel=fax&colour=blue');
    expect(bad.status).toBe(422);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(bad.body.errors.map((e) => e.path).sort()).toEqual(['query', 'query.channel', 'query.from', 'query.groupBy']);
    const backwards = await stack.api<{ errors: { path: string }[] }>('GET', '/api/v1/insights/summary?from=2018-11-05&to=2018-11-01');
    expect(backwards.status).toBe(422);
    expect(backwards.body.errors).toEqual([{ path: 'query.from', message: 'must be before to' }]);
    const tooMany = await stack.api<{ errors: { path: string }[] }>('GET', '/api/v1/insights/leads-created?from=2000-01-01&to=2018-01-01&groupBy=day');
    expect(tooMany.body.errors.map((e) => e.path)).toEqual(['query.groupBy']);
    const keyAlone = await stack.api<{ errors: { path: string }[] }>('GET', '/api/v1/insights/leads?key=email');
    expect(keyAlone.body.errors.map((e) => e.path)).toEqual(['query.key']);
  });

  it('refuses dates that do not exist and years out of range, naming the parameter', async () => {
    const refused = async (path: string, parameter: string) => {
      const response = await stack.api<{ type: string; errors: { path: string; message: string }[] }>('GET', path);
      expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(422);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body.type).toBe('https://leadgate.dev/problems/validation-failed');
      expect(response.body.errors.map((e) => e.path)).toEqual([parameter]);
      return response.body.errors[0]!.message;
    };
    await refused('/api/v1/insights/leads-created?from=2026-02-30', 'query.from');
    await refused('/api/v1/insights/leads-created?from=2026-01-01&to=2026-04-31', 'query.to');
    await refused('/api/v1/insights/funnel?to=2026-13-01', 'query.to');
    await refused('/api/v1/insights/summary?from=2026-02-28T10:00:00Z&to=2026-02-30T10:00:00Z', 'query.to');
    await refused('/api/v1/insights/leads?bucket=2026-02-30', 'query.bucket');
    await refused('/api/v1/insights/leads?bucket=0001-01-01', 'query.bucket');
    expect(await refused('/api/v1/insights/leads-created?from=0001-01-01&to=2026-01-01&groupBy=quarter', 'query.from')).toBe('the year must be from 1970 to 2999');
    await refused('/api/v1/insights/funnel?from=2026-01-01&to=9999-12-31', 'query.to');
    await refused('/api/v1/insights/quotas?from=1969-12-31T23:00:00Z&to=1970-01-02', 'query.from');
    // A leap day is a day, and the first and last years allowed are answered.
    expect((await stack.api('GET', '/api/v1/insights/leads-created?from=2024-02-29&to=2024-02-29')).status).toBe(200);
    expect((await stack.api('GET', '/api/v1/insights/leads-created?from=1970-01-01&to=1970-01-02')).status).toBe(200);
    expect((await stack.api('GET', '/api/v1/insights/funnel?from=2999-12-01&to=2999-12-31')).status).toBe(200);
  });

  it('summarises the period on one page', async () => {
    const body = await get<Record<string, unknown>>(`/api/v1/insights/summary?${november}&groupBy=day`);
    expect(body).toMatchObject({
      leadsCreated: { total: 6, buckets: [{ leads: 1 }, { leads: 2 }, { leads: 1 }, { leads: 2 }] },
      byChannel: [{ key: 'webform', leads: 3 }, { key: 'email', leads: 2 }, { key: 'sms', leads: 1 }],
      bySegment: [{ key: null, leads: 4 }, { key: 'empresa', leads: 1 }, { key: 'residencial', leads: 1 }],
      followUpRate: { assigned: 6, touchedWithinSla: 2, rate: 0.3333, overdue: 1 },
      firstResponseWithinSla: { assigned: 6, answered: 2, rate: 0.3333 },
      followUps: { due: 2, doneOnTime: 1, overdue: 1, rate: 0.5 },
      firstResponseByRep: [
        { label: 'Bruno Reis', answered: 3, unanswered: 1, medianSeconds: 1200 },
        { label: 'Ana Lima', answered: 3, unanswered: 0, medianSeconds: 122400 },
      ],
    });
    expect((body.byStage as { key: string; leads: number }[]).map((r) => [r.key, r.leads])).toEqual([
      ['unqualified', 2],
      ['customer', 1],
      ['nurture', 1],
      ['open', 1],
      ['qualified', 1],
    ]);
  });

  it('shows a rep only their own figures when visibility is "own"', async () => {
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' })).status).toBe(200);
    try {
      const query = insightQuery.parse({ from: '2018-11-02', to: '2018-11-05' });
      const rep: Auth = { workspaceId, actor: { type: 'user', id: users.ana }, role: 'rep', userId: users.ana };
      const manager: Auth = { ...rep, role: 'manager' };
      expect(await leadsCreatedTotals(prisma, await resolveScope(prisma, rep, query), 'owner')).toEqual([{ key: users.ana, label: 'Ana Lima', leads: 3 }]);
      expect((await leadsCreatedTotals(prisma, await resolveScope(prisma, manager, query), 'owner')).map((row) => row.leads)).toEqual([3, 3]);
    } finally {
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
    }
  });

  it('counts from the live path: an acknowledgement is not a response, a rep\'s reply is', async () => {
    const form = await createWebform(stack);
    const since = new Date().toISOString();
    await postForm(stack, form, { name: 'Carla Dias', email: 'carla@example.com' });
    await postForm(stack, form, { name: 'Davi Melo', email: 'davi@example.com' });
    const live = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; name: string }[] }>('GET', `/api/v1/leads?createdFrom=${since}`);
      expect(body.data).toHaveLength(2);
      return body.data;
    });
    await eventually(() => expect(smtp.received).toHaveLength(2));
    const davi = live.find((lead) => lead.name === 'Davi Melo')!;
    expect((await stack.api('PATCH', `/api/v1/leads/${davi.id}`, { ownerId: users.ana })).status).toBe(200);
    // Answered through the workspace's API key: an integration, not Ana.
    expect((await stack.api('POST', `/api/v1/leads/${davi.id}/messages`, { text: 'Olá Davi, posso ajudar?' })).status).toBe(202);
    await eventually(async () => {
      const body = await get<Table<{ windows: number; answered: number; acknowledged: number }>>(`/api/v1/insights/speed-to-lead?from=${since}&by=channel`);
      // Carla waits, but her 15 working minutes have not run out.
      expect(body.data).toEqual([expect.objectContaining({ key: 'webform', windows: 2, answered: 1, unanswered: 1, unansweredPastDue: 0, acknowledged: 2 })]);
    });
    const byRep = await get<Table<{ key: string | null; windows: number; answered: number }>>(`/api/v1/insights/speed-to-lead?from=${since}&by=rep`);
    // Ana owns Davi's lead, but did not answer it.
    expect(byRep.data.find((row) => row.key === users.ana)?.answered ?? 0).toBe(0);
    expect(byRep.data.filter((row) => row.key === null).reduce((sum, row) => sum + row.answered, 0)).toBe(1);
  });

  it('counts a lead given two products, then one, once per product and never as "no product", for whole days', async () => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    type Totals = Record<string, number>;
    const byProduct = async (): Promise<{ day: Totals; week: Totals; month: Totals; summary: Totals }> => {
      const totals = (rows: { label: string | null; leads: number }[]) => Object.fromEntries(rows.map((row) => [row.label ?? 'none', row.leads]));
      const sum = (rows: { label: string | null; leads: number }[]) => {
        const out: Totals = {};
        for (const row of rows) out[row.label ?? 'none'] = (out[row.label ?? 'none'] ?? 0) + row.leads;
        return out;
      };
      const day = await get<Table<{ label: string | null; leads: number }>>(`/api/v1/insights/leads-created?by=product&from=${today}&to=${today}`);
      const week = await get<Table<{ label: string | null; leads: number }>>(`/api/v1/insights/leads-created?by=product&from=${today}&to=${today}&groupBy=week`);
      const month = await get<Table<{ label: string | null; leads: number }>>(`/api/v1/insights/leads-created?by=product&from=${today}&to=${today}&groupBy=month`);
      const summary = await get<{ byProduct: { label: string | null; leads: number }[] }>(`/api/v1/insights/summary?from=${today}&to=${today}`);
      return { day: sum(day.data), week: sum(week.data), month: sum(month.data), summary: totals(summary.byProduct) };
    };
    const plus = (before: Totals, change: Totals): Totals =>
      Object.fromEntries(Object.entries({ ...before, ...change }).map(([key]) => [key, (before[key] ?? 0) + (change[key] ?? 0)]).filter(([, n]) => n !== 0));
    const expectChange = async (before: Awaited<ReturnType<typeof byProduct>>, change: Totals) => {
      const now = await byProduct();
      for (const view of ['day', 'week', 'month', 'summary'] as const) expect(now[view], view).toEqual(plus(before[view], change));
    };

    const form = await createWebform(stack, { name: 'Products' });
    const before = await byProduct();
    const posted = await postForm(stack, form, { name: 'Elisa Prado', email: 'elisa@example.com' });
    const leadId = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent('elisa@example.com')}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });
    expect(posted.status).toBeLessThan(300);
    await expectChange(before, { none: 1 });
    expect((await stack.api('PATCH', `/api/v1/leads/${leadId}`, { products: [products.solar, products.bateria] })).status).toBe(200);
    await expectChange(before, { Solar: 1, Bateria: 1 });
    expect((await stack.api('PATCH', `/api/v1/leads/${leadId}`, { products: [products.solar] })).status).toBe(200);
    await expectChange(before, { Solar: 1 });
  });
});

describe('insights in a time zone with daylight saving now (America/New_York, 2026-03-08)', () => {
  let stack: Stack;
  afterAll(async () => stack?.close());

  it('buckets the 23-hour day and counts only working time across the change', async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded' });
    const prisma = stack.gateway.deps.db.prisma;
    await stack.api('PATCH', '/api/v1/workspace', {
      timeZone: 'America/New_York',
      workingHours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((day) => [day, [['09:00', '17:00']]])),
    });
    const workspaceId = (await prisma.workspace.findFirstOrThrow()).id;
    const rep = (await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Eve Park', email: 'eve@acme.test', role: 'rep' })).body.id;
    const h = leadHistory(prisma, workspaceId);
    const friday = await h.lead({ name: 'N1', at: at('2026-03-06T21:50:00Z'), channel: 'email', ownerId: rep }); // Fri 16:50 EST
    await h.lead({ name: 'N2', at: at('2026-03-08T06:30:00Z'), channel: 'email', ownerId: rep }); // Sun 01:30 EST
    await h.lead({ name: 'N3', at: at('2026-03-08T07:30:00Z'), channel: 'email', ownerId: rep }); // Sun 03:30 EDT
    await h.lead({ name: 'N4', at: at('2026-03-09T03:30:00Z'), channel: 'email', ownerId: rep }); // Sun 23:30 EDT
    await h.lead({ name: 'N5', at: at('2026-03-09T04:30:00Z'), channel: 'email', ownerId: rep }); // Mon 00:30 EDT
    await h.outbound(friday, at('2026-03-09T13:05:00Z'), { userId: rep }); // Mon 09:05 EDT

    const days = await stack.api<Table<{ bucket: string; start: string; end: string; leads: number }>>('GET', '/api/v1/insights/leads-created?from=2026-03-06&to=2026-03-09');
    expect(days.body.data).toEqual([
      { bucket: '2026-03-06', start: '2026-03-06T05:00:00.000Z', end: '2026-03-07T05:00:00.000Z', leads: 1 },
      { bucket: '2026-03-07', start: '2026-03-07T05:00:00.000Z', end: '2026-03-08T05:00:00.000Z', leads: 0 },
      { bucket: '2026-03-08', start: '2026-03-08T05:00:00.000Z', end: '2026-03-09T04:00:00.000Z', leads: 3 },
      { bucket: '2026-03-09', start: '2026-03-09T04:00:00.000Z', end: '2026-03-10T04:00:00.000Z', leads: 1 },
    ]);
    const hours = await stack.api<Table<{ dayOfWeek: number; hour: number; leads: number }>>('GET', '/api/v1/insights/arrivals?from=2026-03-06&to=2026-03-09');
    expect(hours.body.data.filter((cell) => cell.leads > 0).map((cell) => [cell.dayOfWeek, cell.hour])).toEqual([[1, 0], [5, 16], [7, 1], [7, 3], [7, 23]]);
    // Fri 16:50 → Mon 09:05: 63 h 15 min of real time (the lost hour is not counted), 15 minutes of working time.
    const wall = await stack.api<Table<{ p50Seconds: number }>>('GET', '/api/v1/insights/speed-to-lead?from=2026-03-06&to=2026-03-06&by=rep');
    expect(wall.body.data[0]!.p50Seconds).toBe(63 * 3600 + 15 * 60);
    const business = await stack.api<Table<{ p50Seconds: number; within15m: number }>>('GET', '/api/v1/insights/speed-to-lead?from=2026-03-06&to=2026-03-06&by=rep&businessHours=true');
    expect(business.body.data[0]).toMatchObject({ p50Seconds: 900, within15m: 1 });
  }, 60_000);
});
