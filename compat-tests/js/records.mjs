// The records every client produces and expects back: the same function as
// compat-tests/skeinlib/records.py (change both).
export const N = parseInt(process.env.COMPAT_RECORDS || '10000', 10)
export const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
export const ACKS = ['1', 'all']

export const topic = (client, codec, acks) => `${client}-${codec}-acks${acks}`
export const key = (i) => (i % 2 === 0 ? Buffer.from(`k${i}`) : null)
export const value = (i, t) => Buffer.from(`v${i} ${t} ` + 'abcdefghij'.repeat(i % 20))

export function headers (i) {
  const block = Math.floor(i / 1000)
  if (block % 3 === 0) return [['block', Buffer.from(String(block))], ['empty', Buffer.alloc(0)]]
  if (block % 3 === 1) return []
  return [['dup', Buffer.from('a')], ['dup', Buffer.from('b')], ['block', Buffer.from(String(block))]]
}

const show = (b) => (b === null || b === undefined ? String(b) : JSON.stringify(b.toString()))
const showH = (h) => JSON.stringify(h.map(([k, v]) => [k, v === null ? null : v.toString()]))

// got: [{offset, key, value, headers: [[name, Buffer]]}] in consumption order.
export function compare (got, t, n = N) {
  if (got.length !== n) {
    return `consumed ${got.length} records, expected ${n}` +
      (got.length ? ` (first offset ${got[0].offset}, last offset ${got[got.length - 1].offset})` : '')
  }
  for (let i = 0; i < n; i++) {
    const g = got[i]
    const ek = key(i); const ev = value(i, t); const eh = headers(i)
    const sameKey = ek === null ? g.key === null || g.key === undefined : g.key && ek.equals(g.key)
    const sameH = showH(eh) === showH(g.headers)
    if (Number(g.offset) !== i || !sameKey || !g.value || !ev.equals(g.value) || !sameH) {
      return `record ${i}: expected offset=${i} key=${show(ek)} value=${show(ev)} headers=${showH(eh)}, ` +
        `got offset=${g.offset} key=${show(g.key)} value=${show(g.value)} headers=${showH(g.headers)}`
    }
  }
  return null
}

export const XC_N = parseInt(process.env.COMPAT_XC_RECORDS || '1000', 10)
export const BASE_TS = 1700000000000
export const xcTopic = (client) => `xc-${client}`
export const timestamp = (i) => BASE_TS + i
const hx = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('hex'))
export const observation = (t, offset, k, v, h, ts) => [t, Number(offset), hx(k), hx(v), h.map(([n, x]) => [n, hx(x)]), Number(ts)]
export const GROUP_PARTITIONS = 6; export const GROUP_FIRST = 600; export const GROUP_SECOND = 300
export const TIMES_N = 1000; export const TIMES_STEP = 10
export const LARGE = 1 << 20; export const TOPIC_MAX_MESSAGE = 2 << 20; export const TOO_LARGE = (5 << 20) / 2
export const RESTART_ACKS = 300
// The restart scenarios' producing rule: until the restart is over (after < 0),
// up to 3 x RESTART_ACKS (a cluster goes on acknowledging while one node
// restarts), then RESTART_ACKS more than when it was.
export const restartWantsMore = (acked, after) =>
  acked < (after < 0 ? RESTART_ACKS * 3 : after + RESTART_ACKS)
