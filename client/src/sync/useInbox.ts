/** The signed-in user's export jobs, live from their inbox document. */
import { useMemo } from 'react'
import { INBOX_JOBS } from '../../../shared/docLayout.js'
import { inboxDocName } from '../../../shared/docNames.js'
import { useDocVersion, useDocument, useLoaded } from './hooks.js'

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const

/** A job as the contract describes it. */
export interface Job {
  id: string
  target: 'csv' | 'xlsx' | 'sheets'
  status: (typeof JOB_STATUSES)[number]
  position?: number
  counts?: { exported?: number; added?: number; updated?: number; deleted?: number }
  attempts?: number
  error?: string
  createdAt: string
  startedAt?: string
  finishedAt?: string
  collections?: string[]
}

function asJob(value: unknown): Job | null {
  const job = (typeof value === 'string' ? JSON.parse(value) : value) as Job | null
  return job && typeof job === 'object' && typeof job.id === 'string' ? job : null
}

export function useInboxJobs(workspace: string, userId: string): { jobs: Job[]; loaded: boolean } {
  const connection = useDocument(inboxDocName(workspace, userId))
  const version = useDocVersion(connection?.doc)
  const loaded = useLoaded(connection)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  const jobs = useMemo(() => {
    if (!connection) return []
    const list = [...connection.doc.getMap<unknown>(INBOX_JOBS).values()].map(asJob).filter((j): j is Job => j !== null)
    return list.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }, [connection, version])
  return { jobs, loaded }
}
