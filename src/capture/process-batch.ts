import type { Logger } from 'pino';
import type { ChannelKind } from '../channels/contract.js';
import { type Identity, identityLockKey } from '../contacts/identities.js';
import type pg from 'pg';
import { type Column, insertRows, type Sql, transaction, updateRows } from '../db/sql.js';
import { errorMessage } from '../errors.js';
import { newId } from '../ids.js';
import type { ActivityKind, Actor } from '../leads/activities.js';
import { systemActor } from '../leads/activities.js';
import { decideOwner, needsOpenLeadCounts } from '../leads/assignment.js';
import { fold, productsMentioned } from '../leads/products.js';
import { fires, routingCondition, type Routing } from '../leads/routing.js';
import { computeScore, type ScoringFacts } from '../leads/scoring.js';
import { addWorkingMinutes } from '../leads/working-time.js';
import { emailThreadOf, type Outbound, replySubject } from '../messaging/outbound.js';
import type { EnrolRule, SequenceStep } from '../messaging/sequences.js';
import type { TemplateStore } from '../messaging/templates.js';
import { variablesOf } from '../messaging/variables.js';
import { webhookDeliveryRows, webhookEventOfActivity } from '../messaging/webhooks.js';
import {
  claimEvents,
  type ClaimedEvent,
  existingMessageKeys,
  findIdentities,
  findOpenLeads,
  findThreadedMessages,
  type LeadHistory,
  loadContactIdentities,
  loadOptOuts,
  loadSetups,
  loadSources,
  lockContacts,
  lockLeads,
  type LeadRow,
  loadTeams,
  takeTurns,
  openLeadsByOwner,
  type ProductRow,
  type SourceRow,
  tryLockIdentities,
  type WorkspaceSetup,
} from './batch-load.js';
import type { Metrics } from '../metrics.js';
import { identitiesOf, type InboundProcessor } from './process-inbound.js';
import { inboundKind, messageContent, type StoredPayload } from './stored-event.js';

/** What one round did: claimed events end processed (here or one by one), or wait for a later round. */
export interface BatchRound {
  claimed: number;
  processed: number;
  /** Events handed to the one-by-one path (calls, delivery reports, merges, …) after the batch committed. */
  oneByOne: number;
  /** Events left pending for a later round: their person is being processed elsewhere right now. */
  deferred: number;
}

interface ContactState {
  id: string;
  workspaceId: string;
  isNew: boolean;
  name: string | null;
  company: string | null;
  /** An existing contact whose empty name or company an event filled. */
  filled: boolean;
  mergedIntoId: string | null;
  identities: { kind: string; value: string; undeliverable: boolean }[];
  optOuts: Set<string>;
  /** Its newest open lead; undefined while not looked up. */
  openLead: LeadState | null | undefined;
}

/** A lead as the batch reads it, its deal value as a number, and what the batch changed. */
interface LeadState extends Omit<LeadRow, 'dealValue'> {
  isNew: boolean;
  /** An existing lead this batch changed. */
  touched: boolean;
  dealValue: number | null;
  productIds: string[];
  addedProductIds: string[];
  messages: LeadHistory['messages'];
  stagesReached: string[];
}

interface Candidate {
  event: ClaimedEvent;
  payload: StoredPayload;
  receivedAt: Date;
  setup: WorkspaceSetup;
  source: SourceRow | null;
  identities: Identity[];
  notes: string[];
  lockKeys: string[];
}

/** Rows a batch writes, one statement per table. */
class BatchWrites {
  readonly identities: object[] = [];
  readonly messages: object[] = [];
  readonly attachmentLinks: { eventId: string; messageId: string }[] = [];
  readonly windows: object[] = [];
  readonly optOuts: object[] = [];
  readonly enrollments: object[] = [];
  readonly activities: object[] = [];
  readonly deliveries: object[] = [];
  readonly processed: { id: string; leadId: string }[] = [];
  /** Outbound messages to wake once the batch has committed. */
  readonly queued: string[] = [];
  readonly enrolled = new Set<string>();
}

const messageColumns: Column[] = [
  ['id', 'text'],
  ['workspaceId', 'text'],
  ['leadId', 'text'],
  ['sourceId', 'text'],
  ['eventId', 'text'],
  ['direction', 'text'],
  ['channel', 'text'],
  ['status', 'text'],
  ['text', 'text'],
  ['fullText', 'text'],
  ['html', 'text'],
  ['subject', 'text'],
  ['toAddress', 'text'],
  ['fields', 'jsonb'],
  ['templateName', 'text'],
  ['idempotencyKey', 'text'],
  ['externalId', 'text'],
  ['inReplyTo', 'text'],
  ['references', 'text[]'],
  ['automatic', 'boolean'],
  ['createdAt', 'timestamptz'],
  ['updatedAt', 'timestamptz'],
];

const leadStateColumns: Column[] = [
  ['name', 'text'],
  ['company', 'text'],
  ['score', 'integer'],
  ['scoreReasons', 'jsonb'],
  ['routing', 'text'],
  ['customFields', 'jsonb'],
  ['ownerId', 'text'],
  ['assignmentRuleId', 'text'],
  ['assignmentReason', 'text'],
  ['needsContactInfo', 'boolean'],
  ['conversationStatus', 'text'],
  ['snoozedUntil', 'timestamptz'],
  ['firstResponseDueAt', 'timestamptz'],
  ['lastActivityAt', 'timestamptz'],
  ['lastInboundAt', 'timestamptz'],
  ['updatedAt', 'timestamptz'],
];

