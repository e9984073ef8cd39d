/**
 * A history entry in plain words: fields by their labels, and the server's own parts
 * (`authority.*`) as what happened — "Booking confirmed for Tue 2 Mar, 10:00", "Invoice
 * number 12 assigned" — never their internal names. The history names parts, not values:
 * a value is told from the record's current state, and only on the latest entry that
 * changed that part (an older one says what happened without it). Pure.
 */
import type { FieldValues } from '../../shared/collections.js'
import { fieldLabel, formatInstant } from './fieldKinds.js'

const AUTHORITY_PREFIX = 'authority.'

/** What an entry says, after its author's name (`changed Title, Amount`), and what the server did (own sentences). */
export interface EntryWords {
  /** The author's edits, or null when the entry holds only what the server did. */
  changed: string | null
  /** One sentence per thing the server did. */
  events: string[]
}

/** Where an entry stands among those that changed a part. */
export interface PartPlace {
  /** This entry is the latest that changed `part`: the current `authority` speaks for it. */
  latest(part: string): boolean
  /** How many older entries changed `part` (a record's deletions and restorations alternate). */
  older(part: string): number
}

/** Words for one entry. */
/** `timeZone`: the zone a booking's time is told on (the calendar's); this device's when absent. */
export function entryWords(parts: readonly string[], authority: FieldValues, place: PartPlace, timeZone?: string): EntryWords {
  const fields = parts.filter((part) => !part.startsWith(AUTHORITY_PREFIX))
  const events: string[] = []
  for (const part of parts) {
    if (!part.startsWith(AUTHORITY_PREFIX)) continue
    const sentence = authorityWords(part.slice(AUTHORITY_PREFIX.length), authority, place.latest(part), place.older(part), timeZone)
    if (sentence && !events.includes(sentence)) events.push(sentence)
  }
  return { changed: fields.length > 0 ? `changed ${fields.map(fieldLabel).join(', ')}` : null, events }
}

function authorityWords(key: string, authority: FieldValues, current: boolean, older: number, timeZone?: string): string | null {
  switch (key) {
    case 'reservation': {
      const reservation = authority.reservation as { status?: string; start?: string } | undefined
      if (!current || !reservation) return 'Booking updated'
      const when = typeof reservation.start === 'string' ? ` for ${formatInstant(reservation.start, timeZone)}` : ''
      if (reservation.status === 'confirmed') return `Booking confirmed${when}`
      if (reservation.status === 'conflict') return `Booking conflict${when}: the slot is taken`
      return `Booking requested${when}`
    }
    case 'number': {
      const number = authority.number
      return current && (typeof number === 'number' || typeof number === 'string')
        ? `Invoice number ${number} assigned`
        : 'Invoice number assigned'
    }
    case 'deleted':
      return older % 2 === 0 ? 'Deleted this record' : 'Restored this record'
    case 'deletedBy':
      return null
    default:
      return `${fieldLabel(key)} updated`
  }
}
