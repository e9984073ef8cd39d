/** Turns a request's bearer token or session cookie into a Principal, at the edge. */
import type { IncomingMessage } from 'node:http'
import type { NextFunction, Request, Response } from 'express'
import { SESSION_COOKIE } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import type { Principal } from '../auth/types.js'
import { HttpError } from './errors.js'

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return undefined
}

export function tokenOf(req: IncomingMessage, url?: URL): string | undefined {
  const header = req.headers.authorization
  if (header?.startsWith('Bearer ')) return header.slice(7).trim()
  const fromQuery = url?.searchParams.get('token')
  if (fromQuery) return fromQuery
  return readCookie(req.headers.cookie, SESSION_COOKIE)
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal
  }
}

export function requireAuth(auth: AuthService) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const principal = auth.authenticate(tokenOf(req))
    if (!principal) return next(new HttpError(401, 'unauthorized', 'not signed in, or the session ended'))
    req.principal = principal
    next()
  }
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new HttpError(401, 'unauthorized', 'not signed in')
  return req.principal
}

export function requireWriter(req: Request): Principal {
  const principal = principalOf(req)
  if (principal.role === 'viewer') throw new HttpError(403, 'forbidden', 'viewers cannot change records')
  return principal
}
