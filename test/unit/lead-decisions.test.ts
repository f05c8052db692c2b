import type { Prisma } from '@prisma/client';
import { describe, expect, it } from 'vitest';
import { fires } from '../../src/leads/routing.js';
import { computeScore, type ScoringFacts } from '../../src/leads/scoring.js';

/**
 * The pure decisions behind scoring and routing, rule by rule. The integration tests
 * (test/integration/scoring.test.ts, routing.test.ts) check that they are reached from what
 * happens to a lead; these check every branch without a gateway.
 */
const now = new Date('2026-03-10T12:00:00Z');
const daysAgo = (days: number) => new Date(now.getTime() - days * 24 * 3600_000);

const facts = (over: Partial<ScoringFacts> = {}): ScoringFacts => ({
  stage: 'open',
  segment: null,
  tags: [],
  dealValue: null,
  channel: 'webform',
  customFields: {},
  lastActivityAt: now,
  productIds: [],
  identityKinds: [],
  messages: [],
  stagesReached: [],
  ...over,
});

let ids = 0;
const rule = (when: Prisma.JsonObject, points = 1, name = `rule ${++ids}`) => ({ id: `rule_${ids}`, name, points, when });
const holds = (when: Prisma.JsonObject, lead: ScoringFacts) => computeScore(lead, [rule(when)], now).score === 1;

