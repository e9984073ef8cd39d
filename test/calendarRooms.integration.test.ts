/** `GET /api/calendar/rooms`: the one list of rooms every screen offers, as the server is configured. */
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_ROOMS } from '../server/http/calendarRoutes.js'
import { type TestServer, startSeeded } from './helpers/server.js'

describe('calendar rooms', () => {
  const servers: TestServer[] = []
  afterAll(() => Promise.all(servers.map((t) => t.close())))

  it('answers the configured rooms to any member, the built-in list when none are configured, and nothing to strangers', async () => {
    const configured = await startSeeded(['viewer'], { rooms: ['Oslo', 'Bergen'] })
    const plain = await startSeeded(['member'])
    servers.push(configured.t, plain.t)
    const rooms = await configured.api.viewer.request('GET', '/api/calendar/rooms')
    expect(rooms.status).toBe(200)
    expect(rooms.body).toEqual({ rooms: ['Oslo', 'Bergen'] })
    expect((await plain.api.member.request('GET', '/api/calendar/rooms')).body).toEqual({ rooms: DEFAULT_ROOMS })
    const anonymous = await fetch(`${configured.t.url}/api/calendar/rooms`)
    expect(anonymous.status).toBe(401)
    expect((await anonymous.json()).error.code).toBe('unauthorized')
  })
})
