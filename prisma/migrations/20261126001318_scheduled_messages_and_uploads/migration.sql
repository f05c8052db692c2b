-- AlterTable
ALTER TABLE "messages" ADD COLUMN     "scheduledAt" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "attachments" ADD COLUMN     "uploadedBy" TEXT;

