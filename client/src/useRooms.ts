/**
 * The rooms events are booked in: the server's one list (`GET /api/calendar/rooms`), asked
 * once per page load, plus any room an event already names (booked before the list changed),
 * so every screen offers the same choices and never hides an event's current room.
 */
import { useEffect, useMemo, useState } from 'react'
import type { IndexEntry } from '../../shared/docLayout.js'
import { api } from './session/api.js'

let request: Promise<string[]> | null = null

function serverRooms(): Promise<string[]> {
  request ??= api<{ rooms: string[] }>('GET', '/api/calendar/rooms').then(
    (r) => r.rooms,
    () => {
      request = null
      return []
    },
  )
  return request
}

/** The rooms to offer; `events` adds the rooms they already use, `current` a room being shown. */
export function useRooms(events: IndexEntry[] = [], current?: string): string[] {
  const [rooms, setRooms] = useState<string[]>([])
  useEffect(() => {
    let live = true
    void serverRooms().then((list) => live && setRooms(list))
    return () => {
      live = false
    }
  }, [])
  return useMemo(() => {
    const used = events.map((e) => String(e.fields.room ?? '').trim()).filter(Boolean)
    const all = [...rooms, ...used, ...(current?.trim() ? [current] : [])]
    const seen = new Set<string>()
    // Room names compare without case or surrounding spaces, as the ledger compares them.
    return all.filter((room) => {
      const key = room.trim().toLowerCase()
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }, [rooms, events, current])
}
