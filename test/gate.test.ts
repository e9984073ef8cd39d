/** The validation gate on plain documents (no sockets): what is reverted, what survives. */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { RecordGate } from '../server/authority/recordGate.js'
import { MAX_FIELD_LENGTH, MAX_ITEMS } from '../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, itemToYMap, notesOf, readFields, readItems } from '../shared/docLayout.js'
import { isTextField, textOf } from '../shared/textFields.js'

const CLIENT = { client: true }

function setup(collection: 'deals' | 'events' | 'invoices', fields: Record<string, unknown>) {
  const doc = new Y.Doc()
  doc.transact(() => {
    // As REST writes them: text fields into their text roots.
    for (const [k, v] of Object.entries(fields)) {
      if (isTextField(collection, k)) textOf(doc, k).insert(0, v as string)
      else fieldsOf(doc).set(k, v)
    }
  })
  const gate = new RecordGate(doc, collection)
  /** A client transaction, checked and reverted as the room does; returns the issue paths. */
  const edit = (change: () => void) => {
    let tr: Y.Transaction | null = null
    const capture = (t: Y.Transaction) => {
      if (t.origin === CLIENT) tr = t
    }
    doc.on('afterTransaction', capture)
    doc.transact(change, CLIENT)
    doc.off('afterTransaction', capture)
    const result = gate.check(tr!)
    if (result.revert) {
      doc.transact(result.revert, 'server')
      gate.accept()
    }
    return result.issues.map((i) => `${i.reason}:${i.path}`)
  }
  return { doc, gate, edit }
}

describe('RecordGate', () => {
  it('[G1] restores a deleted required field, and the text of an emptied required text field', () => {
    const events = setup('events', { title: 'T', start: '2026-01-01T10:00:00Z', end: '2026-01-01T11:00:00Z' })
    expect(events.edit(() => fieldsOf(events.doc).delete('start'))).toEqual(['invalid:start'])
    expect(fieldsOf(events.doc).get('start')).toBe('2026-01-01T10:00:00Z')
    const { doc, edit } = setup('deals', { title: 'T' })
    expect(edit(() => textOf(doc, 'title').delete(0, 1))).toEqual(['invalid:title'])
    expect(textOf(doc, 'title').toString()).toBe('T')
  })

  it('[G2] reverts an unknown field and keeps a valid one of the same transaction', () => {
    const { doc, edit } = setup('deals', { title: 'T' })
    expect(
      edit(() => {
        fieldsOf(doc).set('bogus', 1)
        fieldsOf(doc).set('amount', 5)
      }),
    ).toEqual(['invalid:bogus'])
    expect(readFields(doc, 'deals')).toEqual({ title: 'T', amount: 5 })
  })

  it('[G3] a valid edit becomes the value later invalid edits return to', () => {
    const { doc, edit } = setup('deals', { title: 'T', amount: 1 })
    expect(edit(() => fieldsOf(doc).set('amount', 7))).toEqual([])
    expect(edit(() => fieldsOf(doc).set('amount', -7))).toEqual(['invalid:amount'])
    expect(fieldsOf(doc).get('amount')).toBe(7)
  })

  it('[G4] cross-field rules: start moved past end is reverted', () => {
    const { doc, edit } = setup('events', { title: 'E', start: '2026-01-01T10:00:00Z', end: '2026-01-01T11:00:00Z' })
    expect(edit(() => fieldsOf(doc).set('start', '2026-01-01T12:00:00Z'))).toEqual(['invalid:start'])
    expect(fieldsOf(doc).get('start')).toBe('2026-01-01T10:00:00Z')
    expect(edit(() => fieldsOf(doc).set('start', 'tomorrow'))).toEqual(['invalid:start'])
  })

  it('[G5] authority writes are reverted, server writes accepted', () => {
    const { doc, gate, edit } = setup('invoices', {})
    doc.transact(() => authorityOf(doc).set('number', 'INV-1'), 'server')
    gate.accept()
    expect(edit(() => authorityOf(doc).set('number', 'INV-X'))).toEqual(['authority:authority'])
    expect(authorityOf(doc).get('number')).toBe('INV-1')
    expect(edit(() => authorityOf(doc).set('deleted', true))).toEqual(['authority:authority'])
    expect(authorityOf(doc).has('deleted')).toBe(false)
  })

  it('[G6] unknown roots are emptied', () => {
    const { doc, edit } = setup('deals', { title: 'T' })
    expect(edit(() => doc.getArray('junk').push([1, 2, 3]))).toEqual(['invalid:(document)'])
    expect(doc.getArray('junk').length).toBe(0)
  })

  it('[G7] items past MAX_ITEMS are removed, valid ones kept', () => {
    const { doc, edit } = setup('invoices', {})
    const item = () => itemToYMap({ description: 'x', quantity: 1, unitPrice: 1 })
    expect(edit(() => itemsOf(doc).push(Array.from({ length: MAX_ITEMS }, item)))).toEqual([])
    expect(edit(() => itemsOf(doc).push([item(), item()]))).toEqual([`invalid:items`])
    expect(readItems(doc)).toHaveLength(MAX_ITEMS)
  })

  it('[G8] notes past their limit lose only what this transaction inserted', () => {
    const { doc, edit } = setup('deals', { title: 'T' })
    expect(edit(() => notesOf(doc).insert(0, 'kept'))).toEqual([])
    expect(edit(() => notesOf(doc).insert(2, 'x'.repeat(200_001)))).toEqual(['invalid:notes'])
    expect(notesOf(doc).toString()).toBe('kept')
  })
})

