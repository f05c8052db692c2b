-- CreateIndex
CREATE INDEX "leads_conversationStatus_snoozedUntil_idx" ON "leads"("conversationStatus", "snoozedUntil");

