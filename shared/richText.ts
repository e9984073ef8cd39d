/**
 * The formatting the notes may hold, pure. The notes stay one Y.Text (`notes`, see
 * docLayout.ts) in Quill's delta format: formatting is attributes on the text, line formats
 * (heading, list) are attributes on a line's "\n", and a mention is the text "@Name" carrying
 * `mention: <user id>`. No embeds, so `toString()` is the plain text REST, search and exports
 * read. Anything outside this list is refused by the server (server/authority/recordGate.ts).
 */

/** Inline and line formats the notes accept, in the editor's toolbar order. */
export const NOTE_FORMATS = ['header', 'bold', 'italic', 'underline', 'strike', 'list', 'link', 'mention'] as const
export type NoteFormat = (typeof NOTE_FORMATS)[number]

export const NOTE_HEADERS = [1, 2, 3] as const
export const NOTE_LISTS = ['ordered', 'bullet'] as const
/** Longest accepted link, in UTF-16 code units. */
export const MAX_LINK_LENGTH = 2048
const LINK = /^(https?:\/\/|mailto:)[^\s\p{Cc}]+$/iu
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/

export function isNoteFormat(key: string): key is NoteFormat {
  return (NOTE_FORMATS as readonly string[]).includes(key)
}

/** Whether `url` may be a link in the notes: http(s) or mailto only (never `javascript:`, `data:`…). */
export function isSafeLink(url: unknown): url is string {
  return typeof url === 'string' && url.length <= MAX_LINK_LENGTH && LINK.test(url)
}

/** What a link typed without a scheme means: an e-mail address, else a web address. */
export function linkOf(typed: string): string {
  const url = typed.trim()
  if (url === '' || /^[a-z][a-z0-9+.-]*:/i.test(url)) return url
  return /^[^\s/@]+@[^\s/@]+\.[^\s/@]+$/.test(url) ? `mailto:${url}` : `https://${url}`
}

/**
 * Why a format mark may not be in the notes, or null. `null` ends a format and is fine for
 * every accepted key. `isUser` says whether a mentioned id is a user of the record's workspace;
 * without it, any well-formed id passes (a stored document checked as it loads).
 */
export function noteFormatIssue(key: string, value: unknown, isUser?: (userId: string) => boolean): string | null {
  if (!isNoteFormat(key)) return `notes may not hold the format "${key}"`
  if (value === null) return null
  switch (key) {
    case 'bold':
    case 'italic':
    case 'underline':
    case 'strike':
      return value === true ? null : `${key} is true or absent`
    case 'header':
      return (NOTE_HEADERS as readonly unknown[]).includes(value) ? null : 'a heading is of level 1, 2 or 3'
    case 'list':
      return (NOTE_LISTS as readonly unknown[]).includes(value) ? null : 'a list is ordered or bullet'
    case 'link':
      return isSafeLink(value) ? null : 'a link is an http(s) or mailto address'
    case 'mention':
      return typeof value === 'string' && USER_ID.test(value) && (isUser?.(value) ?? true)
        ? null
        : 'a mention names a user of this workspace'
  }
}

/** The notification a mention produces in the mentioned user's inbox document (server/records/MentionNotices.ts). */
export interface MentionNotification {
  id: string
  at: string
  kind: 'mention'
  collection: string
  recordId: string
  /** The record's title when the mention was made. */
  title: string
  /** The app's path of the record. */
  path: string
  by: { id: string; name: string }
  message: string
}
