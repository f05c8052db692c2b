import type pg from 'pg';

/**
 * Plain SQL on one connection, for the hot paths where Prisma's per-query cost is the wall: a
 * batch is a handful of statements, each writing many rows.
 */
export type Sql = <Row = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<Row[]>;

/** Runs work in one transaction on a connection of the pool: committed if it returns, rolled back if it throws. */
export async function transaction<T>(pool: pg.Pool, work: (sql: Sql) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(async <Row>(text: string, params?: unknown[]) => (await client.query(text, params)).rows as Row[]);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      // The connection itself failed: it must not go back to the pool.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** A column of a multi-row write: its name and its PostgreSQL type. */
export type Column = readonly [name: string, type: string];

/**
 * The rows as one jsonb parameter, read back as a table: one statement writes any number of rows
 * with one bound value, whatever their count (PostgreSQL allows 65,535 bound values).
 */
function recordset(columns: readonly Column[]): string {
  return `jsonb_to_recordset($1::jsonb) AS r(${columns.map(([name, type]) => `"${name}" ${type}`).join(', ')})`;
}

/** INSERT of many rows; `conflict` is an ON CONFLICT clause when one is wanted. */
export async function insertRows(sql: Sql, table: string, columns: readonly Column[], rows: readonly object[], conflict = ''): Promise<void> {
  if (rows.length === 0) return;
  const names = columns.map(([name]) => `"${name}"`).join(', ');
  await sql(`INSERT INTO ${table} (${names}) SELECT ${names} FROM ${recordset(columns)} ${conflict}`, [JSON.stringify(rows)]);
}

/** UPDATE of many rows by id, each with its own values for `columns`; `set` may add expressions. */
export async function updateRows(sql: Sql, table: string, columns: readonly Column[], rows: readonly ({ id: string } & object)[], set: string[] = []): Promise<void> {
  if (rows.length === 0) return;
  const assignments = [...columns.map(([name]) => `"${name}" = r."${name}"`), ...set].join(', ');
  await sql(`UPDATE ${table} t SET ${assignments} FROM ${recordset([['id', 'text'], ...columns])} WHERE t.id = r.id`, [JSON.stringify(rows)]);
}
