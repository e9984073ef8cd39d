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
import type { Collection, FieldValues } from '../../shared/collections.js'
import { AUTHORITY, FIELDS, ITEMS, NOTES, typedRoots } from '../../shared/docLayout.js'
import { TEXT_FIELDS, textRootName, textRootsOf } from '../../shared/textFields.js'
import { type DocName, assertNever, parseDocName } from '../../shared/docNames.js'
import type { Principal } from '../auth/types.js'
import { FieldOverwrites, withoutLostSets } from '../authority/fieldOverwrites.js'
import { RecordGate } from '../authority/recordGate.js'
import { type RecordProjection, projectRecord } from '../records/recordProjection.js'
import type { DocPolicy, DocResolver, ResolvedDoc } from '../sync/DocPolicy.js'
import { type AnyType, placeOf } from '../sync/typeTree.js'

type RecordName = Extract<DocName, { kind: 'record' }>

export interface DocumentKindsOptions {
  /** A record's fields as its projection row stored them: what a repair on load falls back to. */
  storedFields?: (name: RecordName) => Promise<FieldValues | undefined>
  /** A user's display name, for the notices that name them. @default the user id */
  userName?: (userId: string) => string
  /** The ids of a workspace's users, kept current (a mention in the notes must name one). @default any well-formed id */
  workspaceUsers?: (workspace: string) => Promise<ReadonlySet<string>>
}

/** What a document name means to Accord; null for a name of no kind (4404). */
export function documentKinds(options: DocumentKindsOptions = {}): DocResolver<DocName, RecordProjection> {
  return (docName) => resolveDocument(docName, options)
}

/** `documentKinds()` with no fallback for repairs (tests). */
export const resolveDocument = (docName: string, options: DocumentKindsOptions = {}): ResolvedDoc<DocName, RecordProjection> | null => {
  const parsed = parseDocName(docName)
  if (!parsed.ok) return null
  const { name } = parsed
  switch (name.kind) {
    case 'record':
      return { name, policy: recordPolicy(name, options) }
    case 'index':
      return { name, policy: serverOnlyPolicy('index', (p) => p.workspace === name.workspace) }
    case 'inbox':
      return { name, policy: serverOnlyPolicy('inbox', (p) => p.workspace === name.workspace && p.userId === name.userId) }
    default:
      return assertNever(name)
  }
}

function recordPolicy(name: RecordName, options: DocumentKindsOptions): DocPolicy<RecordProjection> {
  // Read as the record loads, beside its stored state: the repair runs synchronously once that is applied.
  let stored: FieldValues | undefined
  let users: ReadonlySet<string> | undefined
  return {
    preload: async () => {
      ;[stored, users] = await Promise.all([options.storedFields?.(name), options.workspaceUsers?.(name.workspace)])
    },
    mayOpen: (principal) => principal.workspace === name.workspace,
    mayWrite: (principal) => principal.role !== 'viewer',
    readOnlyReason: 'read-only',
    roots: (doc) => [...typedRoots(doc, 'record'), ...(textRootsOf(doc, name.collection) as AnyType[])],
    guard: (doc, context) => {
      const gate = new RecordGate(doc, name.collection, { isUser: users && ((userId) => users?.has(userId) === true) })
      const overwrites = new FieldOverwrites(doc, context, options.userName ?? ((userId) => userId))
      return {
        check: (tr) => overwrites.addTo(tr, gate.check(tr)),
        accept: () => gate.accept(),
        repair: () => gate.repairPlan(() => stored),
      }
    },
    changedParts: (doc, tr) => withoutLostSets(doc, tr, recordParts(doc, name.collection, tr)),
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

/**
 * Which record parts a transaction changed, as history names: field keys (a text field's
 * root by its field's name), `notes`, `items`, `authority.<key>`; a change inside a shared
 * type counts for the entry holding it.
 */
function recordParts(doc: Y.Doc, collection: Collection, tr: Y.Transaction): string[] {
  const parts = new Set<string>()
  const textFields = new Map(TEXT_FIELDS[collection].map((field) => [doc.share.get(textRootName(field)), field]))
  for (const [type, keys] of tr.changed) {
    const { root, top } = placeOf(type as AnyType)
    const named = top === null ? [...keys] : [top.parentSub]
    if (root === doc.share.get(FIELDS)) {
      for (const key of named) if (key !== null) parts.add(key)
    } else if (root === doc.share.get(NOTES)) parts.add(NOTES)
    else if (root === doc.share.get(ITEMS)) parts.add(ITEMS)
    else if (root === doc.share.get(AUTHORITY)) {
      for (const key of named) if (key !== null) parts.add(`${AUTHORITY}.${key}`)
    } else {
      const field = textFields.get(root)
      if (field !== undefined) parts.add(field)
    }
  }
  return [...parts]
}
