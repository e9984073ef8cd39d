/**
 * What this browser keeps of a signed-in user: an IndexedDB copy of every document
 * opened (one y-indexeddb database each, for offline use), the list of documents with
 * edits not yet on the server, and the cached list of colleagues. All of it is the
 * workspace's data; once the user signs out it must not stay readable by whoever uses
 * the browser next, so sign-out deletes it ({@link deleteLocalCopies}).
 */
import { addToList, readList } from './storedLists.js'

/** The IndexedDB database (and cross-tab channel) of one document of one user. */
export function localCopyName(userId: string, docName: string): string {
  return `accord:${userId}:${docName}`
}

/** localStorage key of the documents of `userId` with local edits the server has not acknowledged. */
export const unsyncedKey = (userId: string) => `accord:unsynced:${userId}`
/** localStorage key of the workspace's users, cached for offline use. */
export const usersCacheKey = (userId: string) => `accord:users:${userId}`
/** localStorage key of every document of `userId` that has an IndexedDB copy. */
const copiesKey = (userId: string) => `accord:copies:${userId}`

/**
 * Notes that `docName` has a copy on this device. Sign-out deletes the copies on this list
 * and, where the browser can list databases, every database named for the user too.
 */
export function rememberLocalCopy(userId: string, docName: string): void {
  addToList(copiesKey(userId), docName)
}

/**
 * Deletes every IndexedDB copy of `userId`'s documents, open in this tab or not, and the
 * lists kept about them. Close this tab's providers first: a database another tab still
 * has open is closed there (y-indexeddb closes on `versionchange`) before it goes.
 */
export async function deleteLocalCopies(userId: string): Promise<void> {
  const names = new Set(readList(copiesKey(userId)).map((docName) => localCopyName(userId, docName)))
  // A copy missing from the list (a tab that wrote the list while another was clearing it) still goes.
  const prefix = localCopyName(userId, '')
  const listed = typeof indexedDB.databases === 'function' ? await indexedDB.databases().catch(() => []) : []
  for (const { name } of listed) if (name?.startsWith(prefix)) names.add(name)
  await Promise.all([...names].map(deleteDatabase))
  for (const key of [copiesKey(userId), unsyncedKey(userId), usersCacheKey(userId)]) localStorage.removeItem(key)
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name)
    request.onsuccess = () => resolve()
    request.onerror = () => resolve()
  })
}
