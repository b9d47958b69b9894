// One kafkajs consumer-group member for group_test.py, and its admin view.
//
//   node group_member.mjs member BOOTSTRAP GROUP TOPIC INSTANCE|- SESSION_MS
//   node group_member.mjs describe BOOTSTRAP GROUP
//
// member prints one JSON line per event (the protocol of clients/group_member.py):
// {"ev":"assigned","parts":[...]} after each join, {"ev":"rec","p":P,"o":O} per record
// processed, {"ev":"closed"} after a clean disconnect. Offsets are committed (and
// awaited) after each processed batch. SIGTERM disconnects, which leaves the group.
// describe prints kafkajs's describeGroups and listGroups answers as one JSON line.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')

const [mode, bootstrap, group, topic, instance, sessionMs] = process.argv.slice(2)
const emit = (ev, o = {}) => process.stdout.write(JSON.stringify({ ...o, ev, t: Date.now() / 1000 }) + '\n')
const kafka = new Kafka({ clientId: 'skein-group-member', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })

async function member () {
  if (instance !== '-') {
    emit('error', { msg: 'kafkajs 2.2.4 has no static membership (group.instance.id)' })
    process.exit(2)
  }
  const c = kafka.consumer({ groupId: group, sessionTimeout: Number(sessionMs), heartbeatInterval: 500, rebalanceTimeout: 20000, maxWaitTimeInMs: 200 })
  c.on(c.events.GROUP_JOIN, e => emit('assigned', { parts: (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b) }))
  c.on(c.events.CRASH, e => emit('error', { msg: String(e.payload.error) }))
  let stopping = false
  process.on('SIGTERM', async () => {
    if (stopping) return
    stopping = true
    await c.disconnect()
    emit('closed')
    process.exit(0)
  })
  await c.connect()
  await c.subscribe({ topics: [topic], fromBeginning: true })
  await c.run({
    autoCommit: false,
    eachBatch: async ({ batch, heartbeat }) => {
      if (batch.messages.length === 0) return
      for (const m of batch.messages) emit('rec', { p: batch.partition, o: Number(m.offset) })
      const next = String(Number(batch.lastOffset()) + 1)
      try {
        await c.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
      } catch (e) {
        emit('commit-failed', { msg: e.message })
        throw e
      }
      await heartbeat()
    }
  })
}

async function describe () {
  const a = kafka.admin()
  await a.connect()
  try {
    const d = (await a.describeGroups([group])).groups[0]
    const members = d.members.map(m => {
      const asg = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
      return { memberId: m.memberId, clientId: m.clientId, parts: ((asg && asg.assignment[topic]) || []).slice().sort((x, y) => x - y) }
    })
    const listed = (await a.listGroups()).groups
    emit('described', { state: d.state, protocolType: d.protocolType, protocol: d.protocol, members, listed })
  } finally {
    await a.disconnect()
  }
}

const run = mode === 'describe' ? describe : member
run().catch(e => { emit('error', { msg: e.message }); process.exit(1) })
