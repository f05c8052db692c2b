import type { Prisma } from '@prisma/client';
import { z } from 'zod';

/** What every lead query loads to build the API's view of a lead. */
export const leadInclude = {
  contact: { include: { identities: true } },
  owner: true,
  products: { include: { product: true } },
  source: { select: { id: true, name: true, kind: true } },
} satisfies Prisma.LeadInclude;

export type LeadRow = Prisma.LeadGetPayload<{ include: typeof leadInclude }>;

export const leadView = z.object({
  id: z.string(),
  contactId: z.string(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  whatsappId: z.string().nullable(),
  instagramId: z.string().nullable(),
  company: z.string().nullable(),
  channel: z.string(),
  sourceId: z.string().nullable(),
  source: z.object({ id: z.string(), name: z.string(), kind: z.string() }).nullable().describe('The source the lead came in through'),
  stage: z.string(),
  score: z.number(),
  owner: z.object({ id: z.string(), name: z.string(), email: z.string() }).nullable(),
  products: z.array(z.object({ id: z.string(), name: z.string() })),
  segment: z.string().nullable(),
  tags: z.array(z.string()),
  dealValue: z.number().nullable(),
  dealCurrency: z.string().nullable(),
  customFields: z.record(z.string(), z.unknown()),
  scoreReasons: z.array(z.object({ rule: z.string(), ruleId: z.string(), points: z.number() })).describe('The scoring rules that hold, with their points'),
  routing: z.enum(['sales', 'nurture']).nullable(),
  assignment: z.object({ ruleId: z.string().nullable(), reason: z.string().nullable() }),
  needsContactInfo: z.boolean(),
  companySize: z.string().nullable(),
  birthday: z.string().nullable().describe('YYYY-MM-DD'),
  socialProfiles: z.record(z.string(), z.string()),
  lossReason: z.string().nullable().describe('Why an Unqualified lead was lost'),
  stageChangedAt: z.string(),
  conversation: z.object({
    status: z.enum(['open', 'pending', 'snoozed', 'resolved']),
    snoozedUntil: z.string().nullable(),
    lastInboundAt: z.string().nullable(),
  }),
  firstResponse: z.object({
    dueAt: z.string().nullable().describe('The first-response target, counted in working hours'),
    at: z.string().nullable(),
    breached: z.boolean().describe('Answered late, or not answered and past due'),
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
  lastActivityAt: z.string(),
});

export type LeadView = z.infer<typeof leadView>;

export function presentLead(row: LeadRow): LeadView {
  const identity = (kind: string) => row.contact.identities.find((item) => item.kind === kind)?.value ?? null;
  return {
    id: row.id,
    contactId: row.contactId,
    name: row.name ?? row.contact.name,
    email: identity('email'),
    phone: identity('phone'),
    whatsappId: identity('whatsapp'),
    instagramId: identity('instagram'),
    company: row.company ?? row.contact.company,
    channel: row.channel,
    sourceId: row.sourceId,
    source: row.source ? { id: row.source.id, name: row.source.name, kind: row.source.kind } : null,
    stage: row.stage,
    score: row.score,
    owner: row.owner ? { id: row.owner.id, name: row.owner.name, email: row.owner.email } : null,
    products: row.products.map(({ product }) => ({ id: product.id, name: product.name })),
    segment: row.segment,
    tags: row.tags,
    dealValue: row.dealValue === null ? null : Number(row.dealValue),
    dealCurrency: row.dealCurrency,
    customFields: row.customFields as Record<string, unknown>,
    scoreReasons: row.scoreReasons as LeadView['scoreReasons'],
    routing: row.routing as LeadView['routing'],
    assignment: { ruleId: row.assignmentRuleId, reason: row.assignmentReason },
    needsContactInfo: row.needsContactInfo,
    companySize: row.companySize,
    birthday: row.birthday,
    socialProfiles: row.socialProfiles as Record<string, string>,
    lossReason: row.lossReason,
    stageChangedAt: row.stageChangedAt.toISOString(),
    conversation: {
      status: row.conversationStatus as LeadView['conversation']['status'],
      snoozedUntil: row.snoozedUntil?.toISOString() ?? null,
      lastInboundAt: row.lastInboundAt?.toISOString() ?? null,
    },
    firstResponse: {
      dueAt: row.firstResponseDueAt?.toISOString() ?? null,
      at: row.firstResponseAt?.toISOString() ?? null,
      breached: row.firstResponseDueAt !== null && (row.firstResponseAt ?? new Date()) > row.firstResponseDueAt,
    },
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastActivityAt: row.lastActivityAt.toISOString(),
  };
}
