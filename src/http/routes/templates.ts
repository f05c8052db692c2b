import type { MessageTemplate } from '@prisma/client';
import { z } from 'zod';
import type { ChannelKind } from '../../channels/contract.js';
import { NotFoundError, ProblemError } from '../../errors.js';
import { newId } from '../../ids.js';
import { visibleLeadsWhere } from '../../leads/visibility.js';
import { renderForLead } from '../../messaging/render.js';
import type { ShippedTemplate } from '../../messaging/templates.js';
import type { AppDeps } from '../deps.js';
import { listSchema, route, type RouteDef } from '../route.js';

const channels = ['email', 'whatsapp', 'sms'] as const;

const templateView = z.object({
  id: z.string().describe('<locale>.<name>.<channel> for a shipped template, tpl_… for a workspace one'),
  name: z.string(),
  locale: z.string(),
  channel: z.enum(channels),
  subject: z.string().optional(),
  body: z.string(),
  shipped: z.boolean().describe('false: the workspace\'s own, which overrides a shipped one of the same name, locale and channel'),
});

const templateBody = z
  .object({
    name: z.string().regex(/^[\w-]{1,100}$/, 'letters, digits, _ and - only'),
    locale: z.enum(['pt-BR', 'pt-PT', 'en']),
    channel: z.enum(channels),
    subject: z.string().min(1).max(500).optional(),
    body: z.string().min(1).max(20_000),
  })
  .strict();

const idParam = z.object({ id: z.string().min(1).max(120) });

function presentOwn(row: MessageTemplate) {
  return {
    id: row.id,
    name: row.name,
    locale: row.locale,
    channel: row.channel as (typeof channels)[number],
    ...(row.subject ? { subject: row.subject } : {}),
    body: row.body,
    shipped: false,
  };
}

function presentShipped(template: ShippedTemplate) {
  return { ...template, channel: template.channel as (typeof channels)[number], shipped: true };
}

/** Message templates: the shipped set, the workspace's own, and a preview for a lead. */
export function templateRoutes(deps: AppDeps): RouteDef[] {
  const { templates, db } = deps;
  const prisma = db.prisma;

  async function find(workspaceId: string, id: string) {
    const shipped = templates.get(id);
    if (shipped) return { shipped, own: null };
    const own = await prisma.messageTemplate.findFirst({ where: { id, workspaceId } });
    if (!own) throw new NotFoundError('template');
    return { shipped: null, own };
  }

  async function ownOrRefuse(workspaceId: string, id: string) {
    const { own } = await find(workspaceId, id);
    if (!own) throw new ProblemError('conflict', 'shipped templates cannot be changed: create a workspace template with the same name, locale and channel to override it');
    return own;
  }

  async function unique(workspaceId: string, body: { name: string; locale: string; channel: string }, except?: string) {
    const clash = await prisma.messageTemplate.findFirst({ where: { workspaceId, name: body.name, locale: body.locale, channel: body.channel, ...(except ? { id: { not: except } } : {}) } });
    if (clash) throw new ProblemError('conflict', `the workspace already has ${body.locale}.${body.name}.${body.channel} (${clash.id})`);
  }

  return [
    route({
      method: 'get',
      path: '/templates',
      summary: 'The workspace\'s own templates, then the shipped set',
      tag: 'templates',
      query: z.object({ locale: z.string().max(10).optional(), channel: z.enum(channels).optional(), name: z.string().max(100).optional() }),
      response: { status: 200, description: 'Templates', schema: listSchema(templateView) },
      handler: async ({ query, auth }) => {
        const own = await prisma.messageTemplate.findMany({
          where: { workspaceId: auth.workspaceId, ...(query.locale ? { locale: query.locale } : {}), ...(query.channel ? { channel: query.channel } : {}), ...(query.name ? { name: query.name } : {}) },
          orderBy: [{ name: 'asc' }, { locale: 'asc' }, { channel: 'asc' }],
        });
        const shipped = templates
          .list()
          .filter((t) => (!query.locale || t.locale === query.locale) && (!query.channel || t.channel === query.channel) && (!query.name || t.name === query.name));
        return { data: [...own.map(presentOwn), ...shipped.map(presentShipped)], nextCursor: null };
      },
    }),
    route({
      method: 'get',
      path: '/templates/:id',
      summary: 'One template',
      tag: 'templates',
      params: idParam,
      response: { status: 200, description: 'The template', schema: templateView },
      handler: async ({ params, auth }) => {
        const { shipped, own } = await find(auth.workspaceId, params.id);
        return own ? presentOwn(own) : presentShipped(shipped!);
      },
    }),
    route({
      method: 'post',
      path: '/templates',
      summary: 'Add a workspace template; it overrides the shipped one of the same name, locale and channel',
      tag: 'templates',
      roles: ['owner', 'manager'],
      body: templateBody,
      response: { status: 201, description: 'The template', schema: templateView },
      handler: async ({ body, auth }) => {
        templates.check(body);
        await unique(auth.workspaceId, body);
        return presentOwn(await prisma.messageTemplate.create({ data: { id: newId('tpl'), workspaceId: auth.workspaceId, ...body } }));
      },
    }),
    route({
      method: 'patch',
      path: '/templates/:id',
      summary: 'Change a workspace template',
      tag: 'templates',
      roles: ['owner', 'manager'],
      params: idParam,
      body: templateBody.partial(),
      response: { status: 200, description: 'The template', schema: templateView },
      handler: async ({ params, body, auth }) => {
        const own = await ownOrRefuse(auth.workspaceId, params.id);
        const next = { name: own.name, locale: own.locale, channel: own.channel, subject: own.subject, body: own.body, ...body };
        templates.check(next);
        await unique(auth.workspaceId, next, own.id);
        return presentOwn(await prisma.messageTemplate.update({ where: { id: own.id }, data: body }));
      },
    }),
    route({
      method: 'delete',
      path: '/templates/:id',
      summary: 'Remove a workspace template; the shipped one of that name applies again',
      tag: 'templates',
      roles: ['owner', 'manager'],
      params: idParam,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const own = await ownOrRefuse(auth.workspaceId, params.id);
        await prisma.messageTemplate.delete({ where: { id: own.id } });
        return undefined;
      },
    }),
    route({
      method: 'post',
      path: '/templates/:id/preview',
      summary: 'Render a template for a lead without sending it; 422 names any missing variable',
      tag: 'templates',
      params: idParam,
      body: z.object({ leadId: z.string().min(1).max(100), variables: z.record(z.string(), z.unknown()).optional() }).strict(),
      response: {
        status: 200,
        description: 'What the lead would receive',
        schema: z.object({ subject: z.string().optional(), text: z.string(), html: z.string().optional(), smsSegments: z.number().optional() }),
      },
      handler: async ({ params, body, auth }) => {
        const { shipped, own } = await find(auth.workspaceId, params.id);
        const target = (own ?? shipped)!;
        // A preview shows the lead's name and owner: only for a lead the caller may see.
        const lead = await prisma.lead.findFirst({ where: { AND: [{ id: body.leadId }, await visibleLeadsWhere(prisma, auth)] }, select: { id: true, workspaceId: true } });
        if (!lead) throw new NotFoundError('lead');
        return prisma.$transaction((tx) =>
          renderForLead(tx, templates, lead, { name: target.name, locale: target.locale, channel: target.channel as ChannelKind }, body.variables ?? {}),
        );
      },
    }),
  ];
}
