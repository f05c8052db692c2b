import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { autoReplyVariables } from '../../messaging/variables.js';
import type { AppDeps } from '../deps.js';
import { listSchema, route, type RouteDef } from '../route.js';

const templateView = z.object({
  id: z.string().describe('<locale>.<name>.<channel>, e.g. pt-BR.missed_call.sms'),
  name: z.string(),
  locale: z.string(),
  channel: z.enum(['email', 'whatsapp', 'sms']),
  subject: z.string().optional(),
  body: z.string(),
});

const templateId = z.object({ id: z.string().regex(/^[\w-]+\.[\w-]+\.(email|whatsapp|sms)$/, 'must be a template id such as pt-BR.acknowledgement.email') });

/** The shipped message templates, and a preview of one for a given lead. */
export function templateRoutes(deps: AppDeps): RouteDef[] {
  const { templates, db } = deps;
  return [
    route({
      method: 'get',
      path: '/templates',
      summary: 'The shipped templates, per locale and channel',
      tag: 'templates',
      query: z.object({ locale: z.string().max(10).optional(), channel: z.enum(['email', 'whatsapp', 'sms']).optional() }),
      response: { status: 200, description: 'Templates', schema: listSchema(templateView) },
      handler: async ({ query }) => ({
        data: templates.list().filter((t) => (!query.locale || t.locale === query.locale) && (!query.channel || t.channel === query.channel)),
        nextCursor: null,
      }),
    }),
    route({
      method: 'get',
      path: '/templates/:id',
      summary: 'One template',
      tag: 'templates',
      params: templateId,
      response: { status: 200, description: 'The template', schema: templateView },
      handler: async ({ params }) => {
        const template = templates.get(params.id);
        if (!template) throw new NotFoundError('template');
        return template;
      },
    }),
    route({
      method: 'post',
      path: '/templates/:id/preview',
      summary: 'Render a template for a lead without sending it; 422 names any missing variable',
      tag: 'templates',
      params: templateId,
      body: z.object({ leadId: z.string().min(1).max(100), variables: z.record(z.string(), z.unknown()).optional() }).strict(),
      response: {
        status: 200,
        description: 'What the lead would receive',
        schema: z.object({ subject: z.string().optional(), text: z.string(), html: z.string().optional(), smsSegments: z.number().optional() }),
      },
      handler: async ({ params, body, auth }) => {
        const template = templates.get(params.id);
        if (!template) throw new NotFoundError('template');
        const lead = await db.prisma.lead.findFirst({ where: { id: body.leadId, workspaceId: auth.workspaceId }, select: { id: true } });
        if (!lead) throw new NotFoundError('lead');
        const variables = await db.prisma.$transaction((tx) => autoReplyVariables(tx, lead.id, body.variables ?? {}));
        return templates.render(template.name, template.locale, template.channel, variables);
      },
    }),
  ];
}
