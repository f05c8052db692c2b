import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import { newId } from './ids.js';
import { defaultRoutingRules } from './leads/routing.js';
import { defaultScoringRules } from './leads/scoring.js';
import { hashApiKey, hashPassword, randomToken } from './security/tokens.js';

export interface BootstrapResult {
  workspaceId: string;
  /** Values that were generated and must be shown to the operator once; empty when none. */
  generated: { adminEmail?: string; adminPassword?: string; apiKey?: string };
  created: boolean;
}

const regionalDefaults: Record<string, { locale: string; timeZone: string }> = {
  BR: { locale: 'pt-BR', timeZone: 'America/Sao_Paulo' },
  PT: { locale: 'pt-PT', timeZone: 'Europe/Lisbon' },
  US: { locale: 'en', timeZone: 'America/New_York' },
  GB: { locale: 'en', timeZone: 'Europe/London' },
};

export const defaultWorkingHours = {
  mon: [['09:00', '18:00']],
  tue: [['09:00', '18:00']],
  wed: [['09:00', '18:00']],
  thu: [['09:00', '18:00']],
  fri: [['09:00', '18:00']],
  sat: [],
  sun: [],
};

/**
 * On first start with an empty database: one workspace, its owner and an API key. Later starts
 * only make sure a configured LEADGATE_API_KEY still opens the first workspace.
 */
export async function bootstrap(db: Database, config: Pick<Config, 'bootstrap'>): Promise<BootstrapResult> {
  return db.runner.withLock(async () => {
    const { prisma } = db;
    const settings = config.bootstrap;
    const existing = await prisma.workspace.findFirst({ orderBy: { createdAt: 'asc' } });
    if (existing) {
      if (settings.apiKey) await ensureApiKey(db, existing.id, settings.apiKey);
      return { workspaceId: existing.id, generated: {}, created: false };
    }
    const generated: BootstrapResult['generated'] = {};
    const adminEmail = settings.adminEmail ?? (generated.adminEmail = `owner-${randomBytes(3).toString('hex')}@leadgate.local`);
    const adminPassword = settings.adminPassword ?? (generated.adminPassword = randomBytes(12).toString('base64url'));
    const apiKey = settings.apiKey ?? (generated.apiKey = randomToken('lg_'));
    const region = regionalDefaults[settings.defaultCountry] ?? { locale: 'en', timeZone: 'UTC' };
    const workspaceId = newId('ws');
    const passwordHash = await hashPassword(adminPassword);
    await prisma.$transaction([
      prisma.workspace.create({
        data: { id: workspaceId, name: 'My business', country: settings.defaultCountry, ...region, workingHours: defaultWorkingHours },
      }),
      prisma.user.create({ data: { id: newId('usr'), workspaceId, name: 'Owner', email: adminEmail.toLowerCase(), role: 'owner', passwordHash } }),
      prisma.apiKey.create({ data: { id: newId('key'), workspaceId, name: 'bootstrap', prefix: apiKey.slice(0, 7), hash: hashApiKey(apiKey) } }),
      prisma.scoringRule.createMany({ data: defaultScoringRules(workspaceId, region.locale) }),
      prisma.routingRule.createMany({ data: defaultRoutingRules(workspaceId, region.locale) }),
    ]);
    return { workspaceId, generated, created: true };
  });
}

async function ensureApiKey(db: Database, workspaceId: string, apiKey: string): Promise<void> {
  const hash = hashApiKey(apiKey);
  await db.prisma.apiKey.createMany({
    data: [{ id: newId('key'), workspaceId, name: 'LEADGATE_API_KEY', prefix: apiKey.slice(0, 7), hash }],
    skipDuplicates: true,
  });
}
