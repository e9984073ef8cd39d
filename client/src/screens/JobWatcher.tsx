/** Toasts when one of the user's jobs finishes, in every open tab. */
import { useEffect, useRef } from 'react'
import { useToast } from '../components/Toasts.js'
import { useUser } from '../session/SessionProvider.js'
import { type Job, useInboxJobs } from '../sync/useInbox.js'

export function JobWatcher() {
  const user = useUser()
  const toast = useToast()
  const { jobs, loaded } = useInboxJobs(user.workspace, user.id)
  const seen = useRef<Map<string, Job['status']> | null>(null)
  useEffect(() => {
    if (!loaded) return
    const previous = seen.current
    seen.current = new Map(jobs.map((j) => [j.id, j.status]))
    if (!previous) return
    for (const job of jobs) {
      const before = previous.get(job.id)
      if (before === job.status || (job.status !== 'succeeded' && job.status !== 'failed')) continue
      if (job.status === 'succeeded') toast(`${job.target.toUpperCase()} export finished — ${job.counts?.exported ?? 0} records`, 'success')
      else toast(`${job.target.toUpperCase()} export failed${job.error ? `: ${job.error}` : ''}`, 'error')
    }
  }, [jobs, loaded, toast])
  return null
}
