import { createHmac, randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { AdapterContext, SourceRecord } from '../../src/channels/contract.js';
import { ProblemError } from '../../src/errors.js';
import { safeEqual } from '../../src/security/tokens.js';

/**
 * One webhook address per source for every Meta product (`/hooks/meta/:sourceId`): the adapters
 * of WhatsApp Cloud API, Instagram and Lead Ads each mount it, and each answers only for sources of
 * its own kind, passing the others on.
 */
export function metaWebhookPath(publicUrl: string, sourceId: string): string {
  return `${publicUrl}/hooks/meta/${sourceId}`;
}

/** The token Meta's dashboard asks for when the callback URL is set; shown to the owner to paste. */
export function newVerifyToken(): string {
  return `lgv_${randomBytes(18).toString('base64url')}`;
}

/** What every Meta source keeps secret: the app secret signs webhooks; the verify token answers the handshake. */
export const metaSecretsShape = {
  appSecret: z.string(),
  verifyToken: z.string(),
};

/**
 * The envelope every Meta webhook shares: an object type and a batch of entries, each with
 * `changes` (WhatsApp, Lead Ads) or `messaging` (Messenger platform: Instagram).
 * @see https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications
 */
export const metaEnvelope = z.object({
  object: z.string(),
  entry: z.array(z.object({ id: z.string().optional(), time: z.number().optional() }).loose()).max(1000),
});
export type MetaEnvelope = z.infer<typeof metaEnvelope>;

export interface MetaWebhookHandler {
  kind: string;
  /** Stores everything the body holds; resolves once stored (the 200 follows). */
  receive(source: SourceRecord, body: MetaEnvelope): Promise<void>;
}

/**
 * The verification handshake and signed event posts.
 * @see https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
 * @see https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
 */
export function metaWebhookRoutes(ctx: AdapterContext, handler: MetaWebhookHandler): Router {
  const router = express.Router();
  const own = async (req: Request, next: NextFunction): Promise<SourceRecord | null> => {
    const source = await ctx.findSource(String(req.params.sourceId));
    if (source?.kind === handler.kind) return source;
    next();
    return null;
  };

  router.get('/meta/:sourceId', async (req: Request, res: Response, next: NextFunction) => {
    const source = await own(req, next);
    if (!source) return;
    const { verifyToken } = z.object(metaSecretsShape).parse(source.secrets);
    const mode = req.query['hub.mode'];
    const token = req.query['hub.verify_token'];
    const challenge = req.query['hub.challenge'];
    if (mode !== 'subscribe' || typeof token !== 'string' || !safeEqual(token, verifyToken) || typeof challenge !== 'string') {
      throw new ProblemError('forbidden', 'hub.mode must be "subscribe" and hub.verify_token this source\'s verify token');
    }
    res.status(200).type('text/plain').send(challenge);
  });

  const rawBody = express.raw({ type: () => true, limit: ctx.maxUploadBytes });
  router.post(
    '/meta/:sourceId',
    (req: Request, res: Response, next: NextFunction) => {
      // A post without a signature costs nothing but its headers: the body is not even read.
      own(req, next).then((source) => {
        if (!source) return;
        if (!req.get('x-hub-signature-256')) {
          next(new ProblemError('unauthorized', 'X-Hub-Signature-256 is missing: Meta signs every webhook with the app secret'));
          return;
        }
        res.locals.metaSource = source;
        next();
      }, next);
    },
    rawBody,
    async (req: Request, res: Response, next: NextFunction) => {
      const source = res.locals.metaSource as SourceRecord | undefined;
      if (!source) {
        next();
        return;
      }
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { appSecret } = z.object(metaSecretsShape).parse(source.secrets);
      // Over the bytes as they came: Meta escapes non-ASCII characters (\u00e7) and "/" in the
      // JSON it signs, and a body parsed and serialized again would no longer match.
      const expected = `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
      if (!safeEqual(String(req.get('x-hub-signature-256')).trim().toLowerCase(), expected)) {
        throw new ProblemError('forbidden', 'X-Hub-Signature-256 does not match the body signed with this source\'s app secret');
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        throw new ProblemError('malformed_body', 'the webhook body is not JSON', undefined, { cause: error });
      }
      const body = metaEnvelope.safeParse(json);
      if (!body.success) {
        throw new ProblemError(
          'validation_failed',
          'the webhook body is not a Meta event notification',
          body.error.issues.map((issue) => ({ path: issue.path.join('.') || 'body', message: issue.message })),
        );
      }
      await handler.receive(source, body.data);
      res.status(200).json({ received: true });
    },
  );
  return router;
}
