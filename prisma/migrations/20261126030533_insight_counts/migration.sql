-- CreateTable
CREATE TABLE "insight_counts" (
    "id" BIGSERIAL NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "fact" TEXT NOT NULL,
    "key" TEXT,
    "n" INTEGER NOT NULL,

    CONSTRAINT "insight_counts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "insight_counts_workspaceId_fact_day_key_n_idx" ON "insight_counts"("workspaceId", "fact", "day", "key", "n");

-- AddForeignKey
ALTER TABLE "insight_counts" ADD CONSTRAINT "insight_counts_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- The facts each row contributes, written once: the triggers add and take them away, the rebuild
-- adds them all, and the insights read the part of a period that is not whole days from them too.
-- `day` is the local date in the workspace's time zone `tz`.

-- A lead, on the day it was created.
CREATE FUNCTION insight_lead_facts(l leads, tz text) RETURNS TABLE (day date, fact text, key text)
LANGUAGE sql STABLE AS $$
  SELECT (l."createdAt" AT TIME ZONE tz)::date, f.fact, f.key
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
    ('product', NULL, NOT EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id))
  ) AS f (fact, key, counts)
  WHERE f.counts
$$;

-- A lead's interest in a product: on the lead's creation day, and on the day it first reached
-- Qualified (quotas per product).
CREATE FUNCTION insight_product_facts(lp lead_products, tz text) RETURNS TABLE (day date, fact text, key text)
LANGUAGE sql STABLE AS $$
  SELECT (l."createdAt" AT TIME ZONE tz)::date, 'product', lp."productId" FROM leads l WHERE l.id = lp."leadId"
  UNION ALL
  SELECT (e."enteredAt" AT TIME ZONE tz)::date, 'qualified_product', lp."productId"
  FROM stage_entries e WHERE e."leadId" = lp."leadId" AND e."firstQualified"
$$;

-- A lead's first arrival at Qualified or a later stage, for quotas: overall and per product.
CREATE FUNCTION insight_qualified_facts(e stage_entries, tz text) RETURNS TABLE (day date, fact text, key text)
LANGUAGE sql STABLE AS $$
  SELECT (e."enteredAt" AT TIME ZONE tz)::date, 'qualified', NULL::text WHERE e."firstQualified"
  UNION ALL
  SELECT (e."enteredAt" AT TIME ZONE tz)::date, 'qualified_product', lp."productId"
  FROM lead_products lp WHERE lp."leadId" = e."leadId" AND e."firstQualified"
$$;

-- Everything a workspace's rows say, from scratch: after this migration and when the workspace's
-- time zone changes (its local days move).
CREATE FUNCTION insight_counts_rebuild(ws text) RETURNS void
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

-- A lead written: its facts before (-1) and after (+1), netted, so a change that moves nothing
-- writes nothing. It runs before a delete, while the lead's products and stage entries can still be
-- read: their own triggers then find no lead and leave the counts alone.
CREATE FUNCTION insight_counts_on_leads() RETURNS trigger
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

CREATE TRIGGER insight_counts_lead_written
AFTER INSERT OR UPDATE OF "createdAt", channel, "sourceId", "ownerId", segment, stage, "firstResponseAt", "firstResponseDueAt" ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

CREATE TRIGGER insight_counts_lead_deleted
BEFORE DELETE ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

CREATE FUNCTION insight_counts_on_lead_products() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ws text;
  tz text;
BEGIN
  SELECT l."workspaceId", w."timeZone" INTO ws, tz
  FROM leads l JOIN workspaces w ON w.id = l."workspaceId" WHERE l.id = COALESCE(NEW."leadId", OLD."leadId");
  -- No lead: it is being deleted, and it took its facts away itself.
  IF FOUND THEN
    INSERT INTO insight_counts ("workspaceId", day, fact, key, n)
    SELECT ws, d.day, d.fact, d.key, sum(d.n)::int
    FROM (
      SELECT pf.*, 1 AS n FROM insight_product_facts(NEW, tz) pf WHERE TG_OP = 'INSERT'
      UNION ALL
      SELECT pf.*, -1 FROM insight_product_facts(OLD, tz) pf WHERE TG_OP = 'DELETE'
      UNION ALL
      -- The lead's "no product" fact goes with its first product and comes back with its last.
      SELECT (l."createdAt" AT TIME ZONE tz)::date, 'product', NULL::text,
        CASE TG_OP
          WHEN 'INSERT' THEN CASE WHEN EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id AND lp."productId" <> NEW."productId") THEN 0 ELSE -1 END
          ELSE CASE WHEN EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id) THEN 0 ELSE 1 END
        END
      FROM leads l WHERE l.id = COALESCE(NEW."leadId", OLD."leadId")
    ) d
    GROUP BY d.day, d.fact, d.key
    HAVING sum(d.n) <> 0;
  END IF;
  RETURN NULL;
END $$;

-- A lead's product is added or removed, never changed in place (the row is its key).
CREATE TRIGGER insight_counts_lead_product_written
AFTER INSERT OR DELETE ON lead_products
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_lead_products();

CREATE FUNCTION insight_counts_on_stage_entries() RETURNS trigger
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

CREATE TRIGGER insight_counts_stage_entry_written
AFTER INSERT OR UPDATE OF "leadId", "enteredAt", "firstQualified" OR DELETE ON stage_entries
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_stage_entries();

CREATE FUNCTION insight_counts_on_time_zone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM insight_counts_rebuild(NEW.id);
  RETURN NULL;
END $$;

CREATE TRIGGER insight_counts_time_zone_changed
AFTER UPDATE OF "timeZone" ON workspaces
FOR EACH ROW WHEN (OLD."timeZone" IS DISTINCT FROM NEW."timeZone")
EXECUTE FUNCTION insight_counts_on_time_zone();

SELECT insight_counts_rebuild(id) FROM workspaces;
