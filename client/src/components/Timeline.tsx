/** Who changed which fields when, from the server's update log; refreshed as the record changes. */
import { useEffect, useId, useRef, useState } from 'react'
import type { Collection, FieldValues } from '../../../shared/collections.js'
import { fieldLabel, timeAgo } from '../fieldKinds.js'
import { entryWords } from '../historyWords.js'
import { overwriteText } from '../overwriteWords.js'
import { api, ApiError, type User } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useTimeZone } from '../timeZone.js'

/** One entry of `GET /api/records/:collection/:id/history`, newest first. */
export interface HistoryItem {
  at: string
  userId: string | null
  fields: string[]
  /** Values this change replaced because their authors set the same field at the same moment. */
  overwritten?: { field: string; value: unknown; userId: string | null }[]
}

/** Edits by one person this close together show as one entry. @default 5 minutes */
const GROUP_WINDOW_MS = 5 * 60_000

/**
 * Folds each person's burst of edits (newest first) into one entry with every field
 * touched. The oldest entry, the creation, stays on its own when the history is complete.
 */
export function groupHistory(items: HistoryItem[], complete = true): (HistoryItem & { created?: boolean })[] {
  const edits = complete ? items.slice(0, -1) : items
  const groups: { item: HistoryItem; oldest: number }[] = []
  for (const item of edits) {
    const at = Date.parse(item.at)
    const group = groups.find((g) => g.item.userId === item.userId && g.oldest - at <= GROUP_WINDOW_MS)
    if (group) {
      const overwritten = [...(group.item.overwritten ?? []), ...(item.overwritten ?? [])]
      group.item = {
        ...group.item,
        fields: [...new Set([...group.item.fields, ...item.fields])],
        ...(overwritten.length > 0 ? { overwritten } : {}),
      }
      group.oldest = at
    } else groups.push({ item: { ...item, fields: [...item.fields] }, oldest: at })
  }
  const creation = complete ? items.at(-1) : undefined
  return [...groups.map((g) => g.item), ...(creation ? [{ ...creation, created: true }] : [])]
}

/** A value an entry replaced, and the value that replaced it while the field still holds it. */
export interface Replaced {
  field: string
  lost: unknown
  loserId: string | null
  /** False once a later entry changed the field: its value now says nothing about what won. */
  keptKnown: boolean
  kept: unknown
}

/** The values `items[index]` replaced; `fields` are the record's current values. */
export function replacedBy(items: readonly HistoryItem[], index: number, fields: FieldValues): Replaced[] {
  const later = items.slice(0, index)
  return (items[index]?.overwritten ?? []).map(({ field, value, userId }) => {
    const keptKnown = !later.some((entry) => entry.fields.includes(field))
    return { field, lost: value, loserId: userId, keptKnown, kept: keptKnown ? fields[field] : undefined }
  })
}

/** Most entries the history endpoint returns; a full page means older ones exist. @default 500 */
const HISTORY_PAGE = 500

/** Quiet period after a change before the history is fetched again. @default 600 ms */
const REFRESH_DEBOUNCE_MS = 600

export interface TimelineProps {
  collection: Collection
  id: string
  /** The record's change counter: the history is fetched again when it changes. */
  version: number
  users: User[]
  /** The record's current values, which tell what won a concurrent set. */
  fields: FieldValues
  /** The record's server-written parts (booking, invoice number, deletion), which word the latest entries about them. */
  authority: FieldValues
  /** Words a field's value as the editor displays it. */
  show(field: string, value: unknown): string
}

/**
 * The last history fetched per record in this tab: offline, the timeline shows it rather
 * than nothing (the history lives on the server; the device keeps no copy across reloads).
 */
const lastHistory = new Map<string, HistoryItem[]>()