describe('score rules', () => {
  it('sum the points of the rules that hold, naming each', () => {
    const email = rule({ type: 'has_email' }, 10, 'email');
    const phone = rule({ type: 'has_phone' }, 5, 'phone');
    const quiet = rule({ type: 'inactive', days: 30 }, -20, 'gone quiet');
    const result = computeScore(facts({ identityKinds: ['email'], lastActivityAt: daysAgo(31) }), [email, phone, quiet], now);
    expect(result).toEqual({
      score: -10,
      reasons: [
        { rule: 'email', ruleId: email.id, points: 10 },
        { rule: 'gone quiet', ruleId: quiet.id, points: -20 },
      ],
    });
  });

  it('score nothing for a stored rule that no longer parses', () => {
    expect(computeScore(facts(), [rule({ type: 'no_such_rule' }), rule({ type: 'has_email', extra: true })], now)).toEqual({ score: 0, reasons: [] });
  });

  it('see an email, and a phone or a WhatsApp id', () => {
    expect(holds({ type: 'has_email' }, facts({ identityKinds: ['email'] }))).toBe(true);
    expect(holds({ type: 'has_email' }, facts({ identityKinds: ['phone'] }))).toBe(false);
    expect(holds({ type: 'has_phone' }, facts({ identityKinds: ['phone'] }))).toBe(true);
    expect(holds({ type: 'has_phone' }, facts({ identityKinds: ['whatsapp'] }))).toBe(true);
    expect(holds({ type: 'has_phone' }, facts({ identityKinds: ['email'] }))).toBe(false);
  });

  it('compare segments and tags without case or accents', () => {
    expect(holds({ type: 'segment', segment: 'Residencial' }, facts({ segment: 'residencial' }))).toBe(true);
    expect(holds({ type: 'segment', segment: 'Comércio' }, facts({ segment: 'comercio' }))).toBe(true);
    expect(holds({ type: 'segment', segment: 'Residencial' }, facts({ segment: null }))).toBe(false);
    expect(holds({ type: 'tag', tag: 'Promoção' }, facts({ tags: ['promocao'] }))).toBe(true);
    expect(holds({ type: 'tag', tag: 'promo' }, facts({ tags: ['promocao'] }))).toBe(false);
  });

  it('take a deal value strictly above the mark, a product, a channel', () => {
    expect(holds({ type: 'deal_value', over: 1000 }, facts({ dealValue: 1000.01 }))).toBe(true);
    expect(holds({ type: 'deal_value', over: 1000 }, facts({ dealValue: 1000 }))).toBe(false);
    expect(holds({ type: 'deal_value', over: 0 }, facts({ dealValue: null }))).toBe(false);
    expect(holds({ type: 'product', productId: 'prod_a' }, facts({ productIds: ['prod_b', 'prod_a'] }))).toBe(true);
    expect(holds({ type: 'product', productId: 'prod_a' }, facts({ productIds: ['prod_b'] }))).toBe(false);
    expect(holds({ type: 'channel', channel: 'whatsapp' }, facts({ channel: 'whatsapp' }))).toBe(true);
    expect(holds({ type: 'channel', channel: 'whatsapp' }, facts({ channel: 'sms' }))).toBe(false);
  });

  it('read custom fields as written: equal (folded text, or as given), containing, at least a number', () => {
    const lead = facts({ customFields: { Cidade: 'São Paulo', area: '40', ativo: true, nota: 'Telhado de cerâmica', vazio: null } });
    expect(holds({ type: 'custom_field', field: 'Cidade', equals: 'sao paulo' }, lead)).toBe(true);
    expect(holds({ type: 'custom_field', field: 'Cidade', equals: 'Rio' }, lead)).toBe(false);
    expect(holds({ type: 'custom_field', field: 'ativo', equals: true }, lead)).toBe(true);
    expect(holds({ type: 'custom_field', field: 'area', equals: 40 }, lead)).toBe(true);
    expect(holds({ type: 'custom_field', field: 'nota', contains: 'CERAMICA' }, lead)).toBe(true);
    expect(holds({ type: 'custom_field', field: 'area', gte: 40 }, lead)).toBe(true);
    expect(holds({ type: 'custom_field', field: 'area', gte: 40.5 }, lead)).toBe(false);
    expect(holds({ type: 'custom_field', field: 'Cidade', gte: 1 }, lead)).toBe(false);
    expect(holds({ type: 'custom_field', field: 'vazio', equals: 'x' }, lead)).toBe(false);
    expect(holds({ type: 'custom_field', field: 'missing', contains: 'x' }, lead)).toBe(false);
    // Exactly one of equals, contains and gte: a rule with two does not parse, and scores nothing.
    expect(holds({ type: 'custom_field', field: 'area', equals: '40', gte: 1 }, lead)).toBe(false);
  });

  it('count a reply only after the first message that went out, and a read message as opened', () => {
    const out = (at: Date, status = 'sent') => ({ direction: 'out', status, createdAt: at, sentAt: at });
    const inbound = (at: Date) => ({ direction: 'in', status: 'received', createdAt: at, sentAt: null });
    expect(holds({ type: 'replied' }, facts({ messages: [inbound(daysAgo(3)), out(daysAgo(2))] }))).toBe(false);
    expect(holds({ type: 'replied' }, facts({ messages: [inbound(daysAgo(3)), out(daysAgo(2)), inbound(daysAgo(1))] }))).toBe(true);
    expect(holds({ type: 'replied' }, facts({ messages: [out(daysAgo(2), 'failed'), inbound(daysAgo(1))] }))).toBe(false);
    expect(holds({ type: 'replied' }, facts({ messages: [{ direction: 'out', status: 'queued', createdAt: daysAgo(2), sentAt: null }, inbound(daysAgo(1))] }))).toBe(false);
    expect(holds({ type: 'opened' }, facts({ messages: [out(daysAgo(2), 'read')] }))).toBe(true);
    expect(holds({ type: 'opened' }, facts({ messages: [out(daysAgo(2), 'delivered'), inbound(daysAgo(1))] }))).toBe(false);
  });

  it('count the messages from the contact within the last days, at the moment given', () => {
    const inbound = (at: Date) => ({ direction: 'in', status: 'received', createdAt: at, sentAt: null });
    const lead = facts({ messages: [inbound(daysAgo(1)), inbound(daysAgo(6.9)), inbound(daysAgo(8)), { direction: 'out', status: 'sent', createdAt: daysAgo(1), sentAt: daysAgo(1) }] });
    expect(holds({ type: 'recent_messages', days: 7, atLeast: 2 }, lead)).toBe(true);
    expect(holds({ type: 'recent_messages', days: 7, atLeast: 3 }, lead)).toBe(false);
    expect(computeScore(lead, [rule({ type: 'recent_messages', days: 7, atLeast: 2 })], new Date(now.getTime() + 24 * 3600_000)).score).toBe(0);
  });

  it('take a stage reached now or before as reaching every earlier stage of the pipeline', () => {
    expect(holds({ type: 'stage_reached', stage: 'qualified' }, facts({ stage: 'negotiation' }))).toBe(true);
    expect(holds({ type: 'stage_reached', stage: 'qualified' }, facts({ stage: 'open', stagesReached: ['customer'] }))).toBe(true);
    expect(holds({ type: 'stage_reached', stage: 'qualified' }, facts({ stage: 'contacted', stagesReached: ['open'] }))).toBe(false);
    // Outside the ladder: only that stage itself.
    expect(holds({ type: 'stage_reached', stage: 'unqualified' }, facts({ stage: 'open', stagesReached: ['unqualified'] }))).toBe(true);
    expect(holds({ type: 'stage_reached', stage: 'unqualified' }, facts({ stage: 'customer' }))).toBe(false);
    expect(holds({ type: 'stage_reached', stage: 'open' }, facts({ stage: 'inactive' }))).toBe(false);
  });

  it('take a lead as inactive from its last activity, counted in whole days from the moment given', () => {
    expect(holds({ type: 'inactive', days: 30 }, facts({ lastActivityAt: daysAgo(30) }))).toBe(true);
    expect(holds({ type: 'inactive', days: 30 }, facts({ lastActivityAt: daysAgo(29.9) }))).toBe(false);
  });
});

