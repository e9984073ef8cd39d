/** Pure helpers of the React client: routing, calendar layout, history grouping, list values, conflict markers and their words. */
import { describe, expect, it } from 'vitest'
import { dayFromDate, layoutLanes, placement, SLOT_PX, slotTime, startOfWeek, weekdayOf } from '../client/src/calendarMath.js'
import { groupHistory, replacedBy } from '../client/src/components/Timeline.js'
import { freeSlotsUrl } from '../client/src/components/ReservationPanel.js'
import { toLocalInput } from '../client/src/components/FieldInput.js'
import { parseRoute } from '../client/src/router.js'
import { columnsOf } from '../client/src/listColumns.js'
import { previewRows } from '../client/src/screens/ImportScreen.js'
import { docLabel } from '../client/src/docLabel.js'
import { fieldIssue } from '../client/src/fieldIssues.js'
import { entryWords } from '../client/src/historyWords.js'
import { cursorStates } from '../client/src/cursorLabels.js'
import { applyShown, moveIndex, shownIndexOf, shownOf, textIndexOf } from '../client/src/textBinding.js'
import * as Y from 'yjs'
import { fieldsOf } from '../shared/docLayout.js'
import type { ServerNotice } from '../shared/protocol.js'
import { displayValue } from '../client/src/fieldDisplay.js'
import { formatDate } from '../client/src/fieldKinds.js'
import { markerText, overwriteText } from '../client/src/overwriteWords.js'
import { finishedText, retryText } from '../client/src/jobWords.js'
import type { Job } from '../client/src/sync/useInbox.js'
import { ConflictMarkers, isCurrent } from '../client/src/sync/ConflictMarkers.js'

