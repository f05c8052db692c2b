import express, { type Express } from 'express';
import { adapterState, announceSourceEvent, findSourceMessage, laterAttachments, leases, noteTyping, ownerFor, setSourceStatus, sourceVault } from '../channels/adapter-support.js';
import { normalizePhone } from '../contacts/identities.js';
import type { AdapterContext } from '../channels/contract.js';
import { oauthCallbackPath } from '../channels/oauth.js';
import { ProblemError } from '../errors.js';
import { newId } from '../ids.js';
import { LiveFeed } from '../inbox/live.js';
import { requestContext } from '../logger.js';
import { optOut, readUnsubscribeToken } from '../messaging/unsubscribe.js';
import { readMediaToken } from '../messaging/uploads.js';
import type { AppDeps } from './deps.js';
import { openApiDocument } from './openapi.js';
import { guardParsedBody, guardPathAndQuery } from './input-guard.js';
import { problemHandler } from './problem.js';
import { jsonBody, mountRoutes, type RouteDef } from './route.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { assignmentRuleRoutes } from './routes/assignment-rules.js';
import { conversationRoutes } from './routes/conversations.js';
import { eventRoutes } from './routes/events.js';
import { followUpRoutes } from './routes/follow-ups.js';
import { insightRoutes } from './routes/insights.js';
import { leadActionRoutes } from './routes/lead-actions.js';
import { contactRoutes } from './routes/contacts.js';
import { inviteRoutes, publicInviteRoutes } from './routes/invites.js';
import { leadRoutes } from './routes/leads.js';
import { messageRoutes } from './routes/messages.js';
import { oauthCallback, oauthCallbackOpenApi, oauthRoutes } from './routes/oauth.js';
import { qualifierRoutes } from './routes/qualifiers.js';
import { quotaRoutes } from './routes/quotas.js';
import { routingRuleRoutes } from './routes/routing-rules.js';
import { scoringRuleRoutes } from './routes/scoring-rules.js';
import { sequenceRoutes } from './routes/sequences.js';
import { sessionRoutes, signInRoutes } from './routes/session.js';
import { sourceRoutes } from './routes/sources.js';
import { templateRoutes } from './routes/templates.js';
import { webhookRoutes } from './routes/webhooks.js';
import { workspaceRoutes } from './routes/workspace.js';
import { defaultThrottle, Sessions } from './session.js';
import { serveWebApp } from './web-app.js';

/** The adapters' view of the core. */
export function adapterContext(deps: AppDeps): AdapterContext {
  return {
    publicUrl: deps.config.publicUrl,
    logger: deps.logger,
    maxUploadBytes: deps.config.maxUploadBytes,
    findSource: (sourceId) => deps.sources.find(sourceId),
    listSources: async (kind) => {
      const rows = await deps.db.prisma.source.findMany({ where: { kind, deletedAt: null }, orderBy: { createdAt: 'asc' } });
      return rows.map((row) => deps.sources.toRecord(row));
    },
    setStatus: (sourceId, status) => setSourceStatus(deps.db.prisma, sourceId, status),
    announce: (sourceId, event, status) => announceSourceEvent(deps.db.prisma, sourceId, event, status),
    typing: (sourceId, from, typing) => noteTyping(deps.db.prisma, sourceId, from, typing, normalizePhone),
    state: adapterState(deps.db.prisma),
    vault: sourceVault(deps.db.prisma, deps.box, deps.holderId),
    findMessage: (sourceId, externalId) => findSourceMessage(deps.db.prisma, sourceId, externalId),
    attachments: laterAttachments(deps.db.prisma),
    leases: leases(deps.db.prisma, deps.holderId),
    oauth: { accessToken: (sourceId, options) => deps.oauth.accessToken(sourceId, options) },
    ownerFor: (sourceId, from) => ownerFor(deps.db.prisma, sourceId, from, normalizePhone),
    capture: async (event, options) => {
      const source = await deps.sources.find(event.sourceId);
      if (!source) throw new ProblemError('not_found', 'the source of this event does not exist');
      return deps.capture.capture(source.workspaceId, event, options);
    },
  };
}

