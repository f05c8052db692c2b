import type { Prisma } from '@prisma/client';
import type { Sql } from '../db/sql.js';
import type { TeamMember } from '../leads/assignment.js';
import type { ScoreReason } from '../leads/scoring.js';
import { closedStages } from '../leads/stages.js';
import type { TemplateSource } from '../messaging/templates.js';
import type { StoredPayload } from './stored-event.js';

/**
 * What a batch of inbound events reads, a handful of statements for the whole batch: the
 * workspaces' setup once per workspace, then the contacts, leads and history the events touch.
 */

export interface ClaimedEvent {
  id: string;
  workspaceId: string;
  sourceId: string;
  channel: string;
  externalId: string;
  payload: StoredPayload;
  attempts: number;
}

/**
 * Pending events, oldest first, locked for this transaction; events another worker holds are
 * skipped, not waited for.
 */
export function claimEvents(sql: Sql, limit: number): Promise<ClaimedEvent[]> {
  return sql<ClaimedEvent>(
    `SELECT id, "workspaceId", "sourceId", channel, "externalId", payload, attempts FROM inbound_events
     WHERE status = 'pending' AND ("nextAttemptAt" IS NULL OR "nextAttemptAt" <= now())
     ORDER BY "createdAt", id LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
}

export interface WorkspaceRow {
  id: string;
  name: string;
  country: string;
  locale: string;
  timeZone: string;
  workingHours: Prisma.JsonValue;
  firstResponseSlaMinutes: number;
}

export interface SourceRow {
  id: string;
  workspaceId: string;
  kind: string;
  ownerId: string | null;
  defaultProductId: string | null;
  autoReplyTemplate: string | null;
  deletedAt: Date | null;
}

export interface ProductRow {
  id: string;
  name: string;
  keywords: string[];
  ownerId: string | null;
}

export interface TeamRow extends TeamMember {
  name: string;
  email: string;
  phone: string | null;
}

/** A workspace's setup, as every event of the batch in that workspace needs it. */
export interface WorkspaceSetup {
  workspace: WorkspaceRow;
  products: ProductRow[];
  assignmentRules: { id: string; name: string; strategy: string; match: Prisma.JsonValue; userIds: string[] }[];
  scoringRules: { id: string; name: string; points: number; when: Prisma.JsonValue }[];
  routingRules: { id: string; name: string; to: string; when: Prisma.JsonValue }[];
  sequences: { id: string; workspaceId: string; steps: Prisma.JsonValue; enrol: Prisma.JsonValue; exitStages: string[] }[];
  webhooks: { id: string; events: string[] }[];
  templates: (TemplateSource & { name: string; channel: string })[];
  /** Read without a lock: the turns a batch takes are recorded at its end (see takeTurns). */
  team: TeamRow[];
}

type ByWorkspace<Row> = Row & { workspaceId: string };

function group<Row extends { workspaceId: string }>(rows: Row[]): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const row of rows) groups.set(row.workspaceId, [...(groups.get(row.workspaceId) ?? []), row]);
  return groups;
}

export async function loadSetups(sql: Sql, workspaceIds: string[], templateNames: string[]): Promise<Map<string, WorkspaceSetup>> {
  const workspaces = await sql<WorkspaceRow>(
    `SELECT id, name, country, locale, "timeZone", "workingHours", "firstResponseSlaMinutes" FROM workspaces WHERE id = ANY($1)`,
    [workspaceIds],
  );
  const products = group(
    await sql<ByWorkspace<ProductRow>>(`SELECT id, "workspaceId", name, keywords, "ownerId" FROM products WHERE "workspaceId" = ANY($1) ORDER BY "createdAt", id`, [workspaceIds]),
  );
  const assignmentRules = group(
    await sql<ByWorkspace<WorkspaceSetup['assignmentRules'][number]>>(
      `SELECT id, "workspaceId", name, strategy, match, "userIds" FROM assignment_rules WHERE "workspaceId" = ANY($1) AND active ORDER BY priority, "createdAt"`,
      [workspaceIds],
    ),
  );
  const scoringRules = group(
    await sql<ByWorkspace<WorkspaceSetup['scoringRules'][number]>>(
      `SELECT id, "workspaceId", name, points, "when" FROM scoring_rules WHERE "workspaceId" = ANY($1) AND active ORDER BY "createdAt", id`,
      [workspaceIds],
    ),
  );
  const routingRules = group(
    await sql<ByWorkspace<WorkspaceSetup['routingRules'][number]>>(
      `SELECT id, "workspaceId", name, "to", "when" FROM routing_rules WHERE "workspaceId" = ANY($1) AND active ORDER BY priority, "createdAt"`,
      [workspaceIds],
    ),
  );
  const sequences = group(
    await sql<WorkspaceSetup['sequences'][number]>(
      `SELECT id, "workspaceId", steps, enrol, "exitStages" FROM sequences WHERE "workspaceId" = ANY($1) AND active ORDER BY "createdAt", id`,
      [workspaceIds],
    ),
  );
  const webhooks = group(
    await sql<ByWorkspace<WorkspaceSetup['webhooks'][number]>>(`SELECT id, "workspaceId", events FROM webhooks WHERE "workspaceId" = ANY($1) AND active`, [workspaceIds]),
  );
  const templates = group(
    templateNames.length === 0
      ? []
      : await sql<ByWorkspace<WorkspaceSetup['templates'][number]>>(
          `SELECT id, "workspaceId", name, locale, channel, subject, body, "updatedAt" FROM message_templates WHERE "workspaceId" = ANY($1) AND name = ANY($2)`,
          [workspaceIds, templateNames],
        ),
  );
  return new Map(
    workspaces.map((workspace) => [
      workspace.id,
      {
        workspace,
        products: products.get(workspace.id) ?? [],
        assignmentRules: assignmentRules.get(workspace.id) ?? [],
        scoringRules: scoringRules.get(workspace.id) ?? [],
        routingRules: routingRules.get(workspace.id) ?? [],
        sequences: sequences.get(workspace.id) ?? [],
        webhooks: webhooks.get(workspace.id) ?? [],
        templates: templates.get(workspace.id) ?? [],
        team: [],
      },
    ]),
  );
}

export function loadSources(sql: Sql, sourceIds: string[]): Promise<SourceRow[]> {
  return sql<SourceRow>(
    `SELECT id, "workspaceId", kind, "ownerId", "defaultProductId", "autoReplyTemplate", "deletedAt" FROM sources WHERE id = ANY($1)`,
    [sourceIds],
  );
}

/**
 * Takes the locks on these identities that nobody holds, without waiting: an event whose person
 * another worker is processing right now waits for a later batch instead of holding this one up.
 */
export async function tryLockIdentities(sql: Sql, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await sql<{ key: string; locked: boolean }>(
    `SELECT key, pg_try_advisory_xact_lock(hashtextextended(key, 0)) AS locked FROM unnest($1::text[]) AS key`,
    [keys],
  );
  return new Set(rows.filter((row) => row.locked).map((row) => row.key));
}

export interface IdentityRow {
  workspaceId: string;
  kind: string;
  value: string;
  contactId: string;
}

/** Which contact holds each of these identities. */
export function findIdentities(sql: Sql, identities: { workspaceId: string; kind: string; value: string }[]): Promise<IdentityRow[]> {
  if (identities.length === 0) return Promise.resolve([]);
  return sql<IdentityRow>(
    `SELECT i."workspaceId", i.kind, i.value, i."contactId" FROM contact_identities i
     JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(ws, kind, value) ON i."workspaceId" = k.ws AND i.kind = k.kind AND i.value = k.value`,
    [identities.map((i) => i.workspaceId), identities.map((i) => i.kind), identities.map((i) => i.value)],
  );
}

export interface ContactRow {
  id: string;
  name: string | null;
  company: string | null;
  mergedIntoId: string | null;
}

/**
 * Locks the contacts that events attach to: a merge of one of them waits for this batch (and a
 * batch waits for the merge, then sees it), and two events of one person never both open a lead.
 */
export function lockContacts(sql: Sql, contactIds: string[]): Promise<ContactRow[]> {
  if (contactIds.length === 0) return Promise.resolve([]);
  return sql<ContactRow>(`SELECT id, name, company, "mergedIntoId" FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, [contactIds]);
}

