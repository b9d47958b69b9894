// @platformatic/kafka (recent pure-JS client using new protocol versions) scenarios.
import { Admin } from '@platformatic/kafka'
import { run } from './scenario.mjs'

const admin = (ctx) => new Admin({ clientId: 'skein-compat', bootstrapBrokers: [ctx.bootstrap], timeout: 10000, retries: 2 })

async function metadata (ctx) {
  const a = admin(ctx)
  try {
    ctx.step('metadata (all topics)')
    const md = await a.metadata({ topics: [] })
    ctx.eq('cluster id', ctx.expect.cluster_id, md.id)
    ctx.eq('controllerId', ctx.expect.controller_id, md.controllerId)
    ctx.eq('brokers', [[ctx.expect.node_id, ctx.expect.host, ctx.expect.port]],
      [...md.brokers.entries()].map(([id, b]) => [id, b.host, b.port]))
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
    await a.createTopics({ topics: [name], partitions: 3, replicas: 1 })
    ctx.step(`metadata ${name}`)
    const t = (await a.metadata({ topics: [name], forceUpdate: true })).topics.get(name)
    ctx.eq('partitionsCount', 3, t.partitionsCount)
  } finally {
    await a.close()
  }
}

run({ metadata, 'create-topic': createTopic })
