/**
 * Ctrl/Cmd-Z in a record: one Y.UndoManager over the record's fields, text fields, line
 * items and notes that tracks this tab's own edits only (transactions with no origin, as the
 * field inputs make, a text field's LocalTextEdit, the notes editor's QuillBinding). What
 * arrives from the server, other users or the user's other tabs has the provider as origin
 * and is never undone here: undo takes back your last edit and keeps everyone else's.
 *
 * When the server rejects one of this tab's edits it has already put the last valid value
 * back; undoing across that revert could bring the refused value (or a duplicate of the
 * restored text) back, so the history is cleared at each rejection.
 */
import { type KeyboardEvent, useCallback, useEffect, useState } from 'react'
import { QuillBinding } from 'y-quill'
import * as Y from 'yjs'
import type { Collection } from '../../../shared/collections.js'
import { fieldsOf, itemsOf, notesOf } from '../../../shared/docLayout.js'
import { textRootsOf } from '../../../shared/textFields.js'
import { LocalTextEdit } from '../textBinding.js'
import type { DocConnection } from './DocConnection.js'

/** Edits typed within this long of each other are undone together. @default 500 ms */
const CAPTURE_MS = 500

export interface RecordUndo {
  /** Put on the record's element (capture phase): Ctrl/Cmd-Z undoes, Ctrl/Cmd-Shift-Z and Ctrl-Y redo. */
  onKeyDownCapture: (event: KeyboardEvent) => void
}

export function useRecordUndo(connection: DocConnection | null, collection: Collection, readOnly: boolean): RecordUndo {
  const doc = connection?.doc
  const [undo, setUndo] = useState<Y.UndoManager | null>(null)
  useEffect(() => {
    if (!doc) return
    const scope = [fieldsOf(doc), notesOf(doc), itemsOf(doc), ...textRootsOf(doc, collection)]
    const manager = new Y.UndoManager(scope as unknown as Y.AbstractType<Y.YEvent<never>>[], {
      captureTimeout: CAPTURE_MS,
      trackedOrigins: new Set<unknown>([null, LocalTextEdit, QuillBinding]),
    })
    setUndo(manager)
    return () => {
      manager.destroy()
      setUndo(null)
    }
  }, [doc, collection])
  useEffect(() => {
    if (!connection || !undo) return
    return connection.onNotice((notice) => {
      if (notice.type === 'rejected') undo.clear()
    })
  }, [connection, undo])

  const onKeyDownCapture = useCallback(
    (event: KeyboardEvent) => {
      if (!undo || readOnly || !(event.ctrlKey || event.metaKey) || event.altKey) return
      const key = event.key.toLowerCase()
      const redo = (key === 'z' && event.shiftKey) || (key === 'y' && !event.shiftKey)
      if (key !== 'z' && !redo) return
      // Neither the browser's undo of an input nor Quill's sees it: theirs know nothing of who typed what.
      event.preventDefault()
      event.stopPropagation()
      if (redo) undo.redo()
      else undo.undo()
    },
    [undo, readOnly],
  )
  return { onKeyDownCapture }
}
