/**
 * The session shared by every tab: one HttpOnly cookie, and a BroadcastChannel
 * ('accord-session') so a sign-in or sign-out in one tab reaches all tabs at once.
 *
 * However the session ends in a tab — signed out there or in another tab, or ended by
 * the server (a socket closed with 4401, a request answered 401, or found ended at page
 * load) — that tab closes every document provider and then deletes the user's local
 * copies (sync/localCopies.ts), so no record stays readable on the device after the
 * session. Delivering unsent edits before that is the sign-out button's part
 * (components/SignOutButton.tsx); a session the server ends takes unsent edits with it,
 * and the sign-in screen names them.
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react'
import { docLabel } from '../docLabel.js'
import { deleteLocalCopies, usersCacheKey } from '../sync/localCopies.js'
import { SyncClient } from '../sync/SyncClient.js'
import { SyncContext } from '../sync/hooks.js'
import { api, ApiError, onUnauthorized, type User } from './api.js'
import { UsersContext } from './useUsers.js'

const SESSION_CHANNEL = 'accord-session'
/** The last signed-in user, so the app can open offline. Not a credential. */
const CACHED_USER_KEY = 'accord:user'
/**
 * Set when a sign-out could not reach the server (offline): the cookie, which the page
 * cannot clear, still names a live session, so it is ended as soon as the server answers.
 */
const LOGOUT_PENDING_KEY = 'accord:logout-pending'
const SESSION_ENDED = 'Your session has ended. Please sign in again.'

type SessionMessage = { type: 'signed-in' } | { type: 'signed-out' }

export type SessionState = { status: 'loading' } | { status: 'signed-out'; reason?: string } | { status: 'signed-in'; user: User }

interface SessionApi {
  state: SessionState
  login(email: string, password: string): Promise<void>
  /** Accepts an invite link: the new user is added and signed in, as `login` signs in. */
  acceptInvite(token: string, form: { name: string; password: string; email?: string }): Promise<void>
  /** Ends the session here, in every tab and on the server, and deletes the user's local copies. */
  logout(): Promise<void>
}

const SessionContext = createContext<SessionApi | null>(null)

export function useSession(): SessionApi {
  const session = useContext(SessionContext)
  if (!session) throw new Error('useSession outside SessionProvider')
  return session
}

/** The signed-in user; only inside the signed-in part of the app. */
export function useUser(): User {
  const { state } = useSession()
  if (state.status !== 'signed-in') throw new Error('not signed in')
  return state.user
}

function cachedUser(): User | null {
  try {
    return JSON.parse(localStorage.getItem(CACHED_USER_KEY) ?? 'null') as User | null
  } catch {
    return null
  }
}

