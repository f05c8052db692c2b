-- CreateIndex
CREATE INDEX "messages_status_createdAt_id_idx" ON "messages"("status", "createdAt", "id");

