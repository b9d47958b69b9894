// @platformatic/kafka (recent pure-JS client using new protocol versions) scenarios.
import fs from 'node:fs'
import zlib from 'node:zlib'
import { Admin, Consumer, Producer } from '@platformatic/kafka'
import * as R from './records.mjs'
import { Fail, run } from './scenario.mjs'

const CLIENT = 'platformatic-kafka'
const PREFIX = 'platformatic'
const TOPIC_TYPE = 2; const BROKER_TYPE = 4 // ConfigResourceTypes

const base = (ctx) => ({ clientId: 'skein-compat', bootstrapBrokers: ctx.bootstrap.split(','), timeout: 10000, retries: 2 })
const admin = (ctx) => new Admin(base(ctx))
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
// A change committed through one broker reaches the others' metadata a moment
// later (as on Kafka): read back until ok(value) holds, for up to 10 s.
async function settled (read, ok) {
  const deadline = Date.now() + 10000
  let v = await read()
  while (!ok(v) && Date.now() < deadline) { await sleep(100); v = await read() }
  return v
}

async function metadata (ctx) {
  const a = admin(ctx)
  try {
    ctx.step('metadata (all topics)')
    const md = await a.metadata({ topics: [] })
    ctx.eq('cluster id', ctx.expect.cluster_id, md.id)
    ctx.eq('controllerId', ctx.expect.controller_id, md.controllerId)
    ctx.eq('brokers', ctx.brokers(),
      [...md.brokers.entries()].map(([id, b]) => [id, b.host, b.port]).sort((x, y) => x[0] - y[0]))
    const name = 'platformatic-auto'
    ctx.step(`metadata ${name} autocreateTopics`)
    const t = (await a.metadata({ topics: [name], autocreateTopics: true, forceUpdate: true })).topics.get(name)
    ctx.check(t, 'topic metadata', name, null)
    ctx.eq('partitions', 1, t.partitionsCount)
    ctx.step('listTopics')
    const all = await a.listTopics()
    ctx.check(all.includes(name), 'listTopics', `to contain ${name}`, all)
  } finally {
    await a.close()
  }
}

async function createTopic (ctx) {
  const a = admin(ctx)
  try {
    const name = 'platformatic-created'
    ctx.step(`createTopics ${name} partitions=3`)
    await a.createTopics({ topics: [name], partitions: 3, replicas: ctx.rf })
    ctx.step(`metadata ${name}`)
    const t = (await a.metadata({ topics: [name], forceUpdate: true })).topics.get(name)
    ctx.eq('partitionsCount', 3, t.partitionsCount)
  } finally {
    await a.close()
  }
}

async function newTopic (ctx, name, partitions = 1, config = {}) {
  const a = admin(ctx)
  try {
    await a.createTopics({ topics: [name], partitions, replicas: ctx.rf, configs: Object.entries(config).map(([name, value]) => ({ name, value })) })
  } finally {
    await a.close()
  }
}

// Headers as a Map keyed by Buffer objects: distinct objects keep duplicate names.
const pHeaders = (i) => new Map(R.headers(i).map(([k, v]) => [Buffer.from(k), v]))
const fromPHeaders = (h) => [...(h || new Map()).entries()].map(([k, v]) => [k.toString(), v])

const stdMessages = (t, n, ts = false, from = 0) => {
  const out = []
  for (let i = from; i < from + n; i++) {
    const m = { topic: t, partition: 0, value: R.value(i, t), headers: pHeaders(i) }
    const k = R.key(i)
    if (k) m.key = k
    if (ts) m.timestamp = BigInt(R.timestamp(i))
    out.push(m)
  }
  return out
}

// acks=-1 unless asked otherwise (the client's own default is 1): what a
// scenario reads back right after, through ListOffsets, DeleteRecords or a
// consumer, is bounded by the high watermark, which an acks=1 answer from a
// replicated leader may not have reached yet (as on Kafka).
async function sendAll (producer, messages, opts = {}) {
  const offsets = []
  for (let start = 0; start < messages.length; start += 1000) {
    const r = await producer.send({ messages: messages.slice(start, start + 1000), acks: -1, ...opts })
    offsets.push(...(r.offsets || []).map(o => [o.topic, o.partition, Number(o.offset)]))
  }
  return offsets
}

function codecs (ctx) {
  if (zlib.zstdCompressSync) return R.CODECS
  ctx.note(`codec zstd skipped: Node.js ${process.version} has no zlib zstd, which @platformatic/kafka uses`)
  return R.CODECS.filter(c => c !== 'zstd')
}

