// kafkajs 2.2.4 (pure JS, its own protocol, group and admin code) scenarios.
import { createRequire } from 'node:module'
import * as R from './records.mjs'
import { Fail, Skip, run } from './scenario.mjs'

const require = createRequire(import.meta.url)
const { Kafka, logLevel, CompressionTypes, CompressionCodecs, ConfigResourceTypes } = require('kafkajs')
const fs = require('node:fs')
const CLIENT = 'kafkajs'

// Snappy, LZ4 and ZStandard are plug-in codecs in kafkajs.
const codecSkip = {}
try { CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy') } catch (e) { codecSkip.snappy = 'kafkajs-snappy not installed' }
try { const LZ4 = require('kafkajs-lz4'); CompressionCodecs[CompressionTypes.LZ4] = new LZ4().codec } catch (e) { codecSkip.lz4 = 'kafkajs-lz4 not installed' }
try { const Z = require('@kafkajs/zstd'); CompressionCodecs[CompressionTypes.ZSTD] = Z() } catch (e) { codecSkip.zstd = '@kafkajs/zstd (native cppzst) not installed: its build fails here' }
const TYPE = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

const kafka = (ctx) => new Kafka({
  clientId: 'skein-compat', brokers: ctx.bootstrap.split(','), logLevel: logLevel.ERROR,
  connectionTimeout: 5000, requestTimeout: 15000, retry: { retries: 3 }
})

// In a cluster each broker applies a new partition shortly after the controller
// answered (as Kafka's do): waits until each broker, asked alone, lists n partitions
// of t with leaders.
async function waitPartitions (ctx, t, n) {
  for (const [, host, port] of ctx.brokers()) {
    const a = new Kafka({ clientId: 'skein-compat-wait', brokers: [`${host}:${port}`], logLevel: logLevel.NOTHING }).admin()
    await a.connect()
    try {
      for (const until = Date.now() + 10000; ;) {
        let ok = false
        try {
          const ps = (await a.fetchTopicMetadata({ topics: [t] })).topics[0].partitions
          ok = ps.length === n && ps.every(p => p.leader >= 0)
        } catch (e) {}
        if (ok) break
        if (Date.now() > until) throw new Fail(`${t} with ${n} partitions not on broker ${host}:${port} after 10 s`)
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    } finally {
      await a.disconnect()
    }
  }
}

async function metadata (ctx) {
  const admin = kafka(ctx).admin()
  ctx.step('admin.connect')
  await admin.connect()
  try {
    ctx.step('admin.describeCluster')
    const d = await admin.describeCluster()
    ctx.eq('clusterId', ctx.expect.cluster_id, d.clusterId)
    ctx.eq('controller', ctx.expect.controller_id, d.controller)
    ctx.eq('brokers', ctx.brokers().map(([nodeId, host, port]) => ({ nodeId, host, port })),
      d.brokers.map(b => ({ nodeId: b.nodeId, host: b.host, port: b.port })).sort((x, y) => x.nodeId - y.nodeId))
    const name = 'kafkajs-auto'
    // The kafkajs admin client never asks for auto-creation; its consumer does when
    // it subscribes (no group API is used before run()).
    ctx.step(`consumer.subscribe ${name} (auto-create)`)
    const consumer = kafka(ctx).consumer({ groupId: 'skein-compat-auto' })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [name] })
    } finally {
      await consumer.disconnect()
    }
    ctx.step(`admin.fetchTopicMetadata ${name}`)
    const md = await admin.fetchTopicMetadata({ topics: [name] })
    ctx.eq('topics', [name], md.topics.map(t => t.name))
    const parts = md.topics[0].partitions
    ctx.eq('partitions', [{ partitionId: 0, partitionErrorCode: 0 }],
      parts.map(p => ({ partitionId: p.partitionId, partitionErrorCode: p.partitionErrorCode })))
    ctx.checkLeaders('leader of partition 0', parts.map(p => p.leader))
    ctx.step('admin.listTopics')
    const all = await admin.listTopics()
    ctx.check(all.includes(name), 'listTopics', `to contain ${name}`, all)
  } finally {
    await admin.disconnect()
  }
}

