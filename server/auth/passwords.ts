/** Password hashing with scrypt (node:crypto). Format: `scrypt$N$r$p$salt$hash` (base64url). */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/**
 * N = 2^15, r = 8: 32 MiB of memory per hash, twice Node's default (about 130 ms on one core
 * of the benchmark machine). Past 32 MiB the buffer is also always mapped and unmapped by
 * glibc: at Node's 16 MiB, glibc raises its mmap threshold after the first free and then keeps
 * a 16 MiB buffer in the arena of every libuv thread that ever hashed, for the life of the
 * process (about 60 MB more RSS after a few concurrent sign-ins).
 */
const PARAMS = { N: 32768, r: 8, p: 1 }
const KEY_LENGTH = 32

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEY_LENGTH, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, PARAMS)
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64url')
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) })
  return key.length === expected.length && timingSafeEqual(key, expected)
}

/** Whether a stored hash was made with other parameters than new ones are (it is replaced at the next sign-in). */
export function isOutdated(stored: string): boolean {
  return !stored.startsWith(`scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$`)
}

/** A hash of a random password, verified against when the e-mail is unknown so timing does not tell. */
export const DUMMY_HASH_PROMISE = hashPassword(randomBytes(16).toString('hex'))
