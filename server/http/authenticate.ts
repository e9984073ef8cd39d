/** Turns a request's bearer token or session cookie into a Principal, at the edge. */
import type { IncomingMessage } from 'node:http'
import type { NextFunction, Request, Response } from 'express'
import { SESSION_COOKIE } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import type { Principal } from '../auth/types.js'
import { HttpError } from './errors.js'
import { FORBIDDEN_ORIGIN, OriginPolicy } from './origin.js'

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return undefined
}

/** A request's session token and how it came: only a cookie is sent by the browser on its own. */
export interface Credential {
  token: string
  via: 'bearer' | 'query' | 'cookie'
}

/** The `Authorization: Bearer` token, else the `?token=` of `url` (the sync URL), else the session cookie. */
export function credentialOf(req: IncomingMessage, url?: URL): Credential | undefined {
  const header = req.headers.authorization
  if (header?.startsWith('Bearer ')) return { token: header.slice(7).trim(), via: 'bearer' }
  const fromQuery = url?.searchParams.get('token')
  if (fromQuery) return { token: fromQuery, via: 'query' }
  const fromCookie = readCookie(req.headers.cookie, SESSION_COOKIE)
  return fromCookie === undefined ? undefined : { token: fromCookie, via: 'cookie' }
}

export function tokenOf(req: IncomingMessage, url?: URL): string | undefined {
  return credentialOf(req, url)?.token
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal
  }
}

/**
 * Authenticates every request; a state-changing one that authenticates by the cookie must
 * also come from an origin `origins` allows (cross-site request forgery), checked before the
 * session is looked up so a forged request does not even slide its expiry.
 */
export function requireAuth(auth: AuthService, origins: OriginPolicy) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const credential = credentialOf(req)
    if (credential?.via === 'cookie' && OriginPolicy.mustCheck(req.method) && !origins.allows(req)) {
      return next(new HttpError(FORBIDDEN_ORIGIN.status, FORBIDDEN_ORIGIN.code, FORBIDDEN_ORIGIN.message))
    }
    const principal = auth.authenticate(credential?.token)
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
