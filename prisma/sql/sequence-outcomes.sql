-- What became of each sequence enrolment, kept on its row by triggers on messages, contact_opt_outs,
-- activities and sequence_enrollments, so sequence performance counts it from an index alone: the
-- contact's first reply and first opt-out after enrolment, the steps whose message went out, failed
-- or that were skipped, and the last step sent before the reply and before the opt-out.
-- A step's message names its enrolment and step ("sequenceEnrollmentId", "sequenceStep"); a step
-- sent or skipped is also an activity of the lead naming the sequence and the step.

-- An enrolment's first reply and opt-out, worked out from the rows.
CREATE OR REPLACE FUNCTION sequence_enrollment_first_reply(lead_id text, since timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT min(m."createdAt") FROM messages m WHERE m."leadId" = lead_id AND m.direction = 'in' AND m."createdAt" > since
$$;

CREATE OR REPLACE FUNCTION sequence_enrollment_first_opt_out(lead_id text, since timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT min(o."createdAt") FROM leads l JOIN contact_opt_outs o ON o."contactId" = l."contactId" WHERE l.id = lead_id AND o."createdAt" > since
$$;

-- The last step sent (queued) to the lead at or before a moment: what a reply or an opt-out answers.
CREATE OR REPLACE FUNCTION sequence_step_sent_by(lead_id text, sequence_id text, at timestamptz) RETURNS int
LANGUAGE sql STABLE AS $$
  SELECT max((a.data->>'step')::int) FROM activities a
  WHERE a."leadId" = lead_id AND a.kind = 'sequence.step_sent' AND a.data->>'sequenceId' = sequence_id AND a."createdAt" <= at
$$;

-- A workspace's first replies and opt-outs from scratch, for rows written around the triggers (a
-- bulk load).
CREATE OR REPLACE FUNCTION sequence_enrollments_derive(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments se
  SET "firstReplyAt" = sequence_enrollment_first_reply(se."leadId", se."enrolledAt"),
      "optedOutAt" = sequence_enrollment_first_opt_out(se."leadId", se."enrolledAt")
  WHERE se."workspaceId" = ws;
END $$;

-- A workspace's step outcomes from scratch, after sequence_enrollments_derive, whose first replies
-- and opt-outs it reads.
CREATE OR REPLACE FUNCTION sequence_enrollment_steps_derive(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments se
  SET "stepsSent" = COALESCE(m.sent, '{}'), "stepsFailed" = COALESCE(m.failed, '{}'), "stepsSkipped" = COALESCE(s.skipped, '{}'),
      "repliedAfterStep" = CASE WHEN se."firstReplyAt" IS NOT NULL THEN sequence_step_sent_by(se."leadId", se."sequenceId", se."firstReplyAt") END,
      "optedOutAfterStep" = CASE WHEN se."optedOutAt" IS NOT NULL THEN sequence_step_sent_by(se."leadId", se."sequenceId", se."optedOutAt") END
  FROM sequence_enrollments e
  LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT msg."sequenceStep") FILTER (WHERE msg.status IN ('sent', 'delivered', 'read')) AS sent,
      array_agg(DISTINCT msg."sequenceStep") FILTER (WHERE msg.status = 'failed') AS failed
    FROM messages msg
    WHERE msg."leadId" = e."leadId" AND msg.direction = 'out' AND msg."sequenceEnrollmentId" = e.id AND msg."sequenceStep" IS NOT NULL) m ON true
  LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT (a.data->>'step')::int) AS skipped
    FROM activities a
    WHERE a."leadId" = e."leadId" AND a.kind = 'sequence.step_skipped' AND a.data->>'sequenceId' = e."sequenceId") s ON true
  WHERE se.id = e.id AND e."workspaceId" = ws;
END $$;

-- An enrolment written: its first reply and opt-out, looked for among the rows already there.
CREATE OR REPLACE FUNCTION sequence_enrollments_look_back() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."firstReplyAt" := sequence_enrollment_first_reply(NEW."leadId", NEW."enrolledAt");
  NEW."optedOutAt" := sequence_enrollment_first_opt_out(NEW."leadId", NEW."enrolledAt");
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sequence_enrollments_written
BEFORE INSERT OR UPDATE OF "leadId", "enrolledAt" ON sequence_enrollments
FOR EACH ROW EXECUTE FUNCTION sequence_enrollments_look_back();