/** Builds the HTTP app from its dependencies; it never listens by itself. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);

  // A request id on every response and on every log line written while serving it (the logger's
  // mixin reads it back). One line per request at debug, or at info/error for failures: a child
  // logger per request would cost more than the rest of a form capture.
  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && /^[\w.:-]{1,100}$/.test(incoming) ? incoming : newId('req');
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    const started = performance.now();
    res.on('finish', () => {
      deps.metrics.httpRequests.observe({ method: req.method, status: `${Math.floor(res.statusCode / 100)}xx` }, (performance.now() - started) / 1_000);
      // A 503 is an outage (logged once by itself) or a readiness probe: not an error per request.
      const level = res.statusCode === 503 ? 'debug' : res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug';
      if (!deps.logger.isLevelEnabled(level)) return;
      deps.logger[level](
        { reqId: requestId, method: req.method, url: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(performance.now() - started) },
        'request completed',
      );
    });
    requestContext.run({ requestId }, next);
  });
  app.use(guardPathAndQuery);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready means able to store what it acknowledges: that takes the database. The queue only
  // wakes workers (the sweeper finds what was stored while it was away), so Redis down is
  // "degraded", still 200: a load balancer that pulled every API process for it would stop
  // capture altogether.
  app.get('/readyz', async (_req, res) => {
    const [database, queue] = await Promise.all([
      deps.db.runner.query('SELECT 1').then(
        () => {
          deps.db.availability.noteSuccess();
          return true;
        },
        (error: unknown) => {
          if (!deps.db.availability.noteError(error)) deps.logger.warn({ err: error }, 'readiness: database does not answer');
          return false;
        },
      ),
      deps.queue.ping(),
    ]);
    const checks = { database: database ? 'ok' : 'down', queue: `${deps.queue.kind}: ${queue ? 'ok' : 'down'}` };
    if (database) {
      res.json({ status: queue ? 'ready' : 'degraded', checks });
      return;
    }
    res.status(503).setHeader('Retry-After', '5');
    res.type('application/problem+json').send(
      JSON.stringify({ type: 'https://leadgate.dev/problems/not-ready', title: 'Not ready', status: 503, detail: 'the database does not answer', checks }),
    );
  });

  // Unsubscribe links from nurture email: a page with a button (mail scanners follow GET links),
  // and the one-click POST that mail clients send for List-Unsubscribe-Post.
  const page = (title: string, body: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">${body}</body></html>`;
  const unsubscribeTarget = (token: string) => {
    const target = readUnsubscribeToken(deps.box, token);
    if (!target) throw new ProblemError('not_found', 'this unsubscribe link is not valid');
    return target;
  };
  app.get('/unsubscribe/:token', (req, res) => {
    unsubscribeTarget(req.params.token);
    res
      .type('html')
      .send(page('Unsubscribe', `<p>Stop receiving these emails? / Deixar de receber estes e-mails?</p><form method="post"><button type="submit">Unsubscribe / Descadastrar</button></form>`));
  });
  app.post('/unsubscribe/:token', express.urlencoded({ extended: false, limit: '1kb' }), async (req, res) => {
    const target = unsubscribeTarget(req.params.token);
    await optOut(deps.db.prisma, target.contactId, target.channel, 'unsubscribe link');
    res.type('html').send(page('Unsubscribed', '<p>You will not receive these emails any more. / Você não receberá mais estes e-mails.</p>'));
  });

  // Files of outbound messages for providers that fetch them by URL (Twilio MMS); the signed
  // link is the credential, and only a file already sent with a message can be reached.
  app.get('/media/:token', async (req, res) => {
    const id = readMediaToken(deps.box, req.params.token);
    const file = id ? await deps.db.prisma.attachment.findFirst({ where: { id, messageId: { not: null }, message: { direction: 'out' } } }) : null;
    if (!file) throw new ProblemError('not_found', 'this media link is not valid');
    res.setHeader('Content-Disposition', `inline; filename*=UTF-8''${encodeURIComponent(file.filename)}`);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.status(200).type(file.contentType).send(Buffer.from(file.data));
  });

  const ctx = adapterContext(deps);
  const hooks = express.Router();
  for (const adapter of deps.registry.all()) {
    if (adapter.routes) hooks.use(adapter.routes(ctx));
  }
  app.use('/hooks', hooks);

  const sessions = new Sessions(deps.db.prisma, { secureCookie: deps.config.publicUrl.startsWith('https:'), throttle: defaultThrottle });
  const live = new LiveFeed(deps.db.prisma, deps.logger);
  app.locals.live = live;
  const { publicRoutes, userRoutes } = apiRoutes(deps, ctx, sessions, live);
  // Written at the first request, not at start: turning every schema into JSON Schema costs a
  // few hundred milliseconds that most starts never need.
  let document: Record<string, unknown> | undefined;
  app.get(oauthCallbackPath, oauthCallback(deps, sessions));
  app.get('/openapi.json', (_req, res) => {
    document ??= apiDocument(publicRoutes, userRoutes, deps.version);
    res.json(document);
  });

  const api = express.Router();
  // Answers of the API are one caller's data: no shared cache keeps them, and no browser reads
  // them as anything but the type they are sent as.
  api.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  api.use(deps.apiThrottle.perAddress());
  const parseBody = [jsonBody('1mb'), guardParsedBody];
  mountRoutes(api, [...publicRoutes, ...userRoutes], { authenticate: sessions.authenticate(), throttle: deps.apiThrottle.perCredential(), parseBody });
  app.use('/api/v1', api);
  serveWebApp(app);

  app.use((req, _res, next) => next(new ProblemError('not_found', `no route for ${req.method} ${req.path}`)));
  app.use(problemHandler(deps.logger, deps.db.availability));
  return app;
}

/** The routes under /api/v1: those that need no credential, and those of a signed-in user or API key. */
export function apiRoutes(deps: AppDeps, ctx: AdapterContext, sessions: Sessions, live: LiveFeed): { publicRoutes: RouteDef[]; userRoutes: RouteDef[] } {
  const routes = [
    ...sourceRoutes(deps, ctx),
    ...oauthRoutes(deps),
    ...leadRoutes(deps),
    ...contactRoutes(deps),
    ...messageRoutes(deps),
    ...followUpRoutes(deps),
    ...assignmentRuleRoutes(deps),
    ...scoringRuleRoutes(deps),
    ...routingRuleRoutes(deps),
    ...templateRoutes(deps),
    ...webhookRoutes(deps),
    ...sequenceRoutes(deps),
    ...workspaceRoutes(deps),
    ...inviteRoutes(deps),
    ...qualifierRoutes(deps),
    ...leadActionRoutes(deps),
    ...quotaRoutes(deps),
    ...apiKeyRoutes(deps),
    ...insightRoutes(deps),
  ];
  return {
    publicRoutes: [...signInRoutes(deps, sessions), ...publicInviteRoutes(deps, sessions)],
    userRoutes: [...sessionRoutes(deps, sessions), ...conversationRoutes(deps), ...eventRoutes(live), ...routes],
  };
}

