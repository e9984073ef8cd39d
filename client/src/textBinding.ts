/**
 * How a single-line input edits a text field's Y.Text (shared/textFields.ts), pure. The
 * input shows the text without line breaks (a text input drops them; REST and imports may
 * still write them), so positions are mapped between what is shown and what is stored.
 */
import type * as Y from 'yjs'
import { textEdit } from '../../shared/textFields.js'

const LINE_BREAK = /[\r\n]/

/**
 * The origin of what a text field's input of this tab writes: the input tells its own edits
 * from others' by its instance, and the record's undo (sync/useRecordUndo.ts) tracks the class.
 */
export class LocalTextEdit {}

/** What a single-line input shows of `text`. */
export function shownOf(text: string): string {
  return text.replace(/[\r\n]/g, '')
}

/** The index in `text` of the shown position `shown` (line breaks before it are skipped). */
export function textIndexOf(text: string, shown: number): number {
  let index = 0
  for (let seen = 0; index < text.length; index++) {
    if (LINE_BREAK.test(text[index]!)) continue
    if (seen === shown) return index
    seen++
  }
  return index
}

/** The shown position of the index `index` in `text`. */
export function shownIndexOf(text: string, index: number): number {
  return shownOf(text.slice(0, index)).length
}

/**
 * Applies what the input now shows (`shown`, caret at `caret`) to `ytext` as the smallest
 * edit, so what others type elsewhere in the same text merges around it; call inside a transaction.
 */
export function applyShown(ytext: Y.Text, shown: string, caret?: number): void {
  const current = ytext.toString()
  const edit = textEdit(shownOf(current), shown, caret)
  const start = textIndexOf(current, edit.index)
  const end = edit.remove === 0 ? start : textIndexOf(current, edit.index + edit.remove - 1) + 1
  if (end > start) ytext.delete(start, end - start)
  if (edit.insert) ytext.insert(start, edit.insert)
}

/**
 * Where a position of a text moves after a change (a Y.Text event's delta, over the text as
 * it was): text inserted before it pushes it on, text deleted before it pulls it back; text
 * inserted right at it goes after it.
 */
export function moveIndex(index: number, delta: readonly { retain?: number; insert?: unknown; delete?: number }[]): number {
  let old = 0
  let moved = index
  for (const op of delta) {
    if (old >= index) break
    if (op.retain !== undefined) old += op.retain
    else if (op.delete !== undefined) {
      moved -= Math.min(op.delete, index - old)
      old += op.delete
    } else if (op.insert !== undefined) moved += typeof op.insert === 'string' ? op.insert.length : 1
  }
  return moved
}
