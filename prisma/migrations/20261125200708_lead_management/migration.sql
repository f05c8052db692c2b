-- AlterTable
ALTER TABLE "leads" ADD COLUMN     "birthday" TEXT,
ADD COLUMN     "companySize" TEXT,
ADD COLUMN     "conversationStatus" TEXT NOT NULL DEFAULT 'open',
ADD COLUMN     "firstResponseAt" TIMESTAMPTZ(3),
ADD COLUMN     "firstResponseDueAt" TIMESTAMPTZ(3),
ADD COLUMN     "lastInboundAt" TIMESTAMPTZ(3),
ADD COLUMN     "lossReason" TEXT,
ADD COLUMN     "snoozedUntil" TIMESTAMPTZ(3),
ADD COLUMN     "socialProfiles" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "stageChangedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateTable
CREATE TABLE "response_windows" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "openedAt" TIMESTAMPTZ(3) NOT NULL,
    "dueAt" TIMESTAMPTZ(3) NOT NULL,
    "respondedAt" TIMESTAMPTZ(3),
    "responderId" TEXT,
    "wallSeconds" INTEGER,
    "businessSeconds" INTEGER,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "response_windows_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "segments" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "segments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "custom_field_definitions" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "choices" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "custom_field_definitions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "scoring_rules" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "points" INTEGER NOT NULL,
    "when" JSONB NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "scoring_rules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "routing_rules" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "priority" INTEGER NOT NULL,
    "to" TEXT NOT NULL,
    "when" JSONB NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "routing_rules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stage_settings" (
    "workspaceId" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "definition" TEXT NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "stage_settings_pkey" PRIMARY KEY ("workspaceId","slug")
);

-- CreateTable
CREATE TABLE "quotas" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "productId" TEXT,
    "target" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "quotas_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "response_windows_leadId_openedAt_idx" ON "response_windows"("leadId", "openedAt");

-- CreateIndex
CREATE INDEX "response_windows_workspaceId_openedAt_idx" ON "response_windows"("workspaceId", "openedAt");

-- CreateIndex
CREATE INDEX "response_windows_workspaceId_respondedAt_dueAt_idx" ON "response_windows"("workspaceId", "respondedAt", "dueAt");

-- CreateIndex
CREATE UNIQUE INDEX "segments_workspaceId_name_key" ON "segments"("workspaceId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "custom_field_definitions_workspaceId_key_key" ON "custom_field_definitions"("workspaceId", "key");

-- CreateIndex
CREATE INDEX "scoring_rules_workspaceId_active_idx" ON "scoring_rules"("workspaceId", "active");

-- CreateIndex
CREATE INDEX "routing_rules_workspaceId_active_priority_idx" ON "routing_rules"("workspaceId", "active", "priority");

-- CreateIndex
CREATE INDEX "quotas_workspaceId_period_idx" ON "quotas"("workspaceId", "period");

-- CreateIndex
CREATE INDEX "leads_workspaceId_lastActivityAt_id_idx" ON "leads"("workspaceId", "lastActivityAt", "id");

