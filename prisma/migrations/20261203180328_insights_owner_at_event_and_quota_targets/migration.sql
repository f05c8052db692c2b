-- AlterTable
ALTER TABLE "workspaces" ADD COLUMN     "insightCountsTimeZone" TEXT;

-- AlterTable
ALTER TABLE "stage_entries" ADD COLUMN     "ownerId" TEXT;

-- AlterTable
ALTER TABLE "quotas" ADD COLUMN     "ownerId" TEXT,
ADD COLUMN     "revenueTarget" DECIMAL(14,2),
ADD COLUMN     "wonTarget" INTEGER;

-- CreateIndex
CREATE INDEX "stage_entries_workspaceId_stage_enteredAt_leadId_ownerId_idx" ON "stage_entries"("workspaceId", "stage", "enteredAt", "leadId", "ownerId");


-- The owner at the time of each stage entry already written: the lead's last assignment at or
-- before it (none: the lead had no owner then), or, for a lead with no assignment recorded at
-- all (history loaded from elsewhere), its owner now.
UPDATE stage_entries e SET "ownerId" = CASE
    WHEN EXISTS (SELECT 1 FROM activities x WHERE x."leadId" = e."leadId" AND x.kind = 'lead.assigned')
    THEN (SELECT x.data->>'after' FROM activities x
          WHERE x."leadId" = e."leadId" AND x.kind = 'lead.assigned' AND x."createdAt" <= e."enteredAt"
          ORDER BY x."createdAt" DESC, x.id DESC LIMIT 1)
    ELSE l."ownerId" END
FROM leads l WHERE l.id = e."leadId";

-- A time-zone change no longer rebuilds the daily counts in its own transaction (at a million
-- leads that held `PATCH /workspace` for many seconds): it notes the zone the counts are still
-- kept in, and a background task rebuilds them (src/insights/counts.ts); until then the insights
-- read the leads themselves and say they are recomputing. Back to the zone the counts are kept
-- in, nothing is left to rebuild.
DROP TRIGGER insight_counts_time_zone_changed ON workspaces;
DROP FUNCTION insight_counts_on_time_zone();

CREATE FUNCTION insight_counts_note_time_zone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."insightCountsTimeZone" := NULLIF(COALESCE(OLD."insightCountsTimeZone", OLD."timeZone"), NEW."timeZone");
  RETURN NEW;
END $$;

CREATE TRIGGER insight_counts_time_zone_changed
BEFORE UPDATE OF "timeZone" ON workspaces
FOR EACH ROW WHEN (OLD."timeZone" IS DISTINCT FROM NEW."timeZone")
EXECUTE FUNCTION insight_counts_note_time_zone();

-- Working seconds between two instants, as src/leads/working-time.ts counts them: the overlap
-- with each local day's working spans (`hours`: {"mon": [["09:00", "18:00"]], …}; "24:00" ends
-- a day), in the time zone's own rules; wall seconds when no day has hours. Whole weeks in the
-- middle of a long stretch count as a week's working time each, so a window open for months
-- costs at most three weeks of days (a daylight-saving change inside working hours, in those
-- weeks only, would be off by its hour).
CREATE FUNCTION working_seconds_between(a timestamptz, b timestamptz, hours jsonb, tz text) RETURNS float8
LANGUAGE sql STABLE AS $$
  WITH span AS (
    SELECT d.key AS weekday, (s.value->>0)::time AS t0, s.value->>1 AS t1
    FROM jsonb_each(CASE WHEN jsonb_typeof(hours) = 'object' THEN hours ELSE '{}'::jsonb END) d
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.value) = 'array' THEN d.value ELSE '[]'::jsonb END) s),
  week AS (
    SELECT count(*) AS spans,
      COALESCE(sum(extract(epoch FROM CASE WHEN t1 = '24:00' THEN interval '24 hours' ELSE t1::time - time '00:00' END - (t0 - time '00:00'))), 0) AS seconds
    FROM span),
  bounds AS (
    SELECT (a AT TIME ZONE tz)::date AS d0, (b AT TIME ZONE tz)::date AS d1),
  skip AS (
    SELECT d0, d1, GREATEST(0, (d1 - d0 - 14) / 7) AS weeks FROM bounds),
  days AS (
    SELECT d0 + i AS d FROM skip, generate_series(0, LEAST(6, d1 - d0)) i
    UNION ALL
    SELECT d0 + i FROM skip, generate_series(7 + 7 * weeks, d1 - d0) i),
  counted AS (
    SELECT COALESCE(sum(GREATEST(0, extract(epoch FROM
        LEAST(b, CASE WHEN s.t1 = '24:00' THEN (days.d + 1)::timestamp ELSE days.d + s.t1::time END AT TIME ZONE tz)
        - GREATEST(a, (days.d + s.t0) AT TIME ZONE tz)))), 0) AS seconds
    FROM days JOIN span s ON s.weekday = (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])[extract(isodow FROM days.d)::int])
  SELECT CASE
    WHEN b <= a THEN 0
    WHEN (SELECT spans FROM week) = 0 THEN round(extract(epoch FROM b - a))::float8
    ELSE round((SELECT seconds FROM counted) + (SELECT weeks FROM skip) * (SELECT seconds FROM week))::float8
  END
$$;
