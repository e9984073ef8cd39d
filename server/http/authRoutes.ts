import { Router } from 'express'
import { z } from 'zod'
import { LIMITS, type Limits, SESSION_COOKIE } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import { LoginThrottle } from '../limits/LoginThrottle.js'
import { principalOf, requireAuth, tokenOf } from './authenticate.js'
import { HttpError } from './errors.js'

const loginBody = z.object({ email: z.string().max(320), password: z.string().max(1000) })

export interface AuthRoutesOptions {
  auth: AuthService
  /** Closes every socket of a session (logout, revocation). */
  onSessionEnded: (sessionId: string) => void
  secureCookies: boolean
  /** Overrides of the sign-in limits in `LIMITS`. @default LIMITS */
  limits?: Partial<Pick<Limits, 'LOGIN_FAILURES_PER_ACCOUNT' | 'LOGIN_FAILURES_PER_ADDRESS' | 'LOGIN_WINDOW_MS'>>
}

export function authRoutes({ auth, onSessionEnded, secureCookies, limits }: AuthRoutesOptions): Router {
  const router = Router()
  const { LOGIN_FAILURES_PER_ACCOUNT, LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS } = { ...LIMITS, ...limits }
  const throttle = new LoginThrottle({
    failuresPerAccount: LOGIN_FAILURES_PER_ACCOUNT,
    failuresPerAddress: LOGIN_FAILURES_PER_ADDRESS,
    windowMs: LOGIN_WINDOW_MS,
  })
  const cookie = (value: string, maxAgeS: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${secureCookies ? '; Secure' : ''}`

  router.post('/login', async (req, res) => {
    const body = loginBody.safeParse(req.body)
    if (!body.success) throw new HttpError(400, 'invalid', 'email and password are required', { issues: body.error.issues })
    const { email, password } = body.data
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown'
    // Checked before any lookup, and counted alike for unknown e-mails: the answer never tells whether an account exists.
    const waitMs = throttle.retryAfterMs(email, address)
    if (waitMs > 0) {
      const retryAfterS = Math.ceil(waitMs / 1000)
      res.setHeader('Retry-After', String(retryAfterS))
      throw new HttpError(429, 'rate-limited', 'too many failed sign-in attempts; try again later', { retryAfterS })
    }
    const user = await auth.verifyCredentials(email, password)
    if (!user) {
      throttle.failed(email, address)
      throw new HttpError(401, 'unauthorized', 'wrong e-mail or password')
    }
    throttle.succeeded(email)
    const session = auth.createSession(user.id)
    res.setHeader('Set-Cookie', cookie(session.token, Math.floor(auth.sessionIdleMs / 1000)))
    res.json({ token: session.token, user })
  })

  router.post('/logout', requireAuth(auth), (req, res) => {
    const { sessionId } = principalOf(req)
    auth.revokeSession(sessionId)
    onSessionEnded(sessionId)
    res.setHeader('Set-Cookie', cookie('', 0))
    res.status(204).end()
  })

  // Who is signed in, for the page that has just loaded. "Nobody" is an answer here, not
  // a 401: a browser logs every 4xx as an error, and a signed-out visit is not one.
  router.get('/session', (req, res) => {
    const principal = auth.authenticate(tokenOf(req))
    res.setHeader('Cache-Control', 'no-store')
    res.json({ user: principal ? auth.getUser(principal.userId) : null })
  })

  return router
}
