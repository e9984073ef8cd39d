/**
 * How collaborators' cursors are labelled in the notes, pure: by their name, except the
 * signed-in user's own other tabs, which are "You (other tab)" (their own name there would
 * read as someone else editing).
 */
import type { Awareness } from 'y-protocols/awareness'

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
export function relabelled(awareness: Awareness, userId: string): Awareness {
  return new Proxy(awareness, {
    get(target, property) {
      if (property === 'getStates') return () => cursorStates(target.getStates() as Map<number, { user?: { id?: string } }>, userId)
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
