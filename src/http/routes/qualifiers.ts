import type { CustomFieldDefinition, Segment } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ProblemError } from '../../errors.js';
import { newId } from '../../ids.js';
import { customFieldTypes } from '../../leads/qualifiers.js';
import { stageList, stages } from '../../leads/stages.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

const managers = ['owner', 'manager'] as const;

const segmentBody = z.object({ name: z.string().trim().min(1).max(200) }).strict();
const segmentView = z.object({ id: z.string(), name: z.string(), createdAt: z.string() });
const presentSegment = (row: Segment) => ({ id: row.id, name: row.name, createdAt: row.createdAt.toISOString() });

const customFieldBody = z
  .object({
    key: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be snake_case, starting with a letter'),
    label: z.string().trim().min(1).max(200),
    type: z.enum(customFieldTypes),
    choices: z.array(z.string().trim().min(1).max(200)).max(100).default([]),
  })
  .strict()
  .refine((body) => body.type !== 'choice' || body.choices.length > 0, { message: 'a choice field needs its choices', path: ['choices'] });
const customFieldView = z.object({ id: z.string(), key: z.string(), label: z.string(), type: z.enum(customFieldTypes), choices: z.array(z.string()) });
const presentCustomField = (row: CustomFieldDefinition) => ({
  id: row.id,
  key: row.key,
  label: row.label,
  type: row.type as (typeof customFieldTypes)[number],
  choices: row.choices,
});

const stageView = z.object({ slug: z.enum(stages), label: z.string(), definition: z.string() });
const stagePatch = z.object({ label: z.string().trim().min(1).max(100), definition: z.string().trim().min(1).max(1000) }).partial().strict();

