/**
 * The session shared by every tab: one HttpOnly cookie, and a BroadcastChannel
 * ('accord-session') so a sign-in or sign-out in one tab reaches all tabs at once.
 * Signing out closes every document provider before anything else happens.
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react'
import { SyncClient } from '../sync/SyncClient.js'
import { SyncContext } from '../sync/hooks.js'
import { api, onUnauthorized, type User } from './api.js'
import { UsersContext } from './useUsers.js'

const SESSION_CHANNEL = 'accord-session'
/** The last signed-in user, so the app can open offline. Not a credential. */
const CACHED_USER_KEY = 'accord:user'

type SessionMessage = { type: 'signed-in' } | { type: 'signed-out' }

export type SessionState = { status: 'loading' } | { status: 'signed-out'; reason?: string } | { status: 'signed-in'; user: User }

interface SessionApi {
  state: SessionState
  login(email: string, password: string): Promise<void>
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

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' })
  const channel = useMemo(() => new BroadcastChannel(SESSION_CHANNEL), [])
  const stateRef = useRef(state)
  stateRef.current = state

  const signOut = useCallback((reason?: string) => {
    localStorage.removeItem(CACHED_USER_KEY)
    if (stateRef.current.status !== 'signed-out') setState({ status: 'signed-out', reason })
  }, [])

  const endSession = useCallback(
    (reason: string) => {
      if (stateRef.current.status !== 'signed-in') return
      signOut(reason)
      channel.postMessage({ type: 'signed-out' } satisfies SessionMessage)
    },
    [channel, signOut],
  )

  const loadMe = useCallback(async () => {
    try {
      const user = await api<User>('GET', '/api/me')
      localStorage.setItem(CACHED_USER_KEY, JSON.stringify(user))
      setState({ status: 'signed-in', user })
    } catch (error) {
      const offline = error instanceof TypeError
      const user = offline ? cachedUser() : null
      setState(user ? { status: 'signed-in', user } : { status: 'signed-out' })
    }
  }, [])

  useEffect(() => {
    void loadMe()
    channel.onmessage = (event: MessageEvent<SessionMessage>) => {
      if (event.data.type === 'signed-out') signOut('You signed out in another tab.')
      else if (stateRef.current.status !== 'signed-in') void loadMe()
    }
    const stop = onUnauthorized(() => endSession('Your session has ended. Please sign in again.'))
    return () => {
      stop()
      channel.onmessage = null
    }
  }, [channel, loadMe, signOut, endSession])

  const login = useCallback(
    async (email: string, password: string) => {
      const { user } = await api<{ user: User }>('POST', '/api/auth/login', { email, password })
      localStorage.setItem(CACHED_USER_KEY, JSON.stringify(user))
      setState({ status: 'signed-in', user })
      channel.postMessage({ type: 'signed-in' } satisfies SessionMessage)
    },
    [channel],
  )

  const logout = useCallback(async () => {
    signOut()
    channel.postMessage({ type: 'signed-out' } satisfies SessionMessage)
    await api('POST', '/api/auth/logout').catch(() => undefined)
  }, [channel, signOut])

  const value = useMemo(() => ({ state, login, logout }), [state, login, logout])
  const userId = state.status === 'signed-in' ? state.user.id : null
  return (
    <SessionContext.Provider value={value}>
      {userId ? (
        <UserSync key={userId} userId={userId} onSessionEnded={() => endSession('Your session has ended. Please sign in again.')}>
          {children}
        </UserSync>
      ) : (
        children
      )}
    </SessionContext.Provider>
  )
}

/** One SyncClient per signed-in user; unmounting (sign-out) closes every provider. */
function UserSync({ userId, onSessionEnded, children }: { userId: string; onSessionEnded: () => void; children: ReactNode }) {
  const endedRef = useRef(onSessionEnded)
  endedRef.current = onSessionEnded
  const [client, setClient] = useState<SyncClient | null>(null)
  const [users, setUsers] = useState<User[]>([])
  useEffect(() => {
    const created = new SyncClient(userId, () => endedRef.current())
    setClient(created)
    let live = true
    const cacheKey = `accord:users:${userId}`
    api<{ items: User[] }>('GET', '/api/users')
      .then((r) => {
        localStorage.setItem(cacheKey, JSON.stringify(r.items))
        if (live) setUsers(r.items)
      })
      .catch(() => live && setUsers(JSON.parse(localStorage.getItem(cacheKey) ?? '[]') as User[]))
    return () => {
      live = false
      created.close()
    }
  }, [userId])
  if (!client) return null
  return (
    <SyncContext.Provider value={client}>
      <UsersContext.Provider value={users}>{children}</UsersContext.Provider>
    </SyncContext.Provider>
  )
}
