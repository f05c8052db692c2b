-- CreateTable
CREATE TABLE "stage_entries" (
    "activityId" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "leadCreatedAt" TIMESTAMPTZ(3) NOT NULL,
    "stage" TEXT NOT NULL,
    "enteredAt" TIMESTAMPTZ(3) NOT NULL,
    "reason" TEXT,
    "previousStage" TEXT NOT NULL,
    "previousEnteredAt" TIMESTAMPTZ(3) NOT NULL,
    "firstQualified" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "stage_entries_pkey" PRIMARY KEY ("activityId")
);

-- Backfill: every stage change recorded so far, each with the stay it ended (ordered as the
-- activities are) and whether it was the lead's first arrival at Qualified or later.
INSERT INTO "stage_entries" ("activityId", "workspaceId", "leadId", "leadCreatedAt", "stage", "enteredAt", "reason", "previousStage", "previousEnteredAt", "firstQualified")
SELECT id, "workspaceId", "leadId", "leadCreatedAt", stage, "enteredAt", reason,
    COALESCE(lag(stage) OVER w, 'open'),
    COALESCE(lag("enteredAt") OVER w, "leadCreatedAt"),
    stage IN ('qualified', 'negotiation', 'customer')
      AND NOT COALESCE(bool_or(stage IN ('qualified', 'negotiation', 'customer')) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)
FROM (
    SELECT a.id, a."workspaceId", a."leadId", l."createdAt" AS "leadCreatedAt", a.data->>'after' AS stage, a."createdAt" AS "enteredAt", a.data->>'reason' AS reason
    FROM "activities" a JOIN "leads" l ON l.id = a."leadId"
    WHERE a.kind = 'lead.stage_changed' AND a.data->>'after' IS NOT NULL
) changes
WINDOW w AS (PARTITION BY "leadId" ORDER BY "enteredAt", id);

-- CreateIndex
CREATE INDEX "stage_entries_workspaceId_leadCreatedAt_leadId_stage_entere_idx" ON "stage_entries"("workspaceId", "leadCreatedAt", "leadId", "stage", "enteredAt", "previousStage", "previousEnteredAt");

-- CreateIndex
CREATE INDEX "stage_entries_workspaceId_firstQualified_enteredAt_leadId_idx" ON "stage_entries"("workspaceId", "firstQualified", "enteredAt", "leadId");

-- CreateIndex
CREATE INDEX "stage_entries_leadId_enteredAt_idx" ON "stage_entries"("leadId", "enteredAt");

-- AddForeignKey
ALTER TABLE "stage_entries" ADD CONSTRAINT "stage_entries_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "leads"("id") ON DELETE CASCADE ON UPDATE CASCADE;

