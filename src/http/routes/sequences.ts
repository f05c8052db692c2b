import { Prisma, type Sequence, type SequenceEnrollment } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ProblemError } from '../../errors.js';
import { newId } from '../../ids.js';
import { stages } from '../../leads/stages.js';
import { visibleLeadsWhere } from '../../leads/visibility.js';
import { recordActivity } from '../../leads/activities.js';
import { enrol } from '../../messaging/sequences.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

const step = z
  .object({
    waitMinutes: z.number().min(0).max(525_600).describe('After enrolment for the first step, after the previous step for the others'),
    templateId: z.string().regex(/^([\w-]+\.)?[\w-]+(\.(email|whatsapp|sms))?$/).max(120),
    channel: z.enum(['email', 'whatsapp', 'sms']).optional().describe('Default: the lead\'s own channel'),
    when: z
      .object({ stages: z.array(z.enum(stages)).optional(), productIds: z.array(z.string().max(100)).optional(), minScore: z.number().optional() })
      .strict()
      .optional()
      .describe('Send this step only to leads that meet it when it is due'),
  })
  .strict();

const enrolRule = z
  .object({ stages: z.array(z.enum(stages)).optional(), productIds: z.array(z.string().max(100)).optional(), routing: z.enum(['sales', 'nurture']).optional() })
  .strict();

const sequenceBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    steps: z.array(step).min(1).max(50),
    enrol: enrolRule.nullable().default(null),
    exitStages: z.array(z.enum(stages)).default(['qualified', 'negotiation', 'customer', 'unqualified']),
    active: z.boolean().default(true),
  })
  .strict();

const sequenceView = z.object({
  id: z.string(),
  name: z.string(),
  steps: z.array(step),
  enrol: z.object({ stages: z.array(z.string()).optional(), productIds: z.array(z.string()).optional(), routing: z.enum(['sales', 'nurture']).optional() }).nullable(),
  exitStages: z.array(z.string()),
  active: z.boolean(),
  createdAt: z.string(),
});

const enrollmentView = z.object({
  id: z.string(),
  sequenceId: z.string(),
  status: z.enum(['active', 'completed', 'stopped']),
  nextStep: z.number(),
  nextStepAt: z.string().nullable(),
  stopReason: z.string().nullable(),
  enrolledAt: z.string(),
});

function present(row: Sequence) {
  return {
    id: row.id,
    name: row.name,
    steps: row.steps as z.infer<typeof step>[],
    enrol: row.enrol as z.infer<typeof sequenceView>['enrol'],
    exitStages: row.exitStages,
    active: row.active,
    createdAt: row.createdAt.toISOString(),
  };
}

function presentEnrollment(row: SequenceEnrollment) {
  return {
    id: row.id,
    sequenceId: row.sequenceId,
    status: row.status as 'active' | 'completed' | 'stopped',
    nextStep: row.nextStep,
    nextStepAt: row.status === 'active' ? row.nextStepAt.toISOString() : null,
    stopReason: row.stopReason,
    enrolledAt: row.enrolledAt.toISOString(),
  };
}