export interface ContactIdentityRow {
  contactId: string;
  kind: string;
  value: string;
  undeliverable: boolean;
}

export function loadContactIdentities(sql: Sql, contactIds: string[]): Promise<ContactIdentityRow[]> {
  if (contactIds.length === 0) return Promise.resolve([]);
  return sql<ContactIdentityRow>(
    `SELECT "contactId", kind, value, undeliverable FROM contact_identities WHERE "contactId" = ANY($1) ORDER BY "createdAt", id`,
    [contactIds],
  );
}

export function loadOptOuts(sql: Sql, contactIds: string[]): Promise<{ contactId: string; channel: string }[]> {
  if (contactIds.length === 0) return Promise.resolve([]);
  return sql(`SELECT "contactId", channel FROM contact_opt_outs WHERE "contactId" = ANY($1)`, [contactIds]);
}

/** The newest message of each workspace with one of these provider ids: a reply joins its lead. */
export function findThreadedMessages(sql: Sql, refs: { workspaceId: string; externalId: string }[]): Promise<{ workspaceId: string; externalId: string; leadId: string; createdAt: Date }[]> {
  if (refs.length === 0) return Promise.resolve([]);
  return sql(
    `SELECT m."workspaceId", m."externalId", m."leadId", m."createdAt" FROM messages m
     JOIN unnest($1::text[], $2::text[]) AS r(ws, ext) ON m."workspaceId" = r.ws AND m."externalId" = r.ext`,
    [refs.map((r) => r.workspaceId), refs.map((r) => r.externalId)],
  );
}