async function produce (ctx) {
  const producer = new Producer({ ...base(ctx), autocreateTopics: true })
  try {
    for (const codec of codecs(ctx)) {
      for (const acks of R.ACKS) {
        const t = R.topic(PREFIX, codec, acks)
        if (ctx.has(19)) {
          ctx.step(`createTopics ${t}`)
          await newTopic(ctx, t)
        }
        ctx.step(`produce ${R.N} records to ${t}`)
        const offs = await sendAll(producer, stdMessages(t, R.N), { acks: acks === '1' ? 1 : -1, compression: codec })
        ctx.eq(`base offsets of ${t}`, Array.from({ length: Math.ceil(R.N / 1000) }, (_, j) => [t, 0, j * 1000]), offs)
      }
    }
  } finally {
    await producer.close()
  }
}

// Reads records with one stream in manual mode (no group assignment: the offsets are
// given): wants is [[topic, partition, from, n]]; returns a Map topic -> records.
async function consumeMany (ctx, wants, { extra = {}, timeout = 60000 } = {}) {
  const topics = [...new Set(wants.map(w => w[0]))]
  const consumer = new Consumer({ ...base(ctx), groupId: `skein-compat-${topics[0]}-${Date.now()}`, maxWaitTime: 500, ...extra })
  const got = new Map(topics.map(t => [t, []]))
  const need = new Map(topics.map(t => [t, 0]))
  for (const w of wants) need.set(w[0], need.get(w[0]) + w[3])
  let left = wants.reduce((s, w) => s + w[3], 0)
  try {
    const stream = await consumer.consume({ topics, mode: 'manual', autocommit: false, offsets: wants.map(([topic, partition, offset]) => ({ topic, partition, offset: BigInt(offset) })) })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, timeout)
      stream.on('data', (m) => {
        const g = got.get(m.topic)
        if (!g || g.length >= need.get(m.topic)) return
        g.push({ partition: m.partition, offset: m.offset, key: m.key && m.key.length ? m.key : null, value: m.value, headers: fromPHeaders(m.headers), timestamp: m.timestamp })
        if (--left === 0) { clearTimeout(timer); resolve() }
      })
      stream.on('error', reject)
    })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return got
}

// A group's answers to a member that missed a rebalance: it must join again.
const REJOIN = ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']

// The broker's error codes inside a client error (nested for a multi-partition answer).
const apiIds = (err) => {
  const ids = []
  const walk = (e) => { if (!e) return; if (e.apiId) ids.push(e.apiId); (e.errors || []).forEach(walk) }
  walk(err)
  return ids
}

const consumeFrom = async (ctx, t, from, n, { part = 0, extra = {}, timeout = 60000 } = {}) =>
  (await consumeMany(ctx, [[t, part, from, n]], { extra, timeout })).get(t)

async function consume (ctx) {
  const ts = []
  for (const codec of codecs(ctx)) for (const acks of R.ACKS) ts.push(R.topic(PREFIX, codec, acks))
  ctx.step(`consume ${ts.join(', ')} from offset 0 (one stream)`)
  const got = await consumeMany(ctx, ts.map(t => [t, 0, 0, R.N]), { timeout: 120000 })
  for (const t of ts) {
    const err = R.compare(got.get(t), t)
    if (err) throw new Fail(`${t}: ${err}`)
  }
}

async function idempotent (ctx) {
  const t = 'platformatic-idempotent'
  ctx.step(`createTopics ${t}`)
  await newTopic(ctx, t)
  ctx.step(`produce ${R.N} records with idempotent: true`)
  const producer = new Producer({ ...base(ctx), idempotent: true })
  try {
    const info = await producer.initIdempotentProducer({})
    ctx.check(info.producerId >= 0n, 'producer id', '>= 0', String(info.producerId))
    const offs = await sendAll(producer, stdMessages(t, R.N))
    ctx.eq('base offsets', Array.from({ length: Math.ceil(R.N / 1000) }, (_, j) => [t, 0, j * 1000]), offs)
  } finally {
    await producer.close()
  }
  ctx.step(`consume ${t}`)
  const err = R.compare(await consumeFrom(ctx, t, 0, R.N), t)
  if (err) throw new Fail(err)
}

