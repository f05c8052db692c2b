import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../src/errors.js';
import { assertDeliverable, postOnce } from '../../src/messaging/webhooks.js';
import { OutboundAddressError, type Resolver } from '../../src/security/outbound-address.js';

describe('webhook targets', () => {
  it.each([
    'http://127.0.0.1:8080/hook',
    'http://10.1.2.3/hook',
    'http://192.168.0.10/',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/x',
    'http://localhost/hook',
    // Ranges a short list of private networks misses.
    'http://[64:ff9b::7f00:1]/nat64',
    'http://[::127.0.0.1]/compatible',
    'http://[2002:7f00:1::]/6to4',
    'http://[ff02::1]/multicast',
    'http://224.0.0.1/multicast',
    'http://255.255.255.255/broadcast',
    'http://240.0.0.1/reserved',
    'http://[fec0::1]/site-local',
    'http://192.0.0.8/ietf',
    'http://[100::1]/discard',
    'http://0.0.0.0/',
    'http://100.64.0.1/cgnat',
  ])('refuses %s unless private targets are allowed', async (url) => {
    await expect(assertDeliverable(url, false)).rejects.toThrow(ProblemError);
    await expect(assertDeliverable(url, true)).resolves.toBeUndefined();
  });

  it('accepts a public address and refuses other schemes', async () => {
    await expect(assertDeliverable('https://93.184.216.34/hook', false)).resolves.toBeUndefined();
    await expect(assertDeliverable('https://[2606:4700::1111]/hook', false)).resolves.toBeUndefined();
    await expect(assertDeliverable('ftp://93.184.216.34/hook', true)).rejects.toThrow(/http or https/);
  });

  it('delivers only to the address its own lookup checked, so a name that rebinds to loopback is refused', async () => {
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      received.push(req.headers.host ?? '');
      req.resume();
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as AddressInfo;
    try {
      // The name answered a public address when the target was checked; now it answers loopback.
      let asked = 0;
      const rebinding: Resolver = async () => (asked++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
      const url = `http://hooks.rebind.example:${port}/hook`;
      await expect(assertDeliverable(url, false, rebinding)).resolves.toBeUndefined();
      const post = postOnce(url, { headers: {}, body: '{}', timeoutMs: 2_000, allowPrivate: false, resolver: rebinding });
      await expect(post).rejects.toBeInstanceOf(OutboundAddressError);
      expect(received).toEqual([]);
      // Allowed private targets: the same lookup hands the socket the address it resolved.
      const status = await postOnce(url, { headers: {}, body: '{}', timeoutMs: 2_000, allowPrivate: true, resolver: rebinding });
      expect(status).toBe(200);
      expect(received).toEqual([`hooks.rebind.example:${port}`]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
