-- DropIndex
DROP INDEX "sequence_enrollments_workspaceId_enrolledAt_idx";

-- AlterTable
ALTER TABLE "sequence_enrollments" ADD COLUMN     "firstReplyAt" TIMESTAMPTZ(3),
ADD COLUMN     "optedOutAt" TIMESTAMPTZ(3);

-- An enrolment's first reply and opt-out, worked out from the rows: when it is written, and for a
-- workspace's rows written around the triggers (a bulk load, and the enrolments already here).
CREATE FUNCTION sequence_enrollment_first_reply(lead_id text, since timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT min(m."createdAt") FROM messages m WHERE m."leadId" = lead_id AND m.direction = 'in' AND m."createdAt" > since
$$;

CREATE FUNCTION sequence_enrollment_first_opt_out(lead_id text, since timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT min(o."createdAt") FROM leads l JOIN contact_opt_outs o ON o."contactId" = l."contactId" WHERE l.id = lead_id AND o."createdAt" > since
$$;

CREATE FUNCTION sequence_enrollments_derive(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments se
  SET "firstReplyAt" = sequence_enrollment_first_reply(se."leadId", se."enrolledAt"),
      "optedOutAt" = sequence_enrollment_first_opt_out(se."leadId", se."enrolledAt")
  WHERE se."workspaceId" = ws;
END $$;

CREATE FUNCTION sequence_enrollments_look_back() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."firstReplyAt" := sequence_enrollment_first_reply(NEW."leadId", NEW."enrolledAt");
  NEW."optedOutAt" := sequence_enrollment_first_opt_out(NEW."leadId", NEW."enrolledAt");
  RETURN NEW;
END $$;

CREATE TRIGGER sequence_enrollments_written
BEFORE INSERT OR UPDATE OF "leadId", "enrolledAt" ON sequence_enrollments
FOR EACH ROW EXECUTE FUNCTION sequence_enrollments_look_back();

CREATE FUNCTION sequence_enrollments_note_reply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments SET "firstReplyAt" = NEW."createdAt"
  WHERE "leadId" = NEW."leadId" AND "enrolledAt" < NEW."createdAt" AND ("firstReplyAt" IS NULL OR "firstReplyAt" > NEW."createdAt");
  RETURN NULL;
END $$;

CREATE TRIGGER sequence_enrollments_replied
AFTER INSERT ON messages
FOR EACH ROW WHEN (NEW.direction = 'in')
EXECUTE FUNCTION sequence_enrollments_note_reply();

CREATE FUNCTION sequence_enrollments_note_opt_out() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments se SET "optedOutAt" = NEW."createdAt"
  FROM leads l
  WHERE l."contactId" = NEW."contactId" AND se."leadId" = l.id AND se."enrolledAt" < NEW."createdAt"
    AND (se."optedOutAt" IS NULL OR se."optedOutAt" > NEW."createdAt");
  RETURN NULL;
END $$;

CREATE TRIGGER sequence_enrollments_opted_out
AFTER INSERT ON contact_opt_outs
FOR EACH ROW EXECUTE FUNCTION sequence_enrollments_note_opt_out();

SELECT sequence_enrollments_derive(id) FROM workspaces;

-- CreateIndex
CREATE INDEX "sequence_enrollments_workspaceId_enrolledAt_sequenceId_lead_idx" ON "sequence_enrollments"("workspaceId", "enrolledAt", "sequenceId", "leadId", "id", "firstReplyAt", "optedOutAt");

-- CreateIndex
CREATE INDEX "sequence_enrollments_leadId_idx" ON "sequence_enrollments"("leadId");

