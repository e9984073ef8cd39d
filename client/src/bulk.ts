/** Many API calls, a few at a time: what a bulk action on selected records does. */

/** Requests in flight at once: enough to be quick, few enough not to crowd out the rest. */
export const BULK_CONCURRENCY = 6

/** Runs `task` for every id, `BULK_CONCURRENCY` at a time; returns the ids it succeeded for, and the first error. */
export async function forEachId(
  ids: readonly string[],
  task: (id: string) => Promise<unknown>,
): Promise<{ done: string[]; error: unknown }> {
  const done: string[] = []
  let error: unknown = null
  let next = 0
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!
      try {
        await task(id)
        done.push(id)
      } catch (e) {
        error ??= e
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, ids.length) }, worker))
  return { done, error }
}
