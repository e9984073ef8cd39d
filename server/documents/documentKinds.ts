/**
 * Accord's kinds of documents, as the sync core sees them (DocPolicy):
 *
 * - record `<workspace>/<collection>/<id>`: written by the workspace's members, checked by the
 *   validation gate, projected into the `records` table;
 * - index `<workspace>/index/<collection>`: one summary per record, written by the server only;
 * - inbox `<workspace>/inbox/<userId>`: one user's jobs and notifications, written by the
 *   server only, opened by that user only.
 */
import type * as Y from 'yjs'
import { AUTHORITY, FIELDS, ITEMS, NOTES, typedRoots } from '../../shared/docLayout.js'
import { type DocName, assertNever, parseDocName } from '../../shared/docNames.js'
import type { Principal } from '../auth/types.js'
import { RecordGate } from '../authority/recordGate.js'
import { type RecordProjection, projectRecord } from '../records/recordProjection.js'
import type { AnyType, DocPolicy, ResolvedDoc } from '../sync/DocPolicy.js'

type RecordName = Extract<DocName, { kind: 'record' }>

/** What a document name means to Accord; null for a name of no kind (4404). */
export function resolveDocument(docName: string): ResolvedDoc<DocName, RecordProjection> | null {
  const parsed = parseDocName(docName)
  if (!parsed.ok) return null
  const { name } = parsed
  switch (name.kind) {
    case 'record':
      return { name, policy: recordPolicy(name) }
    case 'index':
      return { name, policy: serverOnlyPolicy('index', (p) => p.workspace === name.workspace) }
    case 'inbox':
      return { name, policy: serverOnlyPolicy('inbox', (p) => p.workspace === name.workspace && p.userId === name.userId) }
    default:
      return assertNever(name)
  }
}

function recordPolicy(name: RecordName): DocPolicy<RecordProjection> {
  return {
    mayOpen: (principal) => principal.workspace === name.workspace,
    mayWrite: (principal) => principal.role !== 'viewer',
    readOnlyReason: 'read-only',
    roots: (doc) => typedRoots(doc, 'record'),
    guard: (doc) => new RecordGate(doc, name.collection),
    changedParts: recordParts,
    project: (doc, updates) => projectRecord(name, doc, updates),
  }
}

/** A document only the server writes; `mayOpen` says who may read it. */
function serverOnlyPolicy(kind: 'index' | 'inbox', mayOpen: (principal: Principal) => boolean): DocPolicy<RecordProjection> {
  return {
    mayOpen,
    mayWrite: () => false,
    readOnlyReason: 'server-only',
    roots: (doc) => typedRoots(doc, kind),
    guard: () => null,
    changedParts: () => [],
  }
}

/** Which record parts a transaction changed, as history names: field keys, `notes`, `items`, `authority.<key>`. */
function recordParts(doc: Y.Doc, tr: Y.Transaction): string[] {
  const parts = new Set<string>()
  for (const [type, keys] of tr.changed) {
    let root = type as AnyType
    while (root._item !== null) root = root._item.parent as AnyType
    if (root === doc.share.get(FIELDS) && root === type) {
      for (const key of keys) if (key !== null) parts.add(key)
    } else if (root === doc.share.get(NOTES)) parts.add(NOTES)
    else if (root === doc.share.get(ITEMS)) parts.add(ITEMS)
    else if (root === doc.share.get(AUTHORITY) && root === type) {
      for (const key of keys) if (key !== null) parts.add(`${AUTHORITY}.${key}`)
    }
  }
  return [...parts]
}
