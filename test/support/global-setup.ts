import net from 'node:net';
import pg from 'pg';
import { postgresAdminUrl, redisUrl } from './services.js';

/**
 * The suite runs against a real PostgreSQL and a real Redis. When either is missing the run
 * fails here, at once and by name, instead of skipping what needs it.
 */
export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(`PostgreSQL is required for the tests and does not answer at ${postgresAdminUrl} (set TEST_DATABASE_URL): ${String(error)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const { hostname, port } = new URL(redisUrl);
  const pong = await new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) }, () => socket.write('PING\r\n'));
    socket.setTimeout(5_000, () => socket.destroy(new Error('timed out')));
    socket.once('data', (data) => {
      socket.end();
      resolve(data.toString());
    });
    socket.once('error', reject);
  }).catch((error: unknown) => {
    throw new Error(`Redis is required for the tests and does not answer at ${redisUrl} (set TEST_REDIS_URL): ${String(error)}`);
  });
  if (!pong.startsWith('+PONG')) throw new Error(`Redis at ${redisUrl} answered PING with ${pong.trim()}`);
}
