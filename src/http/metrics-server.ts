import http from 'node:http';
import type { Logger } from 'pino';
import { type ProblemCode, problemCatalog, problemType } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { safeEqual } from '../security/tokens.js';

/**
 * The metrics listener: its own port, apart from the public one, so that a reverse proxy that
 * publishes the API never publishes the metrics by accident. It answers `GET /metrics` and
 * nothing else; with a token configured, only to `Authorization: Bearer <token>`.
 */
export function metricsServer(metrics: Metrics, options: { token: string | undefined }, logger: Logger): http.Server {
  return http.createServer((req, res) => {
    const problem = (code: ProblemCode, detail: string, headers: Record<string, string> = {}) => {
      const { status, title } = problemCatalog[code];
      res.writeHead(status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify({ type: problemType(code), title, status, detail }));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      problem('not_found', 'this listener serves GET /metrics only');
      return;
    }
    if (options.token !== undefined) {
      const presented = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
      if (!presented || !safeEqual(presented, options.token)) {
        problem('unauthorized', 'the metrics need Authorization: Bearer <LEADGATE_METRICS_TOKEN>', { 'www-authenticate': 'Bearer realm="leadgate metrics"' });
        return;
      }
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.warn({ err: error }, 'could not collect metrics');
        problem('internal', 'the metrics could not be collected');
      },
    );
  });
}
