/** HTTP errors in the contract's format: `{"error": {"code", "message", ...}}`. */
import type { ErrorRequestHandler, Response } from 'express'
import { AuthError } from '../auth/AuthService.js'
import { RecordError } from '../records/RecordError.js'
import { StaleRecordError } from '../records/StaleRecordError.js'
import { PersistError } from '../sync/DocRegistry.js'
import { databaseUnreachable } from '../pg/retry.js'

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

export function sendError(res: Response, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error: { code, message, ...extra } })
}

const RECORD_STATUS = { invalid: 400, 'not-found': 404, conflict: 409, 'precondition-failed': 412 } as const
const AUTH_STATUS = { exists: 409, 'not-found': 404, invalid: 400, forbidden: 403, conflict: 409, gone: 410 } as const

/** The last middleware: turns every thrown error into the contract's format. */
export function errorHandler(onUnexpected: (error: unknown) => void): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    if (res.headersSent) return
    if (error instanceof HttpError) return sendError(res, error.status, error.code, error.message, error.extra)
    if (error instanceof StaleRecordError) {
      // The record as it is now and its ETag: a client retries with them, no GET in between.
      res.setHeader('ETag', `"${error.current.etag}"`)
      return sendError(res, 412, error.code, error.message, { record: error.current.record })
    }
    if (error instanceof RecordError) {
      return sendError(res, RECORD_STATUS[error.code], error.code, error.message, error.issues.length ? { issues: error.issues } : {})
    }
    if (error instanceof AuthError) return sendError(res, AUTH_STATUS[error.code], error.code, error.message)
    if (error instanceof PersistError) return sendError(res, 503, 'unavailable', error.message)
    if (databaseUnreachable(error)) return sendError(res, 503, 'unavailable', 'the database is unavailable; try again shortly')
    const status = (error as { status?: number; statusCode?: number }).status ?? (error as { statusCode?: number }).statusCode
    const type = (error as { type?: string }).type
    if (type === 'entity.parse.failed') return sendError(res, 400, 'invalid', 'the body is not valid JSON', { issues: [] })
    if (type === 'entity.too.large') return sendError(res, 413, 'too-large', 'the body is too large')
    if (typeof status === 'number' && status >= 400 && status < 500) return sendError(res, status, 'bad-request', (error as Error).message)
    onUnexpected(error)
    sendError(res, 500, 'internal', 'internal error')
  }
}
