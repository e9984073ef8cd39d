/**
 * Which sites may use the session cookie. Defends against cross-site WebSocket hijacking
 * and cross-site request forgery: a browser attaches the cookie to a request any page
 * makes, whatever its site (SameSite=Lax does not cover another port of the same host or
 * a sibling subdomain), but it always names the page's origin in `Origin` on a WebSocket
 * upgrade and on a cross-site POST. So a request that authenticates by the cookie and
 * changes something (or opens a socket) must come from the server's own origin or one
 * listed in `allowedOrigins`. Bearer tokens are not sent by the browser on its own and
 * need no such check.
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'

/** The answer to a refused cookie request, REST and upgrade alike: `403 {"error": {code, message}}`. */
export const FORBIDDEN_ORIGIN = {
  status: 403,
  code: 'forbidden-origin',
  message: 'the session cookie may not be used from this origin',
} as const

/** Methods that may change state; only these are checked over REST (reads cannot be forged into writes). */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * `scheme://host[:port]` normalized as browsers send it in `Origin` (lower case, no
 * default port), or null when `value` is not such an origin (a path, a query, `null`).
 */
export function parseOrigin(value: string): string | null {
  if (!/^https?:\/\/[^/?#@\s]+\/?$/i.test(value)) return null
  try {
    return new URL(value).origin
  } catch {
    return null
  }
}

export interface OriginPolicyOptions {
  /** Origins besides the server's own whose pages may use the cookie, as `scheme://host[:port]`. @default [] */
  allowedOrigins?: readonly string[]
  /** Take the scheme and host from `X-Forwarded-Proto` / `X-Forwarded-Host` (a proxy in front sets them). @default false */
  trustProxy?: boolean
}

export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>
  private readonly trustProxy: boolean

  /** Throws on an entry of `allowedOrigins` that is not `scheme://host[:port]`. */
  constructor(options: OriginPolicyOptions = {}) {
    this.trustProxy = options.trustProxy ?? false
    this.allowed = new Set(
      (options.allowedOrigins ?? []).map((entry) => {
        const origin = parseOrigin(entry)
        if (!origin) throw new Error(`allowed origin "${entry}" is not scheme://host[:port]`)
        return origin
      }),
    )
  }

  /** Whether a cookie-authenticated request with this method must pass `allows` (REST). */
  static mustCheck(method: string | undefined): boolean {
    return STATE_CHANGING.has((method ?? 'GET').toUpperCase())
  }

  /**
   * Whether the page that made `req` may use the cookie: its `Origin` (or, lacking one, the
   * origin of its `Referer`) is the server's own or an allowed one. Neither header: refused,
   * since browsers send `Origin` on every upgrade and cross-site POST, and a request without
   * it cannot show where it came from.
   */
  allows(req: IncomingMessage): boolean {
    const from = sourceOrigin(req)
    if (!from) return false
    return from === this.ownOrigin(req) || this.allowed.has(from)
  }

  /** The origin the client addressed: scheme and Host, from the proxy's headers when it is trusted. */
  private ownOrigin(req: IncomingMessage): string | null {
    const forwardedProto = this.trustProxy ? firstValue(req.headers['x-forwarded-proto']) : undefined
    const scheme =
      forwardedProto === 'https' || forwardedProto === 'http'
        ? forwardedProto
        : (req.socket as Partial<TLSSocket>).encrypted
          ? 'https'
          : 'http'
    const host = (this.trustProxy ? firstValue(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host
    return host ? parseOrigin(`${scheme}://${host}`) : null
  }
}

/** The requesting page's origin: `Origin`, or the origin of `Referer`. */
function sourceOrigin(req: IncomingMessage): string | null {
  const origin = req.headers.origin
  if (origin !== undefined) return parseOrigin(origin)
  const referer = req.headers.referer
  if (!referer) return null
  try {
    return parseOrigin(new URL(referer).origin)
  } catch {
    return null
  }
}

/** The first of a comma-separated header's values (proxies append theirs). */
function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header
  const first = value?.split(',')[0]?.trim().toLowerCase()
  return first || undefined
}
