import { ProblemError } from './errors.js';

/**
 * What any parsed body may be, whatever its byte size: nesting and fan-out cost stack and memory
 * far beyond the bytes (a 10 kB body can nest 5,000 levels), and PostgreSQL refuses text with a
 * NUL character or half of a surrogate pair. Checked at every edge, before anything reaches the
 * database.
 */
export const parsedBodyLimits = { maxDepth: 32, maxNodes: 20_000 } as const;

export type ShapeProblem = { kind: 'too_deep' | 'too_many_values' | 'unstorable_text'; path: string };

/** The first way a parsed value breaks the limits, or null. Iterative: no depth can overflow it. */
export function inspectParsed(value: unknown, limits: { maxDepth: number; maxNodes: number } = parsedBodyLimits): ShapeProblem | null {
  const stack: [unknown, string, number][] = [[value, '', 0]];
  let nodes = 0;
  while (stack.length > 0) {
    const [current, path, depth] = stack.pop()!;
    if (++nodes > limits.maxNodes) return { kind: 'too_many_values', path: path || '(body)' };
    if (typeof current === 'string') {
      if (!isStorableText(current)) return { kind: 'unstorable_text', path: path || '(body)' };
      continue;
    }
    if (current === null || typeof current !== 'object' || isOpaque(current)) continue;
    if (depth >= limits.maxDepth) return { kind: 'too_deep', path: path || '(body)' };
    const entries: [string, unknown][] = Array.isArray(current) ? current.map((item, index) => [String(index), item]) : Object.entries(current);
    for (const [key, item] of entries) {
      if (!Array.isArray(current) && !isStorableText(key)) return { kind: 'unstorable_text', path: path || '(body)' };
      stack.push([item, path ? `${path}.${key}` : key, depth + 1]);
    }
  }
  return null;
}

/** Values walked as a whole, not as their parts: dates, and bytes (files). */
function isOpaque(value: object): boolean {
  return value instanceof Date || value instanceof Uint8Array;
}

/** Text PostgreSQL can store: no NUL character, no lone half of a surrogate pair. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

/** The text with NUL characters removed and lone surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return isStorableText(text) ? text : text.replaceAll('\u0000', '').toWellFormed();
}

/**
 * The same value with every string (and key) made storable: what a provider sends is kept, minus
 * what the database cannot hold, rather than refused and lost. Iterative, like inspectParsed.
 */
export function storableValue<T>(value: T): T {
  const fix = (item: unknown): unknown => (typeof item === 'string' ? storableText(item) : item);
  const root = { value: fix(value) as unknown };
  const stack: { container: Record<string, unknown> | unknown[]; key: string | number }[] = [{ container: root as Record<string, unknown>, key: 'value' }];
  while (stack.length > 0) {
    const { container, key } = stack.pop()!;
    const current = (container as Record<string | number, unknown>)[key];
    if (current === null || typeof current !== 'object' || isOpaque(current)) continue;
    if (Array.isArray(current)) {
      const copy = current.map(fix);
      (container as Record<string | number, unknown>)[key] = copy;
      copy.forEach((_, index) => stack.push({ container: copy, key: index }));
      continue;
    }
    const copy: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(current)) copy[storableText(name)] = fix(item);
    (container as Record<string | number, unknown>)[key] = copy;
    for (const name of Object.keys(copy)) stack.push({ container: copy, key: name });
  }
  return root.value as T;
}

/** The problem a broken shape is answered with: 422 naming where it broke. */
export function shapeProblem(problem: ShapeProblem): ProblemError {
  const message =
    problem.kind === 'too_deep'
      ? `nests deeper than ${parsedBodyLimits.maxDepth} levels`
      : problem.kind === 'too_many_values'
        ? `holds more than ${parsedBodyLimits.maxNodes} values`
        : 'contains a NUL character or half of a UTF-16 surrogate pair';
  return new ProblemError('validation_failed', `The body ${message}`, [{ path: problem.path, message }]);
}

