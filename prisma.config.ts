import { PGlite } from '@electric-sql/pglite';
import { defineConfig } from 'prisma/config';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';

// The CLI only needs a driver adapter to write migration SQL (`migrate diff`); an in-memory
// PGlite keeps it offline and needs no server. The application connects in src/db/.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  experimental: { adapter: true },
  engine: 'js',
  // The cast: pglite-prisma-adapter 0.6 types name an older @prisma/driver-adapter-utils.
  adapter: async () => new PrismaPGlite(new PGlite()) as unknown as SqlMigrationAwareDriverAdapterFactory,
});
