-- CreateIndex
CREATE INDEX "messages_workspaceId_automatic_createdAt_idx" ON "messages"("workspaceId", "automatic", "createdAt");

-- CreateIndex
CREATE INDEX "sequence_enrollments_workspaceId_enrolledAt_idx" ON "sequence_enrollments"("workspaceId", "enrolledAt");