/** Revokes the session an offline sign-out left behind; false while the server is out of reach. */
async function endPendingLogout(): Promise<boolean> {
  if (!localStorage.getItem(LOGOUT_PENDING_KEY)) return true
  try {
    await api('POST', '/api/auth/logout')
  } catch (error) {
    if (!(error instanceof ApiError)) return false
  }
  localStorage.removeItem(LOGOUT_PENDING_KEY)
  return true
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' })
  const channel = useMemo(() => new BroadcastChannel(SESSION_CHANNEL), [])
  const stateRef = useRef(state)
  stateRef.current = state
  const clientRef = useRef<SyncClient | null>(null)

  const signOut = useCallback((reason?: string) => {
    const current = stateRef.current
    localStorage.removeItem(CACHED_USER_KEY)
    if (current.status === 'signed-out') return
    stateRef.current = { status: 'signed-out', reason }
    setState(stateRef.current)
    if (current.status !== 'signed-in') return
    // The copies go only once this tab's providers have closed them, so no late write re-creates one.
    const client = clientRef.current
    const userId = current.user.id
    void (client ? client.close() : Promise.resolve()).then(() => deleteLocalCopies(userId))
  }, [])

  const endSession = useCallback(() => {
    if (stateRef.current.status !== 'signed-in') return
    const client = clientRef.current
    const lost = client?.unsentDocuments().map((docName) => docLabel(docName, client.documentOf(docName)?.doc ?? null)) ?? []
    signOut(lost.length === 0 ? SESSION_ENDED : `${SESSION_ENDED} Edits not yet on the server were discarded: ${lost.join(', ')}.`)
    channel.postMessage({ type: 'signed-out' } satisfies SessionMessage)
  }, [channel, signOut])

  const loadSession = useCallback(async () => {
    try {
      if (!(await endPendingLogout())) throw new TypeError('server out of reach')
      const { user } = await api<{ user: User | null }>('GET', '/api/auth/session')
      if (user) {
        localStorage.setItem(CACHED_USER_KEY, JSON.stringify(user))
        setState({ status: 'signed-in', user })
        return
      }
      // The session ended while no tab was open (expiry, revocation): its copies go now.
      const stale = cachedUser()
      localStorage.removeItem(CACHED_USER_KEY)
      if (stale) void deleteLocalCopies(stale.id)
      setState({ status: 'signed-out', reason: stale ? SESSION_ENDED : undefined })
    } catch (error) {
      const offline = error instanceof TypeError
      const user = offline ? cachedUser() : null
      setState(user ? { status: 'signed-in', user } : { status: 'signed-out' })
    }
  }, [])

  useEffect(() => {
    void loadSession()
    channel.onmessage = (event: MessageEvent<SessionMessage>) => {
      if (event.data.type === 'signed-out') signOut('You signed out in another tab.')
      else if (stateRef.current.status !== 'signed-in') void loadSession()
    }
    const stop = onUnauthorized(endSession)
    const retryLogout = () => void endPendingLogout()
    addEventListener('online', retryLogout)
    return () => {
      stop()
      removeEventListener('online', retryLogout)
      channel.onmessage = null
    }
  }, [channel, loadSession, signOut, endSession])

  /** Signs in with what a sign-in (or an accepted invite) answered: its cookie is set already. */
  const signedIn = useCallback(
    (user: User) => {
      // The new cookie replaces the one an offline sign-out could not end.
      localStorage.removeItem(LOGOUT_PENDING_KEY)
      localStorage.setItem(CACHED_USER_KEY, JSON.stringify(user))
      setState({ status: 'signed-in', user })
      channel.postMessage({ type: 'signed-in' } satisfies SessionMessage)
    },
    [channel],
  )

  const login = useCallback(
    async (email: string, password: string) => {
      signedIn((await api<{ user: User }>('POST', '/api/auth/login', { email, password })).user)
    },
    [signedIn],
  )

  const acceptInvite = useCallback(
    async (token: string, form: { name: string; password: string; email?: string }) => {
      signedIn((await api<{ user: User }>('POST', `/api/invites/${encodeURIComponent(token)}/accept`, form)).user)
    },
    [signedIn],
  )

  const logout = useCallback(async () => {
    signOut()
    channel.postMessage({ type: 'signed-out' } satisfies SessionMessage)
    try {
      await api('POST', '/api/auth/logout')
    } catch (error) {
      if (!(error instanceof ApiError)) localStorage.setItem(LOGOUT_PENDING_KEY, '1')
    }
  }, [channel, signOut])

  const value = useMemo(() => ({ state, login, acceptInvite, logout }), [state, login, acceptInvite, logout])
  const userId = state.status === 'signed-in' ? state.user.id : null
  const readOnly = state.status === 'signed-in' && state.user.role === 'viewer'
  return (
    <SessionContext.Provider value={value}>
      {userId ? (
        <UserSync key={userId} userId={userId} readOnly={readOnly} clientRef={clientRef} onSessionEnded={endSession}>
          {children}
        </UserSync>
      ) : (
        children
      )}
    </SessionContext.Provider>
  )
}

interface UserSyncProps {
  userId: string
  /** A viewer: its documents never send updates (see DocConnection). */
  readOnly: boolean
  /** Where the session finds the client to close before it deletes the local copies. */
  clientRef: { current: SyncClient | null }
  onSessionEnded: () => void
  children: ReactNode
}

/** One SyncClient per signed-in user; unmounting (sign-out) closes every provider. */
function UserSync({ userId, readOnly, clientRef, onSessionEnded, children }: UserSyncProps) {
  const endedRef = useRef(onSessionEnded)
  endedRef.current = onSessionEnded
  const [client, setClient] = useState<SyncClient | null>(null)
  const [users, setUsers] = useState<User[]>([])
  useEffect(() => {
    const created = new SyncClient(userId, () => endedRef.current(), readOnly)
    clientRef.current = created
    setClient(created)
    let live = true
    const cacheKey = usersCacheKey(userId)
    api<{ items: User[] }>('GET', '/api/users')
      .then((r) => {
        // Not after sign-out: the list would outlive the copies deleted with the session.
        if (!live) return
        localStorage.setItem(cacheKey, JSON.stringify(r.items))
        setUsers(r.items)
      })
      .catch(() => live && setUsers(JSON.parse(localStorage.getItem(cacheKey) ?? '[]') as User[]))
    return () => {
      live = false
      if (clientRef.current === created) clientRef.current = null
      void created.close()
    }
  }, [userId, readOnly, clientRef])
  if (!client) return null
  return (
    <SyncContext.Provider value={client}>
      <UsersContext.Provider value={users}>{children}</UsersContext.Provider>
    </SyncContext.Provider>
  )
}
