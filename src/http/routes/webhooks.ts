import { randomBytes } from 'node:crypto';
import type { Webhook, WebhookDelivery } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { newId } from '../../ids.js';
import { assertDeliverable, forgetWebhookCache, webhookEvents } from '../../messaging/webhooks.js';
import type { AppDeps } from '../deps.js';
import { listSchema, route, type RouteDef } from '../route.js';

const webhookBody = z
  .object({
    url: z.url({ protocol: /^https?$/ }).max(2_000),
    events: z.array(z.enum(webhookEvents)).min(1).max(webhookEvents.length),
    active: z.boolean().default(true),
  })
  .strict();

const webhookView = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  active: z.boolean(),
  createdAt: z.string(),
  secret: z.string().optional().describe('Shown once, when the webhook is created'),
});

const deliveryView = z.object({
  id: z.string(),
  event: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  responseCode: z.number().nullable(),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
});

function present(row: Webhook) {
  return { id: row.id, url: row.url, events: row.events, active: row.active, createdAt: row.createdAt.toISOString() };
}

function presentDelivery(row: WebhookDelivery) {
  return {
    id: row.id,
    event: row.event,
    status: row.status as 'pending' | 'delivered' | 'failed',
    responseCode: row.responseCode,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt.toISOString() : null,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Outbound webhooks: subscriptions, their delivery log, and redelivery by hand. */
export function webhookRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;
  const allowPrivate = deps.config.webhooksAllowPrivate;
  const params = z.object({ id: z.string().min(1).max(100) });

  async function load(workspaceId: string, id: string) {
    const row = await prisma.webhook.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('webhook');
    return row;
  }

  return [
    route({
      method: 'post',
      path: '/webhooks',
      summary: 'Subscribe a URL to events; the signing secret is shown once',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      body: webhookBody,
      response: { status: 201, description: 'The webhook, with its secret', schema: webhookView },
      handler: async ({ body, auth }) => {
        await assertDeliverable(body.url, allowPrivate);
        const secret = `whsec_${randomBytes(24).toString('base64url')}`;
        const row = await prisma.webhook.create({ data: { id: newId('wh'), workspaceId: auth.workspaceId, ...body, secret: deps.box.seal(secret) } });
        forgetWebhookCache(auth.workspaceId);
        return { ...present(row), secret };
      },
    }),
    route({
      method: 'get',
      path: '/webhooks',
      summary: 'List webhooks',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      response: { status: 200, description: 'Webhooks', schema: listSchema(webhookView) },
      handler: async ({ auth }) => ({
        data: (await prisma.webhook.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: { createdAt: 'asc' } })).map(present),
        nextCursor: null,
      }),
    }),
    route({
      method: 'get',
      path: '/webhooks/:id',
      summary: 'One webhook',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      params,
      response: { status: 200, description: 'The webhook', schema: webhookView },
      handler: async ({ params: { id }, auth }) => present(await load(auth.workspaceId, id)),
    }),
    route({
      method: 'patch',
      path: '/webhooks/:id',
      summary: 'Change a webhook',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      params,
      body: webhookBody.partial(),
      response: { status: 200, description: 'The webhook', schema: webhookView },
      handler: async ({ params: { id }, body, auth }) => {
        const row = await load(auth.workspaceId, id);
        if (body.url) await assertDeliverable(body.url, allowPrivate);
        const updated = await prisma.webhook.update({ where: { id: row.id }, data: body });
        forgetWebhookCache(auth.workspaceId);
        return present(updated);
      },
    }),
    route({
      method: 'delete',
      path: '/webhooks/:id',
      summary: 'Remove a webhook and its delivery log',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      params,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params: { id }, auth }) => {
        const row = await load(auth.workspaceId, id);
        await prisma.webhook.delete({ where: { id: row.id } });
        forgetWebhookCache(auth.workspaceId);
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/webhooks/:id/deliveries',
      summary: 'The delivery log, newest first',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      params,
      query: z.object({ status: z.enum(['pending', 'delivered', 'failed']).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }),
      response: { status: 200, description: 'Deliveries', schema: listSchema(deliveryView) },
      handler: async ({ params: { id }, query, auth }) => {
        const row = await load(auth.workspaceId, id);
        const rows = await prisma.webhookDelivery.findMany({
          where: { webhookId: row.id, ...(query.status ? { status: query.status } : {}) },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: query.limit,
        });
        return { data: rows.map(presentDelivery), nextCursor: null };
      },
    }),
    route({
      method: 'post',
      path: '/webhooks/:id/deliveries/:deliveryId/redeliver',
      summary: 'Send a delivery again now, with the same delivery id',
      tag: 'webhooks',
      roles: ['owner', 'manager'],
      params: z.object({ id: z.string().min(1).max(100), deliveryId: z.string().min(1).max(100) }),
      response: { status: 202, description: 'Queued', schema: deliveryView },
      handler: async ({ params: { id, deliveryId }, auth }) => {
        const row = await load(auth.workspaceId, id);
        const delivery = await prisma.webhookDelivery.findFirst({ where: { id: deliveryId, webhookId: row.id } });
        if (!delivery) throw new NotFoundError('delivery');
        return presentDelivery(await prisma.webhookDelivery.update({ where: { id: delivery.id }, data: { status: 'pending', nextAttemptAt: new Date(), lockedUntil: null } }));
      },
    }),
  ];
}
