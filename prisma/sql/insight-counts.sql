-- The insights' daily counts (insight_counts), kept by triggers as leads, their products and
-- their stage entries are written. Each row's facts are written once, in the *_facts functions: the
-- triggers add and take them away, the rebuild adds them all, and the insights read the part of a
-- period that is not whole days from them too. `day` is the local date in the workspace's time
-- zone `tz`.

-- A lead, on the day it was created. Its stages entered give one row each (through the unnest);
-- one SELECT, so PostgreSQL inlines it where it is called.
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

-- A lead's interest in a product: on the lead's creation day, and on the day it first reached
-- Qualified (quotas per product).
CREATE OR REPLACE FUNCTION insight_product_facts(lp lead_products, tz text) RETURNS TABLE (day date, fact text, key text)
LANGUAGE sql STABLE AS $$
  SELECT (l."createdAt" AT TIME ZONE tz)::date, 'product', lp."productId" FROM leads l WHERE l.id = lp."leadId"
  UNION ALL
  SELECT (e."enteredAt" AT TIME ZONE tz)::date, 'qualified_product', lp."productId"
  FROM stage_entries e WHERE e."leadId" = lp."leadId" AND e."firstQualified"
$$;

-- A lead's first arrival at Qualified or a later stage, for quotas: overall and per product.
CREATE OR REPLACE FUNCTION insight_qualified_facts(e stage_entries, tz text) RETURNS TABLE (day date, fact text, key text)
LANGUAGE sql STABLE AS $$
  SELECT (e."enteredAt" AT TIME ZONE tz)::date, 'qualified', NULL::text WHERE e."firstQualified"
  UNION ALL
  SELECT (e."enteredAt" AT TIME ZONE tz)::date, 'qualified_product', lp."productId"
  FROM lead_products lp WHERE lp."leadId" = e."leadId" AND e."firstQualified"
$$;

-- Everything a workspace's rows say, from scratch: for rows written around the triggers (a bulk
-- load), and when the workspace's time zone changes (its local days move).
CREATE OR REPLACE FUNCTION insight_counts_rebuild(ws text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  tz text;
BEGIN
  SELECT w."timeZone" INTO tz FROM workspaces w WHERE w.id = ws;
  DELETE FROM insight_counts WHERE "workspaceId" = ws;
  INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
  SELECT ws, f.day, f.fact, f.key, count(*)::int
  FROM (
    SELECT lf.* FROM leads l CROSS JOIN LATERAL insight_lead_facts(l, tz) lf WHERE l."workspaceId" = ws
    UNION ALL
    SELECT pf.* FROM lead_products lp CROSS JOIN LATERAL insight_product_facts(lp, tz) pf WHERE lp."workspaceId" = ws AND pf.fact = 'product'
    UNION ALL
    SELECT qf.* FROM stage_entries e CROSS JOIN LATERAL insight_qualified_facts(e, tz) qf WHERE e."workspaceId" = ws AND e."firstQualified"
  ) f
  GROUP BY f.day, f.fact, f.key;
END $$;

-- New leads: their facts, counted per workspace, day, fact and key.
CREATE OR REPLACE FUNCTION insight_counts_on_leads_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
  SELECT n."workspaceId", lf.day, lf.fact, lf.key, count(*)::int
  FROM inserted_leads n
  JOIN workspaces w ON w.id = n."workspaceId"
  CROSS JOIN LATERAL insight_lead_facts(n, w."timeZone") lf
  GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER insight_counts_leads_inserted
AFTER INSERT ON leads
REFERENCING NEW TABLE AS inserted_leads
FOR EACH STATEMENT EXECUTE FUNCTION insight_counts_on_leads_inserted();

-- A lead changed or deleted: its facts before (-1) and after (+1), netted, so a change that moves
-- nothing writes nothing. Per row: each is one lead's stage, owner or first response moving (new
-- leads are counted per statement, above). It runs before a delete, while the lead's products and
-- stage entries can still be read: their own triggers then find no lead and leave the counts alone.
CREATE OR REPLACE FUNCTION insight_counts_on_leads() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ws text := COALESCE(NEW."workspaceId", OLD."workspaceId");
  tz text;
BEGIN
  SELECT w."timeZone" INTO tz FROM workspaces w WHERE w.id = ws;
  -- No workspace: it is being deleted, and its counts with it.
  IF FOUND THEN
    INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
    SELECT ws, d.day, d.fact, d.key, sum(d.n)::int
    FROM (
      SELECT lf.*, 1 AS n FROM insight_lead_facts(NEW, tz) lf WHERE TG_OP <> 'DELETE'
      UNION ALL
      SELECT lf.*, -1 FROM insight_lead_facts(OLD, tz) lf WHERE TG_OP <> 'INSERT'
      UNION ALL
      SELECT pf.*, -1 FROM lead_products lp CROSS JOIN LATERAL insight_product_facts(lp, tz) pf
      WHERE TG_OP = 'DELETE' AND lp."leadId" = OLD.id AND pf.fact = 'product'
      UNION ALL
      SELECT qf.*, -1 FROM stage_entries e CROSS JOIN LATERAL insight_qualified_facts(e, tz) qf
      WHERE TG_OP = 'DELETE' AND e."leadId" = OLD.id AND e."firstQualified"
    ) d
    GROUP BY d.day, d.fact, d.key
    HAVING sum(d.n) <> 0;
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NULL END;
END $$;

CREATE OR REPLACE TRIGGER insight_counts_lead_written
AFTER UPDATE OF "createdAt", channel, "sourceId", "ownerId", segment, stage, "lossReason", "firstResponseAt", "firstResponseDueAt", "stagesEntered", "furthestStage" ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