async function createTopic (ctx) {
  const admin = kafka(ctx).admin()
  await admin.connect()
  try {
    const name = 'kafkajs-created'
    ctx.step(`admin.createTopics ${name} numPartitions=3`)
    const created = await admin.createTopics({ topics: [{ topic: name, numPartitions: 3, replicationFactor: ctx.rf }], waitForLeaders: true })
    ctx.eq('createTopics result', true, created)
    ctx.step(`admin.fetchTopicMetadata ${name}`)
    const md = await admin.fetchTopicMetadata({ topics: [name] })
    ctx.eq('partitions', [0, 1, 2], md.topics[0].partitions.map(p => p.partitionId).sort())
    ctx.checkLeaders('leaders', md.topics[0].partitions.map(p => p.leader))
    ctx.step(`admin.createTopics ${name} again`)
    const again = await admin.createTopics({ topics: [{ topic: name, numPartitions: 3 }] })
    ctx.eq('createTopics of an existing topic', false, again)
  } finally {
    await admin.disconnect()
  }
}

function codecs (ctx) {
  const out = []
  for (const c of R.CODECS) {
    if (codecSkip[c]) ctx.note(`codec ${c} skipped: ${codecSkip[c]}`)
    else out.push(c)
  }
  if (!out.length) throw new Skip('no codec available')
  return out
}

const kjsHeaders = (i) => {
  const h = {}
  for (const [k, v] of R.headers(i)) {
    if (k in h) h[k] = [].concat(h[k], v)
    else h[k] = v
  }
  return h
}

async function produce (ctx) {
  const k = kafka(ctx)
  const admin = ctx.has(19) ? k.admin() : null
  if (admin) await admin.connect()
  const producer = k.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    for (const codec of codecs(ctx)) {
      for (const acks of R.ACKS) {
        const t = R.topic(CLIENT, codec, acks)
        if (admin) {
          ctx.step(`admin.createTopics ${t}`)
          await admin.createTopics({ topics: [{ topic: t, numPartitions: 1 }], waitForLeaders: true })
        }
        ctx.step(`produce ${R.N} records to ${t}`)
        const batch = 1000
        for (let start = 0; start < R.N; start += batch) {
          const messages = []
          for (let i = start; i < Math.min(R.N, start + batch); i++) {
            messages.push({ partition: 0, key: R.key(i), value: R.value(i, t), headers: kjsHeaders(i) })
          }
          const res = await producer.send({ topic: t, acks: acks === '1' ? 1 : -1, compression: TYPE[codec], messages })
          ctx.eq(`send result of records ${start}.. of ${t}`, [{ partition: 0, errorCode: 0, baseOffset: String(start) }],
            res.map(r => ({ partition: r.partition, errorCode: r.errorCode, baseOffset: r.baseOffset })))
        }
      }
    }
  } finally {
    await producer.disconnect()
    if (admin) await admin.disconnect()
  }
}

const fromKjsHeaders = (h) => {
  const out = []
  for (const [k, v] of Object.entries(h || {})) {
    for (const x of Array.isArray(v) ? v : [v]) out.push([k, x])
  }
  return out
}

// One consumer group subscribed to every topic: a kafkajs group join takes seconds.
async function consumeTopics (ctx, k, topics, n, timeout = 120000) {
  const consumer = k.consumer({ groupId: `skein-compat-${topics[0]}-${Date.now()}`, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 200, maxBytes: 64 << 20 })
  await consumer.connect()
  const got = new Map(topics.map(t => [t, []]))
  let left = topics.length * n
  try {
    await consumer.subscribe({ topics, fromBeginning: true })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, timeout)
      consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: topics.length,
        eachMessage: async ({ topic, message }) => {
          const g = got.get(topic)
          if (g.length >= n) return
          g.push({ offset: message.offset, key: message.key, value: message.value, headers: fromKjsHeaders(message.headers), timestamp: message.timestamp })
          if (--left === 0) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return got
}

async function consume (ctx) {
  const k = kafka(ctx)
  const ts = []
  for (const codec of codecs(ctx)) for (const acks of R.ACKS) ts.push(R.topic(CLIENT, codec, acks))
  ctx.step(`consume ${ts.join(', ')} from the beginning (one consumer group)`)
  const got = await consumeTopics(ctx, k, ts, R.N)
  for (const t of ts) {
    const err = R.compare(got.get(t), t)
    if (err) throw new Fail(`${t}: ${err}`)
  }
}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (cond, ms, what) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (cond()) return
    await sleep(50)
  }
  throw new Fail(`${what}: not reached in ${ms / 1000} s`)
}

