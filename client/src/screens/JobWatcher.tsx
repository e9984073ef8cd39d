/** Toasts when one of the user's jobs finishes, in every open tab. */
import { useEffect, useRef } from 'react'
import { useToast } from '../components/Toasts.js'
import { finishedText } from '../jobWords.js'
import { useUser } from '../session/SessionProvider.js'
import { type Job, useInboxJobs } from '../sync/useInbox.js'

export function JobWatcher() {
  const user = useUser()
  const toast = useToast()
  // What the server holds when the tab first hears from it is the past: only later changes are toasted
  // (a local copy may be older, or empty on a new device, and would toast every job that ever ended).
  const { jobs, serverLoaded } = useInboxJobs(user.workspace, user.id)
  const seen = useRef<Map<string, Job['status']> | null>(null)
  useEffect(() => {
    if (!serverLoaded) return
    const previous = seen.current
    seen.current = new Map(jobs.map((j) => [j.id, j.status]))
    if (!previous) return
    for (const job of jobs) {
      const before = previous.get(job.id)
      if (before === job.status || (job.status !== 'succeeded' && job.status !== 'failed')) continue
      toast(finishedText(job), job.status === 'succeeded' ? 'success' : 'error')
    }
  }, [jobs, serverLoaded, toast])
  return null
}
