import type { RequestHandler } from 'express';
import { ProblemError } from '../errors.js';
import { inspectParsed, isStorableText, shapeProblem, storableText } from '../input-shape.js';

/** After a JSON body parser: a body too deep, too large in values or with unstorable text is a 422. */
export const guardParsedBody: RequestHandler = (req, _res, next) => {
  const problem = req.body === undefined ? null : inspectParsed(req.body);
  next(problem ? shapeProblem(problem) : undefined);
};

/**
 * A path or query that carries text no row can hold (a NUL, half a surrogate pair) names nothing
 * that exists: 404 for the path, 422 naming the query parameter.
 */
export const guardPathAndQuery: RequestHandler = (req, _res, next) => {
  let path: string | null;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    // Percent-escapes that are not UTF-8 (a lone surrogate's, a stray %): no id is written so.
    path = null;
  }
  if (path === null || !isStorableText(path)) {
    next(new ProblemError('not_found', 'nothing exists at a path with a NUL character or half of a surrogate pair'));
    return;
  }
  for (const [name, value] of Object.entries(req.query)) {
    const values = Array.isArray(value) ? value : [value];
    if (!isStorableText(name) || values.some((item) => typeof item === 'string' && !isStorableText(item))) {
      next(new ProblemError('validation_failed', 'A query parameter is not valid', [{ path: storableText(name), message: 'contains a NUL character or half of a UTF-16 surrogate pair' }]));
      return;
    }
  }
  next();
};