async function group (ctx) {
  const t = 'platformatic-group'; const g = 'platformatic-group-g'
  const P = R.GROUP_PARTITIONS; const N1 = R.GROUP_FIRST; const N2 = R.GROUP_SECOND
  ctx.step(`createTopics ${t} partitions=${P}`)
  await newTopic(ctx, t, P)
  const producer = new Producer(base(ctx))
  const produceRange = (a, b) => sendAll(producer,
    Array.from({ length: b - a }, (_, j) => ({ topic: t, partition: (a + j) % P, value: Buffer.from(`g${a + j}`) })))
  ctx.step(`produce ${N1} records`)
  await produceRange(0, N1)
  const seen = new Map()
  const refused = []
  let members = []
  const member = async (n) => {
    const c = new Consumer({ ...base(ctx), clientId: `m${n}`, groupId: g, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 20000, maxWaitTime: 200 })
    const m = { c, name: `m${n}`, parts: 0, pending: 0 }
    c.on('consumer:group:join', (e) => { m.parts = (e.assignments || []).reduce((s, a) => s + a.partitions.length, 0) })
    m.stream = await c.consume({ topics: [t], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
    m.stream.on('data', (msg) => {
      // The stream still hands out records it fetched for partitions a rebalance took
      // away (the new owner reads them from the commit): an application skips those.
      const own = (c.assignments || []).find(a => a.topic === t)
      if (!own || !own.partitions.includes(msg.partition)) { m.skipped = (m.skipped || 0) + 1; return }
      const v = Number(msg.value.toString().slice(1))
      seen.set(v, (seen.get(v) || 0) + 1)
      m.stream.pause()
      m.pending++
      Promise.resolve(msg.commit()).catch(e => {
        // A commit sent just before a rebalance reached this member carries the old
        // generation or arrives while the group completes the rebalance: Kafka refuses it
        // as this broker does, and the record comes again to its next owner.
        if (apiIds(e).length && apiIds(e).every(id => REJOIN.includes(id))) refused.push(apiIds(e)[0])
        else m.error = e
      }).finally(() => { m.pending--; m.stream.resume() })
    })
    m.stream.on('error', (e) => { m.error = e })
    members.push(m)
    return m
  }
  const state = () => `seen ${seen.size} distinct records, assignments ${JSON.stringify(members.map(m => m.parts))}`
  const wait = async (cond, ms, what) => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const bad = members.find(m => m.error)
      if (bad) throw new Fail(`${what}: ${bad.name} failed: ${bad.error.message} ${JSON.stringify(apiIds(bad.error))}`)
      if (cond()) return
      await sleep(50)
    }
    throw new Fail(`${what}: not reached in ${ms / 1000} s (${state()})`)
  }
  const closeAll = async () => {
    await wait(() => members.every(m => m.pending === 0), 10000, 'commits in flight')
    for (const m of members) { await m.stream.close().catch(() => {}); await m.c.close(true).catch(() => {}) }
    members = []
  }
  try {
    ctx.step(`one member takes all ${P} partitions`)
    const m1 = await member(1)
    await wait(() => m1.parts === P && seen.size > 0, 30000, 'first member')
    ctx.step('two more members join: rebalance to 2 partitions each')
    await member(2); await member(3)
    await wait(() => JSON.stringify(members.map(m => m.parts).sort()) === '[2,2,2]' && seen.size === N1, 60000, 'rebalance')
    ctx.step('close the members (commits were awaited)')
    await closeAll()
    ctx.step(`produce ${N2} more, start three new members: they resume at the commits`)
    await produceRange(N1, N1 + N2)
    seen.clear()
    await member(4); await member(5); await member(6)
    await wait(() => seen.size >= N2, 60000, 'resume')
    await sleep(1500)
    const keys = [...seen.keys()].sort((a, b) => a - b)
    // Without a revoke barrier an old owner can commit a partition's earlier offset after
    // it moved (the broker, like Kafka's classic protocol, does not check ownership), so a
    // few records of the first phase may come again: allowed by commit semantics (at least
    // once), and noted. Every new record must arrive, and nothing else.
    const again = keys.filter(v => v < N1)
    ctx.eq('records after the restart', Array.from({ length: N2 }, (_, j) => N1 + j), keys.filter(v => v >= N1))
    if (again.length) ctx.note(`group: ${again.length} first-phase records redelivered after the restart (an old owner's late commit)`)
    // No revoke barrier in @platformatic/kafka: while the new members join, the old
    // owner of a partition keeps handing out and committing its records until its own
    // SyncGroup answer arrives, and the new owner starts from the commit it read. The
    // broker checks generations as Kafka does; these duplicates are the client's.
    if (refused.length) ctx.note(`group: ${refused.length} commits racing a rebalance refused (${[...new Set(refused)].join(', ')})`)
    const twice = keys.filter(v => seen.get(v) > 1)
    if (twice.length) ctx.note(`group: ${twice.length} records delivered twice while members joined (the client has no revoke barrier)`)
  } finally {
    await closeAll()
    await producer.close()
  }
}

