-- DropIndex
DROP INDEX "messages_workspaceId_automatic_createdAt_direction_sentAt_l_idx";

-- DropIndex
DROP INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx";

-- AlterTable
ALTER TABLE "leads" ADD COLUMN     "acknowledgedAt" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "response_windows" ADD COLUMN     "ownerId" TEXT;

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

-- What the triggers would have written for the rows already there (before the indexes, which is quicker).
UPDATE leads l SET "acknowledgedAt" = a.at
FROM (
  SELECT m."leadId", min(m."sentAt") AS at FROM messages m
  WHERE m.automatic AND m.direction = 'out' AND m."sentAt" IS NOT NULL
    AND (m."idempotencyKey" IS NULL OR m."idempotencyKey" NOT LIKE 'sequence:%')
  GROUP BY 1) a
WHERE l.id = a."leadId";

UPDATE response_windows rw SET "ownerId" = l."ownerId" FROM leads l WHERE l.id = rw."leadId" AND l."ownerId" IS NOT NULL;

-- CreateIndex
CREATE INDEX "leads_workspaceId_createdAt_acknowledgedAt_ownerId_channel_idx" ON "leads"("workspaceId", "createdAt", "acknowledgedAt", "ownerId", "channel");

-- CreateIndex
CREATE INDEX "response_windows_workspaceId_openedAt_channel_respondedAt_r_idx" ON "response_windows"("workspaceId", "openedAt", "channel", "respondedAt", "responderId", "ownerId", "wallSeconds", "businessSeconds", "leadId");
