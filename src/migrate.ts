import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/client.js';
import { createLogger } from './logger.js';

/**
 * `npm run migrate`: brings the database's schema up to date and exits. Every process does the
 * same at start under an advisory lock; this runs it once, before them (compose's `migrate`).
 */
try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config.database, logger);
  await db.close();
  logger.info({ database: db.kind }, 'migrations applied');
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exitCode = 1;
}
