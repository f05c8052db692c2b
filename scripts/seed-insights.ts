/**
 * A workspace with a year of leads and their history, on PostgreSQL, for the insights benchmark:
 * 1,000,000 leads by default, each with its contact, inbound message, assignment, response
 * window (answered or not, sometimes reopened), acknowledgement, stage changes along the
 * pipeline, and some with follow-ups and nurture sequences. Written with INSERT … SELECT over
 * generate_series, in a few statements; not part of `npm test`.
 *
 *   npm run seed:insights                 # SEED_DATABASE_URL, SEED_LEADS; --fresh starts over
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../src/db/client.js';
import { hashApiKey } from '../src/security/tokens.js';

export const seedWorkspaceId = 'ws_seed';
export const seedApiKey = 'lg_seed_insights_benchmark_key';
export const defaultSeedUrl = 'postgres://postgres@127.0.0.1:5432/leadgate_insights_seed';

const reps = 20;
const productNames = ['Solar', 'Bateria', 'Inversor', 'Aquecedor', 'Bomba de Calor', 'Manutenção', 'Projeto', 'Consultoria'];

/** Creates the database when it does not exist (or anew with `fresh`). */
async function ensureDatabase(url: string, fresh: boolean): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^\w+$/.test(name)) throw new Error(`refusing an unusual database name: ${name}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    if (fresh) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

/** The statements, in order; each names what it writes for the progress log. */
function statements(leads: number): [string, string][] {
  const ws = `'${seedWorkspaceId}'`;
  const products = productNames.map((name, i) => `('prod_seed_${i}', ${ws}, '${name}', '{}', now())`).join(', ');
  return [
    [
      'workspace, users, products, sources, API key',
      `INSERT INTO workspaces (id, name, "timeZone", "workingHours", "firstResponseSlaMinutes", "updatedAt")
         VALUES (${ws}, 'Seed Energia', 'America/Sao_Paulo',
           '{"mon":[["09:00","18:00"]],"tue":[["09:00","18:00"]],"wed":[["09:00","18:00"]],"thu":[["09:00","18:00"]],"fri":[["09:00","18:00"]]}', 15, now());
       INSERT INTO users (id, "workspaceId", name, email, role, "updatedAt")
         SELECT 'usr_seed_' || r, ${ws}, 'Rep ' || r, 'rep' || r || '@seed.test', CASE WHEN r = 0 THEN 'owner' ELSE 'rep' END, now()
         FROM generate_series(0, ${reps}) r;
       INSERT INTO products (id, "workspaceId", name, keywords, "updatedAt") VALUES ${products};
       INSERT INTO sources (id, "workspaceId", kind, name, settings, secrets, "updatedAt")
         SELECT 'src_seed_' || k, ${ws}, k, initcap(k), '{}', '', now() FROM unnest(ARRAY['webform', 'whatsapp', 'email', 'twilio']) k;
       INSERT INTO api_keys (id, "workspaceId", name, prefix, hash) VALUES ('key_seed', ${ws}, 'seed', 'lg_seed', '${hashApiKey(seedApiKey)}');
       INSERT INTO sequences (id, "workspaceId", name, steps, "exitStages", active, "updatedAt")
         SELECT 'seq_seed_' || s, ${ws}, 'Nutrição ' || s,
           '[{"waitMinutes":0,"templateId":"product_introduction"},{"waitMinutes":1440,"templateId":"product_launch"},{"waitMinutes":4320,"templateId":"follow_up_reminder"}]',
           '{qualified,negotiation,customer,unqualified}', false, now()
         FROM generate_series(1, 2) s;
       INSERT INTO quotas (id, "workspaceId", period, "productId", target, "updatedAt")
         SELECT 'quota_seed_m' || m, ${ws}, to_char(date_trunc('month', now()) - m * interval '1 month', 'YYYY-MM'), NULL, 12000, now()
         FROM generate_series(0, 11) m
         UNION ALL
         SELECT 'quota_seed_q' || p, ${ws}, to_char(now(), 'YYYY') || '-Q' || extract(quarter FROM now()), 'prod_seed_' || p, 3000, now()
         FROM generate_series(0, ${productNames.length - 1}) p`,
    ],
    [
      `${leads} leads planned`,
      // Each lead's fate, drawn once: how far it goes, how fast a person answers, and when.
      `CREATE UNLOGGED TABLE seed_plan AS
       SELECT g, created, channel, rep, product, segment, path, frt, ack, ack_r, reopen_r, follow_r, sequence_r,
         CASE WHEN path >= 0.25 THEN created + frt * interval '1 second' END AS contacted_at
       FROM (
         SELECT g,
           date_trunc('milliseconds', now() - random() * interval '365 days') AS created,
           (ARRAY['webform', 'webform', 'webform', 'whatsapp', 'whatsapp', 'email', 'sms', 'voice'])[1 + floor(random() * 8)::int] AS channel,
           1 + floor(random() * ${reps})::int AS rep,
           floor(random() * 10)::int AS product,
           floor(random() * 6)::int AS segment,
           random() AS path,
           ceil(-ln(1 - random()) * 1500)::int AS frt,
           2 + floor(random() * 58)::int AS ack,
           random() AS ack_r, random() AS reopen_r, random() AS follow_r, random() AS sequence_r
         FROM generate_series(1, ${leads}) g) s;
       ALTER TABLE seed_plan ADD COLUMN nurture_at timestamptz, ADD COLUMN qualified_at timestamptz, ADD COLUMN negotiation_at timestamptz,
         ADD COLUMN customer_at timestamptz, ADD COLUMN unqualified_at timestamptz, ADD COLUMN stage text, ADD COLUMN stage_at timestamptz;
       UPDATE seed_plan SET
         nurture_at = CASE WHEN path >= 0.55 AND path < 0.65 THEN contacted_at + interval '1 day' END,
         qualified_at = CASE WHEN path >= 0.65 AND path < 0.95 THEN contacted_at + interval '2 days' END,
         negotiation_at = CASE WHEN path >= 0.80 AND path < 0.95 THEN contacted_at + interval '5 days' END,
         customer_at = CASE WHEN path >= 0.88 AND path < 0.95 THEN contacted_at + interval '12 days' END,
         unqualified_at = CASE WHEN path >= 0.95 THEN contacted_at + interval '3 days' END;
       -- Only what has happened by now.
       UPDATE seed_plan SET
         contacted_at = CASE WHEN contacted_at <= now() THEN contacted_at END,
         nurture_at = CASE WHEN nurture_at <= now() THEN nurture_at END, qualified_at = CASE WHEN qualified_at <= now() THEN qualified_at END,
         negotiation_at = CASE WHEN negotiation_at <= now() THEN negotiation_at END, customer_at = CASE WHEN customer_at <= now() THEN customer_at END,
         unqualified_at = CASE WHEN unqualified_at <= now() THEN unqualified_at END;
       UPDATE seed_plan SET
         stage = CASE WHEN customer_at IS NOT NULL THEN 'customer' WHEN negotiation_at IS NOT NULL THEN 'negotiation' WHEN qualified_at IS NOT NULL THEN 'qualified'
           WHEN unqualified_at IS NOT NULL THEN 'unqualified' WHEN nurture_at IS NOT NULL THEN 'nurture' WHEN contacted_at IS NOT NULL THEN 'contacted' ELSE 'open' END,
         stage_at = COALESCE(customer_at, negotiation_at, qualified_at, unqualified_at, nurture_at, contacted_at, created)`,
    ],
    [
      'contacts and leads',
      `INSERT INTO contacts (id, "workspaceId", name, "createdAt", "updatedAt")
         SELECT 'ct_seed_' || g, ${ws}, 'Lead ' || g, created, created FROM seed_plan;
       INSERT INTO leads (id, "workspaceId", "contactId", "sourceId", channel, stage, name, score, segment, "ownerId", "assignmentReason",
           "lossReason", "stageChangedAt", "lastInboundAt", "firstResponseAt", "firstResponseDueAt", "createdAt", "updatedAt", "lastActivityAt")
         SELECT 'lead_seed_' || g, ${ws}, 'ct_seed_' || g,
           'src_seed_' || CASE channel WHEN 'sms' THEN 'twilio' WHEN 'voice' THEN 'twilio' ELSE channel END,
           channel, stage, 'Lead ' || g, ((g::bigint * 7919) % 100)::int, (ARRAY['residencial', 'empresa', 'rural'])[segment + 1], 'usr_seed_' || rep, 'round robin',
           CASE WHEN stage = 'unqualified' THEN (ARRAY['price', 'no budget', 'timing', 'competitor'])[1 + g % 4] END,
           stage_at, created, contacted_at, created + interval '15 minutes', created, stage_at, stage_at
         FROM seed_plan;
       INSERT INTO lead_products ("workspaceId", "leadId", "productId")
         SELECT ${ws}, 'lead_seed_' || g, 'prod_seed_' || product FROM seed_plan WHERE product < ${productNames.length}`,
    ],
    [
      'messages: inbound, acknowledgements, first replies',
      `INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, automatic, "createdAt", "updatedAt")
         SELECT 'msg_in_' || g, ${ws}, 'lead_seed_' || g, 'in', channel, 'received', 'Olá, quero um orçamento', false, created, created FROM seed_plan;
       INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, automatic, "idempotencyKey", "templateName", "sentAt", "createdAt", "updatedAt")
         SELECT 'msg_ack_' || g, ${ws}, 'lead_seed_' || g, 'out', channel, 'sent', 'Recebemos sua mensagem', true, 'auto-reply:evt_seed_' || g, 'acknowledgement',
           created + ack * interval '1 second', created + interval '1 second', created + ack * interval '1 second'
         FROM seed_plan WHERE channel <> 'voice' AND ack_r < 0.9;
       INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, automatic, "authorId", "idempotencyKey", "sentAt", "createdAt", "updatedAt")
         SELECT 'msg_rep_' || g, ${ws}, 'lead_seed_' || g, 'out', CASE WHEN channel = 'voice' THEN 'sms' ELSE channel END, 'sent', 'Oi! Posso ajudar?', false,
           'usr_seed_' || rep, 'msg_rep_' || g, contacted_at, contacted_at, contacted_at
         FROM seed_plan WHERE contacted_at IS NOT NULL`,
    ],
    [
      'response windows (5% reopened)',
      `INSERT INTO response_windows (id, "workspaceId", "leadId", channel, "openedAt", "dueAt", "respondedAt", "responderId", "wallSeconds", "businessSeconds", "createdAt")
         SELECT 'rw_seed_' || g, ${ws}, 'lead_seed_' || g, channel, created, created + interval '15 minutes', contacted_at,
           CASE WHEN contacted_at IS NOT NULL THEN 'usr_seed_' || rep END,
           CASE WHEN contacted_at IS NOT NULL THEN frt END, CASE WHEN contacted_at IS NOT NULL THEN ceil(frt * 0.45)::int END, created
         FROM seed_plan;
       INSERT INTO response_windows (id, "workspaceId", "leadId", channel, "openedAt", "dueAt", "respondedAt", "responderId", "wallSeconds", "businessSeconds", reopening, "createdAt")
         SELECT 'rw_seed_r' || g, ${ws}, 'lead_seed_' || g, channel, contacted_at + interval '2 days', contacted_at + interval '2 days 15 minutes',
           contacted_at + interval '2 days' + frt * interval '2 seconds', 'usr_seed_' || rep, frt * 2, frt, true, contacted_at + interval '2 days'
         FROM seed_plan WHERE contacted_at IS NOT NULL AND reopen_r < 0.05 AND contacted_at + interval '2 days' + frt * interval '2 seconds' <= now()`,
    ],
    [
      'activities: created, assigned, received, stage changes',
      `INSERT INTO activities (id, "workspaceId", "leadId", kind, "actorType", data, "createdAt")
         SELECT 'act_c_' || g, ${ws}, 'lead_seed_' || g, 'lead.created', 'system', jsonb_build_object('channel', channel), created FROM seed_plan;
       INSERT INTO activities (id, "workspaceId", "leadId", kind, "actorType", data, "createdAt")
         SELECT 'act_r_' || g, ${ws}, 'lead_seed_' || g, 'message.received', 'contact', jsonb_build_object('messageId', 'msg_in_' || g), created FROM seed_plan;
       INSERT INTO activities (id, "workspaceId", "leadId", kind, "actorType", data, "createdAt")
         SELECT 'act_a_' || g, ${ws}, 'lead_seed_' || g, 'lead.assigned', 'system', jsonb_build_object('ownerId', 'usr_seed_' || rep, 'reason', 'round robin'), created FROM seed_plan;
       INSERT INTO activities (id, "workspaceId", "leadId", kind, "actorType", "actorId", data, "createdAt")
         SELECT 'act_s_' || t.name || '_' || g, ${ws}, 'lead_seed_' || g, 'lead.stage_changed', 'user', 'usr_seed_' || rep,
           jsonb_strip_nulls(jsonb_build_object('before', t.before, 'after', t.name, 'reason', CASE WHEN t.name = 'unqualified' THEN (ARRAY['price', 'no budget', 'timing', 'competitor'])[1 + g % 4] END)),
           t.at
         FROM seed_plan CROSS JOIN LATERAL (VALUES
           ('contacted', 'open', contacted_at), ('nurture', 'contacted', nurture_at), ('qualified', 'contacted', qualified_at),
           ('negotiation', 'qualified', negotiation_at), ('customer', 'negotiation', customer_at), ('unqualified', 'contacted', unqualified_at)) AS t(name, before, at)
         WHERE t.at IS NOT NULL`,
    ],
    [
      'stage entries (what the gateway writes with each stage change)',
      `INSERT INTO stage_entries ("activityId", "workspaceId", "leadId", "leadCreatedAt", stage, "enteredAt", reason, "previousStage", "previousEnteredAt", "firstQualified")
         SELECT 'act_s_' || t.name || '_' || g, ${ws}, 'lead_seed_' || g, created, t.name, t.at,
           CASE WHEN t.name = 'unqualified' THEN (ARRAY['price', 'no budget', 'timing', 'competitor'])[1 + g % 4] END,
           t.before, COALESCE(t.since, created), t.name = 'qualified'
         FROM seed_plan CROSS JOIN LATERAL (VALUES
           ('contacted', 'open', contacted_at, NULL::timestamptz), ('nurture', 'contacted', nurture_at, contacted_at), ('qualified', 'contacted', qualified_at, contacted_at),
           ('negotiation', 'qualified', negotiation_at, qualified_at), ('customer', 'negotiation', customer_at, negotiation_at),
           ('unqualified', 'contacted', unqualified_at, contacted_at)) AS t(name, before, at, since)
         WHERE t.at IS NOT NULL`,
    ],
    [
      'follow-ups (10% of leads)',
      `INSERT INTO follow_ups (id, "workspaceId", "leadId", "ownerId", "dueAt", note, status, outcome, "completedAt", "createdAt", "updatedAt")
         SELECT 'fu_seed_' || g, ${ws}, 'lead_seed_' || g, 'usr_seed_' || rep, created + interval '1 day', 'ligar de volta',
           CASE WHEN follow_r < 0.07 THEN 'done' ELSE 'open' END, CASE WHEN follow_r < 0.07 THEN 'called' END,
           CASE WHEN follow_r < 0.07 THEN created + interval '1 day' + (follow_r - 0.035) * interval '10 days' END, created, created
         FROM seed_plan WHERE follow_r < 0.1`,
    ],
    [
      'nurture sequences: enrolments, steps sent, step messages',
      `INSERT INTO sequence_enrollments (id, "workspaceId", "sequenceId", "leadId", status, "nextStep", "nextStepAt", "enrolledAt", "updatedAt")
         SELECT 'enr_seed_' || g, ${ws}, 'seq_seed_' || (1 + g % 2), 'lead_seed_' || g, 'completed', 3, nurture_at, nurture_at, nurture_at
         FROM seed_plan WHERE nurture_at IS NOT NULL;
       CREATE UNLOGGED TABLE seed_steps AS
         SELECT p.g, p.channel, s.step, p.nurture_at + s.wait AS at, 'seq_seed_' || (1 + p.g % 2) AS sequence_id
         FROM seed_plan p CROSS JOIN LATERAL (VALUES (0, interval '0'), (1, interval '1 day'), (2, interval '4 days')) AS s(step, wait)
         WHERE p.nurture_at IS NOT NULL AND p.nurture_at + s.wait <= now() AND (s.step = 0 OR p.sequence_r > 0.1 * s.step);
       INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, automatic, "idempotencyKey", "sequenceEnrollmentId", "sequenceStep", "sentAt", "createdAt", "updatedAt")
         SELECT 'msg_seq_' || g || '_' || step, ${ws}, 'lead_seed_' || g, 'out', CASE WHEN channel = 'voice' THEN 'sms' ELSE channel END,
           CASE WHEN (g + step) % 50 = 0 THEN 'failed' ELSE 'sent' END, 'Conheça nossos produtos', true, 'sequence:enr_seed_' || g || ':' || step, 'enr_seed_' || g, step, at, at, at
         FROM seed_steps;
       INSERT INTO activities (id, "workspaceId", "leadId", kind, "actorType", data, "createdAt")
         SELECT 'act_q_' || g || '_' || step, ${ws}, 'lead_seed_' || g, 'sequence.step_sent', 'system',
           jsonb_build_object('sequenceId', sequence_id, 'step', step, 'messageId', 'msg_seq_' || g || '_' || step), at
         FROM seed_steps;
       -- One enrolment in ten answers the second step; the sequence stops there.
       INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, automatic, "createdAt", "updatedAt")
         SELECT 'msg_seq_reply_' || g, ${ws}, 'lead_seed_' || g, 'in', CASE WHEN channel = 'voice' THEN 'sms' ELSE channel END, 'received',
           'Tenho interesse, podem me ligar?', false, nurture_at + interval '1 day 3 hours', nurture_at + interval '1 day 3 hours'
         FROM seed_plan WHERE nurture_at IS NOT NULL AND sequence_r > 0.1 AND sequence_r <= 0.2 AND nurture_at + interval '1 day 3 hours' <= now();
       UPDATE sequence_enrollments SET status = 'stopped', "stopReason" = 'the lead replied'
         WHERE id IN (SELECT 'enr_seed_' || g FROM seed_plan WHERE nurture_at IS NOT NULL AND sequence_r > 0.1 AND sequence_r <= 0.2 AND nurture_at + interval '1 day 3 hours' <= now());
       INSERT INTO contact_opt_outs ("workspaceId", "contactId", channel, reason, "createdAt")
         SELECT ${ws}, 'ct_seed_' || g, channel, 'STOP', nurture_at + interval '2 days' FROM seed_plan
         WHERE nurture_at IS NOT NULL AND sequence_r < 0.03 AND nurture_at + interval '2 days' <= now();
       UPDATE sequence_enrollments SET status = 'stopped', "stopReason" = 'the contact opted out'
         WHERE id IN (SELECT 'enr_seed_' || g FROM seed_plan WHERE nurture_at IS NOT NULL AND sequence_r < 0.03 AND nurture_at + interval '2 days' <= now())`,
    ],
    ['scratch tables', `DROP TABLE seed_plan; DROP TABLE seed_steps`],
    // Triggers were off for the load (each row would have run them one at a time): what they keep
    // is worked out once, for the whole workspace.
    [
      'what the triggers keep: acknowledgements, window owners, stage summaries, replies after enrolling, daily counts',
      // Planner statistics first: the derivations join the whole workspace's tables.
      `SET session_replication_role = DEFAULT; ANALYZE; SELECT leads_derive(${ws}); SELECT sequence_enrollments_derive(${ws}); SELECT sequence_enrollment_steps_derive(${ws}); SELECT insight_counts_rebuild(${ws})`,
    ],
    // What autovacuum does to a table that only grows: the visibility map lets index-only scans skip the heap.
    ['visibility map and planner statistics', `VACUUM ANALYZE`],
  ];
}

/** Seeds the database unless it already holds this many seeded leads. Returns whether it wrote anything. */
export async function seedInsights(options: { url: string; leads: number; fresh?: boolean; log?: (line: string) => void }): Promise<boolean> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  await ensureDatabase(options.url, options.fresh ?? false);
  // Brings the schema up to date (migrations), as the gateway would.
  const database = await openDatabase({ kind: 'postgres', url: options.url });
  await database.close();
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  try {
    const existing = await client.query<{ leads: number }>(`SELECT count(*)::int AS leads FROM leads WHERE "workspaceId" = $1`, [seedWorkspaceId]);
    const have = existing.rows[0]?.leads ?? 0;
    if (have === options.leads) {
      log(`already seeded: ${have} leads in ${seedWorkspaceId}`);
      return false;
    }
    if (have > 0) throw new Error(`the database holds ${have} seeded leads, not ${options.leads}: run with --fresh`);
    await client.query('SET synchronous_commit = off');
    // Row triggers off while loading (and foreign keys, which are triggers too): see the last steps.
    await client.query('SET session_replication_role = replica');
    await client.query('SELECT setseed(0.42)');
    const started = performance.now();
    for (const [what, sql] of statements(options.leads)) {
      const t = performance.now();
      await client.query(sql);
      log(`${what}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const counts = await client.query<{ table: string; rows: number }>(
      `SELECT relname AS table, n_live_tup::int AS rows FROM pg_stat_user_tables WHERE n_live_tup > 0 ORDER BY n_live_tup DESC`,
    );
    log(`seeded in ${((performance.now() - started) / 1000).toFixed(0)} s: ${counts.rows.map((row) => `${row.table} ${row.rows}`).join(', ')}`);
    return true;
  } finally {
    await client.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const leads = Number(process.env.SEED_LEADS ?? 1_000_000);
  if (!Number.isInteger(leads) || leads < 1) throw new Error('SEED_LEADS must be a positive integer');
  await seedInsights({ url: process.env.SEED_DATABASE_URL ?? defaultSeedUrl, leads, fresh: process.argv.includes('--fresh') });
}