async function offsets (ctx) {
  const t = 'platformatic-times'; const n = R.TIMES_N; const st = R.TIMES_STEP
  ctx.step(`produce ${n} records with timestamps`)
  await newTopic(ctx, t)
  const producer = new Producer(base(ctx))
  const msgs = stdMessages(t, n)
  msgs.forEach((m, i) => { m.timestamp = BigInt(R.BASE_TS + i * st) })
  await sendAll(producer, msgs)
  await producer.close()
  const a = admin(ctx)
  try {
    ctx.step('admin.listOffsets by timestamp')
    const at = async (ts) => {
      const r = await a.listOffsets({ topics: [{ name: t, partitions: [{ partitionIndex: 0, timestamp: BigInt(ts) }] }] })
      return Number(r[0].partitions[0].offset)
    }
    for (const i of [0, n / 2, n - 1]) ctx.eq(`offset for timestamp of record ${i}`, i, await at(R.BASE_TS + i * st))
    ctx.eq('offset for a timestamp after the last', -1, await at(R.BASE_TS + n * st))
    ctx.eq('earliest (-2)', 0, await at(-2))
    ctx.eq('latest (-1)', n, await at(-1))
  } finally {
    await a.close()
  }
  ctx.step('consumer.listOffsetsWithTimestamps')
  const c = new Consumer({ ...base(ctx), groupId: 'platformatic-times-g' })
  try {
    const r = await c.listOffsetsWithTimestamps({ topics: [t], timestamp: BigInt(R.BASE_TS + (n / 2) * st) })
    ctx.eq('offset of the middle timestamp', n / 2, Number(r.get(t).get(0).offset))
  } finally {
    await c.close(true)
  }
  ctx.step('consume from the middle (manual offsets)')
  const mid = n / 2
  const got = await consumeFrom(ctx, t, mid, n - mid)
  ctx.eq('offsets from the middle', Array.from({ length: n - mid }, (_, j) => mid + j), got.map(m => Number(m.offset)))
  ctx.eq('timestamps from the middle', Array.from({ length: n - mid }, (_, j) => R.BASE_TS + (mid + j) * st), got.map(m => Number(m.timestamp)))
  ctx.step('consume from 100')
  const back = await consumeFrom(ctx, t, 100, 10)
  ctx.eq('offsets from 100', Array.from({ length: 10 }, (_, j) => 100 + j), back.map(m => Number(m.offset)))
  ctx.check(back[0].value.equals(R.value(100, t)), 'value at 100', R.value(100, t).toString(), back[0].value.toString())
}

