import type { Logger } from 'pino';
import type { CaptureService } from '../capture/capture.js';
import type { ChannelRegistry } from '../channels/registry.js';
import type { SourceDirectory } from '../channels/sources.js';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import type { Metrics } from '../metrics.js';
import type { Outbound } from '../messaging/outbound.js';
import type { TemplateStore } from '../messaging/templates.js';
import type { JobQueue } from '../queue/contract.js';
import type { SecretBox } from '../security/secrets.js';

/** Everything the HTTP side needs; the app never listens by itself (see createApp). */
export interface AppDeps {
  config: Config;
  db: Database;
  queue: JobQueue;
  registry: ChannelRegistry;
  sources: SourceDirectory;
  capture: CaptureService;
  outbound: Outbound;
  templates: TemplateStore;
  box: SecretBox;
  logger: Logger;
  metrics: Metrics;
  version: string;
  /** Names this gateway as the holder of connection leases. */
  holderId: string;
}
