/**
 * Logs: pino on stderr, level from `LOG_LEVEL` (default `info`), format from `LOG_FORMAT`:
 * one readable line per event on a terminal, one JSON object per line otherwise (a pipe,
 * a file, a log collector, CI). Every HTTP request gets an id (the caller's `X-Request-Id`
 * when it is a sane token, else a fresh one), echoed in the response and logged with it.
 */
import { randomUUID } from 'node:crypto'
import type { NextFunction, Request, Response } from 'express'
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const LOG_FORMATS = ['pretty', 'json'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/
/** The fields of a request line, shown as `GET /api/... 200 3.1ms` on a terminal instead of as fields. */
const REQUEST_FIELDS = ['reqId', 'method', 'path', 'status', 'ms'] as const

/**
 * The format `LOG_FORMAT` asks for; unset or empty, readable lines when stderr is a
 * terminal and JSON otherwise, so a collector never has to parse the readable form.
 * Throws on an unknown value.
 */
export function logFormatOf(value: string | undefined, terminal: boolean): LogFormat {
  if (value === undefined || value === '') return terminal ? 'pretty' : 'json'
  if (!(LOG_FORMATS as readonly string[]).includes(value))
    throw new Error(`LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}, not "${value}"`)
  return value as LogFormat
}

/** A logger on stderr (fd 2) in the format `logFormatOf` picks. Throws on an unknown level or format. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', format: string | undefined = process.env.LOG_FORMAT): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`)
  const terminal = process.stderr.isTTY === true
  const stream = logFormatOf(format, terminal) === 'json' ? pino.destination({ fd: 2, sync: false }) : prettyStream(terminal)
  return pino({ level, base: { service: 'accord' } }, stream)
}

/**
 * pino-pretty in the same thread (a worker transport would cost a thread for a terminal):
 * `12:03:04 INFO: GET /api/records/deals 200 3.1ms`, other fields on the same line,
 * an error's stack below it.
 */
function prettyStream(terminal: boolean) {
  return pretty({
    destination: 2,
    colorize: terminal && !process.env.NO_COLOR,
    translateTime: 'SYS:HH:MM:ss',
    singleLine: true,
    ignore: ['pid', 'hostname', 'service', ...REQUEST_FIELDS].join(','),
    messageFormat: (log, messageKey) => {
      const { method, path, status, ms } = log
      const message = String(log[messageKey] ?? '')
      if (typeof method !== 'string' || typeof path !== 'string') return message
      const line = `${method} ${path} ${String(status)} ${String(ms)}ms`
      return message === 'request' ? line : `${message}: ${line}`
    },
  })
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
export function requestLogger(logger: Logger, onFinished?: (req: Request, status: number, seconds: number) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.get('x-request-id')
    const id = given && REQUEST_ID_PATTERN.test(given) ? given : randomUUID()
    ;(req as Request & { id?: string }).id = id
    res.setHeader('X-Request-Id', id)
    const startedAt = process.hrtime.bigint()
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - startedAt) / 1e6
      onFinished?.(req, res.statusCode, ms / 1000)
      // The full path (routers rewrite req.path to their own part) and never the query
      // string, which may carry a token.
      const path = req.originalUrl.split('?', 1)[0]!
      const quiet = path === '/healthz' || path === '/readyz' || path === '/metrics'
      const line = { reqId: id, method: req.method, path, status: res.statusCode, ms: Math.round(ms * 100) / 100 }
      if (res.statusCode >= 500) logger.error(line, 'request failed')
      else if (quiet) logger.debug(line, 'request')
      else logger.info(line, 'request')
    })
    next()
  }
}
