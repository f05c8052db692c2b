-- AlterTable
ALTER TABLE "workspaces" ADD COLUMN     "logo" BYTEA,
ADD COLUMN     "logoType" TEXT,
ADD COLUMN     "profileConfirmedAt" TIMESTAMPTZ(3),
ADD COLUMN     "signature" TEXT;

-- CreateTable
CREATE TABLE "contact_merges" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "fromContactId" TEXT NOT NULL,
    "intoContactId" TEXT NOT NULL,
    "identityIds" TEXT[],
    "leadIds" TEXT[],
    "optOuts" JSONB NOT NULL DEFAULT '[]',
    "addedOptOuts" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "automatic" BOOLEAN NOT NULL,
    "actorType" TEXT NOT NULL,
    "actorId" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "undoneAt" TIMESTAMPTZ(3),

    CONSTRAINT "contact_merges_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "user_invites" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "invitedById" TEXT,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "user_invites_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "contact_merges_workspaceId_intoContactId_idx" ON "contact_merges"("workspaceId", "intoContactId");

-- CreateIndex
CREATE INDEX "contact_merges_workspaceId_fromContactId_idx" ON "contact_merges"("workspaceId", "fromContactId");

-- CreateIndex
CREATE UNIQUE INDEX "user_invites_tokenHash_key" ON "user_invites"("tokenHash");

-- CreateIndex
CREATE INDEX "user_invites_userId_idx" ON "user_invites"("userId");

