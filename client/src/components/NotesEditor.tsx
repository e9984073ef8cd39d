/**
 * The notes field: a CodeMirror 6 editor bound to the record's Y.Text with
 * y-codemirror.next, showing every collaborator's cursor and name. The user's own other
 * tabs are "You (other tab)": their own name there reads as someone else editing.
 */
import { EditorState } from '@codemirror/state'
import { EditorView, keymap, placeholder } from '@codemirror/view'
import { defaultKeymap } from '@codemirror/commands'
import { useEffect, useRef } from 'react'
import { yCollab } from 'y-codemirror.next'
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'

export interface NotesEditorProps {
  text: Y.Text
  awareness: Awareness
  /** The signed-in user: cursors of their other tabs are labelled as such. */
  userId: string
  readOnly: boolean
  labelId: string
}

/** The label of a cursor of the user's own other tab. */
export const OTHER_TAB = 'You (other tab)'

/** Awareness states as the cursors show them: `userId`'s other tabs relabelled. */
export function cursorStates<S extends { user?: { id?: string; name?: string } }>(
  states: ReadonlyMap<number, S>,
  userId: string,
): Map<number, S> {
  const shown = new Map<number, S>()
  for (const [clientId, state] of states) {
    shown.set(clientId, state.user?.id === userId ? { ...state, user: { ...state.user, name: OTHER_TAB } } : state)
  }
  return shown
}

/** The awareness as the cursor plugin sees it: the same object, but states come through {@link cursorStates}. */
function relabelled(awareness: Awareness, userId: string): Awareness {
  return new Proxy(awareness, {
    get(target, property) {
      if (property === 'getStates') return () => cursorStates(target.getStates() as Map<number, { user?: { id?: string } }>, userId)
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

export function NotesEditor({ text, awareness, userId, readOnly, labelId }: NotesEditorProps) {
  const host = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const undoManager = new Y.UndoManager(text)
    const view = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: text.toString(),
        extensions: [
          keymap.of(defaultKeymap),
          EditorView.lineWrapping,
          placeholder('Write notes… everyone here sees them as you type.'),
          EditorView.editable.of(!readOnly),
          EditorState.readOnly.of(readOnly),
          EditorView.contentAttributes.of({ 'aria-labelledby': labelId, 'aria-multiline': 'true', role: 'textbox' }),
          yCollab(text, relabelled(awareness, userId), { undoManager }),
        ],
      }),
    })
    return () => {
      view.destroy()
      undoManager.destroy()
    }
  }, [text, awareness, userId, readOnly, labelId])
  return <div className="notes-editor" ref={host} data-testid="notes-editor" />
}