/** What processing a message changes on an existing lead: never its owner or routing (see `reroutes`). */
const leadUpdateColumns = leadStateColumns.filter(([name]) => !['routing', 'ownerId', 'assignmentRuleId', 'assignmentReason'].includes(name));

const leadInsertColumns: Column[] = [
  ['id', 'text'],
  ['workspaceId', 'text'],
  ['contactId', 'text'],
  ['sourceId', 'text'],
  ['channel', 'text'],
  ['createdAt', 'timestamptz'],
  ...leadStateColumns,
];

/** A lead's changes in this batch, as the columns of its row. */
function leadRow(lead: LeadState, now: Date) {
  return {
    id: lead.id,
    workspaceId: lead.workspaceId,
    contactId: lead.contactId,
    sourceId: lead.sourceId,
    channel: lead.channel,
    createdAt: lead.createdAt,
    name: lead.name,
    company: lead.company,
    score: lead.score,
    scoreReasons: lead.scoreReasons,
    routing: lead.routing,
    customFields: lead.customFields,
    ownerId: lead.ownerId,
    assignmentRuleId: lead.assignmentRuleId,
    assignmentReason: lead.assignmentReason,
    needsContactInfo: lead.needsContactInfo,
    conversationStatus: lead.conversationStatus,
    snoozedUntil: lead.snoozedUntil,
    firstResponseDueAt: lead.firstResponseDueAt,
    lastActivityAt: lead.lastActivityAt,
    lastInboundAt: lead.lastInboundAt,
    updatedAt: now,
  };
}

/**
 * Events other than a person's message read and write more than a new message does, and an event
 * that failed before is tried alone: they go one by one.
 */
function needsOneByOne(event: ClaimedEvent): boolean {
  return inboundKind(event.payload).kind !== 'message' || event.attempts > 0;
}

/**
 * Turns pending inbound events into contacts, leads, messages, activities and queued
 * acknowledgements a batch at a time: one transaction claims up to `batchSize` events, reads
 * what they need in a handful of statements, decides each event in memory in arrival order
 * (an event sees what the ones before it in the batch did), and writes every table with one
 * multi-row statement. The transaction also marks the events processed, so a crash anywhere
 * rolls the whole batch back and it is processed again: exactly once.
 *
 * Two events of one person never make two contacts: each event holds an advisory lock on each of
 * its identities (phone, email, WhatsApp id) for the batch, taken without waiting, and an event
 * whose person another worker is processing waits for a later round. Different people never wait
 * for each other, so more workers process more.
 *
 * What a batch does not decide (calls, delivery reports, bounces, merges of two contacts, a
 * message that replaces an unreadable one, a score that reroutes an existing lead) goes to the one-by-one processor after the batch commits,
 * and so does every event of a batch that failed, so one bad event never holds up the others.
 */
export class InboundBatchProcessor {
  constructor(
    private readonly deps: {
      pool: pg.Pool;
      oneByOne: InboundProcessor;
      outbound: Outbound;
      templates: TemplateStore;
      logger: Logger;
      metrics: Metrics;
      batchSize: number;
    },
  ) {}

  private stopping = false;

