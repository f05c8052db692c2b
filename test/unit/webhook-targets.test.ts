import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../src/errors.js';
import { assertDeliverable } from '../../src/messaging/webhooks.js';

describe('webhook targets', () => {
  it.each(['http://127.0.0.1:8080/hook', 'http://10.1.2.3/hook', 'http://192.168.0.10/', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/hook', 'http://[::ffff:127.0.0.1]/x', 'http://localhost/hook'])(
    'refuses %s unless private targets are allowed',
    async (url) => {
      await expect(assertDeliverable(url, false)).rejects.toThrow(ProblemError);
      await expect(assertDeliverable(url, true)).resolves.toBeUndefined();
    },
  );

  it('accepts a public address and refuses other schemes', async () => {
    await expect(assertDeliverable('https://93.184.216.34/hook', false)).resolves.toBeUndefined();
    await expect(assertDeliverable('ftp://93.184.216.34/hook', true)).rejects.toThrow(/http or https/);
  });
});
