-- CreateTable
CREATE TABLE "source_secrets" (
    "workspaceId" TEXT NOT NULL,
    "sourceId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "source_secrets_pkey" PRIMARY KEY ("sourceId","key")
);

-- AddForeignKey
ALTER TABLE "source_secrets" ADD CONSTRAINT "source_secrets_sourceId_fkey" FOREIGN KEY ("sourceId") REFERENCES "sources"("id") ON DELETE CASCADE ON UPDATE CASCADE;

