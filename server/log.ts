/**
 * Structured logs: pino, one JSON object per line on stderr, level from `LOG_LEVEL`
 * (default `info`). Every HTTP request gets an id (the caller's `X-Request-Id` when it
 * is a sane token, else a fresh one), echoed in the response and logged with it.
 */
import { randomUUID } from 'node:crypto'
import type { NextFunction, Request, Response } from 'express'
import { pino, type Logger } from 'pino'

export type { Logger }

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/** A JSON logger on stderr (fd 2). Throws on an unknown level. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`)
  return pino({ level, base: { service: 'accord' } }, pino.destination({ fd: 2, sync: false }))
}

/** A logger that writes nothing (tests, embedded servers). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/** The request id of a request that went through `requestLogger`. */
export function requestIdOf(req: Request): string | undefined {
  return (req as Request & { id?: string }).id
}

/**
 * Assigns a request id, sets `X-Request-Id` on the response, and logs one line per
 * request when it finishes (`debug` for health and metrics scrapes, `info` otherwise).
 */
export function requestLogger(logger: Logger, onFinished?: (method: string, status: number) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.get('x-request-id')
    const id = given && REQUEST_ID_PATTERN.test(given) ? given : randomUUID()
    ;(req as Request & { id?: string }).id = id
    res.setHeader('X-Request-Id', id)
    const startedAt = process.hrtime.bigint()
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - startedAt) / 1e6
      onFinished?.(req.method, res.statusCode)
      const quiet = req.path === '/healthz' || req.path === '/readyz' || req.path === '/metrics'
      const line = { reqId: id, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 100) / 100 }
      if (res.statusCode >= 500) logger.error(line, 'request failed')
      else if (quiet) logger.debug(line, 'request')
      else logger.info(line, 'request')
    })
    next()
  }
}