async function adminScenario (ctx) {
  const t = 'platformatic-admin'
  const a = admin(ctx)
  try {
    ctx.step(`createTopics ${t} retention.ms=86400000`)
    await a.createTopics({ topics: [t], partitions: 1, replicas: ctx.rf, configs: [{ name: 'retention.ms', value: '86400000' }] })
    const topicConfig = async () => {
      const d = await a.describeConfigs({ resources: [{ resourceType: TOPIC_TYPE, resourceName: t }] })
      return Object.fromEntries(d[0].configs.map(e => [e.name, e.value]))
    }
    ctx.step('describeConfigs topic')
    let cfg = await topicConfig()
    ctx.eq('retention.ms', '86400000', cfg['retention.ms'])
    ctx.eq('cleanup.policy', 'delete', cfg['cleanup.policy'])
    ctx.step('alterConfigs retention.ms, segment.bytes')
    await a.alterConfigs({ resources: [{ resourceType: TOPIC_TYPE, resourceName: t, configs: [{ name: 'retention.ms', value: '123456789' }, { name: 'segment.bytes', value: '10485760' }] }] })
    cfg = await settled(topicConfig, c => c['retention.ms'] === '123456789')
    ctx.eq('retention.ms after alter', '123456789', cfg['retention.ms'])
    ctx.eq('segment.bytes after alter', '10485760', cfg['segment.bytes'])
    ctx.step('incrementalAlterConfigs retention.ms (SET)')
    if (ctx.has(44)) {
      await a.incrementalAlterConfigs({ resources: [{ resourceType: TOPIC_TYPE, resourceName: t, configs: [{ name: 'retention.ms', configOperation: 0, value: '3600000' }] }] })
      cfg = await settled(topicConfig, c => c['retention.ms'] === '3600000')
      ctx.eq('retention.ms after incremental alter', '3600000', cfg['retention.ms'])
      ctx.eq('segment.bytes after incremental alter', '10485760', cfg['segment.bytes'])
    } else {
      ctx.note('incrementalAlterConfigs not checked: the broker does not advertise IncrementalAlterConfigs')
    }
    ctx.step(`describeConfigs broker ${ctx.expect.node_id}`)
    const b = await a.describeConfigs({ resources: [{ resourceType: BROKER_TYPE, resourceName: String(ctx.expect.node_id) }] })
    const names = b[0].configs.map(e => e.name)
    ctx.check(names.includes('log.retention.hours') || names.includes('log.retention.ms'), 'broker configs', 'log.retention.*', names.slice(0, 10))
    ctx.step('createPartitions to 3')
    await a.createPartitions({ topics: [{ name: t, count: 3 }] })
    const md = await settled(async () => (await a.metadata({ topics: [t], forceUpdate: true })).topics.get(t),
      m => m.partitionsCount === 3)
    ctx.eq('partitions after createPartitions', 3, md.partitionsCount)
    ctx.step('produce 10 records to the new partition 2')
    const producer = new Producer(base(ctx))
    try {
      const offs = await sendAll(producer, Array.from({ length: 10 }, (_, i) => ({ topic: t, partition: 2, value: Buffer.from(`p2-${i}`) })))
      ctx.eq('send result', [[t, 2, 0]], offs)
    } finally {
      await producer.close()
    }
    ctx.step('deleteRecords partition 2 before offset 4')
    const del = await a.deleteRecords({ topics: [{ name: t, partitions: [{ partition: 2, offset: 4n }] }] })
    ctx.eq('deleteRecords low watermark', [[t, 2, 4]], del.flatMap(x => x.partitions.map(p => [x.name, p.partition, Number(p.lowWatermark)])))
    const lo = await a.listOffsets({ topics: [{ name: t, partitions: [{ partitionIndex: 2, timestamp: -2n }] }] })
    ctx.eq('earliest offset of partition 2', 4, Number(lo[0].partitions[0].offset))
    ctx.step('consume partition 2 from 4')
    const got = await consumeFrom(ctx, t, 4, 6, { part: 2 })
    ctx.eq('offsets consumed', [4, 5, 6, 7, 8, 9], got.map(m => Number(m.offset)))
    ctx.step(`deleteTopics ${t}`)
    await a.deleteTopics({ topics: [t] })
    let all = await a.listTopics()
    const deadline = Date.now() + 10000
    while (all.includes(t) && Date.now() < deadline) { await sleep(200); all = await a.listTopics() }
    ctx.check(!all.includes(t), 'topics after delete', `no ${t}`, all)
  } finally {
    await a.close()
  }
}

async function large (ctx) {
  const t = 'platformatic-large'
  ctx.step(`createTopics ${t} max.message.bytes=${R.TOPIC_MAX_MESSAGE}`)
  await newTopic(ctx, t, 1, { 'max.message.bytes': String(R.TOPIC_MAX_MESSAGE) })
  const producer = new Producer({ ...base(ctx), retries: 0 })
  try {
    const big = Buffer.alloc(R.LARGE)
    for (let i = 0; i < R.LARGE; i++) big[i] = i & 255
    ctx.step(`produce a ${R.LARGE}-byte record`)
    const offs = await sendAll(producer, [{ topic: t, partition: 0, key: Buffer.from('big'), value: big, headers: new Map([[Buffer.from('h'), Buffer.from('1')]]) }])
    ctx.eq('offset of the large record', [[t, 0, 0]], offs)
    ctx.step('consume the large record')
    const got = await consumeFrom(ctx, t, 0, 1, { extra: { maxBytes: 8 << 20, maxBytesPerPartition: 4 << 20 } })
    ctx.check(got.length === 1 && got[0].value.equals(big) && got[0].key.toString() === 'big', 'large record',
      `the same ${R.LARGE} bytes`, got.map(m => m.value.length))
    ctx.step(`produce a ${R.TOO_LARGE}-byte record over the topic's limit`)
    let err = null
    try {
      await producer.send({ messages: [{ topic: t, partition: 0, value: Buffer.alloc(R.TOO_LARGE, 'x') }] })
    } catch (e) { err = e }
    const ids = apiIds(err)
    ctx.check(err && ids.includes('MESSAGE_TOO_LARGE'), 'send error', 'MESSAGE_TOO_LARGE', err ? `${err.message} ${JSON.stringify(ids)}` : 'success')
    ctx.step('the topic still works')
    ctx.eq('offset after the rejected record', [[t, 0, 1]], await sendAll(producer, [{ topic: t, partition: 0, value: Buffer.from('small') }]))
  } finally {
    await producer.close()
  }
}

