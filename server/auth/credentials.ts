/** Where a request carries its session token: the bearer header, the sync URL's `?token=`, or the session cookie. */
import type { IncomingMessage } from 'node:http'
import { SESSION_COOKIE } from '../../shared/protocol.js'

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
