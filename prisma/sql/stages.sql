-- Stages in SQL. funnel_rank(stage) is not written here: the gateway generates it at start from
-- funnelPath in src/leads/stages.ts (src/db/sql-functions.ts), the one list of the main path.

-- The furthest of these stages on the main path ("open" when none is on it): furthestOnPath in
-- src/leads/stages.ts, for rows written around the gateway.
CREATE OR REPLACE FUNCTION furthest_on_path(entered text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE((array_agg(s.stage ORDER BY funnel_rank(s.stage) DESC) FILTER (WHERE funnel_rank(s.stage) IS NOT NULL))[1], 'open')
  FROM unnest(entered) AS s (stage)
$$;
