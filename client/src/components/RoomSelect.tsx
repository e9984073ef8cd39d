/**
 * An event's room, picked from the rooms the calendar offers (the server's list, see
 * useRooms), so the event page and the calendar's dialog offer the same choices. The room
 * is collaborative text (shared/textFields.ts): a pick replaces the whole text in one edit.
 */
import { useId } from 'react'
import type * as Y from 'yjs'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { useRooms } from '../useRooms.js'
import { FieldFrame } from './FieldInput.js'

export interface RoomSelectProps {
  text: Y.Text
  /** The room now (the text's value). */
  value: string
  readOnly: boolean
  events: IndexEntry[]
  serverIssue?: string
}

export function RoomSelect({ text, value, readOnly, events, serverIssue }: RoomSelectProps) {
  const id = useId()
  const rooms = useRooms(events, value)
  // The list compares without case or spaces; the select shows the room as the event has it.
  const shown = rooms.find((room) => room.trim().toLowerCase() === value.trim().toLowerCase()) ?? value
  function pick(room: string) {
    text.doc?.transact(() => {
      text.delete(0, text.length)
      if (room) text.insert(0, room)
    })
  }
  return (
    <FieldFrame id={id} field="room" kind="text" message={serverIssue} labelFor={true}>
      <select id={id} name="room" disabled={readOnly} value={shown} onChange={(e) => pick(e.target.value)}>
        <option value="">No room</option>
        {rooms.map((room) => (
          <option key={room} value={room}>
            {room}
          </option>
        ))}
      </select>
    </FieldFrame>
  )
}
