/**
 * Lists of strings in localStorage, shared by every tab of the browser. Each change
 * re-reads the list first, so two tabs adding different names both keep theirs.
 */

/** The list under `key`; empty when missing or unreadable. */
export function readList(key: string): string[] {
  try {
    const value = JSON.parse(localStorage.getItem(key) ?? '[]') as unknown
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

/** Adds `value` to the list under `key`; false if it was there already. */
export function addToList(key: string, value: string): boolean {
  const list = new Set(readList(key))
  if (list.has(value)) return false
  list.add(value)
  localStorage.setItem(key, JSON.stringify([...list]))
  return true
}

/** Removes `value` from the list under `key`; false if it was not there. */
export function removeFromList(key: string, value: string): boolean {
  const list = new Set(readList(key))
  if (!list.delete(value)) return false
  localStorage.setItem(key, JSON.stringify([...list]))
  return true
}
