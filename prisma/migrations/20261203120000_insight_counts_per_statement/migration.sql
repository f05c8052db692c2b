-- Leads and their products are written many rows per statement (inbound processing writes a
-- whole batch at once). Their daily counts are now kept once per statement, over the statement's
-- rows, instead of once per row: one INSERT of grouped deltas where there were as many as rows.

-- New leads: their facts, counted per workspace, day, fact and key.
CREATE FUNCTION insight_counts_on_leads_inserted() RETURNS trigger
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

DROP TRIGGER insight_counts_lead_written ON leads;

CREATE TRIGGER insight_counts_leads_inserted
AFTER INSERT ON leads
REFERENCING NEW TABLE AS inserted_leads
FOR EACH STATEMENT EXECUTE FUNCTION insight_counts_on_leads_inserted();

-- Changes stay per row: each is one lead's stage, owner or first response moving.
CREATE TRIGGER insight_counts_lead_written
AFTER UPDATE OF "createdAt", channel, "sourceId", "ownerId", segment, stage, "lossReason", "firstResponseAt", "firstResponseDueAt", "stagesEntered", "furthestStage" ON leads
FOR EACH ROW EXECUTE FUNCTION insight_counts_on_leads();

-- Products added or removed: their own facts, and each lead's "no product" fact once, by whether
-- the lead had a product before the statement and has one after it. Per row, the test for
-- "another product" saw the other rows of the same statement, so a lead given two products at
-- once kept counting as having none.
CREATE FUNCTION insight_counts_on_lead_products_inserted() RETURNS trigger
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

CREATE FUNCTION insight_counts_on_lead_products_deleted() RETURNS trigger
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

DROP TRIGGER insight_counts_lead_product_written ON lead_products;
DROP FUNCTION insight_counts_on_lead_products();

CREATE TRIGGER insight_counts_lead_products_inserted
AFTER INSERT ON lead_products
REFERENCING NEW TABLE AS inserted_products
FOR EACH STATEMENT EXECUTE FUNCTION insight_counts_on_lead_products_inserted();

CREATE TRIGGER insight_counts_lead_products_deleted
AFTER DELETE ON lead_products
REFERENCING OLD TABLE AS deleted_products
FOR EACH STATEMENT EXECUTE FUNCTION insight_counts_on_lead_products_deleted();
