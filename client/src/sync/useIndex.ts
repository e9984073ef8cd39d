/** A collection's live list: the entries of its index document and who views what. */
import { useMemo } from 'react'
import type { Collection } from '../../../shared/collections.js'
import { type IndexEntry, indexEntriesOf } from '../../../shared/docLayout.js'
import { indexDocName } from '../../../shared/docNames.js'
import type { DocConnection } from './DocConnection.js'
import { type PresenceState, useDocVersion, useDocument, useLoaded, usePresence } from './hooks.js'

export interface CollectionIndex {
  connection: DocConnection | null
  loaded: boolean
  entries: IndexEntry[]
  presence: PresenceState[]
}

export function useIndex(workspace: string, collection: Collection): CollectionIndex {
  const connection = useDocument(indexDocName(workspace, collection))
  const version = useDocVersion(connection?.doc)
  const loaded = useLoaded(connection)
  const presence = usePresence(connection)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  const entries = useMemo(() => (connection ? [...indexEntriesOf(connection.doc).values()] : []), [connection, version])
  return { connection, loaded, entries, presence }
}