CREATE OR REPLACE TRIGGER insight_counts_lead_deleted
BEFORE DELETE ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

-- Products added or removed: their own facts, and each lead's "no product" fact once, by whether
-- the lead had a product before the statement and has one after it. Per row, the test for
-- "another product" saw the other rows of the same statement, so a lead given two products at
-- once kept counting as having none.
CREATE OR REPLACE FUNCTION insight_counts_on_lead_products_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
  SELECT d.ws, d.day, d.fact, d.key, sum(d.n)::int
  FROM (
    SELECT l."workspaceId" AS ws, pf.day, pf.fact, pf.key, 1 AS n
    FROM inserted_products p
    JOIN leads l ON l.id = p."leadId"
    JOIN workspaces w ON w.id = l."workspaceId"
    CROSS JOIN LATERAL insight_product_facts(p, w."timeZone") pf
    UNION ALL
    SELECT l."workspaceId", (l."createdAt" AT TIME ZONE w."timeZone")::date, 'product', NULL::text, -1
    FROM (SELECT DISTINCT "leadId" FROM inserted_products) p
    JOIN leads l ON l.id = p."leadId"
    JOIN workspaces w ON w.id = l."workspaceId"
    WHERE NOT EXISTS (
      SELECT 1 FROM lead_products lp
      WHERE lp."leadId" = p."leadId"
        AND NOT EXISTS (SELECT 1 FROM inserted_products i WHERE i."leadId" = lp."leadId" AND i."productId" = lp."productId"))
  ) d
  GROUP BY 1, 2, 3, 4
  HAVING sum(d.n) <> 0;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION insight_counts_on_lead_products_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A lead that is gone (deleted with its products) took its facts away itself.
  INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
  SELECT d.ws, d.day, d.fact, d.key, sum(d.n)::int
  FROM (
    SELECT l."workspaceId" AS ws, pf.day, pf.fact, pf.key, -1 AS n
    FROM deleted_products p
    JOIN leads l ON l.id = p."leadId"
    JOIN workspaces w ON w.id = l."workspaceId"
    CROSS JOIN LATERAL insight_product_facts(p, w."timeZone") pf
    UNION ALL
    SELECT l."workspaceId", (l."createdAt" AT TIME ZONE w."timeZone")::date, 'product', NULL::text, 1
    FROM (SELECT DISTINCT "leadId" FROM deleted_products) p
    JOIN leads l ON l.id = p."leadId"
    JOIN workspaces w ON w.id = l."workspaceId"
    WHERE NOT EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = p."leadId")
  ) d
  GROUP BY 1, 2, 3, 4
  HAVING sum(d.n) <> 0;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER insight_counts_lead_products_inserted
AFTER INSERT ON lead_products
REFERENCING NEW TABLE AS inserted_products
FOR EACH STATEMENT EXECUTE FUNCTION insight_counts_on_lead_products_inserted();

CREATE OR REPLACE TRIGGER insight_counts_lead_products_deleted
AFTER DELETE ON lead_products
REFERENCING OLD TABLE AS deleted_products
FOR EACH STATEMENT EXECUTE FUNCTION insight_counts_on_lead_products_deleted();

-- A stage entry written: a lead's first arrival at Qualified moves with it.
CREATE OR REPLACE FUNCTION insight_counts_on_stage_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ws text;
  tz text;
BEGIN
  SELECT l."workspaceId", w."timeZone" INTO ws, tz
  FROM leads l JOIN workspaces w ON w.id = l."workspaceId" WHERE l.id = COALESCE(NEW."leadId", OLD."leadId");
  IF FOUND THEN
    INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
    SELECT ws, d.day, d.fact, d.key, sum(d.n)::int
    FROM (
      SELECT qf.*, 1 AS n FROM insight_qualified_facts(NEW, tz) qf WHERE TG_OP <> 'DELETE'
      UNION ALL
      SELECT qf.*, -1 FROM insight_qualified_facts(OLD, tz) qf WHERE TG_OP <> 'INSERT'
    ) d
    GROUP BY d.day, d.fact, d.key
    HAVING sum(d.n) <> 0;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER insight_counts_stage_entry_written
AFTER INSERT OR UPDATE OF "leadId", "enteredAt", "firstQualified" OR DELETE ON stage_entries
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_stage_entries();

-- A workspace's local days move with its time zone. The change only notes the zone the counts are
-- still kept in; a background task (src/insights/counts.ts) rebuilds them, and until then the
-- insights read the leads themselves. Back to the zone the counts are kept in, nothing is left.
CREATE OR REPLACE FUNCTION insight_counts_note_time_zone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."insightCountsTimeZone" := NULLIF(COALESCE(OLD."insightCountsTimeZone", OLD."timeZone"), NEW."timeZone");
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER insight_counts_time_zone_changed
BEFORE UPDATE OF "timeZone" ON workspaces
FOR EACH ROW WHEN (OLD."timeZone" IS DISTINCT FROM NEW."timeZone")
EXECUTE FUNCTION insight_counts_note_time_zone();

-- Working seconds between two instants, as src/leads/working-time.ts counts them: the overlap
-- with each local day's working spans (`hours`: {"mon": [["09:00", "18:00"]], …}; "24:00" ends
-- a day), in the time zone's own rules; wall seconds when no day has hours. Whole weeks in the
-- middle of a long stretch count as a week's working time each, so a window open for months
-- costs at most three weeks of days (a daylight-saving change inside working hours, in those
-- weeks only, would be off by its hour).
CREATE OR REPLACE FUNCTION working_seconds_between(a timestamptz, b timestamptz, hours jsonb, tz text) RETURNS float8
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
