-- DropIndex
DROP INDEX "leads_workspaceId_createdAt_id_idx";

-- DropIndex
DROP INDEX "messages_workspaceId_automatic_createdAt_idx";

-- DropIndex
DROP INDEX "response_windows_workspaceId_openedAt_idx";

-- CreateIndex
CREATE INDEX "leads_workspaceId_createdAt_id_channel_ownerId_stage_segmen_idx" ON "leads"("workspaceId", "createdAt", "id", "channel", "ownerId", "stage", "segment", "sourceId", "firstResponseAt", "firstResponseDueAt");

-- CreateIndex
CREATE INDEX "messages_workspaceId_automatic_createdAt_direction_sentAt_l_idx" ON "messages"("workspaceId", "automatic", "createdAt", "direction", "sentAt", "leadId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx" ON "response_windows"("workspaceId", "openedAt", "channel", "respondedAt", "responderId", "wallSeconds", "businessSeconds", "leadId");

