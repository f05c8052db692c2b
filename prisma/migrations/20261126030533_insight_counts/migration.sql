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

-- DropIndex
DROP INDEX "messages_workspaceId_automatic_createdAt_direction_sentAt_l_idx";

-- DropIndex
DROP INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx";

-- AlterTable
ALTER TABLE "leads" ADD COLUMN     "acknowledgedAt" TIMESTAMPTZ(3),
ADD COLUMN     "furthestStage" TEXT NOT NULL DEFAULT 'open',
ADD COLUMN     "stagesEntered" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "response_windows" ADD COLUMN     "ownerId" TEXT;

-- AddForeignKey
ALTER TABLE "insight_counts" ADD CONSTRAINT "insight_counts_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A lead's acknowledgement: its first automatic message that is not a sequence step, once sent.
CREATE FUNCTION leads_note_acknowledgement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.automatic AND NEW.direction = 'out' AND NEW."sentAt" IS NOT NULL
     AND (NEW."idempotencyKey" IS NULL OR NEW."idempotencyKey" NOT LIKE 'sequence:%') THEN
    UPDATE leads SET "acknowledgedAt" = NEW."sentAt"
    WHERE id = NEW."leadId" AND ("acknowledgedAt" IS NULL OR "acknowledgedAt" > NEW."sentAt");
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER leads_acknowledged
AFTER INSERT OR UPDATE OF "sentAt" ON messages
FOR EACH ROW EXECUTE FUNCTION leads_note_acknowledgement();

-- A response window opens with the lead's owner, and follows the lead when it is reassigned.
CREATE FUNCTION response_windows_take_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  SELECT l."ownerId" INTO NEW."ownerId" FROM leads l WHERE l.id = NEW."leadId";
  RETURN NEW;
END $$;

CREATE TRIGGER response_windows_opened
BEFORE INSERT OR UPDATE OF "leadId" ON response_windows
FOR EACH ROW EXECUTE FUNCTION response_windows_take_owner();

CREATE FUNCTION response_windows_follow_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE response_windows SET "ownerId" = NEW."ownerId" WHERE "leadId" = NEW.id;
  RETURN NULL;
END $$;

CREATE TRIGGER response_windows_lead_reassigned
AFTER UPDATE OF "ownerId" ON leads
FOR EACH ROW WHEN (OLD."ownerId" IS DISTINCT FROM NEW."ownerId")
EXECUTE FUNCTION response_windows_follow_owner();

-- What the gateway and the triggers keep on a workspace's leads and response windows, worked out
-- from scratch: the acknowledgement time, the windows' owner and the stage summary. For rows
-- written around them (a bulk load with triggers off), and for the rows already here.
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

-- The rows already here, before any trigger below watches the columns this writes.
SELECT leads_derive(id) FROM workspaces;

-- The facts each row contributes, written once: the triggers add and take them away, the rebuild
-- adds them all, and the insights read the part of a period that is not whole days from them too.
-- `day` is the local date in the workspace's time zone `tz`.

-- A lead, on the day it was created. Its stages entered give one row each (through the unnest);
-- one SELECT, so PostgreSQL inlines it where it is called.
CREATE FUNCTION insight_lead_facts(l leads, tz text) RETURNS TABLE (day date, fact text, key text)
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
AFTER INSERT OR UPDATE OF "createdAt", channel, "sourceId", "ownerId", segment, stage, "lossReason", "firstResponseAt", "firstResponseDueAt", "stagesEntered", "furthestStage" ON leads
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

-- CreateIndex (after the rows above were written: quicker than keeping them up to date meanwhile)
CREATE INDEX "insight_counts_workspaceId_fact_day_key_n_idx" ON "insight_counts"("workspaceId", "fact", "day", "key", "n");

-- CreateIndex
CREATE INDEX "leads_workspaceId_createdAt_acknowledgedAt_ownerId_channel_idx" ON "leads"("workspaceId", "createdAt", "acknowledgedAt", "ownerId", "channel");

-- CreateIndex
CREATE INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx" ON "response_windows"("workspaceId", "openedAt", "channel", "respondedAt", "responderId", "ownerId", "wallSeconds", "businessSeconds", "leadId");