-- The step a first reply or opt-out answers, whichever trigger set the moment. Named to fire after
-- sequence_enrollments_written (triggers of one event fire in name order), whose moments it reads.
CREATE OR REPLACE FUNCTION sequence_enrollments_attribute() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."repliedAfterStep" := CASE WHEN NEW."firstReplyAt" IS NOT NULL THEN sequence_step_sent_by(NEW."leadId", NEW."sequenceId", NEW."firstReplyAt") END;
  NEW."optedOutAfterStep" := CASE WHEN NEW."optedOutAt" IS NOT NULL THEN sequence_step_sent_by(NEW."leadId", NEW."sequenceId", NEW."optedOutAt") END;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sequence_enrollments_written_attribution
BEFORE UPDATE ON sequence_enrollments
FOR EACH ROW WHEN (NEW."firstReplyAt" IS DISTINCT FROM OLD."firstReplyAt" OR NEW."optedOutAt" IS DISTINCT FROM OLD."optedOutAt")
EXECUTE FUNCTION sequence_enrollments_attribute();

-- The contact's message: the first reply of the lead's enrolments from before it.
CREATE OR REPLACE FUNCTION sequence_enrollments_note_reply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments SET "firstReplyAt" = NEW."createdAt"
  WHERE "leadId" = NEW."leadId" AND "enrolledAt" < NEW."createdAt" AND ("firstReplyAt" IS NULL OR "firstReplyAt" > NEW."createdAt");
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER sequence_enrollments_replied
AFTER INSERT ON messages
FOR EACH ROW WHEN (NEW.direction = 'in')
EXECUTE FUNCTION sequence_enrollments_note_reply();

-- The contact's opt-out: the first of the enrolments of the contact's leads from before it.
CREATE OR REPLACE FUNCTION sequence_enrollments_note_opt_out() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sequence_enrollments se SET "optedOutAt" = NEW."createdAt"
  FROM leads l
  WHERE l."contactId" = NEW."contactId" AND se."leadId" = l.id AND se."enrolledAt" < NEW."createdAt"
    AND (se."optedOutAt" IS NULL OR se."optedOutAt" > NEW."createdAt");
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER sequence_enrollments_opted_out
AFTER INSERT ON contact_opt_outs
FOR EACH ROW EXECUTE FUNCTION sequence_enrollments_note_opt_out();

-- A step's message moves between sent and failed (a retry, a late receipt) as its status does.
CREATE OR REPLACE FUNCTION sequence_enrollments_note_step_message() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  step int := NEW."sequenceStep";
BEGIN
  UPDATE sequence_enrollments
  SET "stepsSent" = array_remove(COALESCE("stepsSent", '{}'), step) || CASE WHEN NEW.status IN ('sent', 'delivered', 'read') THEN ARRAY[step] ELSE '{}' END,
      "stepsFailed" = array_remove(COALESCE("stepsFailed", '{}'), step) || CASE WHEN NEW.status = 'failed' THEN ARRAY[step] ELSE '{}' END
  WHERE id = NEW."sequenceEnrollmentId" AND "leadId" = NEW."leadId";
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER sequence_enrollments_step_message
AFTER INSERT OR UPDATE OF status ON messages
FOR EACH ROW WHEN (NEW.direction = 'out' AND NEW."sequenceEnrollmentId" IS NOT NULL AND NEW."sequenceStep" IS NOT NULL)
EXECUTE FUNCTION sequence_enrollments_note_step_message();

-- A skipped step; and a step sent in a transaction that committed after the reply or opt-out it
-- came before (the reply's trigger could not see it yet).
CREATE OR REPLACE FUNCTION sequence_enrollments_note_step_activity() RETURNS trigger
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

CREATE OR REPLACE TRIGGER sequence_enrollments_step_activity
AFTER INSERT ON activities
FOR EACH ROW WHEN (NEW.kind IN ('sequence.step_skipped', 'sequence.step_sent'))
EXECUTE FUNCTION sequence_enrollments_note_step_activity();
