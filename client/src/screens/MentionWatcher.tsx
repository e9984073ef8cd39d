/** Toasts when someone mentions the user in a record's notes, in every open tab. */
import { useEffect, useRef } from 'react'
import { useToast } from '../components/Toasts.js'
import { useUser } from '../session/SessionProvider.js'
import { useInboxMentions } from '../sync/useInbox.js'

export function MentionWatcher() {
  const user = useUser()
  const toast = useToast()
  // As for jobs (JobWatcher.tsx): what the server holds when the tab first hears from it is the past.
  const { mentions, serverLoaded } = useInboxMentions(user.workspace, user.id)
  const seen = useRef<Set<string> | null>(null)
  useEffect(() => {
    if (!serverLoaded) return
    const previous = seen.current
    seen.current = new Set(mentions.map((m) => m.id))
    if (!previous) return
    for (const mention of mentions) if (!previous.has(mention.id)) toast(mention.message, 'info', { href: mention.path })
  }, [mentions, serverLoaded, toast])
  return null
}
