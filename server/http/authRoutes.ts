import { Router } from 'express'
import { z } from 'zod'
import { SESSION_COOKIE } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import { principalOf, requireAuth } from './authenticate.js'
import { HttpError } from './errors.js'

const loginBody = z.object({ email: z.string().max(320), password: z.string().max(1000) })

export interface AuthRoutesOptions {
  auth: AuthService
  /** Closes every socket of a session (logout, revocation). */
  onSessionEnded: (sessionId: string) => void
  secureCookies: boolean
}

export function authRoutes({ auth, onSessionEnded, secureCookies }: AuthRoutesOptions): Router {
  const router = Router()
  const cookie = (value: string, maxAgeS: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${secureCookies ? '; Secure' : ''}`

  router.post('/login', async (req, res) => {
    const body = loginBody.safeParse(req.body)
    if (!body.success) throw new HttpError(400, 'invalid', 'email and password are required', { issues: body.error.issues })
    const user = await auth.verifyCredentials(body.data.email, body.data.password)
    if (!user) throw new HttpError(401, 'unauthorized', 'wrong e-mail or password')
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

  return router
}
