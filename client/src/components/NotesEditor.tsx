/**
 * The notes field: a Quill 2 editor bound to the record's Y.Text with y-quill, so the notes
 * keep merging character by character, with every collaborator's named cursor
 * (quill-cursors). Formatting is the whitelist of shared/richText.ts (headings, bold, italic,
 * underline, strike, lists, http(s)/mailto links) and @mentions (quill-mention): a mention is
 * the text "@Name" carrying `mention: <user id>`, so the plain text stays readable everywhere.
 * The user's own other tabs are "You (other tab)": their own name there reads as someone
 * else editing. Ctrl/Cmd-Z is the record's (useRecordUndo.ts), not Quill's.
 */
import Quill from 'quill'
import 'quill/dist/quill.snow.css'
import QuillCursors from 'quill-cursors'
import * as quillMention from 'quill-mention'
import 'quill-mention/dist/quill.mention.css'
import { useEffect, useRef } from 'react'
import { QuillBinding } from 'y-quill'
import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { NOTE_FORMATS, linkOf } from '../../../shared/richText.js'
import { relabelled } from '../cursorLabels.js'
import type { User } from '../session/api.js'

export interface NotesEditorProps {
  text: Y.Text
  awareness: Awareness
  /** The signed-in user: cursors of their other tabs are labelled as such. */
  userId: string
  /** Who may be mentioned: the workspace's users. */
  users: User[]
  readOnly: boolean
  labelId: string
}

const Inline = Quill.import('blots/inline') as typeof import('parchment').InlineBlot

/** A mention: text carrying the mentioned user's id (not quill-mention's embed, which would drop out of the plain text). */
class MentionFormat extends Inline {
  static blotName = 'mention'
  static tagName = 'SPAN'
  static className = 'mention'

  static create(value: unknown) {
    // biome-ignore lint/complexity/noThisInStatic: Parchment's create reads the calling class's tagName and className
    const node = super.create(value) as HTMLElement
    if (typeof value === 'string') node.dataset.userId = value
    return node
  }

  static formats(node: HTMLElement): string | undefined {
    return node.dataset.userId
  }

  format(name: string, value: unknown): void {
    if (name === MentionFormat.blotName && typeof value === 'string') (this.domNode as HTMLElement).dataset.userId = value
    else super.format(name, value)
  }
}

// quill-mention's types re-export without file extensions, which NodeNext resolution does not follow.
const { Mention } = quillMention as unknown as { Mention: typeof import('quill/core/module.js').default }
const Link = Quill.import('formats/link') as { PROTOCOL_WHITELIST: string[] }
Link.PROTOCOL_WHITELIST = ['http', 'https', 'mailto']
Quill.register({ 'modules/cursors': QuillCursors, 'modules/mention': Mention, 'formats/mention': MentionFormat }, true)

const TOOLBAR = [
  [{ header: [1, 2, 3, false] }],
  ['bold', 'italic', 'underline', 'strike'],
  [{ list: 'ordered' }, { list: 'bullet' }],
  ['link'],
  ['clean'],
]

export function NotesEditor({ text, awareness, userId, users, readOnly, labelId }: NotesEditorProps) {
  const host = useRef<HTMLDivElement>(null)
  const mentionable = useRef(users)
  mentionable.current = users
  useEffect(() => {
    const container = document.createElement('div')
    host.current!.append(container)
    const quill = new Quill(container, {
      theme: 'snow',
      readOnly,
      placeholder: readOnly ? 'No notes.' : 'Write notes… everyone here sees them as you type. Type @ to mention someone.',
      formats: [...NOTE_FORMATS],
      modules: {
        toolbar: readOnly ? false : TOOLBAR,
        cursors: { hideDelayMs: 60_000 },
        // The record's undo manager undoes this tab's edits only; Quill's own history would undo others' too.
        history: { maxStack: 0, userOnly: true },
        mention: {
          mentionDenotationChars: ['@'],
          allowedChars: /^[\p{L}\p{N}_ .'-]*$/u,
          source: (term: string, render: (items: { id: string; value: string }[], term: string) => void) => {
            const wanted = term.toLowerCase()
            const found = mentionable.current.filter((u) => u.id !== userId && u.name.toLowerCase().includes(wanted))
            render(
              found.slice(0, 8).map((u) => ({ id: u.id, value: u.name })),
              term,
            )
          },
          renderItem: (item: { value: string }) => document.createTextNode(item.value),
          onSelect: (item: DOMStringMap) => insertMention(quill, item),
        },
      },
    })
    quill.root.setAttribute('aria-labelledby', labelId)
    quill.root.setAttribute('aria-multiline', 'true')
    quill.root.setAttribute('role', 'textbox')
    const binding = new QuillBinding(text, quill, relabelled(awareness, userId))
    // A link typed as "example.com" gets its scheme before the tooltip saves it (the server takes http(s) and mailto only).
    const fixLink = (event: Event) => {
      const input = host.current?.querySelector<HTMLInputElement>('.ql-tooltip.ql-editing[data-mode=link] input')
      if (!input) return
      const target = event.target as HTMLElement
      const saving = event instanceof KeyboardEvent ? event.key === 'Enter' && target === input : target.closest('.ql-action') !== null
      if (saving) input.value = linkOf(input.value)
    }
    const root = host.current!
    root.addEventListener('keydown', fixLink, true)
    root.addEventListener('click', fixLink, true)
    return () => {
      root.removeEventListener('keydown', fixLink, true)
      root.removeEventListener('click', fixLink, true)
      binding.destroy()
      root.replaceChildren()
    }
  }, [text, awareness, userId, readOnly, labelId])
  return <div className="notes-editor" ref={host} data-testid="notes-editor" />
}

/** Replaces the "@term" before the caret by "@Name" carrying the user's id, then a plain space. */
function insertMention(quill: Quill, item: DOMStringMap): void {
  const { id, value } = item
  const caret = quill.getSelection(true).index
  const at = quill.getText(0, caret).lastIndexOf('@')
  if (!id || !value || at < 0) return
  const mention = `@${value}`
  quill.deleteText(at, caret - at, 'user')
  quill.insertText(at, mention, { mention: id }, 'user')
  // `null` ends the mention (typing on must not extend it); the server accepts it, as it would not `false`.
  quill.insertText(at + mention.length, ' ', { mention: null }, 'user')
  quill.setSelection(at + mention.length + 1, 0, 'user')
}