/** Nurture sequences and enrolment by hand. */
export function sequenceRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function load(workspaceId: string, id: string) {
    const row = await prisma.sequence.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('sequence');
    return row;
  }

  return [
    route({
      method: 'post',
      path: '/sequences',
      summary: 'Create a nurture sequence',
      tag: 'sequences',
      roles: ['owner', 'manager'],
      body: sequenceBody,
      response: { status: 201, description: 'The sequence', schema: sequenceView },
      handler: async ({ body, auth }) => {
        const { enrol: rule, ...rest } = body;
        return present(await prisma.sequence.create({ data: { id: newId('seq'), workspaceId: auth.workspaceId, ...rest, ...(rule ? { enrol: rule } : {}) } }));
      },
    }),
    route({
      method: 'get',
      path: '/sequences',
      summary: 'List sequences',
      tag: 'sequences',
      response: { status: 200, description: 'Sequences', schema: listSchema(sequenceView) },
      handler: async ({ auth }) => ({ data: (await prisma.sequence.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: { createdAt: 'asc' } })).map(present), nextCursor: null }),
    }),
    route({
      method: 'get',
      path: '/sequences/:id',
      summary: 'One sequence',
      tag: 'sequences',
      params: byId,
      response: { status: 200, description: 'The sequence', schema: sequenceView },
      handler: async ({ params, auth }) => present(await load(auth.workspaceId, params.id)),
    }),
    route({
      method: 'patch',
      path: '/sequences/:id',
      summary: 'Change a sequence (leads already in it go on with the new steps)',
      tag: 'sequences',
      roles: ['owner', 'manager'],
      params: byId,
      body: z
        .object({ name: sequenceBody.shape.name, steps: sequenceBody.shape.steps, enrol: enrolRule.nullable(), exitStages: z.array(z.enum(stages)), active: z.boolean() })
        .partial()
        .strict(),
      response: { status: 200, description: 'The sequence', schema: sequenceView },
      handler: async ({ params, body, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        const { enrol: rule, ...rest } = body;
        const updated = await prisma.sequence.update({
          where: { id: row.id },
          data: { ...rest, ...(rule === undefined ? {} : { enrol: rule === null ? Prisma.DbNull : rule }) },
        });
        return present(updated);
      },
    }),
    route({
      method: 'post',
      path: '/leads/:id/sequences',
      summary: 'Enrol a lead by hand; 409 when it is or was in that sequence',
      tag: 'sequences',
      params: byId,
      body: z.object({ sequenceId: z.string().min(1).max(100) }).strict(),
      response: { status: 201, description: 'The enrolment', schema: enrollmentView },
      handler: async ({ params, body, auth }) => {
        const sequence = await load(auth.workspaceId, body.sequenceId);
        const lead = await prisma.lead.findFirst({ where: { AND: [{ id: params.id }, await visibleLeadsWhere(prisma, auth)] }, select: { id: true } });
        if (!lead) throw new NotFoundError('lead');
        const enrolled = await prisma.$transaction((tx) => enrol(tx, sequence, lead.id, auth.actor));
        if (!enrolled) throw new ProblemError('conflict', 'a sequence runs once per lead, and this lead is or was in it');
        return presentEnrollment(await prisma.sequenceEnrollment.findUniqueOrThrow({ where: { sequenceId_leadId: { sequenceId: sequence.id, leadId: lead.id } } }));
      },
    }),
    route({
      method: 'get',
      path: '/leads/:id/sequences',
      summary: 'The sequences a lead is or was in',
      tag: 'sequences',
      params: byId,
      response: { status: 200, description: 'Enrolments', schema: listSchema(enrollmentView) },
      handler: async ({ params, auth }) => {
        const lead = await prisma.lead.findFirst({ where: { AND: [{ id: params.id }, await visibleLeadsWhere(prisma, auth)] }, select: { id: true } });
        if (!lead) throw new NotFoundError('lead');
        const rows = await prisma.sequenceEnrollment.findMany({ where: { leadId: lead.id }, orderBy: { enrolledAt: 'asc' } });
        return { data: rows.map(presentEnrollment), nextCursor: null };
      },
    }),
    route({
      method: 'delete',
      path: '/leads/:id/sequences/:sequenceId',
      summary: 'Stop a lead\'s enrolment: no further step is sent; 409 unless it is active',
      tag: 'sequences',
      params: z.object({ id: z.string().min(1).max(100), sequenceId: z.string().min(1).max(100) }),
      response: { status: 200, description: 'The enrolment, stopped', schema: enrollmentView },
      handler: async ({ params, auth }) => {
        const lead = await prisma.lead.findFirst({ where: { AND: [{ id: params.id }, await visibleLeadsWhere(prisma, auth)] }, select: { id: true } });
        if (!lead) throw new NotFoundError('lead');
        const where = { sequenceId_leadId: { sequenceId: params.sequenceId, leadId: lead.id } };
        const existing = await prisma.sequenceEnrollment.findFirst({ where: { sequenceId: params.sequenceId, leadId: lead.id, workspaceId: auth.workspaceId } });
        if (!existing) throw new NotFoundError('enrolment');
        const reason = 'stopped by hand';
        await prisma.$transaction(async (tx) => {
          // Waits for a step being sent right now to commit (the runner holds the row).
          const stopped = await tx.sequenceEnrollment.updateMany({ where: { id: existing.id, status: 'active' }, data: { status: 'stopped', stopReason: reason, lockedUntil: null } });
          if (stopped.count === 0) {
            const now = await tx.sequenceEnrollment.findUniqueOrThrow({ where, select: { status: true } });
            throw new ProblemError('conflict', `only an active enrolment can be stopped: this one is ${now.status}`);
          }
          await recordActivity(tx, { workspaceId: auth.workspaceId, leadId: lead.id, kind: 'sequence.stopped', actor: auth.actor, data: { sequenceId: params.sequenceId, reason } });
        });
        return presentEnrollment(await prisma.sequenceEnrollment.findUniqueOrThrow({ where }));
      },
    }),
  ];
}
