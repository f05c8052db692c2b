-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateIndex
CREATE INDEX "contacts_name_trgm_idx" ON "contacts" USING GIN ("name" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "contact_identities_value_trgm_idx" ON "contact_identities" USING GIN ("value" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "leads_name_trgm_idx" ON "leads" USING GIN ("name" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "leads_company_trgm_idx" ON "leads" USING GIN ("company" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "messages_text_trgm_idx" ON "messages" USING GIN ("text" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "messages_subject_trgm_idx" ON "messages" USING GIN ("subject" gin_trgm_ops);

-- Windows of leads deleted before the foreign key existed answer nothing any more.
DELETE FROM "response_windows" w WHERE NOT EXISTS (SELECT 1 FROM "leads" l WHERE l."id" = w."leadId");

-- AddForeignKey
ALTER TABLE "response_windows" ADD CONSTRAINT "response_windows_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "leads"("id") ON DELETE CASCADE ON UPDATE CASCADE;

