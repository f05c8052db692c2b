-- AlterTable
ALTER TABLE "attachments" ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "error" TEXT,
ADD COLUMN     "nextAttemptAt" TIMESTAMPTZ(3),
ADD COLUMN     "status" TEXT NOT NULL DEFAULT 'stored';

-- CreateIndex
CREATE INDEX "attachments_status_nextAttemptAt_idx" ON "attachments"("status", "nextAttemptAt");