describe('RecordGate on text fields', () => {
  it('[G9] a text root past its limit, holding an embed or a format mark goes back to its last valid text; valid typing stays', () => {
    const { doc, edit } = setup('deals', { title: 'Deal' })
    const title = textOf(doc, 'title')
    expect(edit(() => title.insert(4, ' won'))).toEqual([])
    expect(edit(() => title.insert(0, 'x'.repeat(MAX_FIELD_LENGTH)))).toEqual(['invalid:title'])
    expect(title.toString()).toBe('Deal won')
    expect(edit(() => title.insertEmbed(0, { image: 'x' }))).toEqual(['invalid:title'])
    expect(title.toDelta()).toEqual([{ insert: 'Deal won' }])
    const customer = setup('deals', { title: 'T' })
    expect(customer.edit(() => textOf(customer.doc, 'title').format(0, 1, { bold: true }))).toEqual(['invalid:title'])
  })

  it('[G10] a plain string a stock client sets on a text field moves into its text root, reporting the text it replaced', () => {
    const { doc, gate } = setup('deals', { title: 'Old title' })
    let tr: Y.Transaction | null = null
    doc.once('afterTransaction', (t: Y.Transaction) => {
      tr = t
    })
    doc.transact(() => fieldsOf(doc).set('title', 'New title'), CLIENT)
    const result = gate.check(tr!)
    expect(result.issues).toEqual([])
    expect(result.textOverwrites).toEqual([
      { path: 'fields.title', field: 'title', replaced: 'Old title', value: 'New title', clients: [doc.clientID] },
    ])
    doc.transact(result.revert!, 'server')
    expect(fieldsOf(doc).has('title')).toBe(false)
    expect(textOf(doc, 'title').toString()).toBe('New title')
  })

  it('[G11] a stored plain-string text field is moved into its text root by the repair on load', () => {
    const doc = new Y.Doc()
    doc.transact(() => fieldsOf(doc).set('name', 'Initech'))
    const gate = new RecordGate(doc, 'customers')
    const plan = gate.repairPlan(() => undefined)
    expect(plan.issues.map((i) => i.path)).toEqual(['name'])
    doc.transact(plan.revert!, 'server')
    expect(fieldsOf(doc).has('name')).toBe(false)
    expect(readFields(doc, 'customers')).toEqual({ name: 'Initech' })
  })
})
