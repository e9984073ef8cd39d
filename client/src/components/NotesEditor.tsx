/**
 * The notes field: a CodeMirror 6 editor bound to the record's Y.Text with
 * y-codemirror.next, showing every collaborator's cursor and name.
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
  readOnly: boolean
  labelId: string
}

export function NotesEditor({ text, awareness, readOnly, labelId }: NotesEditorProps) {
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
          yCollab(text, awareness, { undoManager }),
        ],
      }),
    })
    return () => {
      view.destroy()
      undoManager.destroy()
    }
  }, [text, awareness, readOnly, labelId])
  return <div className="notes-editor" ref={host} data-testid="notes-editor" />
}