async function withAdmin (ctx, fn) {
  const admin = kafka(ctx).admin()
  await admin.connect()
  try { return await fn(admin) } finally { await admin.disconnect() }
}

async function newTopic (ctx, topic, numPartitions = 1, config = {}) {
  await withAdmin(ctx, async (admin) => {
    const configEntries = Object.entries(config).map(([name, value]) => ({ name, value }))
    const ok = await admin.createTopics({ topics: [{ topic, numPartitions, configEntries }], waitForLeaders: true })
    ctx.eq(`createTopics ${topic}`, true, ok)
  })
}

// Consumes n records of topic (every partition) through a fresh group; at is
// {partition: offset} to seek to once running.
async function consumeGroup (ctx, k, topic, n, { at = null, extra = {}, timeout = 60000 } = {}) {
  const consumer = k.consumer({ groupId: `skein-compat-${topic}-${Date.now()}`, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 500, ...extra })
  await consumer.connect()
  const got = []
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, timeout)
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (got.length >= n) return
          got.push({ partition, offset: message.offset, key: message.key, value: message.value, headers: fromKjsHeaders(message.headers), timestamp: message.timestamp })
          if (got.length >= n) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
      if (at) for (const [partition, offset] of Object.entries(at)) consumer.seek({ topic, partition: Number(partition), offset: String(offset) })
    })
  } finally {
    await consumer.disconnect()
  }
  return got
}

async function sendAll (ctx, producer, topic, items, opts = {}) {
  const out = []
  for (let start = 0; start < items.length; start += 1000) {
    const res = await producer.send({ topic, messages: items.slice(start, start + 1000), ...opts })
    for (const r of res) {
      if (r.errorCode !== 0) throw new Fail(`send to ${topic}/${r.partition}: error ${r.errorCode}`)
      out.push(r)
    }
  }
  return out
}

const stdMessages = (t, n, ts = false) => {
  const out = []
  for (let i = 0; i < n; i++) {
    const m = { partition: 0, key: R.key(i), value: R.value(i, t), headers: kjsHeaders(i) }
    if (ts) m.timestamp = String(R.timestamp(i))
    out.push(m)
  }
  return out
}

async function idempotent (ctx) {
  const t = 'kafkajs-idempotent'
  ctx.step(`admin.createTopics ${t}`)
  await newTopic(ctx, t)
  const k = kafka(ctx)
  ctx.step(`produce ${R.N} records with idempotent: true`)
  const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    const res = await sendAll(ctx, producer, t, stdMessages(t, R.N), { acks: -1 })
    ctx.eq('base offsets', Array.from({ length: Math.ceil(R.N / 1000) }, (_, j) => String(j * 1000)), res.map(r => r.baseOffset))
  } finally {
    await producer.disconnect()
  }
  ctx.step(`consume ${t}`)
  const err = R.compare(await consumeGroup(ctx, k, t, R.N), t)
  if (err) throw new Fail(err)
}

