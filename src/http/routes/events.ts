import { z } from 'zod';
import type { LiveFeed } from '../../inbox/live.js';
import { credentialOf } from '../auth.js';
import { route, type RouteDef } from '../route.js';

const heartbeatMs = 20_000;

/** Server-Sent Events: what happens on the leads the caller may see, as it happens. */
export function eventRoutes(live: LiveFeed): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/events',
      summary: 'A text/event-stream of activities on the leads the caller may see (lead, kind, owner)',
      description: 'The session or key is checked again every second while the stream runs: it ends within about a second of a sign-out everywhere, a revoked key or a deactivated user.',
      tag: 'inbox',
      response: {
        status: 200,
        description: 'Events named "activity" (something happened on a lead) and "changed" (`{list}`: the workspace\'s users, products, segments or sources changed); fetch details through the API. Reconnect with EventSource; a comment line every 20 s keeps proxies open.',
        schema: z.string(),
      },
      handler: async ({ auth, req, res }) => {
        res.status(200);
        res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
        res.setHeader('Cache-Control', 'no-cache, no-transform');
        res.setHeader('X-Accel-Buffering', 'no');
        await new Promise<void>((resolve) => {
          let unsubscribe: (() => void) | undefined;
          const finish = () => {
            clearInterval(heartbeat);
            unsubscribe?.();
            resolve();
          };
          const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
          req.on('close', finish);
          void live
            .subscribe(
              auth,
              credentialOf(res),
              (event) => res.write(`id: ${event.id}\nevent: activity\ndata: ${JSON.stringify(event)}\n\n`),
              () => res.end(),
              (event) => res.write(`event: changed\ndata: ${JSON.stringify(event)}\n\n`),
            )
            .then((stop) => {
              if (req.destroyed) return stop();
              unsubscribe = stop;
              // Open only once subscribed: whatever the browser fetches on "open" is older than the first event it hears.
              res.flushHeaders();
              res.write('retry: 2000\n: connected\n\n');
            }, finish);
        });
      },
    }),
  ];
}
