/*
 * Accord's service worker: keeps the app shell (index.html and the built assets) so
 * the app opens offline. API calls and the sync socket are never cached: data comes
 * from the server or, offline, from each document's IndexedDB copy.
 */
const CACHE = 'accord-shell-v1'
const ASSET = /\/assets\/[\w.-]+\.(?:js|css|svg|png|woff2?)/g

async function precache() {
  const cache = await caches.open(CACHE)
  const html = await (await fetch('/', { cache: 'no-store' })).text()
  await cache.put('/', new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } }))
  const seen = new Set()
  const queue = [...html.matchAll(ASSET)].map((m) => m[0])
  // Entry chunks name their lazy chunks; follow them so every screen opens offline.
  while (queue.length) {
    const url = queue.shift()
    if (seen.has(url)) continue
    seen.add(url)
    const res = await fetch(url)
    if (!res.ok) continue
    await cache.put(url, res.clone())
    if (url.endsWith('.js')) for (const m of (await res.text()).matchAll(/assets\/[\w.-]+\.(?:js|css)/g)) queue.push('/' + m[0])
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  if (event.request.method !== 'GET' || url.origin !== location.origin) return
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/sync/')) return
  if (event.request.mode === 'navigate') {
    // Network first, so a new build shows at once; the cached shell when offline.
    event.respondWith(
      fetch(event.request)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone()
            void caches.open(CACHE).then((c) => c.put('/', copy))
          }
          return res
        })
        .catch(() => caches.match('/')),
    )
    return
  }
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      caches.match(event.request).then(
        (hit) =>
          hit ||
          fetch(event.request).then((res) => {
            if (res.ok) {
              const copy = res.clone()
              void caches.open(CACHE).then((c) => c.put(event.request, copy))
            }
            return res
          }),
      ),
    )
  }
})
