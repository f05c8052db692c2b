-- AlterTable
ALTER TABLE "leads" ADD COLUMN     "furthestStage" TEXT NOT NULL DEFAULT 'open',
ADD COLUMN     "stagesEntered" TEXT[] DEFAULT ARRAY[]::TEXT[];


-- What the gateway and the triggers keep on a workspace's leads and response windows, worked out
-- from scratch: the acknowledgement time, the windows' owner and the stage summary. For rows
-- written around them (a bulk load with triggers off), and for the leads already here.
CREATE FUNCTION leads_derive(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE leads l SET "acknowledgedAt" = a.at
  FROM (
    SELECT m."leadId", min(m."sentAt") AS at FROM messages m
    WHERE m."workspaceId" = ws AND m.automatic AND m.direction = 'out' AND m."sentAt" IS NOT NULL
      AND (m."idempotencyKey" IS NULL OR m."idempotencyKey" NOT LIKE 'sequence:%')
    GROUP BY 1) a
  WHERE l.id = a."leadId" AND l."acknowledgedAt" IS DISTINCT FROM a.at;

  UPDATE response_windows rw SET "ownerId" = l."ownerId"
  FROM leads l WHERE l.id = rw."leadId" AND rw."workspaceId" = ws AND rw."ownerId" IS DISTINCT FROM l."ownerId";

  -- The main path's ranks, as src/leads/stages.ts has them (funnelPath).
  UPDATE leads l SET "stagesEntered" = s.entered, "furthestStage" = s.furthest
  FROM (
    SELECT e."leadId", array_agg(DISTINCT e.stage ORDER BY e.stage) AS entered,
      COALESCE((array_agg(p.stage ORDER BY p.rank DESC) FILTER (WHERE p.stage IS NOT NULL))[1], 'open') AS furthest
    FROM stage_entries e
    LEFT JOIN (VALUES ('open', 1), ('contacted', 2), ('qualified', 3), ('negotiation', 4), ('customer', 5)) AS p (stage, rank) ON p.stage = e.stage
    WHERE e."workspaceId" = ws
    GROUP BY 1) s
  WHERE l.id = s."leadId" AND (l."stagesEntered" IS DISTINCT FROM s.entered OR l."furthestStage" <> s.furthest);
END $$;

-- Before the trigger below watches the summary's columns: the rebuild at the end counts them once.
SELECT leads_derive(id) FROM workspaces;

-- The funnel's facts join the lead's: every stage it entered (one row each, through the unnest),
-- and the furthest on the main path. One SELECT: PostgreSQL inlines it where it is called.
CREATE OR REPLACE FUNCTION insight_lead_facts(l leads, tz text) RETURNS TABLE (day date, fact text, key text)
LANGUAGE sql STABLE AS $$
  SELECT (l."createdAt" AT TIME ZONE tz)::date, f.fact, k.key
  FROM (VALUES
    ('hour', to_char(l."createdAt" AT TIME ZONE tz, 'HH24'), true),
    ('channel', l.channel, true),
    ('source', l."sourceId", true),
    ('owner', l."ownerId", true),
    ('segment', l.segment, true),
    ('stage', l.stage, true),
    ('sla_assigned', l."ownerId", l."ownerId" IS NOT NULL AND l."firstResponseDueAt" IS NOT NULL),
    ('sla_touched', l."ownerId", l."ownerId" IS NOT NULL AND l."firstResponseDueAt" IS NOT NULL AND l."firstResponseAt" <= l."firstResponseDueAt"),
    -- Leads with no product of interest (the products they have count in insight_product_facts).
    ('product', NULL, NOT EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id)),
    ('furthest', l."furthestStage", true),
    ('entered', NULL, true)
  ) AS f (fact, key, counts)
  CROSS JOIN LATERAL unnest(CASE WHEN f.fact = 'entered' THEN l."stagesEntered" ELSE ARRAY[f.key] END) AS k (key)
  WHERE f.counts
$$;

DROP TRIGGER insight_counts_lead_written ON leads;

CREATE TRIGGER insight_counts_lead_written
AFTER INSERT OR UPDATE OF "createdAt", channel, "sourceId", "ownerId", segment, stage, "firstResponseAt", "firstResponseDueAt", "stagesEntered", "furthestStage" ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

SELECT insight_counts_rebuild(id) FROM workspaces;
