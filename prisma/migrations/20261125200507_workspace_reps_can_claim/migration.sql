-- AlterTable
ALTER TABLE "workspaces" ADD COLUMN     "repsCanClaim" BOOLEAN NOT NULL DEFAULT false;

