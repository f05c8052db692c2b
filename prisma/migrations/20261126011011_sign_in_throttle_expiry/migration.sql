-- CreateIndex
CREATE INDEX "sign_in_throttles_lastFailedAt_idx" ON "sign_in_throttles"("lastFailedAt");

