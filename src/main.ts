import { ConfigError, type Config, loadConfig } from './config.js';
import { Gateway } from './gateway.js';

/** Shared by `npm start` and `npm run worker`: config, start, print once, stop on a signal. */
export async function main(role: { api: boolean }): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }

  const gateway = await Gateway.create(config);
  const { logger } = gateway.deps;
  const { generated } = gateway.bootstrapResult;
  if (Object.keys(generated).length > 0) {
    // Printed once, on the first start: these values are not stored in clear anywhere.
    console.log(
      [
        '',
        'leadgate created your workspace. Keep these; they will not be shown again:',
        ...(generated.adminEmail ? [`  owner email:    ${generated.adminEmail}`] : []),
        ...(generated.adminPassword ? [`  owner password: ${generated.adminPassword}`] : []),
        ...(generated.apiKey ? [`  API key:        ${generated.apiKey}`] : []),
        '',
      ].join('\n'),
    );
  }
  if (config.workers.enabled || !role.api) await gateway.startWorkers();
  if (role.api) {
    const port = await gateway.listen();
    logger.info(
      { port, database: gateway.deps.db.kind, queue: gateway.deps.queue.kind, workers: config.workers.enabled },
      `leadgate listening on ${config.publicUrl} (port ${port})`,
    );
  } else {
    logger.info({ database: gateway.deps.db.kind, queue: gateway.deps.queue.kind }, 'leadgate worker running');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