  /** Processes pending events until none is left that this worker can take now, or until stop. */
  async drain(): Promise<void> {
    while (!this.stopping) {
      const round = await this.runRound();
      if (round.claimed === 0) return;
      // Everything claimed belongs to people being processed elsewhere: give them a moment.
      if (round.processed === 0 && round.oneByOne === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Drains end after the round they are in: a process stops without working off a backlog first. */
  stop(): void {
    this.stopping = true;
  }

  async runRound(): Promise<BatchRound> {
    let outcome: { round: BatchRound; oneByOne: string[]; queued: string[]; processedChannels: string[] };
    try {
      outcome = await this.runBatch();
    } catch (firstError) {
      // A deadlock or a conflict with a concurrent writer passes on a second try. Said, though:
      // batches of different people should never wait for each other in a circle.
      this.deps.logger.warn({ err: firstError }, 'an inbound batch failed; trying it again');
      try {
        outcome = await this.runBatch();
      } catch (error) {
        this.deps.logger.warn({ err: error, firstError }, 'an inbound batch failed twice; its events are processed one by one');
        return this.oneByOneAfterFailure();
      }
    }
    // Counted once committed: a batch rolled back and run again counts its events once.
    for (const channel of outcome.processedChannels) this.deps.metrics.processed.inc({ channel, outcome: 'processed' });
    for (const messageId of outcome.queued) this.deps.outbound.wake(messageId);
    for (const eventId of outcome.oneByOne) await this.deps.oneByOne.process(eventId);
    return outcome.round;
  }

  /** After a failed batch: the next events, each in a transaction of its own, which records its own failure. */
  private async oneByOneAfterFailure(): Promise<BatchRound> {
    const ids = await transaction(this.deps.pool, async (sql) => (await claimEvents(sql, this.deps.batchSize)).map((event) => event.id));
    for (const id of ids) await this.deps.oneByOne.process(id);
    return { claimed: ids.length, processed: 0, oneByOne: ids.length, deferred: 0 };
  }

  private runBatch(): Promise<{ round: BatchRound; oneByOne: string[]; queued: string[]; processedChannels: string[] }> {
    return transaction(this.deps.pool, async (sql) => {
      const events = await claimEvents(sql, this.deps.batchSize);
      const round: BatchRound = { claimed: events.length, processed: 0, oneByOne: 0, deferred: 0 };
      if (events.length === 0) return { round, oneByOne: [], queued: [], processedChannels: [] };
      const batch = new Batch(sql, this.deps, events, new Date());
      await batch.run();
      round.processed = batch.writes.processed.length;
      round.oneByOne = batch.oneByOne.length;
      round.deferred = events.length - round.processed - round.oneByOne;
      const channelOf = new Map(events.map((event) => [event.id, event.channel]));
      const processedChannels = batch.writes.processed.map((event) => channelOf.get(event.id)!);
      return { round, oneByOne: batch.oneByOne, queued: batch.writes.queued, processedChannels };
    });
  }
}

/** One batch: its reads, its decisions in memory, its writes. */
class Batch {
  readonly writes = new BatchWrites();
  readonly oneByOne: string[] = [];
  private readonly contacts = new Map<string, ContactState>();
  /** identityLockKey → the contact holding the identity, as of this batch. */
  private readonly identityOwner = new Map<string, ContactState>();
  private readonly leads = new Map<string, LeadState>();
  /** "<workspace>\0<provider id>" → the newest message with that id, for replies that name it. */
  private readonly threads = new Map<string, { leadId: string; createdAt: Date }>();
  /** Identities of events that went one by one or wait: later events of the same people wait too, so each person's events stay in order. */
  private readonly heldBack = new Set<string>();
  private readonly openLeads = new Map<string, number>();
  private existingKeys = new Set<string>();
  private turnsTaken = 0;
  /** Users whose turn the batch took, with the time it took it. */
  private readonly turns = new Map<string, { id: string; lastAssignedAt: Date }>();

  constructor(
    private readonly sql: Sql,
    private readonly deps: { outbound: Outbound; templates: TemplateStore },
    private readonly events: ClaimedEvent[],
    private readonly now: Date,
  ) {}

  async run(): Promise<void> {
    const candidates = await this.prepare();
    if (candidates.length === 0) return;
    await this.loadPeople(candidates);
    const workspaceIds = [...new Set(candidates.map((c) => c.event.workspaceId))];
    const teams = await loadTeams(this.sql, workspaceIds);
    for (const c of candidates) c.setup.team = teams.get(c.event.workspaceId) ?? [];
    if (candidates.some((c) => needsOpenLeadCounts(c.setup.assignmentRules))) {
      for (const [ownerId, open] of await openLeadsByOwner(this.sql, workspaceIds)) this.openLeads.set(ownerId, open);
    }
    this.existingKeys = await existingMessageKeys(this.sql, candidates.map((c) => `auto-reply:${c.event.id}`));
    for (const c of candidates) {
      if (c.lockKeys.some((key) => this.heldBack.has(key))) {
        this.holdBack(c);
        continue;
      }
      const outcome = this.decide(c);
      if (outcome === 'one-by-one') this.oneByOne.push(c.event.id);
      if (outcome !== 'done') this.holdBack(c);
    }
    await this.write();
  }

  private holdBack(c: Candidate): void {
    for (const key of c.lockKeys) this.heldBack.add(key);
  }

  /** Sorts the claimed events into those this batch decides and the rest, and locks their people. */
  private async prepare(): Promise<Candidate[]> {
    const workspaceIds = [...new Set(this.events.map((event) => event.workspaceId))];
    const sources = new Map((await loadSources(this.sql, [...new Set(this.events.map((event) => event.sourceId))])).map((source) => [source.id, source]));
    const templateNames = [...new Set([...sources.values()].flatMap((source) => (source.autoReplyTemplate ? [source.autoReplyTemplate] : [])))];
    const setups = await loadSetups(this.sql, workspaceIds, templateNames);
    const prepared: Candidate[] = [];
    for (const event of this.events) {
      const setup = setups.get(event.workspaceId)!;
      const notes: string[] = [];
      const identities = identitiesOf(event.payload.from, setup.workspace.country, notes);
      const lockKeys = identities.map((identity) => identityLockKey(event.workspaceId, identity.kind, identity.value));
      const candidate = { event, payload: event.payload, receivedAt: new Date(event.payload.receivedAt), setup, source: sources.get(event.sourceId) ?? null, identities, notes, lockKeys };
      if (lockKeys.some((key) => this.heldBack.has(key))) {
        this.holdBack(candidate);
        continue;
      }
      if (needsOneByOne(event)) {
        this.oneByOne.push(event.id);
        this.holdBack(candidate);
        continue;
      }
      prepared.push(candidate);
    }
    const locked = await tryLockIdentities(this.sql, [...new Set(prepared.flatMap((c) => c.lockKeys))]);
    const candidates: Candidate[] = [];
    for (const c of prepared) {
      // Later events of a person whose earlier one waits must wait too, or they would overtake it.
      if (c.lockKeys.every((key) => locked.has(key) && !this.heldBack.has(key))) candidates.push(c);
      else this.holdBack(c);
    }
    return candidates;
  }

  /** Reads the contacts, leads and threads the candidates touch, locking contacts and leads. */
  private async loadPeople(candidates: Candidate[]): Promise<void> {
    const wanted = candidates.flatMap((c) => c.identities.map((identity) => ({ workspaceId: c.event.workspaceId, ...identity })));
    const known = await findIdentities(this.sql, wanted);
    const threadRefs = candidates.flatMap((c) => (c.payload.threadRefs ?? []).map((externalId) => ({ workspaceId: c.event.workspaceId, externalId })));
    const threaded = await findThreadedMessages(this.sql, threadRefs);
    for (const message of threaded) this.noteThread(message.workspaceId, message.externalId, message.leadId, message.createdAt);

    const contactIds = [...new Set(known.map((row) => row.contactId))];
    const contactRows = await lockContacts(this.sql, contactIds);
    const openLeadIds = await findOpenLeads(this.sql, contactIds);
    const leadIds = [...new Set([...openLeadIds.values(), ...threaded.map((message) => message.leadId)])];
    const histories = await lockLeads(this.sql, leadIds);
    // The contacts of threaded leads may be other people than the senders: their identities count for the lead's score.
    const allContactIds = [...new Set([...contactIds, ...[...histories.values()].map((history) => history.lead.contactId)])];
    const identities = await loadContactIdentities(this.sql, allContactIds);
    const optOuts = await loadOptOuts(this.sql, allContactIds);

    const rowsById = new Map(contactRows.map((row) => [row.id, row]));
    for (const contactId of allContactIds) {
      const row = rowsById.get(contactId);
      const workspaceId = known.find((identity) => identity.contactId === contactId)?.workspaceId ?? [...histories.values()].find((h) => h.lead.contactId === contactId)?.lead.workspaceId;
      this.contacts.set(contactId, {
        id: contactId,
        workspaceId: workspaceId ?? '',
        isNew: false,
        name: row?.name ?? null,
        company: row?.company ?? null,
        filled: false,
        mergedIntoId: row?.mergedIntoId ?? null,
        identities: identities.filter((identity) => identity.contactId === contactId).map(({ kind, value, undeliverable }) => ({ kind, value, undeliverable })),
        optOuts: new Set(optOuts.filter((optOut) => optOut.contactId === contactId).map((optOut) => optOut.channel)),
        openLead: undefined,
      });
    }
    for (const row of known) this.identityOwner.set(identityLockKey(row.workspaceId, row.kind, row.value), this.contacts.get(row.contactId)!);
    for (const history of histories.values()) this.leads.set(history.lead.id, leadStateOf(history));
    for (const contactId of contactIds) {
      const leadId = openLeadIds.get(contactId);
      this.contacts.get(contactId)!.openLead = leadId ? (this.leads.get(leadId) ?? null) : null;
    }
  }

  private noteThread(workspaceId: string, externalId: string, leadId: string, createdAt: Date): void {
    const key = `${workspaceId}\u0000${externalId}`;
    const known = this.threads.get(key);
    if (!known || known.createdAt <= createdAt) this.threads.set(key, { leadId, createdAt });
  }

  /** The lead a reply belongs to: the newest message among those it names. */
  private threadedLead(c: Candidate): LeadState | null {
    let newest: { leadId: string; createdAt: Date } | undefined;
    for (const externalId of c.payload.threadRefs ?? []) {
      const message = this.threads.get(`${c.event.workspaceId}\u0000${externalId}`);
      if (message && (!newest || message.createdAt > newest.createdAt)) newest = message;
    }
    return newest ? (this.leads.get(newest.leadId) ?? null) : null;
  }

  /**
   * One event, decided in memory. Nothing shared is changed before the last check that can send
   * the event elsewhere, so an event that goes one by one leaves no trace in the batch.
   */
  private decide(c: Candidate): 'done' | 'one-by-one' {
    const { event, payload, setup } = c;
    const owners = [...new Set(c.identities.flatMap((identity) => this.identityOwner.get(identityLockKey(event.workspaceId, identity.kind, identity.value)) ?? []))];
    // Two contacts turn out to be one person: the merge goes one by one.
    if (owners.length > 1) return 'one-by-one';
    const known = owners[0];
    // Merged into another while this batch waited for its lock: its identities moved, and the
    // one-by-one path, which waits for their locks, finds where.
    if (known?.mergedIntoId) return 'one-by-one';
    const named = findProduct(setup.products, payload.product, c.source?.defaultProductId ?? null);
    const customFields: Record<string, unknown> = { ...payload.fields, ...payload.attribution };
    for (const [index, note] of c.notes.entries()) customFields[index === 0 ? 'invalid contact info' : `invalid contact info ${index + 1}`] = note;
    const existing = this.threadedLead(c) ?? known?.openLead ?? null;
    if (existing && this.reroutes(c, existing, known ?? null, named, customFields)) return 'one-by-one';

    const contact = known ?? this.newContact(c);
    const contactCreated = !known;
    this.attachIdentities(c, contact);
    if (!existing) this.openNewLead(c, contact, contactCreated, named, customFields);
    else this.continueLead(c, existing, contact, named, customFields);
    return 'done';
  }

  /**
   * Whether this message changes the score of an existing lead enough for a routing rule to move
   * it to sales or nurture, which stops and starts sequences and may reassign it: one by one.
   */
  private reroutes(c: Candidate, lead: LeadState, known: ContactState | null, named: ProductRow | null, customFields: Record<string, unknown>): boolean {
    if (c.setup.routingRules.length === 0) return false;
    const productIds = named && !lead.productIds.includes(named.id) ? [...lead.productIds, named.id] : lead.productIds;
    const { score } = this.scoreOf(c, lead, {
      customFields: { ...customFields, ...lead.customFields },
      productIds,
      identityKinds: this.identityKindsOf(lead, known, c.identities),
      messages: [...lead.messages, inboundMessage(c.receivedAt)],
      lastActivityAt: c.receivedAt,
    });
    if (score === lead.score) return false;
    const rule = this.firstFiringRule(c.setup, { stage: lead.stage, score, channel: lead.channel, productIds }, { created: false, scoreFrom: lead.score, stageFrom: null });
    return rule !== null && rule.to !== lead.routing;
  }

  private identityKindsOf(lead: LeadState, sender: ContactState | null, adding: Identity[]): string[] {
    const contact = this.contacts.get(lead.contactId);
    const kinds = (contact?.identities ?? []).map((identity) => identity.kind);
    // The sender's new identities join the lead's contact when the sender is that contact.
    if (sender && sender.id === lead.contactId) {
      for (const identity of adding) if (!sender.identities.some((known) => known.kind === identity.kind && known.value === identity.value)) kinds.push(identity.kind);
    }
    return kinds;
  }

  private newContact(c: Candidate): ContactState {
    const contact: ContactState = {
      id: newId('con'),
      workspaceId: c.event.workspaceId,
      isNew: true,
      name: c.payload.from.name ?? null,
      company: c.payload.company ?? null,
      filled: false,
      mergedIntoId: null,
      identities: [],
      optOuts: new Set(),
      openLead: null,
    };
    this.contacts.set(contact.id, contact);
    return contact;
  }

  /** The event's identities the contact did not have yet become its own; an empty name or company is filled. */
  private attachIdentities(c: Candidate, contact: ContactState): void {
    for (const identity of c.identities) {
      if (contact.identities.some((known) => known.kind === identity.kind && known.value === identity.value)) continue;
      contact.identities.push({ ...identity, undeliverable: false });
      this.identityOwner.set(identityLockKey(c.event.workspaceId, identity.kind, identity.value), contact);
      this.writes.identities.push({ id: newId('cid'), workspaceId: c.event.workspaceId, contactId: contact.id, kind: identity.kind, value: identity.value, createdAt: this.now });
    }
    if (contact.isNew) return;
    if (!contact.name && c.payload.from.name) {
      contact.name = c.payload.from.name;
      contact.filled = true;
    }
    if (!contact.company && c.payload.company) {
      contact.company = c.payload.company;
      contact.filled = true;
    }
  }

  private openNewLead(c: Candidate, contact: ContactState, contactCreated: boolean, named: ProductRow | null, customFields: Record<string, unknown>): void {
    const { event, payload, setup, receivedAt, source } = c;
    const ws = setup.workspace;
    const products = named ? [named] : payload.text ? productsMentioned(payload.text, setup.products) : [];
    const lead: LeadState = {
      id: newId('lead'),
      workspaceId: event.workspaceId,
      contactId: contact.id,
      isNew: true,
      touched: true,
      sourceId: source?.id ?? null,
      channel: payload.channel,
      stage: 'open',
      name: payload.from.name ?? null,
      company: payload.company ?? null,
      score: 0,
      scoreReasons: [],
      routing: null,
      segment: null,
      tags: [],
      dealValue: null,
      customFields,
      ownerId: null,
      assignmentRuleId: null,
      assignmentReason: null,
      needsContactInfo: c.identities.length === 0,
      conversationStatus: 'open',
      snoozedUntil: null,
      firstResponseDueAt: null,
      lastActivityAt: receivedAt,
      lastInboundAt: null,
      createdAt: receivedAt,
      productIds: products.map((product) => product.id),
      addedProductIds: products.map((product) => product.id),
      messages: [],
      stagesReached: [],
    };
    this.assign(c, lead, products[0]?.ownerId ?? null);
    this.leads.set(lead.id, lead);
    contact.openLead = lead;
    this.activity(setup, lead, 'lead.created', systemActor, receivedAt, {
      eventId: event.id,
      channel: payload.channel,
      sourceId: source?.id ?? null,
      contactId: contact.id,
      newContact: contactCreated,
    });
    this.activity(setup, lead, 'lead.assigned', systemActor, this.now, {
      before: null,
      after: lead.ownerId,
      ruleId: lead.assignmentRuleId,
      reason: lead.assignmentReason,
    });
    this.receiveMessage(c, lead, contact);
    const dueAt = addWorkingMinutes(receivedAt, ws.firstResponseSlaMinutes, ws.workingHours, ws.timeZone);
    this.openResponseWindow(c, lead, dueAt);
    lead.lastInboundAt = receivedAt;
    this.rescore(c, lead, contact.identities.map((identity) => identity.kind));
    const rule = this.firstFiringRule(setup, { stage: lead.stage, score: lead.score, channel: lead.channel, productIds: lead.productIds }, { created: true, scoreFrom: null, stageFrom: null });
    if (rule) this.route(c, lead, rule);
    if (payload.optOut) this.optOut(c, lead, contact);
    const acknowledge = source && source.autoReplyTemplate !== null && !payload.optOut && payload.channel !== 'voice';
    if (acknowledge) this.acknowledge(c, lead, contact, source.autoReplyTemplate!);
    this.enrolByRules(setup, lead, false);
    this.writes.processed.push({ id: event.id, leadId: lead.id });
  }

  private continueLead(c: Candidate, lead: LeadState, contact: ContactState, named: ProductRow | null, customFields: Record<string, unknown>): void {
    const { event, payload, setup, receivedAt } = c;
    const ws = setup.workspace;
    lead.touched = true;
    lead.lastActivityAt = receivedAt;
    lead.customFields = { ...customFields, ...lead.customFields };
    if (!lead.name) lead.name = payload.from.name ?? null;
    if (!lead.company) lead.company = payload.company ?? null;
    if (c.identities.length > 0) lead.needsContactInfo = false;
    if (named && !lead.productIds.includes(named.id)) {
      lead.productIds.push(named.id);
      lead.addedProductIds.push(named.id);
    }
    this.receiveMessage(c, lead, contact);
    const status = lead.conversationStatus;
    if (status === 'resolved') {
      const dueAt = addWorkingMinutes(receivedAt, ws.firstResponseSlaMinutes, ws.workingHours, ws.timeZone);
      this.openResponseWindow(c, lead, dueAt);
    }
    lead.lastInboundAt = receivedAt;
    if (status !== 'open') {
      lead.conversationStatus = 'open';
      lead.snoozedUntil = null;
      this.activity(setup, lead, 'conversation.reopened', { type: 'contact', id: contact.id }, receivedAt, { before: status, channel: payload.channel });
    }
    this.rescore(c, lead, this.identityKindsOf(lead, null, []));
    if (payload.optOut) this.optOut(c, lead, contact);
    this.writes.processed.push({ id: event.id, leadId: lead.id });
  }

  private assign(c: Candidate, lead: LeadState, productOwnerId: string | null): void {
    const { setup, source } = c;
    const turnAt = new Date(this.now.getTime() + this.turnsTaken);
    const { decision, turnTakenBy } = decideOwner(
      { rules: setup.assignmentRules, team: setup.team, openLeads: (userId) => this.openLeads.get(userId) ?? 0 },
      {
        sourceId: source?.id ?? null,
        sourceOwnerId: source?.ownerId ?? null,
        productIds: lead.productIds,
        productOwnerId,
        segmentId: null,
        channel: lead.channel,
        timeZone: setup.workspace.timeZone,
        now: turnAt,
      },
    );
    if (turnTakenBy) {
      // Each turn a moment after the one before, so the batch's leads go round in order.
      this.turnsTaken++;
      setup.team.find((user) => user.id === turnTakenBy)!.lastAssignedAt = turnAt;
      this.turns.set(turnTakenBy, { id: turnTakenBy, lastAssignedAt: turnAt });
    }
    if (decision.ownerId) this.openLeads.set(decision.ownerId, (this.openLeads.get(decision.ownerId) ?? 0) + 1);
    lead.ownerId = decision.ownerId;
    lead.assignmentRuleId = decision.ruleId;
    lead.assignmentReason = decision.reason;
  }

  private receiveMessage(c: Candidate, lead: LeadState, contact: ContactState): string {
    const { event, payload, receivedAt } = c;
    const id = newId('msg');
    this.writes.messages.push({
      id,
      workspaceId: event.workspaceId,
      leadId: lead.id,
      sourceId: c.source?.id ?? null,
      eventId: event.id,
      direction: 'in',
      channel: payload.channel,
      status: 'received',
      ...messageContent(payload),
      toAddress: null,
      fields: { ...payload.fields, ...payload.attribution },
      templateName: null,
      idempotencyKey: null,
      externalId: event.externalId,
      automatic: false,
      createdAt: receivedAt,
      updatedAt: this.now,
    });
    this.noteThread(event.workspaceId, event.externalId, lead.id, receivedAt);
    if ((payload.attachments?.length ?? 0) > 0) this.writes.attachmentLinks.push({ eventId: event.id, messageId: id });
    lead.messages.push(inboundMessage(receivedAt));
    this.activity(c.setup, lead, 'message.received', { type: 'contact', id: contact.id }, receivedAt, {
      messageId: id,
      channel: payload.channel,
      eventId: event.id,
      preview: payload.text?.slice(0, 140) ?? null,
    });
    return id;
  }

  private openResponseWindow(c: Candidate, lead: LeadState, dueAt: Date): void {
    this.writes.windows.push({ id: newId('rw'), workspaceId: lead.workspaceId, leadId: lead.id, channel: c.payload.channel, openedAt: c.receivedAt, dueAt, createdAt: this.now });
    lead.firstResponseDueAt ??= dueAt;
  }

  private scoreOf(c: Candidate, lead: LeadState, changes: Pick<ScoringFacts, 'customFields' | 'productIds' | 'identityKinds' | 'messages' | 'lastActivityAt'>) {
    const facts: ScoringFacts = {
      stage: lead.stage,
      segment: lead.segment,
      tags: lead.tags,
      dealValue: lead.dealValue,
      channel: lead.channel,
      stagesReached: lead.stagesReached,
      ...changes,
    };
    return computeScore(facts, c.setup.scoringRules, this.now);
  }

  private rescore(c: Candidate, lead: LeadState, identityKinds: string[]): void {
    const { score, reasons } = this.scoreOf(c, lead, {
      customFields: lead.customFields,
      productIds: lead.productIds,
      identityKinds,
      messages: lead.messages,
      lastActivityAt: lead.lastActivityAt,
    });
    const from = lead.score;
    lead.score = score;
    lead.scoreReasons = reasons;
    if (score !== from) this.activity(c.setup, lead, 'lead.scored', systemActor, this.now, { from, to: score });
  }

  private firstFiringRule(
    setup: WorkspaceSetup,
    state: { stage: string; score: number; channel: string; productIds: string[] },
    trigger: { created: boolean; scoreFrom: number | null; stageFrom: string | null },
  ): { id: string; name: string; to: string } | null {
    for (const rule of setup.routingRules) {
      const when = routingCondition.safeParse(rule.when);
      if (when.success && fires(when.data, state, trigger)) return rule;
    }
    return null;
  }

  /** A new lead's routing rule fired (see setRouting): its sequences, and an owner for a sales lead that has none. */
  private route(c: Candidate, lead: LeadState, rule: { id: string; name: string; to: string }): void {
    const to = rule.to as Routing;
    if (to === lead.routing) return;
    this.activity(c.setup, lead, 'lead.routed', systemActor, this.now, { from: lead.routing, to, ruleId: rule.id, rule: rule.name });
    lead.routing = to;
    this.enrolByRules(c.setup, lead, true);
    if (to === 'sales' && !lead.ownerId) {
      this.assign(c, lead, lead.productIds[0] ? (c.setup.products.find((product) => product.id === lead.productIds[0])?.ownerId ?? null) : null);
      this.activity(c.setup, lead, 'lead.assigned', systemActor, this.now, { before: null, after: lead.ownerId, ruleId: lead.assignmentRuleId, reason: lead.assignmentReason });
    }
  }

  private optOut(c: Candidate, lead: LeadState, contact: ContactState): void {
    const { payload } = c;
    if (!contact.optOuts.has(payload.channel)) {
      contact.optOuts.add(payload.channel);
      this.writes.optOuts.push({ workspaceId: c.event.workspaceId, contactId: contact.id, channel: payload.channel, reason: payload.text?.slice(0, 100) ?? null, createdAt: this.now });
    }
    this.activity(c.setup, lead, 'contact.opted_out', { type: 'contact', id: contact.id }, this.now, { channel: payload.channel, text: payload.text ?? null });
  }

  /** The source's acknowledgement, queued on the channel a reply would take (see Outbound.planReply). */
  private acknowledge(c: Candidate, lead: LeadState, contact: ContactState, templateName: string): void {
    const { event, payload, setup } = c;
    const idempotencyKey = `auto-reply:${event.id}`;
    if (this.existingKeys.has(idempotencyKey)) return;
    const skip = (reason: string) => this.activity(setup, lead, 'auto_reply.skipped', systemActor, this.now, { reason, template: templateName });
    let route;
    try {
      route = this.deps.outbound.replyRoute({
        lastInboundChannel: payload.channel,
        leadChannel: lead.channel as ChannelKind,
        source: c.source,
        identities: contact.identities,
        ...(payload.channel === 'email' ? { emailThread: emailThreadOf({ externalId: event.externalId, references: payload.threadRefs ?? [], subject: payload.subject ?? null }) } : {}),
      });
    } catch (error) {
      skip(errorMessage(error));
      return;
    }
    if (contact.optOuts.has(route.channel)) {
      skip(`the contact opted out of ${route.channel}`);
      return;
    }
    let rendered;
    try {
      const owner = setup.team.find((user) => user.id === lead.ownerId) ?? null;
      const productName = lead.productIds[0] ? (setup.products.find((product) => product.id === lead.productIds[0])?.name ?? null) : null;
      const variables = variablesOf({ name: lead.name ?? contact.name, identities: contact.identities, owner, workspaceName: setup.workspace.name, productName });
      const own = setup.templates.filter((template) => template.name === templateName && template.channel === route.channel);
      rendered = this.deps.templates.render(templateName, setup.workspace.locale, route.channel, variables, own);
    } catch (error) {
      skip(errorMessage(error));
      return;
    }
    const id = newId('msg');
    const subject = route.thread ? replySubject(route.thread.subject, rendered.subject ?? '') : rendered.subject;
    this.writes.messages.push({
      id,
      workspaceId: event.workspaceId,
      leadId: lead.id,
      sourceId: route.sourceId,
      eventId: null,
      direction: 'out',
      channel: route.channel,
      status: 'queued',
      text: rendered.text,
      fullText: rendered.text,
      html: rendered.html ?? null,
      subject: subject ?? null,
      toAddress: route.to,
      fields: null,
      templateName,
      idempotencyKey,
      externalId: null,
      inReplyTo: route.thread?.inReplyTo ?? null,
      references: route.thread?.references ?? [],
      automatic: true,
      createdAt: this.now,
      updatedAt: this.now,
    });
    lead.messages.push({ direction: 'out', status: 'queued', createdAt: this.now, sentAt: null });
    this.writes.queued.push(id);
    this.activity(setup, lead, 'message.queued', systemActor, this.now, { messageId: id, channel: route.channel, to: route.to, automatic: true, template: templateName });
  }

  /** The sequences whose enrolment rule the lead now meets (see enrolByRules). */
  private enrolByRules(setup: WorkspaceSetup, lead: LeadState, routingChanged: boolean): void {
    for (const sequence of setup.sequences) {
      const rule = sequence.enrol as EnrolRule | null;
      if (!rule || (routingChanged && !rule.routing)) continue;
      if (rule.stages?.length && !rule.stages.includes(lead.stage)) continue;
      if (rule.productIds?.length && !lead.productIds.some((id) => rule.productIds!.includes(id))) continue;
      if (rule.routing && rule.routing !== lead.routing) continue;
      if (sequence.exitStages.includes(lead.stage)) continue;
      const key = `${sequence.id}\u0000${lead.id}`;
      if (this.writes.enrolled.has(key)) continue;
      this.writes.enrolled.add(key);
      const steps = sequence.steps as unknown as SequenceStep[];
      this.writes.enrollments.push({
        id: newId('enr'),
        workspaceId: sequence.workspaceId,
        sequenceId: sequence.id,
        leadId: lead.id,
        nextStepAt: new Date(this.now.getTime() + (steps[0]?.waitMinutes ?? 0) * 60_000),
        enrolledAt: this.now,
        updatedAt: this.now,
      });
      this.activity(setup, lead, 'sequence.enrolled', systemActor, this.now, { sequenceId: sequence.id });
    }
  }

  /** An activity on the lead's timeline and the webhook deliveries it causes (see recordActivity). */
  private activity(setup: WorkspaceSetup, lead: LeadState, kind: ActivityKind, actor: Actor, at: Date, data: Record<string, unknown>): void {
    const id = newId('act');
    this.writes.activities.push({
      id,
      workspaceId: lead.workspaceId,
      leadId: lead.id,
      kind,
      actorType: actor.type,
      actorId: actor.type === 'user' ? actor.id : null,
      data,
      createdAt: at,
    });
    const event = webhookEventOfActivity(kind);
    if (event && setup.webhooks.length > 0) {
      this.writes.deliveries.push(...webhookDeliveryRows(setup.webhooks, { workspaceId: lead.workspaceId, event, at, data: { leadId: lead.id, activityId: id, kind, ...data } }));
    }
  }

  /** Every table the batch changed, one statement each, in the order their keys need. */
  private async write(): Promise<void> {
    const { sql, writes, now } = this;
    const contacts = [...this.contacts.values()];
    await insertRows(
      sql,
      'contacts',
      [['id', 'text'], ['workspaceId', 'text'], ['name', 'text'], ['company', 'text'], ['createdAt', 'timestamptz'], ['updatedAt', 'timestamptz']],
      contacts.filter((contact) => contact.isNew).map((contact) => ({ ...contact, createdAt: now, updatedAt: now })),
    );
    await updateRows(
      sql,
      'contacts',
      [['name', 'text'], ['company', 'text'], ['updatedAt', 'timestamptz']],
      contacts.filter((contact) => contact.filled).map((contact) => ({ id: contact.id, name: contact.name, company: contact.company, updatedAt: now })),
    );
    await insertRows(sql, 'contact_identities', [['id', 'text'], ['workspaceId', 'text'], ['contactId', 'text'], ['kind', 'text'], ['value', 'text'], ['createdAt', 'timestamptz']], writes.identities);
    const leads = [...this.leads.values()];
    await insertRows(sql, 'leads', leadInsertColumns, leads.filter((lead) => lead.isNew).map((lead) => leadRow(lead, now)));
    await updateRows(sql, 'leads', leadUpdateColumns, leads.filter((lead) => !lead.isNew && lead.touched).map((lead) => leadRow(lead, now)));
    await insertRows(
      sql,
      'lead_products',
      [['workspaceId', 'text'], ['leadId', 'text'], ['productId', 'text']],
      leads.flatMap((lead) => lead.addedProductIds.map((productId) => ({ workspaceId: lead.workspaceId, leadId: lead.id, productId }))),
      'ON CONFLICT DO NOTHING',
    );
    await insertRows(sql, 'messages', messageColumns, writes.messages);
    if (writes.attachmentLinks.length > 0) {
      await sql(`UPDATE attachments a SET "messageId" = l."messageId" FROM jsonb_to_recordset($1::jsonb) AS l("eventId" text, "messageId" text) WHERE a."eventId" = l."eventId"`, [
        JSON.stringify(writes.attachmentLinks),
      ]);
    }
    // After the leads: a window takes its lead's owner when it is written.
    await insertRows(
      sql,
      'response_windows',
      [['id', 'text'], ['workspaceId', 'text'], ['leadId', 'text'], ['channel', 'text'], ['openedAt', 'timestamptz'], ['dueAt', 'timestamptz'], ['createdAt', 'timestamptz']],
      writes.windows,
    );
    await insertRows(
      sql,
      'contact_opt_outs',
      [['workspaceId', 'text'], ['contactId', 'text'], ['channel', 'text'], ['reason', 'text'], ['createdAt', 'timestamptz']],
      writes.optOuts,
      'ON CONFLICT DO NOTHING',
    );
    await insertRows(
      sql,
      'sequence_enrollments',
      [['id', 'text'], ['workspaceId', 'text'], ['sequenceId', 'text'], ['leadId', 'text'], ['nextStepAt', 'timestamptz'], ['enrolledAt', 'timestamptz'], ['updatedAt', 'timestamptz']],
      writes.enrollments,
      'ON CONFLICT DO NOTHING',
    );
    await insertRows(
      sql,
      'activities',
      [['id', 'text'], ['workspaceId', 'text'], ['leadId', 'text'], ['kind', 'text'], ['actorType', 'text'], ['actorId', 'text'], ['data', 'jsonb'], ['createdAt', 'timestamptz']],
      writes.activities,
    );
    await insertRows(sql, 'webhook_deliveries', [['id', 'text'], ['workspaceId', 'text'], ['webhookId', 'text'], ['event', 'text'], ['payload', 'jsonb']], writes.deliveries);
    await updateRows(sql, 'inbound_events', [['leadId', 'text']], writes.processed, [`status = 'processed'`, `"processedAt" = now()`, `"lastError" = NULL`]);
    // Last: the reps' rows are held from here to the commit only.
    await takeTurns(sql, [...this.turns.values()]);
  }
}

function inboundMessage(at: Date): LeadHistory['messages'][number] {
  return { direction: 'in', status: 'received', createdAt: at, sentAt: null };
}

/** The product an event names (by name or keyword, ignoring case and accents), else the source's default. */
function findProduct(products: ProductRow[], named: string | undefined, fallbackId: string | null): ProductRow | null {
  if (named) {
    const wanted = fold(named);
    const match =
      products.find((product) => fold(product.name) === wanted) ??
      products.find((product) => product.keywords.some((keyword) => fold(keyword) === wanted));
    if (match) return match;
  }
  return fallbackId ? (products.find((product) => product.id === fallbackId) ?? null) : null;
}

function leadStateOf(history: LeadHistory): LeadState {
  const { lead } = history;
  return {
    ...lead,
    isNew: false,
    touched: false,
    dealValue: lead.dealValue === null ? null : Number(lead.dealValue),
    productIds: history.productIds,
    addedProductIds: [],
    messages: history.messages,
    stagesReached: history.stagesReached,
  };
}
