// kafkajs 2.2.4 (pure JS, its own protocol, group and admin code) scenarios.
import { createRequire } from 'node:module'
import * as R from './records.mjs'
import { Fail, Skip, run } from './scenario.mjs'

const require = createRequire(import.meta.url)
const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs')
const CLIENT = 'kafkajs'

// Snappy, LZ4 and ZStandard are plug-in codecs in kafkajs.
const codecSkip = {}
try { CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy') } catch (e) { codecSkip.snappy = 'kafkajs-snappy not installed' }
try { const LZ4 = require('kafkajs-lz4'); CompressionCodecs[CompressionTypes.LZ4] = new LZ4().codec } catch (e) { codecSkip.lz4 = 'kafkajs-lz4 not installed' }
try { const Z = require('@kafkajs/zstd'); CompressionCodecs[CompressionTypes.ZSTD] = Z() } catch (e) { codecSkip.zstd = '@kafkajs/zstd (native cppzst) not installed: its build fails here' }
const TYPE = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

const kafka = (ctx) => new Kafka({
  clientId: 'skein-compat', brokers: [ctx.bootstrap], logLevel: logLevel.ERROR,
  connectionTimeout: 5000, requestTimeout: 15000, retry: { retries: 3 }
})

async function metadata (ctx) {
  const admin = kafka(ctx).admin()
  ctx.step('admin.connect')
  await admin.connect()
  try {
    ctx.step('admin.describeCluster')
    const d = await admin.describeCluster()
    ctx.eq('clusterId', ctx.expect.cluster_id, d.clusterId)
    ctx.eq('controller', ctx.expect.controller_id, d.controller)
    ctx.eq('brokers', [{ nodeId: ctx.expect.node_id, host: ctx.expect.host, port: ctx.expect.port }],
      d.brokers.map(b => ({ nodeId: b.nodeId, host: b.host, port: b.port })))
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
    ctx.eq('partitions', [{ partitionId: 0, leader: ctx.expect.node_id, partitionErrorCode: 0 }],
      parts.map(p => ({ partitionId: p.partitionId, leader: p.leader, partitionErrorCode: p.partitionErrorCode })))
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
    const created = await admin.createTopics({ topics: [{ topic: name, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })
    ctx.eq('createTopics result', true, created)
    ctx.step(`admin.fetchTopicMetadata ${name}`)
    const md = await admin.fetchTopicMetadata({ topics: [name] })
    ctx.eq('partitions', [0, 1, 2], md.topics[0].partitions.map(p => p.partitionId).sort())
    ctx.eq('leaders', [1, 1, 1].map(() => ctx.expect.node_id), md.topics[0].partitions.map(p => p.leader))
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

async function consume (ctx) {
  const k = kafka(ctx)
  for (const codec of codecs(ctx)) {
    for (const acks of R.ACKS) {
      const t = R.topic(CLIENT, codec, acks)
      ctx.step(`consume ${t} from the beginning (consumer group)`)
      const consumer = k.consumer({ groupId: `skein-compat-${t}`, sessionTimeout: 10000, heartbeatInterval: 1000 })
      await consumer.connect()
      const got = []
      try {
        await consumer.subscribe({ topics: [t], fromBeginning: true })
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, 60000)
          consumer.run({
            autoCommit: false,
            eachMessage: async ({ message }) => {
              got.push({ offset: message.offset, key: message.key, value: message.value, headers: fromKjsHeaders(message.headers) })
              if (got.length >= R.N) { clearTimeout(timer); resolve() }
            }
          }).catch(reject)
        })
      } finally {
        await consumer.disconnect()
      }
      const err = R.compare(got, t)
      if (err) throw new Fail(`${t}: ${err}`)
    }
  }
}

run({ metadata, 'create-topic': createTopic, produce, consume })