/** Segments, custom field definitions and the pipeline's stage labels: what qualifies a lead. */
export function qualifierRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function findSegment(workspaceId: string, id: string) {
    const row = await prisma.segment.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('segment');
    return row;
  }
  async function findCustomField(workspaceId: string, id: string) {
    const row = await prisma.customFieldDefinition.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('custom field');
    return row;
  }
  async function stagesOf(workspaceId: string) {
    const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId }, select: { locale: true } });
    const overrides = new Map((await prisma.stageSetting.findMany({ where: { workspaceId } })).map((row) => [row.slug, row]));
    return stageList(workspace.locale).map((stage) => {
      const own = overrides.get(stage.slug);
      return own ? { slug: stage.slug, label: own.label, definition: own.definition } : stage;
    });
  }

  return [
    route({
      method: 'get',
      path: '/stages',
      summary: 'The pipeline stages with their labels and written definitions',
      tag: 'pipeline',
      response: { status: 200, description: 'The eight stages in pipeline order', schema: listSchema(stageView) },
      handler: async ({ auth }) => ({ data: await stagesOf(auth.workspaceId), nextCursor: null }),
    }),
    route({
      method: 'patch',
      path: '/stages/:slug',
      summary: "Change a stage's label or definition (the slug stays)",
      tag: 'pipeline',
      roles: managers,
      params: z.object({ slug: z.enum(stages) }),
      body: stagePatch,
      response: { status: 200, description: 'The stage', schema: stageView },
      handler: async ({ params, body, auth }) => {
        const current = (await stagesOf(auth.workspaceId)).find((stage) => stage.slug === params.slug)!;
        const next = { label: body.label ?? current.label, definition: body.definition ?? current.definition };
        await prisma.stageSetting.upsert({
          where: { workspaceId_slug: { workspaceId: auth.workspaceId, slug: params.slug } },
          create: { workspaceId: auth.workspaceId, slug: params.slug, ...next },
          update: next,
        });
        return { slug: params.slug, ...next };
      },
    }),
    route({
      method: 'post',
      path: '/segments',
      summary: 'Add a market segment',
      tag: 'segments',
      roles: managers,
      body: segmentBody,
      response: { status: 201, description: 'The segment', schema: segmentView },
      handler: async ({ body, auth }) => {
        if (await prisma.segment.findFirst({ where: { workspaceId: auth.workspaceId, name: { equals: body.name, mode: 'insensitive' } } })) {
          throw new ProblemError('conflict', `a segment named ${body.name} already exists`);
        }
        return presentSegment(await prisma.segment.create({ data: { id: newId('seg'), workspaceId: auth.workspaceId, name: body.name } }));
      },
    }),
    route({
      method: 'get',
      path: '/segments',
      summary: 'List market segments',
      tag: 'segments',
      response: { status: 200, description: 'All segments', schema: listSchema(segmentView) },
      handler: async ({ auth }) => ({
        data: (await prisma.segment.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: { name: 'asc' } })).map(presentSegment),
        nextCursor: null,
      }),
    }),
    route({
      method: 'get',
      path: '/segments/:id',
      summary: 'Get a segment',
      tag: 'segments',
      params: byId,
      response: { status: 200, description: 'The segment', schema: segmentView },
      handler: async ({ params, auth }) => presentSegment(await findSegment(auth.workspaceId, params.id)),
    }),
    route({
      method: 'patch',
      path: '/segments/:id',
      summary: 'Rename a segment; its leads follow',
      tag: 'segments',
      roles: managers,
      params: byId,
      body: segmentBody,
      response: { status: 200, description: 'The segment', schema: segmentView },
      handler: async ({ params, body, auth }) => {
        const row = await findSegment(auth.workspaceId, params.id);
        const clash = await prisma.segment.findFirst({
          where: { workspaceId: auth.workspaceId, name: { equals: body.name, mode: 'insensitive' }, id: { not: row.id } },
        });
        if (clash) throw new ProblemError('conflict', `a segment named ${body.name} already exists`);
        const [updated] = await prisma.$transaction([
          prisma.segment.update({ where: { id: row.id }, data: { name: body.name } }),
          prisma.lead.updateMany({ where: { workspaceId: auth.workspaceId, segment: row.name }, data: { segment: body.name } }),
        ]);
        return presentSegment(updated);
      },
    }),
    route({
      method: 'delete',
      path: '/segments/:id',
      summary: 'Remove a segment; its leads keep no segment',
      tag: 'segments',
      roles: managers,
      params: byId,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await findSegment(auth.workspaceId, params.id);
        await prisma.$transaction([
          prisma.lead.updateMany({ where: { workspaceId: auth.workspaceId, segment: row.name }, data: { segment: null } }),
          prisma.segment.delete({ where: { id: row.id } }),
        ]);
        return undefined;
      },
    }),
    route({
      method: 'post',
      path: '/custom-fields',
      summary: 'Define a custom lead field with a type: text, number, date (YYYY-MM-DD) or choice',
      tag: 'custom fields',
      roles: managers,
      body: customFieldBody,
      response: { status: 201, description: 'The field', schema: customFieldView },
      handler: async ({ body, auth }) => {
        if (await prisma.customFieldDefinition.findFirst({ where: { workspaceId: auth.workspaceId, key: body.key } })) {
          throw new ProblemError('conflict', `a custom field "${body.key}" already exists`);
        }
        return presentCustomField(await prisma.customFieldDefinition.create({ data: { id: newId('cf'), workspaceId: auth.workspaceId, ...body } }));
      },
    }),
    route({
      method: 'get',
      path: '/custom-fields',
      summary: 'List custom lead fields',
      tag: 'custom fields',
      response: { status: 200, description: 'All fields', schema: listSchema(customFieldView) },
      handler: async ({ auth }) => ({
        data: (await prisma.customFieldDefinition.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: { key: 'asc' } })).map(presentCustomField),
        nextCursor: null,
      }),
    }),
    route({
      method: 'delete',
      path: '/custom-fields/:id',
      summary: "Remove a custom field's definition (values on leads stay, unchecked)",
      tag: 'custom fields',
      roles: managers,
      params: byId,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await findCustomField(auth.workspaceId, params.id);
        await prisma.customFieldDefinition.delete({ where: { id: row.id } });
        return undefined;
      },
    }),
  ];
}
