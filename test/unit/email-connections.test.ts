import { describe, expect, it } from 'vitest';
import { classifyImapError } from '../../adapters/email/connections.js';

/** A failed LOGIN as imapflow rejects it (lib/commands/login.js): the server's response code and text on the error. */
function refusedLogin(serverResponseCode: string, response: string): Error {
  return Object.assign(new Error('Command failed'), { authenticationFailed: true, serverResponseCode, response, responseText: response.replace(/^NO \[[A-Z]+\] /, '') });
}

describe('classifyImapError', () => {
  it('takes a refused password as final: retrying it only gets the account locked', () => {
    const error = classifyImapError(refusedLogin('AUTHENTICATIONFAILED', 'NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)'));
    expect(error).toMatchObject({ code: 'imap_auth', retryable: false });
    expect(error.message).toBe('IMAP authentication failed: Invalid credentials (Failure)');
  });

  it('retries a login the server could not check just now ([UNAVAILABLE], RFC 5530)', () => {
    const error = classifyImapError(refusedLogin('UNAVAILABLE', 'NO [UNAVAILABLE] Temporary authentication failure.'));
    expect(error).toMatchObject({ code: 'imap_auth_unavailable', retryable: true });
    expect(error.message).toMatch(/unavailable for now: Temporary authentication failure/);
  });
});
