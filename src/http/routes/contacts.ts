import type { Prisma } from '@prisma/client';
import { z } from 'zod';
import { mergeByHand, undoMerge } from '../../contacts/merge.js';
import { NotFoundError } from '../../errors.js';
import { recordActivity } from '../../leads/activities.js';
import { visibleLeadsWhere } from '../../leads/visibility.js';
import type { AppDeps } from '../deps.js';
import { afterCursor, byId, decodeCursor, listSchema, page, pageQuery, route, type RouteDef } from '../route.js';

const identityView = z.object({ kind: z.enum(['phone', 'email', 'whatsapp', 'instagram']), value: z.string(), undeliverable: z.boolean() });

const conversationView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  channel: z.string(),
  stage: z.string(),
  status: z.enum(['open', 'pending', 'snoozed', 'resolved']),
  owner: z.object({ id: z.string(), name: z.string() }).nullable(),
  createdAt: z.string(),
  lastActivityAt: z.string(),
});

const mergeView = z.object({
  id: z.string(),
  fromContactId: z.string(),
  intoContactId: z.string(),
  name: z.string().nullable().describe('The merged contact\'s name'),
  identities: z.array(z.string()).describe('The addresses and numbers that came with it'),
  leads: z.number().describe('How many of its leads came with it'),
  automatic: z.boolean().describe('Merged by the gateway, when one message named both contacts; false: by hand'),
  createdAt: z.string(),
  undoneAt: z.string().nullable(),
});

const contactSummary = z.object({
  id: z.string(),
  name: z.string().nullable(),
  company: z.string().nullable(),
  identities: z.array(identityView),
  leads: z.number(),
  createdAt: z.string(),
});

const contactDetail = z.object({
  id: z.string(),
  name: z.string().nullable(),
  company: z.string().nullable(),
  identities: z.array(identityView),
  optOuts: z.array(z.string()),
  leads: z.array(z.string()),
  conversations: z.array(conversationView).describe('The contact\'s leads the caller may see, newest first'),
  merges: z.array(mergeView).describe('Contacts merged into this one, newest first, with those undone'),
  createdAt: z.string(),
});

const contactListQuery = pageQuery.extend({
  q: z.string().trim().min(1).max(200).optional().describe('Any part of the name, company, an email address or a phone number'),
});

type MergeRow = Prisma.ContactMergeGetPayload<object>;

