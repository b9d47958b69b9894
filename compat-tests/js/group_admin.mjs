// Group and log-dir admin calls through @platformatic/kafka, one per run, for
// group_admin_test.py: the answer (or the error) is printed as one JSON line.
//
//   node group_admin.mjs STEP BOOTSTRAP GROUP TOPIC
// STEP: logdirs | groups | offsets | remove | alter | deloffsets | delete | acls
import { Admin } from '@platformatic/kafka'

const [step, bootstrap, group, topic] = process.argv.slice(2)
const admin = new Admin({ clientId: 'skein-group-admin', bootstrapBrokers: [bootstrap], timeout: 10000, retries: 2 })
const ANY = 1 // resource type, pattern type, operation and permission "ANY"

const steps = {
  logdirs: () => admin.describeLogDirs({ topics: [{ name: topic, partitions: [0, 1] }] }),
  groups: async () => ({
    listed: await admin.listGroups({}),
    described: await admin.describeGroups({ groups: [group] })
  }),
  offsets: () => admin.listConsumerGroupOffsets({ groups: [group] }),
  remove: () => admin.removeMembersFromConsumerGroup({ groupId: group, members: null }),
  alter: () => admin.alterConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 5n }] }] }),
  deloffsets: () => admin.deleteConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionIndexes: [1] }] }),
  delete: () => admin.deleteGroups({ groups: [group] }),
  acls: () => admin.describeAcls({ filter: { resourceType: ANY, resourcePatternType: ANY, operation: ANY, permissionType: ANY } })
}

const plain = (k, v) => v instanceof Map ? Object.fromEntries(v) : typeof v === 'bigint' ? String(v) : v
const errorOf = e => ({ error: e.message, causes: (e.errors || []).map(x => x.message), code: e.apiCode ?? e.code })

steps[step]().then(
  r => process.stdout.write(JSON.stringify({ ok: r ?? null }, plain) + '\n'),
  e => process.stdout.write(JSON.stringify(errorOf(e), plain) + '\n')
).finally(() => admin.close())
