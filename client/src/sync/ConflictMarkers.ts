/**
 * The fields of one record that two people set at the same moment, as this person should
 * see them: built from the server's `overwritten` / `overwrote` notices and the record's
 * own changes. A marker lasts while the field holds the value that won; a later change of
 * the field, by anyone (*Keep mine* and *Undo* included), ends it, and so does dismissing
 * it. Markers live as long as the open document: a re-render keeps them, a reload does not.
 */
import type * as Y from 'yjs'
import type { ServerNotice } from '../../../shared/protocol.js'

/** A notice that two people set the same field at the same moment. */
export type OverwriteNotice = Extract<ServerNotice, { type: 'overwritten' | 'overwrote' }>

/** One field's concurrent set, from this person's side. */
export interface ConflictMarker {
  field: string
  /** `lost`: this person's value was replaced; `won`: this person's value replaced the other's. */
  outcome: 'lost' | 'won'
  /** This person's value. */
  mine: unknown
  /** The other person's value. */
  theirs: unknown
  /** The other person. */
  by: { id: string; name: string }
  /** When the server saw it (ISO). */
  at: string
}

const FIELD_PATH = /^fields\.([^.]+)$/

/** The marker a notice asks for; null for notices about anything but a record field. */
export function markerOf(notice: OverwriteNotice): ConflictMarker | null {
  const field = FIELD_PATH.exec(notice.path)?.[1]
  if (!field) return null
  const { by, at } = notice
  return notice.type === 'overwritten'
    ? { field, outcome: 'lost', mine: notice.yours, theirs: notice.kept, by, at }
    : { field, outcome: 'won', mine: notice.yours, theirs: notice.replaced, by, at }
}

/** The value the field holds while the marker applies: the one that won. */
export function winningValue(marker: ConflictMarker): unknown {
  return marker.outcome === 'lost' ? marker.theirs : marker.mine
}

/** Field values are plain JSON: equal when they serialize alike. */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * True when the marker describes the field as it is now. The notice and the winning value
 * travel separately, so until the winning value arrives the marker is kept but not shown.
 */
export function isCurrent(marker: ConflictMarker, value: unknown): boolean {
  return sameValue(value, winningValue(marker))
}

const NO_MARKERS: ReadonlyMap<string, ConflictMarker> = new Map()

/** The markers of one record document; subscribe for changes (a new map each time). */
export class ConflictMarkers {
  private markers = NO_MARKERS
  private readonly listeners = new Set<() => void>()

  constructor(private readonly fields: Y.Map<unknown>) {
    fields.observe(this.handleFieldsChange)
  }

  /** Takes the overwrite notices; others are not about markers. */
  handleNotice = (notice: ServerNotice): void => {
    if (notice.type !== 'overwritten' && notice.type !== 'overwrote') return
    const marker = markerOf(notice)
    if (!marker) return
    // Delivered late (on reconnect), a notice may describe a field changed since: nothing to mark.
    const value = this.fields.get(marker.field)
    if (!isCurrent(marker, value) && !sameValue(value, marker.mine)) return
    this.update((next) => next.set(marker.field, marker))
  }

  private handleFieldsChange = (event: Y.YMapEvent<unknown>): void => {
    const ended = [...event.keysChanged].filter((field) => {
      const marker = this.markers.get(field)
      return marker && !isCurrent(marker, this.fields.get(field))
    })
    if (ended.length > 0) this.update((next) => ended.forEach((field) => next.delete(field)))
  }

  /** The markers now, by field; the same map until they change. */
  current = (): ReadonlyMap<string, ConflictMarker> => this.markers

  /** The person has seen it (*Keep theirs*, or closing the note). */
  dismiss(field: string): void {
    if (this.markers.has(field)) this.update((next) => next.delete(field))
  }

  /** Calls `listener` whenever the markers change; returns the unsubscribe. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private update(change: (next: Map<string, ConflictMarker>) => void): void {
    const next = new Map(this.markers)
    change(next)
    this.markers = next
    for (const listener of this.listeners) listener()
  }

  dispose(): void {
    this.fields.unobserve(this.handleFieldsChange)
    this.listeners.clear()
  }
}