describe('client helpers', () => {
  it('routes paths to screens; unknown paths go home', () => {
    expect(parseRoute('/import')).toEqual({ screen: 'import' })
    expect(parseRoute('/invite/tok-en_1')).toEqual({ screen: 'invite', token: 'tok-en_1' })
    expect(parseRoute('/deals')).toEqual({ screen: 'list', collection: 'deals' })
    expect(parseRoute('/events/abc')).toEqual({ screen: 'record', collection: 'events', id: 'abc' })
    expect(parseRoute('/board')).toEqual({ screen: 'board' })
    expect(parseRoute('/admin')).toEqual({ screen: 'admin' })
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
    const monday = startOfWeek(dayFromDate(2026, 3, 4))
    expect(weekdayOf(monday)).toBe(0)
    const start = slotTime(monday, 2, 'Europe/Oslo')
    const end = slotTime(monday, 4, 'Europe/Oslo')
    expect(placement(monday, start, end, 'Europe/Oslo')).toEqual({ top: 2 * SLOT_PX, height: 2 * SLOT_PX })
    expect(placement(monday + 1, start, end, 'Europe/Oslo')).toBeNull()
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
    const context = { users: new Map(), refs: {} }
    const columnValue = (collection: 'deals' | 'customers' | 'invoices' | 'events', key: string) =>
      columnsOf(collection)
        .find((c) => c.key === key)!
        .value(entry, context)
    expect(columnValue('deals', 'amount')).toBe(5)
    expect(columnValue('customers', 'tags')).toBe('a, b')
    expect(columnValue('invoices', 'number')).toBe('7')
    expect(columnValue('events', 'reservation')).toBe('conflict')
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

describe('fields set at the same moment', () => {
  const users = [
    { id: 'u-alice', name: 'Alice' },
    { id: 'u-bob', name: 'Bob' },
  ]
  const deal = { id: 'd1', title: 'Acme pilot', fields: {}, authority: {}, updatedAt: '', updatedBy: null }
  const context = { users, refs: { customers: [], deals: [deal] }, locale: 'en-US' }
  const alice = { id: 'u-alice', name: 'Alice' }
  const bob = { id: 'u-bob', name: 'Bob' }
  const at = '2026-03-02T10:00:00.000Z'
  const lost = (yours: unknown, kept: unknown, path = 'fields.amount'): ServerNotice => ({
    type: 'overwritten',
    path,
    yours,
    kept,
    by: bob,
    at,
  })
  const won = (yours: unknown, replaced: unknown): ServerNotice => ({
    type: 'overwrote',
    path: 'fields.amount',
    yours,
    replaced,
    by: alice,
    at,
  })

  function record(amount: unknown) {
    const doc = new Y.Doc()
    fieldsOf(doc).set('amount', amount)
    const markers = new ConflictMarkers(fieldsOf(doc))
    return { doc, markers, set: (value: unknown) => fieldsOf(doc).set('amount', value) }
  }

  it('words a value as the field shows it: grouped numbers, dates as dates, enum labels, people and records by name', () => {
    expect(displayValue('amount', 9000, context)).toBe('9,000')
    expect(displayValue('amount', 1234567.5, { ...context, locale: 'de-DE' })).toBe('1.234.567,5')
    expect(displayValue('closeDate', '2026-03-02', context)).toBe(formatDate('2026-03-02'))
    expect(displayValue('closeDate', '2026-03-02', context)).not.toBe('2026-03-02')
    expect(displayValue('stage', 'negotiation', context)).toBe('Negotiation')
    expect(displayValue('ownerId', 'u-bob', context)).toBe('Bob')
    expect(displayValue('attendees', ['u-alice', 'u-bob'], context)).toBe('Alice, Bob')
    expect(displayValue('dealId', 'd1', context)).toBe('Acme pilot')
    expect(displayValue('amount', undefined, context)).toBe('empty')
  })

  it('the person whose value lost gets a marker that waits for the winning value and ends when anyone changes the field', () => {
    const { markers, set } = record(7000)
    let changes = 0
    markers.subscribe(() => changes++)
    // The notice may arrive before the value that won: kept, but not yet current.
    markers.handleNotice(lost(7000, 9000))
    const marker = markers.current().get('amount')!
    expect(marker).toEqual({ field: 'amount', outcome: 'lost', mine: 7000, theirs: 9000, by: bob, at })
    expect(isCurrent(marker, 7000)).toBe(false)
    set(9000)
    expect(markers.current().get('amount')).toBe(marker)
    expect(isCurrent(marker, 9000)).toBe(true)
    // Keep mine: an ordinary edit of the field, which ends the marker.
    set(7000)
    expect(markers.current().has('amount')).toBe(false)
    expect(changes).toBe(2)
  })

  it('the person whose value won gets a marker too; dismissing ends it; rejections and other paths mark nothing', () => {
    const { markers } = record(9000)
    markers.handleNotice(won(9000, 7000))
    expect(markers.current().get('amount')).toMatchObject({ outcome: 'won', mine: 9000, theirs: 7000, by: alice })
    markers.dismiss('amount')
    expect(markers.current().size).toBe(0)
    markers.handleNotice({ type: 'rejected', reason: 'invalid', issues: [{ path: 'amount', message: 'no' }] })
    markers.handleNotice(lost('x', 'y', 'notes'))
    markers.handleNotice(lost(1, 2, 'items.0.quantity'))
    expect(markers.current().size).toBe(0)
  })

  it('a notice delivered late, after the field was changed again, marks nothing', () => {
    const { markers, doc } = record(8000)
    markers.handleNotice(lost(7000, 9000))
    expect(markers.current().size).toBe(0)
    markers.dispose()
    doc.destroy()
  })

  it('says who replaced whose value in plain words, with values as the field shows them', () => {
    const show = (value: unknown) => displayValue('amount', value, context)
    expect(markerText({ field: 'amount', outcome: 'lost', mine: 7000, theirs: 9000, by: bob, at }, show)).toBe(
      'Bob changed this at the same moment: 9,000 — yours was 7,000',
    )
    expect(markerText({ field: 'amount', outcome: 'won', mine: 9000, theirs: 7000, by: alice, at }, show)).toBe(
      'You replaced Alice’s 7,000 at the same moment',
    )
    expect(overwriteText({ winner: 'Bob', kept: '9,000', loser: 'Alice', lost: '7,000' })).toBe(
      'Bob’s 9,000 replaced Alice’s 7,000 at the same moment',
    )
    expect(overwriteText({ winner: 'Bob', kept: null, loser: 'Alice', lost: '7,000', field: 'Amount' })).toBe(
      'Amount: Bob’s change replaced Alice’s 7,000 at the same moment',
    )
  })

  it('the timeline names the value that won only while no later entry changed the field; grouping keeps the lost values', () => {
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, s)).toISOString()
    const items = groupHistory(
      [
        { at: t(20), userId: 'u-bob', fields: ['stage'] },
        { at: t(10), userId: 'u-bob', fields: ['amount'], overwritten: [{ field: 'amount', value: 7000, userId: 'u-alice' }] },
        { at: t(5), userId: 'u-alice', fields: ['amount'] },
      ],
      false,
    )
    expect(items[0]!.overwritten).toEqual([{ field: 'amount', value: 7000, userId: 'u-alice' }])
    expect(replacedBy(items, 0, { amount: 9000 })).toEqual([
      { field: 'amount', lost: 7000, loserId: 'u-alice', keptKnown: true, kept: 9000 },
    ])
    const later = [{ at: t(30), userId: 'u-carol', fields: ['amount'] }, ...items]
    expect(replacedBy(later, 1, { amount: 500 })[0]).toMatchObject({ keptKnown: false, kept: undefined })
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

  it("words a job's retry with a countdown, and the toast of a finished export or import", () => {
    const retry = { attempt: 3, of: 6, reason: 'quota' as const, nextAt: new Date(100_000).toISOString() }
    expect(retryText(retry, 88_000)).toBe("Waiting for Google's quota — retrying in 12 s (attempt 3 of 6)")
    expect(retryText(retry, 99_100)).toBe("Waiting for Google's quota — retrying in 1 s (attempt 3 of 6)")
    expect(retryText({ ...retry, reason: 'unavailable' }, 100_500)).toBe('Google Sheets is unavailable — retrying now (attempt 3 of 6)')
    const job = (fields: Partial<Job>): Job => ({ id: 'j', kind: 'export', target: 'csv', status: 'succeeded', createdAt: '', ...fields })
    const counts = { imported: 120, skipped: 3, merged: 0, invalid: 2 }
    expect(finishedText(job({ kind: 'import', counts }))).toBe('Import finished — 120 imported, 3 skipped, 2 invalid')
    expect(finishedText(job({ kind: 'import', counts: { ...counts, merged: 4 } }))).toBe(
      'Import finished — 120 imported, 3 skipped, 4 merged, 2 invalid',
    )
    expect(finishedText(job({ kind: 'import', status: 'failed', error: 'the file is empty' }))).toBe('Import failed: the file is empty')
    expect(finishedText(job({ counts: { exported: 7 } }))).toBe('CSV export finished — 7 records')
    expect(finishedText(job({ target: 'sheets', status: 'failed', error: 'no access' }))).toBe('Google Sheets export failed: no access')
  })
})

describe('import preview', () => {
  it('reads the first records with quotes, doubled quotes, multi-line cells, CRLF and a BOM, skipping blank lines', () => {
    const csv = '\uFEFFname,notes\r\n"Acme, Inc.","say ""hi""\nagain"\r\n\r\nBob,\nCarl,last'
    expect(previewRows(csv, 10)).toEqual([
      ['name', 'notes'],
      ['Acme, Inc.', 'say "hi"\nagain'],
      ['Bob', ''],
      ['Carl', 'last'],
    ])
    expect(previewRows(csv, 2)).toHaveLength(2)
  })

  it('words field problems for people: a negative amount, a missing title; an emptied optional field is fine', () => {
    expect(fieldIssue('deals', 'amount', -1)).toBe("Amount can't be negative")
    expect(fieldIssue('deals', 'amount', Number.NaN)).toBe('Amount must be a number')
    expect(fieldIssue('deals', 'amount', undefined)).toBeNull()
    expect(fieldIssue('deals', 'amount', 10)).toBeNull()
    expect(fieldIssue('events', 'start', undefined)).toBe('Start is required')
  })

  it('words history entries plainly: fields by label, what the server did as what happened, never internal names', () => {
    const now = { latest: () => true, older: () => 0 }
    const reservation = { status: 'confirmed', start: '2026-03-03T10:00:00Z', end: '2026-03-03T11:00:00Z', conflictsWith: [] }
    const booked = entryWords(['authority.reservation'], { reservation }, now)
    expect(booked.changed).toBeNull()
    expect(booked.events).toHaveLength(1)
    expect(booked.events[0]).toMatch(/^Booking confirmed for .*Mar/)
    expect(entryWords(['authority.reservation'], { reservation }, { latest: () => false, older: () => 0 }).events).toEqual([
      'Booking updated',
    ])
    expect(entryWords(['authority.number'], { number: 12 }, now).events).toEqual(['Invoice number 12 assigned'])
    expect(entryWords(['authority.deleted', 'authority.deletedBy'], {}, now).events).toEqual(['Deleted this record'])
    expect(entryWords(['authority.deleted'], {}, { latest: () => true, older: () => 1 }).events).toEqual(['Restored this record'])
    expect(entryWords(['amount', 'closeDate'], {}, now)).toEqual({ changed: 'changed Amount, Close date', events: [] })
  })

  it('labels the cursors of the user’s own other tabs, and only those', () => {
    const states = new Map([
      [1, { user: { id: 'u1', name: 'Alice Archer' } }],
      [2, { user: { id: 'u2', name: 'Bob Baker' } }],
    ])
    const shown = cursorStates(states, 'u1')
    expect(shown.get(1)?.user.name).toBe('You (other tab)')
    expect(shown.get(2)?.user.name).toBe('Bob Baker')
  })
})