async function group (ctx) {
  const t = 'kafkajs-group'; const g = 'kafkajs-group-g'
  const P = R.GROUP_PARTITIONS; const N1 = R.GROUP_FIRST; const N2 = R.GROUP_SECOND
  ctx.step(`admin.createTopics ${t} numPartitions=${P}`)
  await newTopic(ctx, t, P)
  const k = kafka(ctx)
  const producer = k.producer()
  await producer.connect()
  const produceRange = (a, b) => sendAll(ctx, producer, t,
    Array.from({ length: b - a }, (_, j) => ({ partition: (a + j) % P, value: Buffer.from(`g${a + j}`) })))
  ctx.step(`produce ${N1} records`)
  await produceRange(0, N1)
  const seen = new Map()
  const members = []
  const member = async (n) => {
    const c = k.consumer({ groupId: g, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200, rebalanceTimeout: 20000 })
    const m = { c, name: `m${n}`, parts: [] }
    c.on(c.events.GROUP_JOIN, e => { m.parts = (e.payload.memberAssignment[t] || []).slice() })
    await c.connect()
    await c.subscribe({ topics: [t], fromBeginning: true })
    c.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const v = Number(message.value.toString().slice(1))
        seen.set(v, (seen.get(v) || 0) + 1)
        await c.commitOffsets([{ topic: t, partition, offset: String(Number(message.offset) + 1) }])
      }
    }).catch(e => { m.error = e })
    members.push(m)
    return m
  }
  const state = () => `seen ${seen.size} distinct records, assignments ${JSON.stringify(members.map(m => m.parts.length))}`
  const wait = async (cond, ms, what) => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const bad = members.find(m => m.error)
      if (bad) throw new Fail(`${what}: ${bad.name} failed: ${bad.error.message}`)
      if (cond()) return
      await sleep(50)
    }
    throw new Fail(`${what}: not reached in ${ms / 1000} s (${state()})`)
  }
  try {
    ctx.step(`one member takes all ${P} partitions`)
    const m1 = await member(1)
    await wait(() => m1.parts.length === P && seen.size > 0, 30000, 'first member')
    ctx.step('two more members join: rebalance to 2 partitions each')
    await member(2); await member(3)
    await wait(() => JSON.stringify(members.map(m => m.parts.length).sort()) === '[2,2,2]' && seen.size === N1, 60000, 'rebalance')
    for (let i = 0; i < N1; i++) if (!seen.has(i)) throw new Fail(`record ${i} not consumed by the group`)
    ctx.step('disconnect the members (commits were synchronous)')
    for (const m of members.splice(0)) await m.c.disconnect()
    ctx.step(`produce ${N2} more, start three new members: they resume at the commits`)
    await produceRange(N1, N1 + N2)
    seen.clear()
    await member(4); await member(5); await member(6)
    await wait(() => seen.size >= N2, 60000, 'resume')
    await sleep(1500)
    const keys = [...seen.keys()].sort((a, b) => a - b)
    ctx.eq('records after the restart', Array.from({ length: N2 }, (_, j) => N1 + j), keys)
    ctx.eq('records delivered twice after the restart', [], keys.filter(v => seen.get(v) > 1))
  } finally {
    for (const m of members) await m.c.disconnect()
    await producer.disconnect()
  }
}

async function offsets (ctx) {
  const t = 'kafkajs-times'; const n = R.TIMES_N; const st = R.TIMES_STEP
  ctx.step(`produce ${n} records with timestamps`)
  await newTopic(ctx, t)
  const k = kafka(ctx)
  const producer = k.producer()
  await producer.connect()
  const msgs = stdMessages(t, n)
  msgs.forEach((m, i) => { m.timestamp = String(R.BASE_TS + i * st) })
  await sendAll(ctx, producer, t, msgs)
  await producer.disconnect()
  await withAdmin(ctx, async (admin) => {
    ctx.step('admin.fetchTopicOffsetsByTimestamp')
    for (const i of [0, n / 2, n - 1]) {
      const r = await admin.fetchTopicOffsetsByTimestamp(t, R.BASE_TS + i * st)
      ctx.eq(`offset for timestamp of record ${i}`, [{ partition: 0, offset: String(i) }], r)
    }
    // kafkajs turns "no such offset" (-1) into the high watermark
    const r = await admin.fetchTopicOffsetsByTimestamp(t, R.BASE_TS + n * st)
    ctx.eq('offset for a timestamp after the last', [{ partition: 0, offset: String(n) }], r)
    ctx.step('admin.fetchTopicOffsets')
    const o = await admin.fetchTopicOffsets(t)
    ctx.eq('watermarks', [{ partition: 0, low: '0', high: String(n) }], o.map(p => ({ partition: p.partition, low: p.low, high: p.high })))
  })
  ctx.step('consumer.seek to the middle, consume to the end')
  const mid = n / 2
  const got = await consumeGroup(ctx, k, t, n - mid, { at: { 0: mid } })
  ctx.eq('offsets from the middle', Array.from({ length: n - mid }, (_, j) => String(mid + j)), got.map(m => m.offset))
  ctx.eq('timestamps from the middle', Array.from({ length: n - mid }, (_, j) => String(R.BASE_TS + (mid + j) * st)), got.map(m => m.timestamp))
  ctx.step('consumer.seek to 100')
  const back = await consumeGroup(ctx, k, t, 10, { at: { 0: 100 } })
  ctx.eq('offsets after seek', Array.from({ length: 10 }, (_, j) => String(100 + j)), back.map(m => m.offset))
  ctx.check(back[0].value.equals(R.value(100, t)), 'value after seek', R.value(100, t).toString(), back[0].value.toString())
}

