/** The plain words for a field set at the same moment by two people: the field's marker and the timeline's line. Pure. */
import type { ConflictMarker } from './sync/ConflictMarkers.js'

/** The marker's sentence; `show` words a value as the field displays it. */
export function markerText(marker: ConflictMarker, show: (value: unknown) => string): string {
  return marker.outcome === 'lost'
    ? `${marker.by.name} changed this at the same moment: ${show(marker.theirs)} — yours was ${show(marker.mine)}`
    : `You replaced ${marker.by.name}’s ${show(marker.theirs)} at the same moment`
}

/** One lost value of a history entry, worded; `kept` is null when the value that won is no longer known. */
export interface OverwriteLine {
  winner: string
  kept: string | null
  loser: string
  lost: string
  /** The field's label, when the entry changed several fields and the line must say which. */
  field?: string
}

/** "Bob’s 9,000 replaced Alice’s 7,000 at the same moment". */
export function overwriteText(line: OverwriteLine): string {
  const prefix = line.field ? `${line.field}: ` : ''
  const kept = line.kept === null ? 'change' : line.kept
  return `${prefix}${line.winner}’s ${kept} replaced ${line.loser}’s ${line.lost} at the same moment`
}
