/** JSON over HTTP to the Accord API, same origin, the session cookie carries auth. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message)
  }
}

type SessionEndedListener = () => void
const sessionEndedListeners = new Set<SessionEndedListener>()

/** Called when any request answers 401: the session is over. */
export function onUnauthorized(listener: SessionEndedListener): () => void {
  sessionEndedListeners.add(listener)
  return () => sessionEndedListeners.delete(listener)
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    // A form (a file upload) sets its own multipart content type.
    headers: body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' },
    body: body === undefined || body instanceof FormData ? body : JSON.stringify(body),
  })
  if (res.status === 204) return undefined as T
  const payload = (await res.json().catch(() => null)) as {
    error?: { code?: string; message?: string; issues?: { path: string; message: string }[] }
  } | null
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith('/api/auth/')) for (const listener of sessionEndedListeners) listener()
    const error = payload?.error
    throw new ApiError(res.status, error?.code ?? 'error', error?.message ?? res.statusText, error?.issues ?? [])
  }
  return payload as T
}

/** A user as the API returns it. */
export interface User {
  id: string
  email: string
  name: string
  role: 'owner' | 'admin' | 'member' | 'viewer'
  workspace: string
  color: string
}