async function admin (ctx) {
  const t = 'kafkajs-admin'
  const k = kafka(ctx)
  await withAdmin(ctx, async (a) => {
    ctx.step(`admin.createTopics ${t} retention.ms=86400000`)
    ctx.eq('createTopics', true, await a.createTopics({ topics: [{ topic: t, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '86400000' }] }], waitForLeaders: true }))
    const topicConfig = async () => {
      const d = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: t }], includeSynonyms: false })
      ctx.eq('describeConfigs resources', [[0, t]], d.resources.map(r => [r.errorCode, r.resourceName]))
      return Object.fromEntries(d.resources[0].configEntries.map(e => [e.configName, e.configValue]))
    }
    ctx.step('admin.describeConfigs topic')
    let cfg = await topicConfig()
    ctx.eq('retention.ms', '86400000', cfg['retention.ms'])
    ctx.eq('cleanup.policy', 'delete', cfg['cleanup.policy'])
    ctx.step('admin.alterConfigs retention.ms, segment.bytes')
    await a.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configEntries: [{ name: 'retention.ms', value: '123456789' }, { name: 'segment.bytes', value: '10485760' }] }] })
    cfg = await topicConfig()
    ctx.eq('retention.ms after alter', '123456789', cfg['retention.ms'])
    ctx.eq('segment.bytes after alter', '10485760', cfg['segment.bytes'])
    ctx.step(`admin.describeConfigs broker ${ctx.expect.node_id}`)
    const b = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: String(ctx.expect.node_id) }], includeSynonyms: false })
    const names = b.resources[0].configEntries.map(e => e.configName)
    ctx.check(names.includes('log.retention.hours') || names.includes('log.retention.ms'), 'broker configs', 'log.retention.*', names.slice(0, 10))
    ctx.step('admin.createPartitions to 3')
    await a.createPartitions({ topicPartitions: [{ topic: t, count: 3 }] })
    await waitPartitions(ctx, t, 3)
    const md = await a.fetchTopicMetadata({ topics: [t] })
    ctx.eq('partitions after createPartitions', [0, 1, 2], md.topics[0].partitions.map(p => p.partitionId).sort())
    ctx.step('produce 10 records to the new partition 2')
    const producer = k.producer()
    await producer.connect()
    const res = await producer.send({ topic: t, messages: Array.from({ length: 10 }, (_, i) => ({ partition: 2, value: `p2-${i}` })) })
    await producer.disconnect()
    ctx.eq('send result', [[2, 0, '0']], res.map(r => [r.partition, r.errorCode, r.baseOffset]))
    ctx.step('admin.deleteTopicRecords partition 2 before offset 4')
    await a.deleteTopicRecords({ topic: t, partitions: [{ partition: 2, offset: '4' }] })
    const o = (await a.fetchTopicOffsets(t)).find(p => p.partition === 2)
    ctx.eq('partition 2 watermarks after deleteTopicRecords', { low: '4', high: '10' }, { low: o.low, high: o.high })
    ctx.step('consume partition 2: starts at 4')
    const got = await consumeGroup(ctx, k, t, 6)
    ctx.eq('offsets consumed', ['4', '5', '6', '7', '8', '9'], got.map(m => m.offset))
    ctx.step(`admin.deleteTopics ${t}`)
    await a.deleteTopics({ topics: [t], timeout: 15000 })
    let all = await a.listTopics()
    const deadline = Date.now() + 10000
    while (all.includes(t) && Date.now() < deadline) { await sleep(200); all = await a.listTopics() }
    ctx.check(!all.includes(t), 'topics after delete', `no ${t}`, all)
  })
}

