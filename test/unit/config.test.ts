import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('defaults to the embedded database and queue on port 3000', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.database.kind).toBe('pglite');
    expect(config.redisUrl).toBeUndefined();
    expect(config.bootstrap.defaultCountry).toBe('BR');
  });

  it('names every bad variable at once', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LEADGATE_DEFAULT_COUNTRY: 'Brazil' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const issues = (error as ConfigError).issues.join('\n');
      expect(issues).toMatch(/PORT/);
      expect(issues).toMatch(/DATABASE_URL/);
      expect(issues).toMatch(/LEADGATE_DEFAULT_COUNTRY/);
    }
  });

  it('needs SMTP_FROM with SMTP_URL', () => {
    expect(() => loadConfig({ SMTP_URL: 'smtp://localhost:25' })).toThrow(/SMTP_FROM/);
  });

  it('takes PUBLIC_URL without a trailing slash', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://leads.example.com/' }).publicUrl).toBe('https://leads.example.com');
  });
});
