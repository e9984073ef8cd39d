/** What a list reads besides its own index: other collections' entries by id, and the API's search (which sees the notes). */
import { useEffect, useMemo, useState } from 'react'
import type { Collection } from '../../../shared/collections.js'
import { type IndexEntry, indexEntriesOf } from '../../../shared/docLayout.js'
import { indexDocName } from '../../../shared/docNames.js'
import { api } from '../session/api.js'
import { useDocVersion, useDocument } from './hooks.js'

/** How long the search waits for more typing before asking the server about notes, ms. */
const NOTES_SEARCH_DELAY_MS = 300
/** Shortest search the server is asked about: one letter would match nearly every record's notes. */
const NOTES_SEARCH_MIN = 2
/** Pages of matches the notes search reads at most (each `MAX_PAGE` records). */
const NOTES_SEARCH_PAGES = 4

/** Another collection's entries by id (the customers a deal names, say); empty for `null`. */
export function useEntriesById(workspace: string, collection: Collection | null): ReadonlyMap<string, IndexEntry> {
  const connection = useDocument(collection ? indexDocName(workspace, collection) : null)
  const version = useDocVersion(connection?.doc)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  return useMemo(() => new Map(connection ? indexEntriesOf(connection.doc).entries() : []), [connection, version])
}

/** The ids of records whose fields or notes hold `query`, as the API finds them; null while none asked. */
export function useNotesSearch(collection: Collection, query: string): ReadonlySet<string> | null {
  const [found, setFound] = useState<{ query: string; ids: Set<string> } | null>(null)
  useEffect(() => {
    const q = query.trim()
    if (q.length < NOTES_SEARCH_MIN) return
    let live = true
    const timer = setTimeout(async () => {
      const ids = new Set<string>()
      let cursor: string | null = null
      for (let page = 0; page < NOTES_SEARCH_PAGES && live; page++) {
        const params = new URLSearchParams({ q, limit: '500', ...(cursor ? { cursor } : {}) })
        const result = await api<{ items: { id: string }[]; nextCursor: string | null }>(
          'GET',
          `/api/records/${collection}?${params}`,
        ).catch(() => null)
        if (!result) break
        for (const item of result.items) ids.add(item.id)
        cursor = result.nextCursor
        if (!cursor) break
      }
      if (live) setFound({ query, ids })
    }, NOTES_SEARCH_DELAY_MS)
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [collection, query])
  return found && found.query === query ? found.ids : null
}
