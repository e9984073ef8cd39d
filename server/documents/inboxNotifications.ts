/** The notifications of an inbox document (`<workspace>/inbox/<userId>`): appended by the server, the oldest dropped. */
import type * as Y from 'yjs'

/** Notifications kept in an inbox document; older ones are dropped from it. */
export const MAX_INBOX_NOTIFICATIONS = 50

/** Appends `notification`, dropping the oldest past MAX_INBOX_NOTIFICATIONS; call inside a transaction. */
export function appendNotification<T>(notifications: Y.Array<T>, notification: T): void {
  notifications.push([notification])
  if (notifications.length > MAX_INBOX_NOTIFICATIONS) notifications.delete(0, notifications.length - MAX_INBOX_NOTIFICATIONS)
}
