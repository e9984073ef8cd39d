/**
 * The time zone the calendar shows, chosen per user and remembered in this browser
 * (localStorage); the browser's own zone until one is chosen. Every screen that shows event
 * times reads it here, so the calendar, the event dialog and the event page agree.
 */
import { useCallback, useSyncExternalStore } from 'react'

const listeners = new Set<() => void>()
const keyOf = (userId: string) => `accord:timezone:${userId}`

/** The browser's own zone. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}

/** The zone's short name where the browser has one ("CET", "GMT+9"), else its city. */
export function shortZone(timeZone: string): string {
  const part = new Intl.DateTimeFormat(undefined, { timeZone, timeZoneName: 'short' })
    .formatToParts(Date.now())
    .find((p) => p.type === 'timeZoneName')
  return part?.value ?? timeZone.split('/').at(-1)!.replaceAll('_', ' ')
}

/** Every zone the browser knows, the browser's own included (older engines list none). */
export function timeZones(): string[] {
  const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []
  const own = browserTimeZone()
  return known.includes(own) ? known : [own, ...known]
}

const checked = new Map<string, boolean>()
function isZone(value: string): boolean {
  let ok = checked.get(value)
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: value })
      ok = true
    } catch {
      ok = false
    }
    checked.set(value, ok)
  }
  return ok
}

function stored(userId: string): string {
  const value = localStorage.getItem(keyOf(userId))
  return value && isZone(value) ? value : browserTimeZone()
}

/** Another tab chose a zone. */
function onStorage(event: StorageEvent) {
  if (event.key?.startsWith('accord:timezone:')) for (const listener of listeners) listener()
}

function subscribe(listener: () => void): () => void {
  if (listeners.size === 0) addEventListener('storage', onStorage)
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
    if (listeners.size === 0) removeEventListener('storage', onStorage)
  }
}

/** The user's calendar zone and a setter that remembers it (and tells every other tab). */
export function useTimeZone(userId: string): [string, (zone: string) => void] {
  const zone = useSyncExternalStore(subscribe, () => stored(userId))
  const set = useCallback(
    (next: string) => {
      if (!isZone(next)) return
      localStorage.setItem(keyOf(userId), next)
      for (const listener of listeners) listener()
    },
    [userId],
  )
  return [zone, set]
}