export function Timeline({ collection, id, version, users, fields, authority, show }: TimelineProps) {
  const headingId = useId()
  const key = `${collection}/${id}`
  const [items, setItems] = useState<HistoryItem[] | null>(() => lastHistory.get(key) ?? null)
  /** The last fetch failed for want of a network: say the timeline waits for it. */
  const [offline, setOffline] = useState(false)
  /** Bumped when the network comes back, to fetch again. */
  const [online, setOnline] = useState(0)
  const fetchedOnce = useRef(false)
  useEffect(() => {
    const back = () => setOnline((n) => n + 1)
    addEventListener('online', back)
    return () => removeEventListener('online', back)
  }, [])
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` changes with the record and `online` with the network: they are there to fetch the history again
  useEffect(() => {
    let live = true
    const timer = setTimeout(
      () =>
        void api<{ items: HistoryItem[] }>('GET', `/api/records/${collection}/${id}/history`)
          .then((r) => {
            fetchedOnce.current = true
            lastHistory.set(`${collection}/${id}`, r.items)
            if (live) {
              setItems(r.items)
              setOffline(false)
            }
          })
          .catch((error: unknown) => {
            if (live && !(error instanceof ApiError)) setOffline(true)
          }),
      fetchedOnce.current ? REFRESH_DEBOUNCE_MS : 0,
    )
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [collection, id, version, online])
  const nameOf = (userId: string | null) => users.find((u) => u.id === userId)?.name ?? (userId ? 'Someone' : 'System')
  const colorOf = (userId: string | null) => users.find((u) => u.id === userId)?.color ?? '#94a3b8'
  const shown = groupHistory(items ?? [], (items?.length ?? 0) < HISTORY_PAGE).slice(0, 30)
  return (
    <section className="card timeline" aria-labelledby={headingId}>
      <h2 id={headingId}>Activity</h2>
      {offline ? (
        <p className="cell-muted" data-testid="timeline-offline">
          {items === null ? 'Activity is on the server: it' : 'Shown as last seen: the activity'} will refresh when you're back online.
        </p>
      ) : (
        items === null && <p className="cell-muted">Loading…</p>
      )}
      <ol>
        {shown.map((item, i) => (
          <li key={`${item.at}-${i}`}>
            <span className="timeline-dot" style={{ background: colorOf(item.userId) }} aria-hidden="true" />
            <div>
              <EntryText item={item} index={i} shown={shown} authority={authority} name={nameOf(item.userId)} />
              <time dateTime={item.at} title={new Date(item.at).toLocaleString()}>
                {timeAgo(item.at)}
              </time>
              {replacedBy(shown, i, fields).map((r) => (
                <p key={`${r.field}-${r.loserId}`} className="timeline-overwrite" data-testid="timeline-overwrite">
                  {overwriteText({
                    winner: nameOf(item.userId),
                    kept: r.keptKnown ? show(r.field, r.kept) : null,
                    loser: nameOf(r.loserId),
                    lost: show(r.field, r.lost),
                    field: item.fields.length > 1 ? fieldLabel(r.field) : undefined,
                  })}
                </p>
              ))}
            </div>
          </li>
        ))}
      </ol>
    </section>
  )
}

/** The sentence of one entry: who changed which fields, and what the server did in plain words. */
function EntryText(props: {
  item: HistoryItem & { created?: boolean }
  index: number
  shown: readonly HistoryItem[]
  authority: FieldValues
  name: string
}) {
  const { item, index, shown } = props
  const [timeZone] = useTimeZone(useUser().id)
  if (item.created)
    return (
      <>
        <strong>{props.name}</strong> created this record{' '}
      </>
    )
  const words = entryWords(
    item.fields,
    props.authority,
    {
      latest: (part) => !shown.slice(0, index).some((entry) => entry.fields.includes(part)),
      older: (part) => shown.slice(index + 1).filter((entry) => entry.fields.includes(part)).length,
    },
    timeZone,
  )
  const events = words.events.join('. ')
  if (item.userId === null && !words.changed && events) return <>{events} </>
  return (
    <>
      <strong>{props.name}</strong> {words.changed ?? (events ? '' : 'edited')}
      {words.changed && events ? ' · ' : ''}
      {events}{' '}
    </>
  )
}
