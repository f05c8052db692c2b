import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest, roughly longest first. Vitest orders files by the durations of the
 * last run when it has them (in node_modules/.vite); a fresh checkout has none, and a long file
 * started last would leave the other worker idle at the end.
 */
const longestFirst = [
  'test/integration/crash-recovery.test.ts',
  'test/e2e/insights.test.ts',
  'test/e2e/inbox.test.ts',
  'test/integration/capture-flow.test.ts',
  'test/integration/whatsapp.test.ts',
  'test/integration/outbound.test.ts',
  'test/e2e/whatsapp-pairing.test.ts',
  'test/integration/migrations.test.ts',
  'test/e2e/reply.test.ts',
  'test/e2e/setup-forms.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const cache = this.ctx.cache;
    const known = (file: TestSpecification) => cache.getFileTestResults(`${file.project.name}:${path.relative(this.ctx.config.root, file.moduleId)}`) !== undefined;
    if (sorted.every(known)) return sorted;
    const rank = (file: TestSpecification) => {
      const index = longestFirst.findIndex((name) => file.moduleId.endsWith(name));
      return index === -1 ? longestFirst.length : index;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    pool: 'forks',
    // Two cores: one test file per core.
    maxWorkers: 2,
    // Files run one after another in a worker that keeps its loaded modules: importing the gateway
    // (Baileys, Twilio, Prisma, PGlite) costs each file about two seconds of CPU otherwise. Each
    // file starts its own gateways on their own data and restores what it changes (nock).
    isolate: false,
    sequence: { sequencer: LongestFirst },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'gateway',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // PostgreSQL and Redis checked, the embedded database's template made: see the file.
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
