/** Who is behind a request or a socket: roles and the authenticated identity. */

export type Role = 'owner' | 'admin' | 'member' | 'viewer'

/** The authenticated identity behind a request or socket, resolved at the edge. */
export interface Principal {
  userId: string
  email: string
  name: string
  color: string
  role: Role
  workspace: string
  sessionId: string
}
