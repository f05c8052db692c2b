-- CreateTable
CREATE TABLE "typing_signals" (
    "leadId" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "until" TIMESTAMPTZ(3) NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "typing_signals_pkey" PRIMARY KEY ("leadId")
);

-- CreateIndex
CREATE INDEX "typing_signals_workspaceId_updatedAt_idx" ON "typing_signals"("workspaceId", "updatedAt");

-- AddForeignKey
ALTER TABLE "typing_signals" ADD CONSTRAINT "typing_signals_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "leads"("id") ON DELETE CASCADE ON UPDATE CASCADE;

