import type { Request, Response } from 'express';
import { stringify } from 'csv-stringify/sync';

type Cell = string | number | boolean | Date | null | undefined;

/** Whether the caller asked for CSV: `?format=csv`, or an Accept header that prefers text/csv. */
export function wantsCsv(req: Request, format: 'json' | 'csv' | undefined): boolean {
  if (format) return format === 'csv';
  return req.accepts(['application/json', 'text/csv']) === 'text/csv';
}

/**
 * Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage return
 * before one) is exported with a leading apostrophe, which spreadsheets show as text: a lead's
 * name comes from whoever filled in the form.
 * @see https://owasp.org/www-community/attacks/CSV_Injection
 */
function neutralised(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

function cell(value: Cell): string | number | boolean {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? neutralised(value) : value;
}

function lines<Row extends object>(rows: Row[], columns: readonly (keyof Row & string)[]): string {
  return stringify(
    rows.map((row) => columns.map((column) => cell(row[column] as Cell))),
    { record_delimiter: 'windows' },
  );
}

/** Column names are field names: plain identifiers that need no quoting. */
function headerLine(columns: readonly string[]): string {
  return `${columns.join(',')}\r\n`;
}

/** Resolves when the client has drained what was written, or has gone. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

function startCsv(res: Response, filename: string): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}.csv"`);
}

/** A table as CSV (RFC 4180: CRLF line ends, a header row with the JSON field names). */
export function sendCsv<Row extends object>(res: Response, filename: string, columns: readonly (keyof Row & string)[], rows: Row[]): void {
  startCsv(res, filename);
  res.end(headerLine(columns) + lines(rows, columns));
}

/** Streams batches of rows as they come, waiting for the client to drain, never holding them all. */
export async function streamCsv<Row extends object>(
  res: Response,
  filename: string,
  columns: readonly (keyof Row & string)[],
  batches: AsyncIterable<Row[]>,
): Promise<void> {
  startCsv(res, filename);
  if (!res.write(headerLine(columns))) await drained(res);
  for await (const rows of batches) {
    if (res.destroyed) return;
    if (!res.write(lines(rows, columns))) await drained(res);
  }
  res.end();
}
