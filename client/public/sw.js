/*
 * Accord's service worker: keeps the app shell (index.html and the built assets) so
 * the app opens offline. API calls and the sync socket are never cached: data comes
 * from the server or, offline, from each document's IndexedDB copy.
 */
const CACHE = 'accord-shell-v1'
const ASSET = /\/assets\/[\w.-]+\.(?:js|css|svg|png|woff2?)/g

/**
 * Caches `html` as the shell and every asset it names, following the chunks each JS file
 * names, so every screen opens offline; drops assets of older builds.
 */
async function cacheShell(html) {
  const cache = await caches.open(CACHE)
  await cache.put('/', new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } }))
  const seen = new Set()
  const queue = [...html.matchAll(ASSET)].map((m) => m[0])
  while (queue.length) {
    const url = queue.shift()
    if (seen.has(url)) continue
    seen.add(url)
    const res = (await cache.match(url)) || (await fetch(url).catch(() => null))
    if (!res || !res.ok) continue
    await cache.put(url, res.clone())
    if (url.endsWith('.js')) for (const m of (await res.text()).matchAll(/assets\/[\w.-]+\.(?:js|css)/g)) queue.push('/' + m[0])
  }
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname
    if (path.startsWith('/assets/') && !seen.has(path)) await cache.delete(request)
  }
}

async function precache() {
  const res = await fetch('/', { cache: 'no-store' })
  if (res.ok) await cacheShell(await res.text())
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
    // Network first, so a new build shows at once (and is cached for offline); the cached shell when offline.
    let settle
    event.waitUntil(new Promise((resolve) => (settle = resolve)))
    const network = fetch(event.request).then(
      (res) => {
        const isHtml = res.ok && (res.headers.get('content-type') || '').includes('text/html')
        if (isHtml) res.clone().text().then(cacheShell).catch(() => undefined).finally(settle)
        else settle()
        return res
      },
      (error) => {
        settle()
        throw error
      },
    )
    event.respondWith(network.catch(() => caches.match('/')))
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
