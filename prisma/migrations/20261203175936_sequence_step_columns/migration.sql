-- A sequence step's message says which enrolment and step it was sent for in columns of its own,
-- instead of in its idempotency key ("sequence:<enrolment id>:<step>"), which the functions in
-- prisma/sql/ used to take apart.

-- AlterTable
ALTER TABLE "messages" ADD COLUMN     "sequenceEnrollmentId" TEXT,
ADD COLUMN     "sequenceStep" INTEGER;

-- The step messages written before.
UPDATE "messages"
SET "sequenceEnrollmentId" = split_part("idempotencyKey", ':', 2), "sequenceStep" = split_part("idempotencyKey", ':', 3)::int
WHERE "idempotencyKey" LIKE 'sequence:%:%' AND split_part("idempotencyKey", ':', 3) ~ '^[0-9]+$';

-- Read the key; prisma/sql/sequence-outcomes.sql reads the columns.
DROP FUNCTION "sequence_step_of_message"(text, text);
