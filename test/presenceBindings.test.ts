/** Awareness client ids bound to users (server/sync/PresenceBindings.ts), on an injected clock. No sockets. */
import { describe, expect, it } from 'vitest'
import { PresenceBindings } from '../server/sync/PresenceBindings.js'

describe('PresenceBindings', () => {
  it('[T6] an id is its first user’s until the timeout after its last hold, per document', () => {
    let now = 0
    const bindings = new PresenceBindings(1000, () => now)
    expect(bindings.mayAnnounce('w/customers/a', 7, 'ann')).toBe(true)
    bindings.hold('w/customers/a', 7, 'ann')
    expect(bindings.mayAnnounce('w/customers/a', 7, 'bob')).toBe(false)
    expect(bindings.mayAnnounce('w/customers/a', 7, 'ann')).toBe(true)
    expect(bindings.mayAnnounce('w/customers/b', 7, 'bob')).toBe(true)
    now = 900
    bindings.hold('w/customers/a', 7, 'ann')
    now = 1500
    expect(bindings.mayAnnounce('w/customers/a', 7, 'bob')).toBe(false)
    now = 1900
    expect(bindings.mayAnnounce('w/customers/a', 7, 'bob')).toBe(true)
  })

  it('sweeps expired bindings only', () => {
    let now = 0
    const bindings = new PresenceBindings(1000, () => now)
    bindings.hold('w/customers/a', 1, 'ann')
    now = 500
    bindings.hold('w/customers/a', 2, 'bob')
    now = 1200
    bindings.sweep()
    expect(bindings.size).toBe(1)
    expect(bindings.mayAnnounce('w/customers/a', 2, 'ann')).toBe(false)
  })
})
