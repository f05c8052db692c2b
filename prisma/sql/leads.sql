-- What the database keeps on leads and response windows as they are written.

-- A lead's acknowledgement: its first automatic message that is not a sequence step, once sent.
CREATE OR REPLACE FUNCTION leads_note_acknowledgement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.automatic AND NEW.direction = 'out' AND NEW."sentAt" IS NOT NULL AND NEW."sequenceStep" IS NULL THEN
    UPDATE leads SET "acknowledgedAt" = NEW."sentAt"
    WHERE id = NEW."leadId" AND ("acknowledgedAt" IS NULL OR "acknowledgedAt" > NEW."sentAt");
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER leads_acknowledged
AFTER INSERT OR UPDATE OF "sentAt" ON messages
FOR EACH ROW EXECUTE FUNCTION leads_note_acknowledgement();

-- A response window opens with the lead's owner, and follows the lead when it is reassigned.
CREATE OR REPLACE FUNCTION response_windows_take_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  SELECT l."ownerId" INTO NEW."ownerId" FROM leads l WHERE l.id = NEW."leadId";
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER response_windows_opened
BEFORE INSERT OR UPDATE OF "leadId" ON response_windows
FOR EACH ROW EXECUTE FUNCTION response_windows_take_owner();

CREATE OR REPLACE FUNCTION response_windows_follow_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE response_windows SET "ownerId" = NEW."ownerId" WHERE "leadId" = NEW.id;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER response_windows_lead_reassigned
AFTER UPDATE OF "ownerId" ON leads
FOR EACH ROW WHEN (OLD."ownerId" IS DISTINCT FROM NEW."ownerId")
EXECUTE FUNCTION response_windows_follow_owner();

-- What the gateway and the triggers keep on a workspace's leads and response windows, worked out
-- from scratch: the acknowledgement time, the windows' owner and the stage summary
-- (src/leads/pipeline.ts keeps it as stages change). For rows written around them (a bulk load
-- with triggers off).
CREATE OR REPLACE FUNCTION leads_derive(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE leads l SET "acknowledgedAt" = a.at
  FROM (
    SELECT m."leadId", min(m."sentAt") AS at FROM messages m
    WHERE m."workspaceId" = ws AND m.automatic AND m.direction = 'out' AND m."sentAt" IS NOT NULL AND m."sequenceStep" IS NULL
    GROUP BY 1) a
  WHERE l.id = a."leadId" AND l."acknowledgedAt" IS DISTINCT FROM a.at;

  UPDATE response_windows rw SET "ownerId" = l."ownerId"
  FROM leads l WHERE l.id = rw."leadId" AND rw."workspaceId" = ws AND rw."ownerId" IS DISTINCT FROM l."ownerId";

  UPDATE leads l SET "stagesEntered" = s.entered, "furthestStage" = furthest_on_path(s.entered)
  FROM (
    SELECT e."leadId", array_agg(DISTINCT e.stage ORDER BY e.stage) AS entered
    FROM stage_entries e
    WHERE e."workspaceId" = ws
    GROUP BY 1) s
  WHERE l.id = s."leadId" AND (l."stagesEntered" IS DISTINCT FROM s.entered OR l."furthestStage" <> furthest_on_path(s.entered));
END $$;
