/** The workspace's users, fetched once per signed-in session (see SessionProvider). */
import { createContext, useContext } from 'react'
import type { User } from './api.js'

export const UsersContext = createContext<User[]>([])

export function useUsers(): User[] {
  return useContext(UsersContext)
}
