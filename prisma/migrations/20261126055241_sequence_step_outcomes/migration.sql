-- DropIndex
DROP INDEX "sequence_enrollments_workspaceId_enrolledAt_sequenceId_lead_idx";

-- AlterTable
ALTER TABLE "sequence_enrollments" ADD COLUMN     "optedOutAfterStep" INTEGER,
ADD COLUMN     "repliedAfterStep" INTEGER,
ADD COLUMN     "stepsFailed" INTEGER[] DEFAULT ARRAY[]::INTEGER[],
ADD COLUMN     "stepsSent" INTEGER[] DEFAULT ARRAY[]::INTEGER[],
ADD COLUMN     "stepsSkipped" INTEGER[] DEFAULT ARRAY[]::INTEGER[];

-- What became of an enrolment's steps. A step's message carries the idempotency key
-- "sequence:<enrolment id>:<step>"; a skipped step is an activity of the lead naming the sequence.
CREATE FUNCTION sequence_step_of_message(idempotency_key text, enrollment_id text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN split_part(idempotency_key, ':', 1) = 'sequence' AND split_part(idempotency_key, ':', 2) = enrollment_id
    THEN split_part(idempotency_key, ':', 3)::int END
$$;

-- The last step sent (queued) to the lead at or before a moment: what a reply or an opt-out answers.
CREATE FUNCTION sequence_step_sent_by(lead_id text, sequence_id text, at timestamptz) RETURNS int
LANGUAGE sql STABLE AS $$
  SELECT max((a.data->>'step')::int) FROM activities a
  WHERE a."leadId" = lead_id AND a.kind = 'sequence.step_sent' AND a.data->>'sequenceId' = sequence_id AND a."createdAt" <= at
$$;

-- For a workspace's rows written around the triggers (the enrolments already here, and a bulk
-- load), after sequence_enrollments_derive, whose first replies and opt-outs it reads.
CREATE FUNCTION sequence_enrollment_steps_derive(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments se
  SET "stepsSent" = COALESCE(m.sent, '{}'), "stepsFailed" = COALESCE(m.failed, '{}'), "stepsSkipped" = COALESCE(s.skipped, '{}'),
      "repliedAfterStep" = CASE WHEN se."firstReplyAt" IS NOT NULL THEN sequence_step_sent_by(se."leadId", se."sequenceId", se."firstReplyAt") END,
      "optedOutAfterStep" = CASE WHEN se."optedOutAt" IS NOT NULL THEN sequence_step_sent_by(se."leadId", se."sequenceId", se."optedOutAt") END
  FROM sequence_enrollments e
  LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT sequence_step_of_message(msg."idempotencyKey", e.id)) FILTER (WHERE msg.status IN ('sent', 'delivered', 'read')) AS sent,
      array_agg(DISTINCT sequence_step_of_message(msg."idempotencyKey", e.id)) FILTER (WHERE msg.status = 'failed') AS failed
    FROM messages msg
    WHERE msg."leadId" = e."leadId" AND msg.direction = 'out' AND sequence_step_of_message(msg."idempotencyKey", e.id) IS NOT NULL) m ON true
  LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT (a.data->>'step')::int) AS skipped
    FROM activities a
    WHERE a."leadId" = e."leadId" AND a.kind = 'sequence.step_skipped' AND a.data->>'sequenceId' = e."sequenceId") s ON true
  WHERE se.id = e.id AND e."workspaceId" = ws;
END $$;

-- A step's message moves between sent and failed (a retry, a late receipt) as its status does.
CREATE FUNCTION sequence_enrollments_note_step_message() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  enrollment_id text := split_part(NEW."idempotencyKey", ':', 2);
  step int := sequence_step_of_message(NEW."idempotencyKey", enrollment_id);
BEGIN
  IF step IS NOT NULL THEN
    UPDATE sequence_enrollments
    SET "stepsSent" = array_remove(COALESCE("stepsSent", '{}'), step) || CASE WHEN NEW.status IN ('sent', 'delivered', 'read') THEN ARRAY[step] ELSE '{}' END,
        "stepsFailed" = array_remove(COALESCE("stepsFailed", '{}'), step) || CASE WHEN NEW.status = 'failed' THEN ARRAY[step] ELSE '{}' END
    WHERE id = enrollment_id AND "leadId" = NEW."leadId";
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER sequence_enrollments_step_message
AFTER INSERT OR UPDATE OF status ON messages
FOR EACH ROW WHEN (NEW.direction = 'out' AND NEW."idempotencyKey" LIKE 'sequence:%')
EXECUTE FUNCTION sequence_enrollments_note_step_message();

-- A skipped step; and a step sent in a transaction that committed after the reply or opt-out it
-- came before (the reply's trigger could not see it yet).
CREATE FUNCTION sequence_enrollments_note_step_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  step int := (NEW.data->>'step')::int;
BEGIN
  IF NEW.kind = 'sequence.step_skipped' THEN
    UPDATE sequence_enrollments SET "stepsSkipped" = array_remove(COALESCE("stepsSkipped", '{}'), step) || step
    WHERE "leadId" = NEW."leadId" AND "sequenceId" = NEW.data->>'sequenceId';
  ELSE
    UPDATE sequence_enrollments
    SET "repliedAfterStep" = CASE WHEN "firstReplyAt" >= NEW."createdAt" THEN GREATEST("repliedAfterStep", step) ELSE "repliedAfterStep" END,
        "optedOutAfterStep" = CASE WHEN "optedOutAt" >= NEW."createdAt" THEN GREATEST("optedOutAfterStep", step) ELSE "optedOutAfterStep" END
    WHERE "leadId" = NEW."leadId" AND "sequenceId" = NEW.data->>'sequenceId' AND ("firstReplyAt" >= NEW."createdAt" OR "optedOutAt" >= NEW."createdAt");
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER sequence_enrollments_step_activity
AFTER INSERT ON activities
FOR EACH ROW WHEN (NEW.kind IN ('sequence.step_skipped', 'sequence.step_sent'))
EXECUTE FUNCTION sequence_enrollments_note_step_activity();

-- The step a first reply or opt-out answers, whichever trigger set the moment. Named to fire after
-- sequence_enrollments_written (triggers of one event fire in name order), whose moments it reads.
CREATE FUNCTION sequence_enrollments_attribute() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."repliedAfterStep" := CASE WHEN NEW."firstReplyAt" IS NOT NULL THEN sequence_step_sent_by(NEW."leadId", NEW."sequenceId", NEW."firstReplyAt") END;
  NEW."optedOutAfterStep" := CASE WHEN NEW."optedOutAt" IS NOT NULL THEN sequence_step_sent_by(NEW."leadId", NEW."sequenceId", NEW."optedOutAt") END;
  RETURN NEW;
END $$;

CREATE TRIGGER sequence_enrollments_written_attribution
BEFORE UPDATE ON sequence_enrollments
FOR EACH ROW WHEN (NEW."firstReplyAt" IS DISTINCT FROM OLD."firstReplyAt" OR NEW."optedOutAt" IS DISTINCT FROM OLD."optedOutAt")
EXECUTE FUNCTION sequence_enrollments_attribute();

SELECT sequence_enrollment_steps_derive(id) FROM workspaces;

-- CreateIndex
CREATE INDEX "sequence_enrollments_workspaceId_enrolledAt_sequenceId_lead_idx" ON "sequence_enrollments"("workspaceId", "enrolledAt", "sequenceId", "leadId", "stepsSent", "stepsFailed", "stepsSkipped", "repliedAfterStep", "optedOutAfterStep");
