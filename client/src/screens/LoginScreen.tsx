/** Sign-in form. The demo logins are listed on a loopback server. */
import { type FormEvent, useState } from 'react'
import { ApiError } from '../session/api.js'
import { useSession } from '../session/SessionProvider.js'

const DEMO_LOGINS = ['alice@demo.test', 'bob@demo.test', 'carol@demo.test', 'vera@demo.test']

/** The brand at the top of a signed-out card (sign-in, invite). */
export function CardBrand() {
  return (
    <div className="brand brand-large">
      <span className="brand-mark" aria-hidden="true">
        ◆
      </span>{' '}
      Accord
    </div>
  )
}

export function LoginScreen({ reason }: { reason?: string }) {
  const { login } = useSession()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const isLocal = ['localhost', '127.0.0.1', '[::1]'].includes(location.hostname)

  async function submit(event: FormEvent) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await login(email, password)
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Cannot reach the server.')
      setBusy(false)
    }
  }

  return (
    <main className="login">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title">
        <CardBrand />
        <h1 id="login-title">Sign in to your workspace</h1>
        {reason && (
          <p className="notice notice-info" role="status">
            {reason}
          </p>
        )}
        <label>
          E-mail
          <input
            type="email"
            name="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p className="notice notice-error" role="alert">
            {error}
          </p>
        )}
        <button className="button button-primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {isLocal && (
          <div className="login-demo">
            <p>
              Demo workspace — password <code>accord-demo</code>:
            </p>
            <div className="login-demo-users">
              {DEMO_LOGINS.map((demo) => (
                <button
                  key={demo}
                  type="button"
                  className="chip"
                  onClick={() => {
                    setEmail(demo)
                    setPassword('accord-demo')
                  }}
                >
                  {demo}
                </button>
              ))}
            </div>
          </div>
        )}
      </form>
    </main>
  )
}
