/**
 * The baseline for bench/capture.ts: the cheapest express 5 JSON endpoint with the same path and
 * status as the web-form webhook. It runs in its own process, as the gateway does, so the load
 * generator never shares an event loop with the server it measures.
 */
import express from 'express';

const port = Number(process.env.PORT ?? '0');
const host = process.env.HOST ?? '127.0.0.1';

const app = express();
app.use(express.json());
app.post('/hooks/forms/:id', (_req, res) => {
  res.status(202).json({ eventId: 'x' });
});
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});

const server = app.listen(port, host, (error?: Error) => {
  if (error) {
    console.error(error);
    process.exit(1);
  }
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