/** GET /openapi.json: the API's routes, and the hooks and links that are not under /api/v1. */
export function apiDocument(publicRoutes: RouteDef[], userRoutes: RouteDef[], version: string): Record<string, unknown> {
  return openApiDocument([...publicRoutes, ...userRoutes], { ...hookPaths(), ...oauthCallbackOpenApi }, { version });
}

function twilioHook(summary: string, answer: string): Record<string, unknown> {
  return {
    post: {
      summary,
      tags: ['capture'],
      description: 'Validated with X-Twilio-Signature against PUBLIC_URL and the source\'s auth token; a replay (same SID) captures nothing new.',
      parameters: [
        { name: 'sourceId', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'X-Twilio-Signature', in: 'header', required: true, schema: { type: 'string' } },
      ],
      requestBody: { content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', additionalProperties: { type: 'string' } } } } },
      responses: {
        '200': { description: answer },
        '403': { description: 'Missing or wrong signature', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    },
  };
}

function hookPaths(): Record<string, Record<string, unknown>> {
  return {
    '/media/{token}': {
      get: {
        summary: 'A file of an outbound message, for a provider that fetches media by URL (Twilio MMS)',
        tags: ['messages'],
        description: 'The signed link in the MediaUrl the gateway gives Twilio (only with PUBLIC_URL set); no other credential. 404 for a link that is not valid.',
        parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The file, with its own content type' },
          '404': { description: 'Not a valid link', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
        },
      },
    },
    '/hooks/twilio/{sourceId}/voice': twilioHook('An incoming call', 'TwiML: greeting, then <Dial> to the owner or ring group, or voicemail'),
    '/hooks/twilio/{sourceId}/voice/status': twilioHook('How the <Dial> ended (its action)', 'TwiML: hang up, or voicemail when nobody answered'),
    '/hooks/twilio/{sourceId}/voice/recording': twilioHook('A voicemail recording or its transcript', 'TwiML: hang up'),
    '/hooks/twilio/{sourceId}/sms': twilioHook('An incoming SMS', 'Empty TwiML'),
    '/hooks/twilio/{sourceId}/sms/status': twilioHook('A delivery report of an SMS we sent', 'Nothing (204)'),
    '/hooks/forms/{sourceId}': {
      post: {
        summary: 'Capture a web form submission (JSON, urlencoded or multipart)',
        tags: ['capture'],
        description:
          'Authenticated by ?token=<secret>, X-Leadgate-Token: <secret>, or X-Leadgate-Signature: sha256=<hex HMAC-SHA256 of the raw body keyed by the secret>. ' +
          'A replay (same provider id, or the same body within 10 minutes) answers 200 with the same ids and creates nothing.',
        parameters: [
          { name: 'sourceId', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'token', in: 'query', required: false, schema: { type: 'string' } },
        ],
        requestBody: {
          content: {
            'application/json': { schema: { type: 'object' } },
            'application/x-www-form-urlencoded': { schema: { type: 'object' } },
            'multipart/form-data': { schema: { type: 'object' } },
          },
        },
        responses: {
          '202': { description: 'Stored', content: { 'application/json': { schema: { type: 'object', properties: { eventId: { type: 'string' }, leadId: { type: 'string' } } } } } },
          '200': { description: 'A replay of an earlier submission' },
          '303': { description: 'A plain HTML form post, sent on to the thank-you page' },
          default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
        },
      },
    },
  };
}
