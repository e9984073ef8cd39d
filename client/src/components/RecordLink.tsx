/** Links the app follows itself (a modified click opens a new tab): to a record's page, back to a list. */
import type { ReactNode } from 'react'
import type { Collection } from '../../../shared/collections.js'
import { COLLECTION_LABELS } from '../fieldKinds.js'
import { navigate } from '../router.js'

export function recordPath(collection: Collection, id: string): string {
  return `/${collection}/${id}`
}

export function RecordLink(props: { collection: Collection; id: string; className?: string; label?: string; children: ReactNode }) {
  const path = recordPath(props.collection, props.id)
  return (
    <a
      href={path}
      className={props.className}
      aria-label={props.label}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey) return
        event.preventDefault()
        navigate(path)
      }}
    >
      {props.children}
    </a>
  )
}

/** "← Customers": back to a collection's list. */
export function BackToList({ collection }: { collection: Collection }) {
  return (
    <a
      className="back"
      href={`/${collection}`}
      onClick={(e) => {
        e.preventDefault()
        navigate(`/${collection}`)
      }}
    >
      ← {COLLECTION_LABELS[collection].plural}
    </a>
  )
}
