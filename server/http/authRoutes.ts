import { type Request, Router } from 'express'
import { z } from 'zod'
import { SESSION_COOKIE } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import type { LoginThrottle } from '../limits/LoginThrottle.js'
import { tokenOf } from '../auth/credentials.js'
import { principalOf, requireAuth } from './authenticate.js'
import { HttpError } from './errors.js'
import type { OriginPolicy } from '../auth/OriginPolicy.js'

const loginBody = z.object({
  // No account's e-mail holds a NUL (and PostgreSQL's text cannot): refused alike on both backends.
  email: z
    .string()
    .max(320)
    .regex(/^[^\0]*$/, 'must not contain NUL characters (U+0000)'),
  password: z.string().max(1000),
})

const acceptBody = z.strictObject({
  name: z.string().max(200).optional(),
  password: z.string().max(1000),
  email: z
    .string()
    .max(320)
    .regex(/^[^\0]*$/, 'must not contain NUL characters (U+0000)')
    .optional(),
})

export interface AuthRoutesOptions {
  auth: AuthService
  /** Closes every socket of a session (logout, revocation). */
  onSessionEnded: (sessionId: string) => void
  /** Counts sign-in attempts per account and address. */
  throttle: LoginThrottle
  /** Which pages may use the session cookie (logout). */
  origins: OriginPolicy
  /** Told of each refused sign-in (the metrics count them). */
  onRefused?: (reason: 'credentials' | 'throttled') => void
}

/**
 * The session cookie. `Secure` when the sign-in came over HTTPS (`req.secure`: the socket's
 * own TLS, or `X-Forwarded-Proto` when express trusts the proxy in front), so a cookie set
 * over HTTPS is never sent back over plain HTTP; over plain HTTP it cannot be `Secure`, or
 * the browser would drop it.
 */
function sessionCookie(req: Request, value: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${req.secure ? '; Secure' : ''}`
}

export function authRoutes({ auth, onSessionEnded, throttle, origins, onRefused }: AuthRoutesOptions): Router {
  const router = Router()

  router.post('/login', async (req, res) => {
    const body = loginBody.safeParse(req.body)
    if (!body.success) throw new HttpError(400, 'invalid', 'email and password are required', { issues: body.error.issues })
    const { email, password } = body.data
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown'
    // Counted before any lookup, and alike for unknown e-mails: the answer never tells whether an account exists.
    const started = await throttle.start(email, address)
    if (!started.ok) {
      const retryAfterS = Math.ceil(started.retryAfterMs / 1000)
      res.setHeader('Retry-After', String(retryAfterS))
      onRefused?.('throttled')
      throw new HttpError(429, 'rate-limited', 'too many failed sign-in attempts; try again later', { retryAfterS })
    }
    const user = await auth.verifyCredentials(email, password)
    if (!user) {
      onRefused?.('credentials')
      throw new HttpError(401, 'unauthorized', 'wrong e-mail or password')
    }
    await throttle.succeeded(started.attempt)
    const session = await auth.createSession(user.id)
    res.setHeader('Set-Cookie', sessionCookie(req, session.token, Math.floor(auth.sessionIdleMs / 1000)))
    res.json({ token: session.token, user })
  })

  router.post('/logout', requireAuth(auth, origins), async (req, res) => {
    const { sessionId } = principalOf(req)
    await auth.revokeSession(sessionId)
    onSessionEnded(sessionId)
    res.setHeader('Set-Cookie', sessionCookie(req, '', 0))
    res.status(204).end()
  })

  // Who is signed in, for the page that has just loaded. "Nobody" is an answer here, not
  // a 401: a browser logs every 4xx as an error, and a signed-out visit is not one.
  router.get('/session', async (req, res) => {
    const principal = await auth.authenticate(tokenOf(req))
    res.setHeader('Cache-Control', 'no-store')
    res.json({ user: principal ? await auth.getUser(principal.userId) : null })
  })

  return router
}

/**
 * `/api/invites/:token`, for whoever holds the link (no session): what it offers, and
 * accepting it, which adds the user and signs them in as `/api/auth/login` does.
 */
export function inviteRoutes(auth: AuthService): Router {
  const router = Router()
  router.get('/:token', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store')
    res.json(await auth.invite(String(req.params.token)))
  })
  router.post('/:token/accept', async (req, res) => {
    const body = acceptBody.safeParse(req.body ?? {})
    if (!body.success) throw new HttpError(400, 'invalid', 'a password (and a name) are required', { issues: body.error.issues })
    const user = await auth.acceptInvite(String(req.params.token), body.data)
    const session = await auth.createSession(user.id)
    res.setHeader('Set-Cookie', sessionCookie(req, session.token, Math.floor(auth.sessionIdleMs / 1000)))
    res.status(201).json({ token: session.token, user })
  })
  return router
}
