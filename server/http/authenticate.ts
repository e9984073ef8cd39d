/** Turns a request's bearer token or session cookie into a Principal, at the HTTP edge. */
import type { NextFunction, Request, Response } from 'express'
import type { AuthService } from '../auth/AuthService.js'
import type { Principal } from '../auth/types.js'
import { HttpError } from './errors.js'
import { FORBIDDEN_ORIGIN, OriginPolicy } from '../auth/OriginPolicy.js'
import { credentialOf } from '../auth/credentials.js'

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
  // Express 5 passes a rejection of the returned promise (a database that does not answer) to the error handler.
  return async (req: Request, _res: Response, next: NextFunction) => {
    const credential = credentialOf(req)
    if (credential?.via === 'cookie' && OriginPolicy.mustCheck(req.method) && !origins.allows(req)) {
      return next(new HttpError(FORBIDDEN_ORIGIN.status, FORBIDDEN_ORIGIN.code, FORBIDDEN_ORIGIN.message))
    }
    const principal = await auth.authenticate(credential?.token)
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
