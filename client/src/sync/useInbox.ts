/** The signed-in user's jobs (exports and imports), live from their inbox document. */
import { useMemo } from 'react'
import { INBOX_JOBS, INBOX_NOTIFICATIONS } from '../../../shared/docLayout.js'
import { inboxDocName } from '../../../shared/docNames.js'
import type { MentionNotification } from '../../../shared/richText.js'
import { useDocVersion, useDocument, useLoaded, useServerLoaded } from './hooks.js'

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const

/** A job as the contract describes it (docs/api.md, "Jobs"). */
export interface Job {
  id: string
  kind: 'export' | 'import'
  target: string
  status: (typeof JOB_STATUSES)[number]
  position?: number
  /** While a request of the running job waits to be tried again. */
  retry?: { attempt: number; of: number; reason: 'quota' | 'unavailable' | 'network'; nextAt: string }
  counts?: {
    exported?: number
    added?: number
    updated?: number
    deleted?: number
    imported?: number
    skipped?: number
    merged?: number
    invalid?: number
  }
  attempts?: number
  error?: string
  errors?: { line: number; message: string }[]
  createdAt: string
  startedAt?: string
  finishedAt?: string
  /** Exports. */
  collections?: string[]
  spreadsheetId?: string
  /** Imports. */
  collection?: string
  fileName?: string
  file?: string
}

function asJob(value: unknown): Job | null {
  const job = (typeof value === 'string' ? JSON.parse(value) : value) as Job | null
  return job && typeof job === 'object' && typeof job.id === 'string' ? job : null
}

/** The jobs, newest first; `loaded` once the local or the server's copy is in, `serverLoaded` once the server's is. */
export function useInboxJobs(workspace: string, userId: string): { jobs: Job[]; loaded: boolean; serverLoaded: boolean } {
  const connection = useDocument(inboxDocName(workspace, userId))
  const version = useDocVersion(connection?.doc)
  const loaded = useLoaded(connection)
  const serverLoaded = useServerLoaded(connection)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  const jobs = useMemo(() => {
    if (!connection) return []
    const list = [...connection.doc.getMap<unknown>(INBOX_JOBS).values()].map(asJob).filter((j): j is Job => j !== null)
    return list.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }, [connection, version])
  return { jobs, loaded, serverLoaded }
}

/** The mention notifications, oldest first; `serverLoaded` once the server's copy is in. */
export function useInboxMentions(workspace: string, userId: string): { mentions: MentionNotification[]; serverLoaded: boolean } {
  const connection = useDocument(inboxDocName(workspace, userId))
  const version = useDocVersion(connection?.doc)
  const serverLoaded = useServerLoaded(connection)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  const mentions = useMemo(() => {
    if (!connection) return []
    return connection.doc
      .getArray<unknown>(INBOX_NOTIFICATIONS)
      .toArray()
      .filter((n): n is MentionNotification => typeof n === 'object' && n !== null && (n as { kind?: unknown }).kind === 'mention')
  }, [connection, version])
  return { mentions, serverLoaded }
}
