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

  const gateway = await Gateway.create(config, { role: role.api ? 'api' : 'worker' });
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

  if (config.metrics.port !== undefined) {
    const port = await gateway.listenMetrics();
    logger.info({ port, host: config.metrics.host, token: config.metrics.token !== undefined }, `metrics at http://${config.metrics.host}:${port}/metrics`);
  }

  // Stopping has a deadline: a part that cannot close (a connection retrying against a network
  // that is gone) must not keep the process alive until the orchestrator kills it without a
  // word. What was still open is logged, then the process exits; a second signal exits at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal, stillOpen: gateway.stillOpen() }, 'second signal while stopping: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'stopping');
    const deadline = setTimeout(() => {
      logger.error({ stillOpen: gateway.stillOpen(), timeoutMs: config.shutdownTimeoutMs }, 'stopping took too long: exiting with these still open');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    gateway.close().then(
      () => {
        clearTimeout(deadline);
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error, stillOpen: gateway.stillOpen() }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
