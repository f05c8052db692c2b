-- Lost leads per loss reason join the lead's facts.
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
    ('lost', l."lossReason", l.stage = 'unqualified'),
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
AFTER INSERT OR UPDATE OF "createdAt", channel, "sourceId", "ownerId", segment, stage, "lossReason", "firstResponseAt", "firstResponseDueAt", "stagesEntered", "furthestStage" ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

SELECT insight_counts_rebuild(id) FROM workspaces;
