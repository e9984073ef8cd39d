/** How the app names a document to the user, e.g. a record whose edits are not on the server yet. */
import type * as Y from 'yjs'
import { recordTitle } from '../../shared/collections.js'
import { readFields } from '../../shared/docLayout.js'
import { assertNever, parseDocName } from '../../shared/docNames.js'
import { COLLECTION_LABELS } from './fieldKinds.js'

/** `Customer “Initech”` for a record (its id when `doc` is not at hand), a plain name for the rest. */
export function docLabel(docName: string, doc: Y.Doc | null): string {
  const parsed = parseDocName(docName)
  if (!parsed.ok) return docName
  const { name } = parsed
  switch (name.kind) {
    case 'record':
      return `${COLLECTION_LABELS[name.collection].singular} “${doc ? recordTitle(name.collection, readFields(doc, name.collection)) : name.id}”`
    case 'index':
      return `The list of ${COLLECTION_LABELS[name.collection].plural.toLowerCase()}`
    case 'inbox':
      return 'Your notifications'
    default:
      return assertNever(name)
  }
}
