-- A response window opened by the contact coming back (a resolved conversation reopened) is told
-- apart from the one a lead's arrival opens, so speed to lead counts one first touch per lead.

-- DropIndex
DROP INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx";

-- AlterTable
ALTER TABLE "response_windows" ADD COLUMN     "reopening" BOOLEAN NOT NULL DEFAULT false;

-- Windows written before: every one after a lead's first is a reopening.
UPDATE "response_windows" rw SET "reopening" = true
WHERE EXISTS (
  SELECT 1 FROM "response_windows" earlier
  WHERE earlier."leadId" = rw."leadId" AND (earlier."openedAt", earlier.id) < (rw."openedAt", rw.id));

-- CreateIndex
CREATE INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx" ON "response_windows"("workspaceId", "openedAt", "channel", "respondedAt", "responderId", "ownerId", "wallSeconds", "businessSeconds", "dueAt", "reopening", "leadId");