/** Contacts: one person across channels; search, merge by hand, undo a merge. */
export function contactRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  const presentMerges = async (rows: MergeRow[]) => {
    const identities = await prisma.contactIdentity.findMany({ where: { id: { in: rows.flatMap((row) => row.identityIds) } }, select: { id: true, value: true } });
    const contacts = await prisma.contact.findMany({ where: { id: { in: rows.map((row) => row.fromContactId) } }, select: { id: true, name: true } });
    return rows.map((row) => ({
      id: row.id,
      fromContactId: row.fromContactId,
      intoContactId: row.intoContactId,
      name: contacts.find((contact) => contact.id === row.fromContactId)?.name ?? null,
      identities: identities.filter((identity) => row.identityIds.includes(identity.id)).map((identity) => identity.value),
      leads: row.leadIds.length,
      automatic: row.automatic,
      createdAt: row.createdAt.toISOString(),
      undoneAt: row.undoneAt?.toISOString() ?? null,
    }));
  };

  /** The contact if the caller sees one of its leads (owners and managers: any contact of the workspace). */
  const findVisibleContact = async (auth: Parameters<typeof visibleLeadsWhere>[1], id: string) => {
    const visible = await visibleLeadsWhere(prisma, auth);
    const everyone = auth.role !== 'rep';
    let contact = await prisma.contact.findFirst({ where: { id, workspaceId: auth.workspaceId, ...(everyone ? {} : { leads: { some: visible } }) } });
    // A merged contact answers as the one it was merged into.
    for (let hops = 0; contact?.mergedIntoId && hops < 10; hops++) {
      contact = await prisma.contact.findFirst({ where: { id: contact.mergedIntoId, workspaceId: auth.workspaceId } });
    }
    if (!contact) throw new NotFoundError('contact');
    return { contact, visible };
  };

  return [
    route({
      method: 'get',
      path: '/contacts',
      summary: 'List contacts, newest first, or search them',
      tag: 'contacts',
      query: contactListQuery,
      response: { status: 200, description: 'A page of contacts', schema: listSchema(contactSummary) },
      handler: async ({ query, auth }) => {
        const visible = await visibleLeadsWhere(prisma, auth);
        const and: Prisma.ContactWhereInput[] = [{ workspaceId: auth.workspaceId, mergedIntoId: null }];
        if (auth.role === 'rep') and.push({ leads: { some: visible } });
        if (query.q) {
          const digits = query.q.replace(/\D/g, '');
          const values = [query.q.toLowerCase(), ...(digits.length >= 3 ? [digits] : [])];
          and.push({
            OR: [
              { name: { contains: query.q, mode: 'insensitive' } },
              { company: { contains: query.q, mode: 'insensitive' } },
              ...values.map((value) => ({ identities: { some: { value: { contains: value, mode: 'insensitive' as const } } } })),
            ],
          });
        }
        and.push(afterCursor(decodeCursor(query.cursor), 'desc'));
        const rows = await prisma.contact.findMany({
          where: { AND: and },
          include: { identities: { orderBy: { createdAt: 'asc' } }, _count: { select: { leads: { where: visible } } } },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: query.limit + 1,
        });
        const result = page(rows, query.limit, (row) => row.createdAt);
        return {
          data: result.data.map((row) => ({
            id: row.id,
            name: row.name,
            company: row.company,
            identities: row.identities.map((i) => ({ kind: i.kind as 'phone' | 'email' | 'whatsapp', value: i.value, undeliverable: i.undeliverable })),
            leads: row._count.leads,
            createdAt: row.createdAt.toISOString(),
          })),
          nextCursor: result.nextCursor,
        };
      },
    }),
    route({
      method: 'get',
      path: '/contacts/:id',
      summary: 'A contact: one person across channels, with their conversations and the contacts merged into it',
      tag: 'contacts',
      params: byId,
      response: { status: 200, description: 'The contact', schema: contactDetail },
      handler: async ({ params, auth }) => {
        const { contact, visible } = await findVisibleContact(auth, params.id);
        const [identities, optOuts, leads, merges] = await Promise.all([
          prisma.contactIdentity.findMany({ where: { contactId: contact.id }, orderBy: { createdAt: 'asc' } }),
          prisma.contactOptOut.findMany({ where: { contactId: contact.id } }),
          prisma.lead.findMany({
            where: { AND: [{ contactId: contact.id }, visible] },
            include: { owner: { select: { id: true, name: true } } },
            orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
            take: 200,
          }),
          prisma.contactMerge.findMany({ where: { workspaceId: auth.workspaceId, intoContactId: contact.id }, orderBy: { createdAt: 'desc' }, take: 50 }),
        ]);
        return {
          id: contact.id,
          name: contact.name,
          company: contact.company,
          identities: identities.map((i) => ({ kind: i.kind as 'phone' | 'email' | 'whatsapp', value: i.value, undeliverable: i.undeliverable })),
          optOuts: optOuts.map((o) => o.channel),
          leads: leads.map((l) => l.id),
          conversations: leads.map((l) => ({
            id: l.id,
            name: l.name,
            channel: l.channel,
            stage: l.stage,
            status: l.conversationStatus as z.infer<typeof conversationView>['status'],
            owner: l.owner,
            createdAt: l.createdAt.toISOString(),
            lastActivityAt: l.lastActivityAt.toISOString(),
          })),
          merges: await presentMerges(merges),
          createdAt: contact.createdAt.toISOString(),
        };
      },
    }),
    route({
      method: 'post',
      path: '/contacts/:id/merge',
      summary: 'Merge another contact into this one by hand',
      description:
        'The other contact\'s addresses, numbers, leads (with their timelines) and opt-outs move to this one, and it answers as this ' +
        'one from then on. The merge is recorded: POST /api/v1/contact-merges/:id/undo takes it back.',
      tag: 'contacts',
      roles: ['owner', 'manager'],
      params: byId,
      body: z.object({ contactId: z.string().min(1).max(100).describe('The contact to merge into this one') }).strict(),
      response: { status: 201, description: 'The merge', schema: mergeView },
      handler: async ({ params, body, auth }) => {
        const mergeId = await prisma.$transaction(async (tx) => {
          const id = await mergeByHand(tx, { workspaceId: auth.workspaceId, keepId: params.id, otherId: body.contactId, actor: auth.actor });
          const merge = await tx.contactMerge.findUniqueOrThrow({ where: { id } });
          for (const leadId of merge.leadIds) {
            await recordActivity(tx, { workspaceId: auth.workspaceId, leadId, kind: 'contact.merged', actor: auth.actor, data: { mergeId: id, fromContactId: merge.fromContactId, intoContactId: merge.intoContactId } });
          }
          return id;
        });
        const [view] = await presentMerges([await prisma.contactMerge.findUniqueOrThrow({ where: { id: mergeId } })]);
        return view;
      },
    }),
    route({
      method: 'post',
      path: '/contact-merges/:id/undo',
      summary: 'Undo a merge, automatic or by hand',
      description:
        'The merged contact gets back the addresses, numbers, leads (with their timelines) and opt-outs that moved with the merge. A ' +
        'message that later names both again merges them again.',
      tag: 'contacts',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 200, description: 'The merge, undone', schema: mergeView },
      handler: async ({ params, auth }) => {
        await prisma.$transaction(async (tx) => {
          await undoMerge(tx, { workspaceId: auth.workspaceId, mergeId: params.id });
          const merge = await tx.contactMerge.findUniqueOrThrow({ where: { id: params.id } });
          const returned = await tx.lead.findMany({ where: { id: { in: merge.leadIds }, contactId: merge.fromContactId }, select: { id: true } });
          for (const { id: leadId } of returned) {
            await recordActivity(tx, { workspaceId: auth.workspaceId, leadId, kind: 'contact.unmerged', actor: auth.actor, data: { mergeId: merge.id, fromContactId: merge.fromContactId, intoContactId: merge.intoContactId } });
          }
        });
        const [view] = await presentMerges([await prisma.contactMerge.findUniqueOrThrow({ where: { id: params.id } })]);
        return view;
      },
    }),
  ];
}