describe('routing rules', () => {
  const lead = { stage: 'qualified', score: 60, channel: 'whatsapp', productIds: ['prod_solar'] };
  const created = { created: true, scoreFrom: null, stageFrom: null };

  it('fire for a new lead that meets every condition given', () => {
    expect(fires({ minScore: 50 }, lead, created)).toBe(true);
    expect(fires({ minScore: 50, stages: ['qualified'], productIds: ['prod_solar'], channels: ['whatsapp'] }, lead, created)).toBe(true);
    expect(fires({}, lead, created)).toBe(true);
    expect(fires({ minScore: 61 }, lead, created)).toBe(false);
    expect(fires({ stages: ['open'] }, lead, created)).toBe(false);
    expect(fires({ productIds: ['prod_other'] }, lead, created)).toBe(false);
    expect(fires({ channels: ['email'] }, lead, created)).toBe(false);
  });

  it('fire for a change only when the score crosses the threshold or the lead enters the stage', () => {
    expect(fires({ minScore: 50 }, lead, { created: false, scoreFrom: 40, stageFrom: null })).toBe(true);
    expect(fires({ minScore: 50 }, lead, { created: false, scoreFrom: 55, stageFrom: null })).toBe(false);
    expect(fires({ minScore: 60 }, lead, { created: false, scoreFrom: 59, stageFrom: null })).toBe(true);
    expect(fires({ minScore: 50 }, lead, { created: false, scoreFrom: null, stageFrom: 'open' })).toBe(false);
    expect(fires({ stages: ['qualified'] }, lead, { created: false, scoreFrom: null, stageFrom: 'contacted' })).toBe(true);
    expect(fires({ stages: ['qualified'] }, lead, { created: false, scoreFrom: null, stageFrom: 'qualified' })).toBe(false);
    expect(fires({ stages: ['qualified'] }, lead, { created: false, scoreFrom: 10, stageFrom: null })).toBe(false);
    // A rule with neither a threshold nor stages fires on creation only.
    expect(fires({ channels: ['whatsapp'] }, lead, { created: false, scoreFrom: 10, stageFrom: 'open' })).toBe(false);
    // Crossing alone is not enough when the lead does not meet the rest.
    expect(fires({ minScore: 50, channels: ['email'] }, lead, { created: false, scoreFrom: 40, stageFrom: null })).toBe(false);
  });
});
