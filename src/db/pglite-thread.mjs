/**
 * The embedded database's own thread. PGlite runs PostgreSQL on the thread that calls it; here
 * that is this worker thread, so the gateway's event loop keeps answering HTTP while a query
 * runs. The gateway reaches it as it reaches a PostgreSQL server: over the PostgreSQL protocol,
 * on a Unix socket in a directory only this user can open.
 *
 * Plain JavaScript, so the thread starts the same from source and from the build: a worker thread
 * does not inherit the process's TypeScript loader, and loading one again costs each start about a
 * second of CPU. The messages it exchanges are typed in pglite-thread-protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** @type {import('./pglite-thread-protocol.js').PgliteThreadData} */
const { dataDir, socketPath, maxConnections } = workerData;
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
/** @param {import('./pglite-thread-protocol.js').PgliteThreadMessage} message */
const post = (message) => port.postMessage(message);

try {
  // pg_trgm backs the inbox's substring search over message text (see the migration).
  const db = new PGlite(dataDir, { extensions: { pg_trgm } });
  await db.waitReady;
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections });
  await server.start();
  port.on('message', (message) => {
    if (message !== 'close') return;
    void (async () => {
      await server.stop();
      // Closing checkpoints the data directory, so the next start needs no recovery.
      await db.close();
      post({ type: 'closed' });
    })();
  });
  post({ type: 'ready' });
} catch (error) {
  post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
}
