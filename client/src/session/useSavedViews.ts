/**
 * A list's state (columns, sort, filters, the saved view it started from), kept in this
 * browser per person and collection so that it survives a reload, and the person's saved
 * views of the collection, kept on the server (`/api/views`) so that they follow them.
 */
import { useCallback, useEffect, useState } from 'react'
import type { Collection } from '../../../shared/collections.js'
import type { SavedView, ViewBody, ViewFilter, ViewSort } from '../../../shared/views.js'
import { api } from './api.js'

/** What a list shows: a saved view's content, and which view it came from. */
export interface ListState {
  columns: string[]
  sort: ViewSort | null
  filters: ViewFilter[]
  /** The saved view last applied or saved, if any. */
  viewId: string | null
}

const storageKey = (userId: string, collection: Collection) => `accord:list:${userId}:${collection}`

/** The list state kept for `collection`, or `fallback` when none is (or it is unreadable). */
export function useListState(userId: string, collection: Collection, fallback: () => ListState) {
  const [state, setState] = useState<ListState>(() => {
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey(userId, collection)) ?? 'null') as ListState | null
      if (stored && Array.isArray(stored.columns) && Array.isArray(stored.filters)) return stored
    } catch {
      // Unreadable: start afresh.
    }
    return fallback()
  })
  useEffect(() => {
    localStorage.setItem(storageKey(userId, collection), JSON.stringify(state))
  }, [userId, collection, state])
  return [state, setState] as const
}

/** The person's saved views of `collection`, with saving and deleting. */
export function useSavedViews(collection: Collection) {
  const [views, setViews] = useState<SavedView[]>([])
  useEffect(() => {
    let live = true
    api<{ items: SavedView[] }>('GET', `/api/views?collection=${collection}`)
      .then(({ items }) => live && setViews(items))
      .catch(() => undefined)
    return () => {
      live = false
    }
  }, [collection])
  const save = useCallback(async (id: string, body: ViewBody) => {
    const saved = await api<SavedView>('PUT', `/api/views/${encodeURIComponent(id)}`, body)
    setViews((list) => [...list.filter((v) => v.id !== id), saved].sort((a, b) => a.name.localeCompare(b.name)))
    return saved
  }, [])
  const remove = useCallback(async (id: string) => {
    await api('DELETE', `/api/views/${encodeURIComponent(id)}`)
    setViews((list) => list.filter((v) => v.id !== id))
  }, [])
  return { views, save, remove }
}