/** The newest lead of each contact that is still open (not customer, inactive or unqualified). */
export async function findOpenLeads(sql: Sql, contactIds: string[]): Promise<Map<string, string>> {
  if (contactIds.length === 0) return new Map();
  const rows = await sql<{ contactId: string; id: string }>(
    `SELECT DISTINCT ON ("contactId") "contactId", id FROM leads
     WHERE "contactId" = ANY($1) AND stage <> ALL($2::text[]) ORDER BY "contactId", "createdAt" DESC, id DESC`,
    [contactIds, [...closedStages]],
  );
  return new Map(rows.map((row) => [row.contactId, row.id]));
}

export interface LeadRow {
  id: string;
  workspaceId: string;
  contactId: string;
  sourceId: string | null;
  channel: string;
  createdAt: Date;
  stage: string;
  name: string | null;
  company: string | null;
  score: number;
  scoreReasons: ScoreReason[];
  routing: string | null;
  segment: string | null;
  tags: string[];
  dealValue: string | null;
  customFields: Record<string, unknown>;
  ownerId: string | null;
  assignmentRuleId: string | null;
  assignmentReason: string | null;
  needsContactInfo: boolean;
  conversationStatus: string;
  snoozedUntil: Date | null;
  firstResponseDueAt: Date | null;
  lastActivityAt: Date;
  lastInboundAt: Date | null;
}

/** What a lead's new message changes and its score depends on, locked for this transaction. */
export interface LeadHistory {
  lead: LeadRow;
  productIds: string[];
  messages: { direction: string; status: string; createdAt: Date; sentAt: Date | null }[];
  stagesReached: string[];
}