async function large (ctx) {
  const t = 'kafkajs-large'
  ctx.step(`admin.createTopics ${t} max.message.bytes=${R.TOPIC_MAX_MESSAGE}`)
  await newTopic(ctx, t, 1, { 'max.message.bytes': String(R.TOPIC_MAX_MESSAGE) })
  const k = kafka(ctx)
  const producer = k.producer({ retry: { retries: 0 } })
  await producer.connect()
  try {
    const big = Buffer.alloc(R.LARGE)
    for (let i = 0; i < R.LARGE; i++) big[i] = i & 255
    ctx.step(`produce a ${R.LARGE}-byte record`)
    const res = await producer.send({ topic: t, messages: [{ partition: 0, key: 'big', value: big, headers: { h: '1' } }] })
    ctx.eq('send result', [[0, 0, '0']], res.map(r => [r.partition, r.errorCode, r.baseOffset]))
    ctx.step('consume the large record')
    const got = await consumeGroup(ctx, k, t, 1, { extra: { maxBytesPerPartition: 4 << 20, maxBytes: 8 << 20 } })
    ctx.check(got.length === 1 && got[0].value.equals(big) && got[0].key.toString() === 'big', 'large record',
      `the same ${R.LARGE} bytes`, got.map(m => m.value.length))
    ctx.step(`produce a ${R.TOO_LARGE}-byte record over the topic's limit`)
    let err = null
    try {
      await producer.send({ topic: t, messages: [{ partition: 0, value: Buffer.alloc(R.TOO_LARGE, 'x') }] })
    } catch (e) { err = e }
    ctx.check(err && err.type === 'MESSAGE_TOO_LARGE', 'send error', 'MESSAGE_TOO_LARGE', err ? `${err.name} ${err.type} ${err.message}` : 'success')
    ctx.step('the topic still works')
    const res2 = await producer.send({ topic: t, messages: [{ partition: 0, value: 'small' }] })
    ctx.eq('offset after the rejected record', ['1'], res2.map(r => r.baseOffset))
  } finally {
    await producer.disconnect()
  }
}

async function restart (ctx, name) {
  const t = `kafkajs-${name}`
  ctx.step(`admin.createTopics ${t}`)
  await newTopic(ctx, t)
  const k = new Kafka({
    clientId: 'skein-compat', brokers: ctx.bootstrap.split(','), logLevel: logLevel.NOTHING,
    connectionTimeout: 3000, requestTimeout: 10000, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 }
  })
  const producer = k.producer({ maxInFlightRequests: 1 })
  await producer.connect()
  const consumer = k.consumer({ groupId: `${t}-g`, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
  await consumer.connect()
  await consumer.subscribe({ topics: [t], fromBeginning: true })
  const acked = new Map(); const consumed = new Map()
  consumer.run({ autoCommit: false, eachMessage: async ({ message }) => { consumed.set(Number(message.offset), message.value.toString()) } }).catch(() => {})
  let i = 0; let restarted = null; let after = -1
  ctx.step('produce and consume in a loop; the broker restarts in the middle')
  const deadline = Date.now() + 120000
  try {
    while (Date.now() < deadline) {
      if (R.restartWantsMore(acked.size, after)) {
        const batch = Array.from({ length: 10 }, () => ({ partition: 0, value: `r${i++}` }))
        try {
          const [r] = await producer.send({ topic: t, acks: -1, messages: batch })
          batch.forEach((m, j) => acked.set(Number(r.baseOffset) + j, m.value))
        } catch (e) { await sleep(100) }
      } else {
        await sleep(20)
      }
      if (!restarted && acked.size >= R.RESTART_ACKS) restarted = ctx.requestRestart()
      if (restarted && restarted.done && after < 0) { ctx.step('broker back; keep going'); after = acked.size }
      if (after >= 0 && acked.size >= after + R.RESTART_ACKS && [...acked.keys()].every(o => consumed.has(o))) break
    }
    ctx.check(after >= 0, 'broker restart', 'done', 'not done')
    ctx.check(acked.size >= after + R.RESTART_ACKS, 'acknowledged after the restart', `>= ${R.RESTART_ACKS}`, acked.size - after)
    const missing = [...acked.entries()].filter(([o, v]) => consumed.get(o) !== v).map(([o]) => o)
    ctx.eq('acknowledged records the consumer did not get back (first 5)', [], missing.slice(0, 5))
  } finally {
    await consumer.disconnect().catch(() => {})
    await producer.disconnect().catch(() => {})
  }
}

async function xcProduce (ctx) {
  const t = R.xcTopic(CLIENT)
  await newTopic(ctx, t)
  ctx.step(`produce ${R.XC_N} records to ${t}`)
  const producer = kafka(ctx).producer()
  await producer.connect()
  try {
    await sendAll(ctx, producer, t, stdMessages(t, R.XC_N, true))
  } finally {
    await producer.disconnect()
  }
}

async function xcConsume (ctx) {
  const k = kafka(ctx)
  const lines = []
  ctx.step(`consume ${ctx.topics.join(', ')} (one consumer group)`)
  const got = await consumeTopics(ctx, k, ctx.topics, R.XC_N)
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
  admin,
  large,
  'restart-term': (ctx) => restart(ctx, 'restart-term'),
  'restart-kill': (ctx) => restart(ctx, 'restart-kill'),
  'xc-produce': xcProduce,
  'xc-consume': xcConsume
})
