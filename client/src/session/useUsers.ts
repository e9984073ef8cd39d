/** The workspace's users, fetched once per session and shared. */
import { useEffect, useState } from 'react'
import { api, type User } from './api.js'

let cache: Promise<User[]> | null = null
let cacheKey: string | null = null

export function useUsers(userId: string): User[] {
  const [users, setUsers] = useState<User[]>([])
  useEffect(() => {
    if (cacheKey !== userId || !cache) {
      cacheKey = userId
      cache = api<{ items: User[] }>('GET', '/api/users').then((r) => r.items, () => [])
    }
    let live = true
    void cache.then((items) => live && setUsers(items))
    return () => {
      live = false
    }
  }, [userId])
  return users
}