export async function lockLeads(sql: Sql, leadIds: string[]): Promise<Map<string, LeadHistory>> {
  if (leadIds.length === 0) return new Map();
  const leads = await sql<LeadRow>(
    `SELECT id, "workspaceId", "contactId", "sourceId", channel, "createdAt", stage, name, company, score, "scoreReasons", routing, segment, tags,
       "dealValue"::text AS "dealValue", "customFields", "ownerId", "assignmentRuleId", "assignmentReason", "needsContactInfo", "conversationStatus", "snoozedUntil", "firstResponseDueAt", "lastActivityAt", "lastInboundAt"
     FROM leads WHERE id = ANY($1) ORDER BY id FOR UPDATE`,
    [leadIds],
  );
  const histories = new Map<string, LeadHistory>(leads.map((lead) => [lead.id, { lead, productIds: [], messages: [], stagesReached: [] }]));
  for (const row of await sql<{ leadId: string; productId: string }>(`SELECT "leadId", "productId" FROM lead_products WHERE "leadId" = ANY($1)`, [leadIds])) {
    histories.get(row.leadId)?.productIds.push(row.productId);
  }
  const messages = await sql<LeadHistory['messages'][number] & { leadId: string }>(
    `SELECT "leadId", direction, status, "createdAt", "sentAt" FROM messages WHERE "leadId" = ANY($1)`,
    [leadIds],
  );
  for (const { leadId, ...message } of messages) histories.get(leadId)?.messages.push(message);
  const changes = await sql<{ leadId: string; to: string | null }>(
    `SELECT "leadId", COALESCE(data->>'to', data->>'after') AS "to" FROM activities WHERE "leadId" = ANY($1) AND kind = 'lead.stage_changed'`,
    [leadIds],
  );
  for (const change of changes) if (change.to) histories.get(change.leadId)?.stagesReached.push(change.to);
  return histories;
}

/**
 * Reads the teams of these workspaces, without locking them: a batch decides its turns of round
 * robin from what has committed, and takes them at its very end (takeTurns), so two workers hold
 * a rep's row only for the moment their commit takes, not for a whole batch.
 */
export async function loadTeams(sql: Sql, workspaceIds: string[]): Promise<Map<string, TeamRow[]>> {
  const rows = await sql<TeamRow & { workspaceId: string }>(
    `SELECT id, "workspaceId", name, email, phone, role, active, "workingHours", "lastAssignedAt", "createdAt" FROM users
     WHERE "workspaceId" = ANY($1) ORDER BY id`,
    [workspaceIds],
  );
  return group(rows);
}

/**
 * Records the turns a batch took. A later turn another worker recorded meanwhile is kept (a turn
 * never goes back). Rows are locked in id order, and with NO KEY UPDATE: the batch's new leads
 * already hold KEY SHARE on their owners (the foreign key), which a plain FOR UPDATE would wait on
 * in another batch while that batch waits on ours.
 */
export async function takeTurns(sql: Sql, turns: { id: string; lastAssignedAt: Date }[]): Promise<void> {
  if (turns.length === 0) return;
  await sql(`SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, [turns.map((turn) => turn.id)]);
  await sql(
    `UPDATE users u SET "lastAssignedAt" = GREATEST(u."lastAssignedAt", t."lastAssignedAt")
     FROM jsonb_to_recordset($1::jsonb) AS t(id text, "lastAssignedAt" timestamptz) WHERE u.id = t.id`,
    [JSON.stringify(turns)],
  );
}

/** Open leads per owner, for least-open assignment rules. */
export async function openLeadsByOwner(sql: Sql, workspaceIds: string[]): Promise<Map<string, number>> {
  const rows = await sql<{ ownerId: string; open: number }>(
    `SELECT "ownerId", count(*)::int AS open FROM leads WHERE "workspaceId" = ANY($1) AND "ownerId" IS NOT NULL AND stage <> ALL($2::text[]) GROUP BY "ownerId"`,
    [workspaceIds, [...closedStages]],
  );
  return new Map(rows.map((row) => [row.ownerId, row.open]));
}

/** Which of these idempotency keys a message already has. */
export async function existingMessageKeys(sql: Sql, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await sql<{ key: string }>(`SELECT "idempotencyKey" AS key FROM messages WHERE "idempotencyKey" = ANY($1)`, [keys]);
  return new Set(rows.map((row) => row.key));
}
