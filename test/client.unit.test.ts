/** Pure helpers of the React client: routing, calendar layout, history grouping, list values. */
import { describe, expect, it } from 'vitest'
import { addDays, layoutLanes, placement, SLOT_PX, slotTime, startOfWeek } from '../client/src/calendarMath.js'
import { groupHistory } from '../client/src/components/Timeline.js'
import { freeSlotsUrl } from '../client/src/components/ReservationPanel.js'
import { toLocalInput } from '../client/src/components/FieldInput.js'
import { parseRoute } from '../client/src/router.js'
import { columnValue } from '../client/src/screens/ListScreen.js'
import { docLabel } from '../client/src/docLabel.js'
import { applyShown, moveIndex, shownIndexOf, shownOf, textIndexOf } from '../client/src/textBinding.js'
import * as Y from 'yjs'
import { fieldsOf } from '../shared/docLayout.js'

describe('client helpers', () => {
  it('routes paths to screens; unknown paths go home', () => {
    expect(parseRoute('/deals')).toEqual({ screen: 'list', collection: 'deals' })
    expect(parseRoute('/events/abc')).toEqual({ screen: 'record', collection: 'events', id: 'abc' })
    expect(parseRoute('/board')).toEqual({ screen: 'board' })
    expect(parseRoute('/nope')).toEqual({ screen: 'home' })
  })

  it('puts overlapping events side by side and lone events full width', () => {
    const lanes = layoutLanes([
      { id: 'a', start: 0, end: 10 },
      { id: 'b', start: 5, end: 15 },
      { id: 'c', start: 10, end: 20 },
      { id: 'd', start: 30, end: 40 },
    ])
    expect(lanes.get('a')).toEqual({ lane: 0, lanes: 2 })
    expect(lanes.get('b')).toEqual({ lane: 1, lanes: 2 })
    expect(lanes.get('c')).toEqual({ lane: 0, lanes: 2 })
    expect(lanes.get('d')).toEqual({ lane: 0, lanes: 1 })
  })

  it('places an interval in its day column and nowhere else', () => {
    const monday = startOfWeek(new Date(2026, 2, 4))
    expect(monday.getDay()).toBe(1)
    const start = slotTime(monday, 2)
    const end = slotTime(monday, 4)
    expect(placement(monday, start, end)).toEqual({ top: 2 * SLOT_PX, height: 2 * SLOT_PX })
    expect(placement(addDays(monday, 1), start, end)).toBeNull()
  })

  it('folds a person’s burst of edits into one timeline entry and keeps the creation apart', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, s)).toISOString()
    const grouped = groupHistory([
      { at: at(30), userId: 'bob', fields: ['notes'] },
      { at: at(20), userId: 'alice', fields: ['phone'] },
      { at: at(10), userId: 'bob', fields: ['company'] },
      { at: at(5), userId: 'alice', fields: ['name', 'phone'] },
    ])
    expect(grouped).toEqual([
      { at: at(30), userId: 'bob', fields: ['notes', 'company'] },
      { at: at(20), userId: 'alice', fields: ['phone'] },
      { at: at(5), userId: 'alice', fields: ['name', 'phone'], created: true },
    ])
  })

  it('asks for free slots as long as the event, for its attendees and room', () => {
    const url = new URL(
      freeSlotsUrl({ start: '2026-03-02T09:00:00Z', end: '2026-03-02T10:30:00Z', attendees: ['u1', 'u2'], room: 'Atlas' }),
      'http://x',
    )
    expect(url.pathname).toBe('/api/calendar/free')
    expect(url.searchParams.get('duration')).toBe('90')
    expect(url.searchParams.get('attendees')).toBe('u1,u2')
    expect(url.searchParams.get('room')).toBe('Atlas')
  })

  it('shows an instant as local wall time for datetime-local inputs', () => {
    const local = toLocalInput('2026-03-02T09:00:00Z')
    expect(new Date(local).toISOString()).toBe('2026-03-02T09:00:00.000Z')
  })

  it('reads list columns from fields and authority', () => {
    const entry = {
      id: 'i',
      title: 'T',
      fields: { amount: 5, tags: ['a', 'b'] },
      authority: { number: 7, reservation: { status: 'conflict' } },
      updatedAt: '',
      updatedBy: null,
    }
    expect(columnValue(entry, 'amount')).toBe(5)
    expect(columnValue(entry, 'tags')).toBe('a, b')
    expect(columnValue(entry, 'number')).toBe('7')
    expect(columnValue(entry, 'reservation')).toBe('conflict')
  })

  it('names a document to the user by kind and title, by id when its contents are not at hand', () => {
    const doc = new Y.Doc()
    fieldsOf(doc).set('name', 'Umbrella')
    expect(docLabel('acme/leads/r1', doc)).toBe('Lead “Umbrella”')
    expect(docLabel('acme/leads/r1', null)).toBe('Lead “r1”')
    expect(docLabel('acme/events/r2', new Y.Doc())).toBe('Event “(untitled)”')
    expect(docLabel('acme/index/deals', null)).toBe('The list of deals')
    expect(docLabel('acme/inbox/u1', null)).toBe('Your notifications')
  })
})

describe('text field binding', () => {
  it('applies a keystroke as the smallest edit where the caret is, past hidden line breaks; moves the caret with others’ edits', () => {
    const doc = new Y.Doc()
    const text = doc.getText('text.title')
    text.insert(0, 'aa\nbb')
    expect(shownOf(text.toString())).toBe('aabb')
    // Typed "a" at the start of "aabb": the caret (1) says where, though "aaabb" could be read as typed anywhere in the run.
    applyShown(text, 'aaabb', 1)
    expect(text.toString()).toBe('aaa\nbb')
    applyShown(text, 'aaabXb', 5)
    expect(text.toString()).toBe('aaa\nbXb')
    expect(textIndexOf('aa\nbb', 2)).toBe(3)
    expect(shownIndexOf('aa\nbb', 3)).toBe(2)
    expect(moveIndex(3, [{ insert: 'xy' }])).toBe(5)
    expect(moveIndex(3, [{ retain: 3 }, { insert: 'xy' }])).toBe(3)
    expect(moveIndex(3, [{ retain: 1 }, { delete: 5 }])).toBe(1)
  })
})
