-- AlterTable
ALTER TABLE "follow_ups" ADD COLUMN     "dueNotifiedAt" TIMESTAMPTZ(3);

