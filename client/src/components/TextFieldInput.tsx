/**
 * A short text field (title, name, company, e-mail, …) bound to its Y.Text: each keystroke
 * is applied as the smallest edit of the text, and others' edits are applied to the input
 * where they happened, the caret kept where it belongs. So two people typing into one title
 * both keep what they typed. A draft the shared schema refuses (an emptied title, an
 * e-mail half typed) stays local and is explained until it is valid or the input is left.
 */
import { useEffect, useId, useRef, useState } from 'react'
import type * as Y from 'yjs'
import type { Collection } from '../../../shared/collections.js'
import { fieldIssue } from '../fieldIssues.js'
import { fieldKind } from '../fieldKinds.js'
import { LocalTextEdit, applyShown, moveIndex, shownIndexOf, shownOf, textIndexOf } from '../textBinding.js'
import { FieldFrame } from './FieldInput.js'

export interface TextFieldInputProps {
  collection: Collection
  field: string
  text: Y.Text
  readOnly: boolean
  /** A server rejection for this field, if any. */
  serverIssue?: string
}

/** Why the input's text may not be written, or null. An empty text is a missing field. */
function draftIssue(collection: Collection, field: string, draft: string): string | null {
  return fieldIssue(collection, field, draft === '' ? undefined : draft)
}

export function TextFieldInput({ collection, field, text, readOnly, serverIssue }: TextFieldInputProps) {
  const id = useId()
  const input = useRef<HTMLInputElement>(null)
  const [issue, setIssue] = useState<string | null>(null)
  /** The input holds a draft that is not in the text (invalid, or mid-composition): others' edits wait. */
  const detached = useRef(false)
  const composing = useRef(false)
  /** The text as the input last showed it: where the caret's shown position is mapped from. */
  const shownText = useRef('')
  /** The origin of this input's own edits. */
  const [origin] = useState(() => new LocalTextEdit())

  /** Puts the text into the input; the caret moved by `delta` (others' edit) when it has focus. */
  function show(delta?: Y.YTextEvent['delta']) {
    const element = input.current
    if (!element) return
    const next = text.toString()
    const focused = document.activeElement === element && element.selectionStart !== null
    const [start, end] = [element.selectionStart ?? 0, element.selectionEnd ?? 0]
    const move = (shown: number) => {
      const index = textIndexOf(shownText.current, shown)
      return shownIndexOf(next, delta ? moveIndex(index, delta) : index)
    }
    element.value = shownOf(next)
    if (focused) element.setSelectionRange(move(start), move(end))
    shownText.current = next
  }

  // biome-ignore lint/correctness/useExhaustiveDependencies: `show` reads only refs and `text`; `origin` never changes
  useEffect(() => {
    show()
    detached.current = false
    setIssue(null)
    const observer = (event: Y.YTextEvent) => {
      if (event.transaction.origin === origin || detached.current || composing.current) return
      show(event.delta)
    }
    text.observe(observer)
    return () => text.unobserve(observer)
  }, [text])

  function handleInput() {
    const element = input.current
    if (!element || composing.current) return
    const problem = draftIssue(collection, field, element.value)
    setIssue(problem)
    detached.current = problem !== null
    if (problem) return
    text.doc?.transact(() => applyShown(text, element.value, element.selectionStart ?? undefined), origin)
    shownText.current = text.toString()
  }

  function handleBlur() {
    if (!detached.current) return
    detached.current = false
    setIssue(null)
    show()
  }

  const message = issue ?? serverIssue
  return (
    <FieldFrame id={id} field={field} kind={fieldKind(field)} message={message} labelFor>
      <input
        ref={input}
        id={id}
        name={field}
        type="text"
        inputMode={fieldKind(field) === 'email' ? 'email' : undefined}
        disabled={readOnly}
        aria-invalid={message ? true : undefined}
        aria-describedby={message ? `${id}-issue` : undefined}
        onInput={handleInput}
        onBlur={handleBlur}
        onCompositionStart={() => {
          composing.current = true
        }}
        onCompositionEnd={() => {
          composing.current = false
          handleInput()
        }}
      />
    </FieldFrame>
  )
}
