/**
 * The owner's notices of a document's log head (server/cluster/HeadNotices.ts), with a
 * publish the test records and short delays: the series, its restart at each commit, its
 * end when no relay is reached, `forget` and `close`.
 */
import { describe, expect, it } from 'vitest'
import { HeadNotices } from '../server/cluster/HeadNotices.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
async function until(check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5000; !check(); await sleep(5)) if (Date.now() > deadline) throw new Error('timed out')
}

function recording(relays = 1) {
  const sent: [string, number][] = []
  const notices = new HeadNotices(
    async (doc, last) => {
      sent.push([doc, last])
      return relays
    },
    [20, 40, 80],
  )
  return { sent, notices }
}

describe('head notices', () => {
  it('[HN1] one notice per delay after the last commit, of the highest number; a commit starts the series again', async () => {
    const { sent, notices } = recording()
    notices.committed('d', 3)
    notices.committed('d', 5)
    // An older number never lowers the head announced.
    notices.committed('d', 4)
    await sleep(0)
    expect(sent).toEqual([])
    await until(() => sent.length === 3)
    // Then nothing more.
    await sleep(200)
    expect(sent).toEqual([
      ['d', 5],
      ['d', 5],
      ['d', 5],
    ])
    notices.committed('d', 6)
    await until(() => sent.length === 4)
    expect(sent.at(-1)).toEqual(['d', 6])
    notices.close()
  })

  it('[HN2] a notice that reaches no relay ends the series; forget and close stop it', async () => {
    const none = recording(0)
    none.notices.committed('d', 1)
    await until(() => none.sent.length === 1)
    await sleep(200)
    expect(none.sent).toEqual([['d', 1]])
    const { sent, notices } = recording()
    notices.committed('a', 1)
    notices.committed('b', 2)
    notices.forget('a')
    await until(() => sent.length === 3)
    expect(sent).toEqual([
      ['b', 2],
      ['b', 2],
      ['b', 2],
    ])
    notices.close()
    notices.committed('c', 3)
    await sleep(200)
    expect(sent).toHaveLength(3)
  })
})
