/**
 * `/invite/:token`: what an invite link offers, and the form that accepts it (the new user
 * is added and signed in). A used or expired link says so; someone already signed in is told
 * to sign out first, so that the link never replaces their session unseen.
 */
import { type FormEvent, useEffect, useState } from 'react'
import { navigate } from '../router.js'
import { ApiError, api } from '../session/api.js'
import { useSession } from '../session/SessionProvider.js'
import { SignOutButton } from '../components/SignOutButton.js'
import { CardBrand } from './LoginScreen.js'

interface Invite {
  workspace: { id: string; name: string }
  role: string
  email: string | null
  expiresAt: number
}

type Loaded = { status: 'loading' } | { status: 'ready'; invite: Invite } | { status: 'unusable'; message: string }

function unusable(error: unknown): string {
  if (error instanceof ApiError && error.status === 410) return 'This invite link was used already or has expired. Ask for a new one.'
  if (error instanceof ApiError && error.status === 404) return 'This invite link is not valid. Check that it was copied whole.'
  return 'Cannot reach the server.'
}

export function InviteScreen({ token }: { token: string }) {
  const { state, acceptInvite } = useSession()
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' })
  const [form, setForm] = useState({ name: '', email: '', password: '' })
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    api<Invite>('GET', `/api/invites/${encodeURIComponent(token)}`).then(
      (invite) => setLoaded({ status: 'ready', invite }),
      (e: unknown) => setLoaded({ status: 'unusable', message: unusable(e) }),
    )
  }, [token])

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (loaded.status !== 'ready') return
    setBusy(true)
    setError(null)
    try {
      await acceptInvite(token, { name: form.name, password: form.password, ...(loaded.invite.email ? {} : { email: form.email }) })
      navigate('/')
    } catch (e) {
      if (e instanceof ApiError && e.status === 410) setLoaded({ status: 'unusable', message: unusable(e) })
      else setError(e instanceof ApiError ? e.message : 'Cannot reach the server.')
      setBusy(false)
    }
  }

  return (
    <main className="login">
      <form className="login-card" onSubmit={submit} aria-labelledby="invite-title" aria-busy={loaded.status === 'loading'}>
        <CardBrand />
        <h1 id="invite-title">{loaded.status === 'ready' ? `Join ${loaded.invite.workspace.name}` : 'Invitation to Accord'}</h1>
        {loaded.status === 'unusable' && (
          <p className="notice notice-error" role="alert" data-testid="invite-unusable">
            {loaded.message}
          </p>
        )}
        {loaded.status === 'ready' && state.status === 'signed-in' && (
          <>
            <p className="notice notice-info" role="status">
              You are signed in as {state.user.email}. Sign out first to accept this invite.
            </p>
            <SignOutButton />
          </>
        )}
        {loaded.status === 'ready' && state.status !== 'signed-in' && (
          <>
            <p>
              You are invited as <strong>{loaded.invite.role}</strong>. Choose your name and password; the link then signs you in.
            </p>
            <label>
              E-mail
              <input
                type="email"
                name="email"
                autoComplete="username"
                required
                readOnly={loaded.invite.email !== null}
                value={loaded.invite.email ?? form.email}
                onChange={(e) => setForm({ ...form, email: e.target.value })}
              />
            </label>
            <label>
              Name
              <input
                name="name"
                autoComplete="name"
                required
                value={form.name}
                onChange={(e) => setForm({ ...form, name: e.target.value })}
              />
            </label>
            <label>
              Password
              <input
                type="password"
                name="password"
                autoComplete="new-password"
                required
                minLength={8}
                value={form.password}
                onChange={(e) => setForm({ ...form, password: e.target.value })}
              />
            </label>
            {error && (
              <p className="notice notice-error" role="alert">
                {error}
              </p>
            )}
            <button className="button button-primary" type="submit" disabled={busy}>
              {busy ? 'Joining…' : `Join ${loaded.invite.workspace.name}`}
            </button>
          </>
        )}
      </form>
    </main>
  )
}
