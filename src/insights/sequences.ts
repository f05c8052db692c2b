import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { Scope } from './query.js';

export interface SequenceStepRow {
  sequenceId: string;
  sequence: string;
  /** 0-based, as in the sequence's steps. */
  step: number;
  /** Enrolments in the period (the same on every step of a sequence). */
  enrolled: number;
  /** Step messages that went out (sent, delivered or read). */
  sent: number;
  failed: number;
  skipped: number;
  /** Enrolments whose first reply came after this step, the last one sent before it. */
  replied: number;
  /** Enrolments whose contact opted out after this step, the last one sent before it. */
  optedOut: number;
}

/** Sequence performance per step, for the enrolments made in the period. */
export async function sequencePerformance(prisma: Db, scope: Scope, sequenceId?: string): Promise<SequenceStepRow[]> {
  return prisma.$queryRaw<SequenceStepRow[]>`
    WITH e AS (
      SELECT se.id, se."sequenceId", se."leadId", se."enrolledAt", l."contactId"
      FROM sequence_enrollments se JOIN leads l ON l.id = se."leadId"
      WHERE se."workspaceId" = ${scope.workspaceId} AND se."enrolledAt" >= ${scope.from} AND se."enrolledAt" < ${scope.to} AND ${scope.leads}
        ${sequenceId ? Prisma.sql`AND se."sequenceId" = ${sequenceId}` : Prisma.empty}),
    steps AS (
      SELECT e.id AS enrollment, e."sequenceId", a.kind, (a.data->>'step')::int AS step, a."createdAt" AS at, m.status
      FROM e JOIN activities a ON a."leadId" = e."leadId" AND a.kind IN ('sequence.step_sent', 'sequence.step_skipped') AND a.data->>'sequenceId' = e."sequenceId"
      LEFT JOIN messages m ON m.id = a.data->>'messageId'),
    firsts AS (
      SELECT e.id, e."sequenceId",
        (SELECT min(m."createdAt") FROM messages m WHERE m."leadId" = e."leadId" AND m.direction = 'in' AND m."createdAt" > e."enrolledAt") AS replied_at,
        (SELECT min(o."createdAt") FROM contact_opt_outs o WHERE o."contactId" = e."contactId" AND o."createdAt" > e."enrolledAt") AS opted_out_at
      FROM e),
    attributed AS (
      SELECT f."sequenceId",
        (SELECT max(s.step) FROM steps s WHERE s.enrollment = f.id AND s.kind = 'sequence.step_sent' AND s.at <= f.replied_at) AS replied_step,
        (SELECT max(s.step) FROM steps s WHERE s.enrollment = f.id AND s.kind = 'sequence.step_sent' AND s.at <= f.opted_out_at) AS opted_out_step
      FROM firsts f),
    sequence_steps AS (
      SELECT sq.id, sq.name, n AS step, (SELECT count(*)::int FROM e WHERE e."sequenceId" = sq.id) AS enrolled
      FROM sequences sq CROSS JOIN LATERAL generate_series(0, jsonb_array_length(sq.steps) - 1) AS n
      WHERE sq."workspaceId" = ${scope.workspaceId} AND sq.id IN (SELECT "sequenceId" FROM e))
    SELECT ss.id AS "sequenceId", ss.name AS sequence, ss.step, ss.enrolled,
      (SELECT count(*)::int FROM steps s WHERE s."sequenceId" = ss.id AND s.step = ss.step AND s.kind = 'sequence.step_sent' AND s.status IN ('sent', 'delivered', 'read')) AS sent,
      (SELECT count(*)::int FROM steps s WHERE s."sequenceId" = ss.id AND s.step = ss.step AND s.kind = 'sequence.step_sent' AND s.status = 'failed') AS failed,
      (SELECT count(*)::int FROM steps s WHERE s."sequenceId" = ss.id AND s.step = ss.step AND s.kind = 'sequence.step_skipped') AS skipped,
      (SELECT count(*)::int FROM attributed t WHERE t."sequenceId" = ss.id AND t.replied_step = ss.step) AS replied,
      (SELECT count(*)::int FROM attributed t WHERE t."sequenceId" = ss.id AND t.opted_out_step = ss.step) AS "optedOut"
    FROM sequence_steps ss ORDER BY ss.name, ss.id, ss.step`;
}
