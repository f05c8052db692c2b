import type { Db } from '../db/client.js';
import { type FieldError, ValidationError } from '../errors.js';

export const customFieldTypes = ['text', 'number', 'date', 'choice'] as const;
export type CustomFieldType = (typeof customFieldTypes)[number];

/** The workspace's segment named or identified by `value`, by its canonical name. */
export async function segmentName(prisma: Db, workspaceId: string, value: string): Promise<string> {
  const segment = await prisma.segment.findFirst({
    where: { workspaceId, OR: [{ id: value }, { name: { equals: value, mode: 'insensitive' } }] },
  });
  if (!segment) throw new ValidationError([{ path: 'segment', message: `no segment "${value}" in the workspace; create it under /api/v1/segments` }]);
  return segment.name;
}

/**
 * Custom fields the workspace defined are checked against their type; fields nobody defined are
 * kept as given (forms bring many). Every error names its field.
 */
export async function validateCustomFields(prisma: Db, workspaceId: string, fields: Record<string, unknown>): Promise<void> {
  const definitions = await prisma.customFieldDefinition.findMany({ where: { workspaceId, key: { in: Object.keys(fields) } } });
  const errors: FieldError[] = [];
  for (const definition of definitions) {
    const value = fields[definition.key];
    if (value === null || value === undefined) continue;
    const path = `customFields.${definition.key}`;
    const type = definition.type as CustomFieldType;
    if (type === 'number' && (typeof value !== 'number' || !Number.isFinite(value))) errors.push({ path, message: 'must be a number' });
    if (type === 'text' && typeof value !== 'string') errors.push({ path, message: 'must be text' });
    if (type === 'date' && (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value)))) {
      errors.push({ path, message: 'must be a date as YYYY-MM-DD' });
    }
    if (type === 'choice' && (typeof value !== 'string' || !definition.choices.includes(value))) {
      errors.push({ path, message: `must be one of: ${definition.choices.join(', ')}` });
    }
  }
  if (errors.length > 0) throw new ValidationError(errors);
}
