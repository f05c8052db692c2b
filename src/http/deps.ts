import type { Logger } from 'pino';
import type { CaptureService } from '../capture/capture.js';
import type { ChannelRegistry } from '../channels/registry.js';
import type { OAuthGrants } from '../channels/oauth.js';
import type { SourceDirectory } from '../channels/sources.js';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import type { Metrics } from '../metrics.js';
import type { Outbound } from '../messaging/outbound.js';
import type { TemplateStore } from '../messaging/templates.js';
import type { JobQueue } from '../queue/contract.js';
import type { SecretBox } from '../security/secrets.js';
import type { ApiThrottle } from './api-throttle.js';

/** Everything the HTTP side needs; the app never listens by itself (see createApp). */
export interface AppDeps {
  config: Config;
  db: Database;
  queue: JobQueue;
  registry: ChannelRegistry;
  sources: SourceDirectory;
  /** OAuth grants of sources that sign in with a provider (Gmail, Microsoft 365), and their access tokens. */
  oauth: OAuthGrants;
  capture: CaptureService;
  outbound: Outbound;
  templates: TemplateStore;
  box: SecretBox;
  logger: Logger;
  metrics: Metrics;
  version: string;
  /** Requests a minute to /api/v1 per credential and per address. */
  apiThrottle: ApiThrottle;
  /** Names this gateway as the holder of connection leases. */
  holderId: string;
}