async function restart (ctx, name) {
  const t = `${PREFIX}-${name}`
  ctx.step(`createTopics ${t}`)
  await newTopic(ctx, t)
  const opts = { ...base(ctx), retries: 30, retryDelay: 200 }
  const producer = new Producer(opts)
  const consumer = new Consumer({ ...opts, groupId: `${t}-g`, maxWaitTime: 200 })
  const acked = new Map(); const consumed = new Map()
  const stream = await consumer.consume({ topics: [t], mode: 'manual', autocommit: false, offsets: [{ topic: t, partition: 0, offset: 0n }] })
  let streamError = null
  stream.on('data', (m) => consumed.set(Number(m.offset), m.value.toString()))
  stream.on('error', (e) => { streamError = e })
  let i = 0; let restarted = null; let after = -1; let lastError = null
  ctx.step('produce and consume in a loop; the broker restarts in the middle')
  const deadline = Date.now() + 120000
  try {
    while (Date.now() < deadline) {
      if (R.restartWantsMore(acked.size, after)) {
        const batch = Array.from({ length: 10 }, () => ({ topic: t, partition: 0, value: Buffer.from(`r${i++}`) }))
        try {
          const r = await producer.send({ messages: batch, acks: -1 })
          const base0 = Number(r.offsets[0].offset)
          batch.forEach((m, j) => acked.set(base0 + j, m.value.toString()))
        } catch (e) {
          lastError = [e.message, ...(e.errors || []).map(x => x.message)].join(' / ')
          await sleep(100)
        }
      } else {
        await sleep(20)
      }
      if (!restarted && acked.size >= R.RESTART_ACKS) restarted = ctx.requestRestart()
      if (restarted && restarted.done && after < 0) { ctx.step('broker back; keep going'); after = acked.size }
      if (after >= 0 && acked.size >= after + R.RESTART_ACKS && [...acked.keys()].every(o => consumed.has(o))) break
    }
    ctx.check(after >= 0, 'broker restart', 'done', 'not done')
    ctx.check(acked.size >= after + R.RESTART_ACKS, `acknowledged after the restart (last send error: ${lastError}; consumed ${consumed.size})`, `>= ${R.RESTART_ACKS}`, acked.size - after)
    const missing = [...acked.entries()].filter(([o, v]) => consumed.get(o) !== v).map(([o]) => o)
    ctx.eq(`acknowledged records the consumer did not get back (first 5; stream error ${streamError && streamError.message})`, [], missing.slice(0, 5))
  } finally {
    await stream.close().catch(() => {})
    await consumer.close(true).catch(() => {})
    await producer.close().catch(() => {})
  }
}

async function xcProduce (ctx) {
  const t = R.xcTopic(CLIENT)
  await newTopic(ctx, t)
  ctx.step(`produce ${R.XC_N} records to ${t}`)
  const producer = new Producer(base(ctx))
  try {
    await sendAll(producer, stdMessages(t, R.XC_N, true))
  } finally {
    await producer.close()
  }
}

async function xcConsume (ctx) {
  const lines = []
  ctx.step(`consume ${ctx.topics.join(', ')} (one stream)`)
  const got = await consumeMany(ctx, ctx.topics.map(t => [t, 0, 0, R.XC_N]))
  for (const t of ctx.topics) {
    for (const m of got.get(t)) {
      lines.push(JSON.stringify(R.observation(t, m.offset, m.key, m.value, m.headers, m.timestamp)))
    }
  }
  fs.writeFileSync(ctx.out, lines.map(l => l + '\n').join(''))
}

run({
  metadata,
  'create-topic': createTopic,
  produce,
  consume,
  idempotent,
  group,
  offsets,
  admin: adminScenario,
  large,
  'restart-term': (ctx) => restart(ctx, 'restart-term'),
  'restart-kill': (ctx) => restart(ctx, 'restart-kill'),
  'xc-produce': xcProduce,
  'xc-consume': xcConsume
})
