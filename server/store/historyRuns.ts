/**
 * How the update log becomes a history: the rules every SQL store applies when it records
 * an update's entry, whatever its engine (SqliteDocStore, PgDocStore).
 */
import type { OverwrittenPart, StoredUpdate } from './DocStore.js'

/** Edits by one person to the same parts this close together are one history entry. @default 5 minutes */
export const HISTORY_RUN_MS = 5 * 60_000

/** A lost value as a history entry stores it (the `overwritten` column, a JSON array). */
export interface StoredOverwrite {
  part: string
  value: unknown
  author: string | null
}

/** The document's latest history entry, as the stores read it. */
export interface LastEntry {
  seq: number
  at: number
  user_id: string | null
  /** The parts it names, a JSON array. */
  fields: string
  overwritten: string | null
  /** The seq of the document's first entry. */
  first: number
}

/**
 * One history entry per run of edits, not per update: an update by the author of the
 * document's latest entry, to the same parts, within HISTORY_RUN_MS of it, moves that
 * entry's time forward instead of adding one (typing notes would otherwise add an entry
 * per keystroke and push everything else out of the history page). The document's first
 * entry, its creation, is never extended, and neither are the server's own changes (no
 * author): each booking decision stays visible. An entry carrying a lost value (`own`, or
 * one stored on `last`) stays its own entry.
 */
export function extendsLast(last: LastEntry | undefined, u: StoredUpdate, own: readonly OverwrittenPart[]): last is LastEntry {
  return (
    own.length === 0 &&
    last !== undefined &&
    last.seq !== last.first &&
    last.overwritten === null &&
    u.author !== null &&
    last.user_id === u.author &&
    u.at - last.at <= HISTORY_RUN_MS &&
    sameParts(last.fields, u.changed)
  )
}

/** The parts a new entry names: what the update changed, or else the parts of the values it kept. */
export function entryParts(u: StoredUpdate, own: readonly OverwrittenPart[]): string {
  return JSON.stringify(u.changed.length > 0 ? u.changed : [...new Set(own.map((o) => o.part))])
}

/** `earlier` and `added` as the `overwritten` column stores them. */
export function storedOverwrites(earlier: StoredOverwrite[], added: readonly OverwrittenPart[]): string {
  return JSON.stringify([...earlier, ...added.map(({ part, value, author }) => ({ part, value, author }))])
}

/** The lost values an entry already carries (its `overwritten` column). */
export function parseOverwrites(stored: string | null): StoredOverwrite[] {
  return stored === null ? [] : (JSON.parse(stored) as StoredOverwrite[])
}

function sameParts(stored: string, changed: string[]): boolean {
  const parts = JSON.parse(stored) as string[]
  return parts.length === changed.length && changed.every((part) => parts.includes(part))
}
