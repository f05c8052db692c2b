import type { PGlite } from '@electric-sql/pglite';
import type { PrismaClient } from '@prisma/client';
import { PrismaPGlite } from 'pglite-prisma-adapter';

type AdapterFactory = NonNullable<NonNullable<ConstructorParameters<typeof PrismaClient>[0]>['adapter']>;

/**
 * pglite-prisma-adapter 0.6 is built against an older @prisma/driver-adapter-utils whose types
 * differ from Prisma 6.19's only in name; at run time the contract is the same (tested on both).
 */
export function pgliteAdapter(pglite: PGlite): AdapterFactory {
  return new PrismaPGlite(pglite) as unknown as AdapterFactory;
}
