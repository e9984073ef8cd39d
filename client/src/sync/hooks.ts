/**
 * React hooks over the connection layer. Components get documents and their
 * contents from here and never see a socket.
 */
import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react'
import type * as Y from 'yjs'
import type { RejectedNotice } from '../../../shared/protocol.js'
import type { ConflictMarker } from './ConflictMarkers.js'
import type { DocConnection } from './DocConnection.js'
import type { OverallStatus, SyncClient } from './SyncClient.js'

export const SyncContext = createContext<SyncClient | null>(null)

export function useSyncClient(): SyncClient {
  const client = useContext(SyncContext)
  if (!client) throw new Error('useSyncClient outside a signed-in session')
  return client
}

/** Opens `docName` while the component is mounted; null until opened. */
export function useDocument(docName: string | null): DocConnection | null {
  const client = useSyncClient()
  const [connection, setConnection] = useState<DocConnection | null>(null)
  useEffect(() => {
    if (!docName) return
    const { connection: opened, release } = client.acquire(docName)
    setConnection(opened)
    return () => {
      release()
      setConnection(null)
    }
  }, [client, docName])
  return connection
}

/** Re-renders on every change of the document; returns a counter that changes with it. */
export function useDocVersion(doc: Y.Doc | null | undefined): number {
  const [version, setVersion] = useState(0)
  useEffect(() => {
    if (!doc) return
    const bump = () => setVersion((v) => v + 1)
    doc.on('afterTransaction', bump)
    bump()
    return () => doc.off('afterTransaction', bump)
  }, [doc])
  return version
}

/** True once the document holds server or offline state. */
export function useLoaded(connection: DocConnection | null): boolean {
  return useSyncExternalStore(
    (listener) => connection?.subscribe(listener) ?? (() => undefined),
    () => connection?.loaded ?? false,
  )
}

/** Whether the document holds the server's state yet (not only the IndexedDB copy's). */
export function useServerLoaded(connection: DocConnection | null): boolean {
  return useSyncExternalStore(
    (listener) => connection?.subscribe(listener) ?? (() => undefined),
    () => connection?.serverLoaded ?? false,
  )
}

/** The close code if the server refused this document for good (e.g. 4403 no access), else null. */
export function useClosedCode(connection: DocConnection | null): number | null {
  return useSyncExternalStore(
    (listener) => connection?.subscribe(listener) ?? (() => undefined),
    () => connection?.closedCode ?? null,
  )
}

/** Overall connection state of every open document. */
export function useOverallStatus(): OverallStatus {
  const client = useSyncClient()
  const [status, setStatus] = useState<OverallStatus>(() => client.status())
  useEffect(() => {
    const update = () => setStatus(client.status())
    const unsubscribe = client.subscribe(update)
    addEventListener('online', update)
    addEventListener('offline', update)
    update()
    return () => {
      unsubscribe()
      removeEventListener('online', update)
      removeEventListener('offline', update)
    }
  }, [client])
  return status
}

/** A remote participant's presence state, as stamped by the server. */
export interface PresenceState {
  clientId: number
  user?: { id: string; name: string; color: string }
  viewing?: string | null
}

/** Everyone's awareness state on this document, live. */
export function usePresence(connection: DocConnection | null): PresenceState[] {
  const [states, setStates] = useState<PresenceState[]>([])
  useEffect(() => {
    if (!connection) return
    const awareness = connection.provider.awareness
    const update = () =>
      setStates(
        [...awareness.getStates().entries()].map(([clientId, state]) => ({ clientId, ...(state as Omit<PresenceState, 'clientId'>) })),
      )
    awareness.on('change', update)
    update()
    return () => awareness.off('change', update)
  }, [connection])
  return states
}

/** Rejection notices the server sent for this document, newest last. */
export function useNotices(connection: DocConnection | null): [RejectedNotice[], () => void] {
  const [notices, setNotices] = useState<RejectedNotice[]>([])
  useEffect(() => {
    if (!connection) return
    return connection.onNotice((notice) => {
      if (notice.type === 'rejected') setNotices((list) => [...list.slice(-4), notice])
    })
  }, [connection])
  return [notices, () => setNotices([])]
}

const NO_CONFLICTS: ReadonlyMap<string, ConflictMarker> = new Map()
const noConflicts = () => NO_CONFLICTS
const subscribeToNothing = () => () => undefined

/** The record's fields set at the same moment as someone else, live (see ConflictMarkers). */
export function useConflicts(connection: DocConnection | null): ReadonlyMap<string, ConflictMarker> {
  const conflicts = connection?.conflicts
  return useSyncExternalStore(conflicts?.subscribe ?? subscribeToNothing, conflicts?.current ?? noConflicts)
}
