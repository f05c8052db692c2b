-- AlterTable
ALTER TABLE "messages" ADD COLUMN     "inReplyTo" TEXT,
ADD COLUMN     "references" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "adapter_state" (
    "workspaceId" TEXT NOT NULL,
    "sourceId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "adapter_state_pkey" PRIMARY KEY ("sourceId","key")
);

-- CreateTable
CREATE TABLE "leases" (
    "key" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "leases_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "messages_workspaceId_externalId_idx" ON "messages"("workspaceId", "externalId");

-- AddForeignKey
ALTER TABLE "adapter_state" ADD CONSTRAINT "adapter_state_sourceId_fkey" FOREIGN KEY ("sourceId") REFERENCES "sources"("id") ON DELETE CASCADE ON UPDATE CASCADE;

