/**
 * The small note under a field someone else set at the same moment. The person whose value
 * lost may put it back (*Keep mine*: an ordinary edit, so no new conflict) or accept the
 * other value (*Keep theirs*); the person whose value won may undo (write the other value
 * back) or dismiss.
 */
import { useId } from 'react'
import { markerText } from '../overwriteWords.js'
import type { ConflictMarker } from '../sync/ConflictMarkers.js'

export interface ConflictNoteProps {
  marker: ConflictMarker
  /** The field's label, for the buttons' names. */
  label: string
  /** Words a value as the field displays it. */
  show(value: unknown): string
  /** Writes `value` to the field. */
  onSet(value: unknown): void
  onDismiss(): void
  readOnly: boolean
}

export function ConflictNote({ marker, label, show, onSet, onDismiss, readOnly }: ConflictNoteProps) {
  const textId = useId()
  const lost = marker.outcome === 'lost'
  return (
    <div className={`conflict-note conflict-${marker.outcome}`} data-testid="conflict" data-outcome={marker.outcome}>
      <p id={textId}>{markerText(marker, show)}</p>
      <div className="conflict-actions">
        {!readOnly && (
          <button
            type="button"
            className="button button-small"
            aria-label={lost ? `Keep mine: set ${label} back to ${show(marker.mine)}` : `Undo: set ${label} back to ${show(marker.theirs)}`}
            onClick={() => onSet(lost ? marker.mine : marker.theirs)}
          >
            {lost ? 'Keep mine' : 'Undo'}
          </button>
        )}
        <button
          type="button"
          className="button button-ghost button-small"
          aria-label={lost ? `Keep theirs: leave ${label} at ${show(marker.theirs)}` : `Dismiss the note on ${label}`}
          onClick={onDismiss}
        >
          {lost ? 'Keep theirs' : 'Dismiss'}
        </button>
      </div>
    </div>
  )
}
