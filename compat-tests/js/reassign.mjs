// Partition reassignment through kafkajs's admin client
// (AlterPartitionReassignments and ListPartitionReassignments v0, sent to the
// controller Metadata names), for reassign_test.py: the answer (or the
// error) is printed as one JSON line.
//
//   node reassign.mjs alter BOOTSTRAP TOPIC PARTITION REPLICA[,REPLICA...]
//   node reassign.mjs list BOOTSTRAP TOPIC
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs
const [step, bootstrap, topic, partition, replicas] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'skein-reassign', brokers: [bootstrap], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

const steps = {
  alter: () => admin.alterPartitionReassignments({
    topics: [{ topic, partitionAssignment: [{ partition: Number(partition), replicas: replicas.split(',').map(Number) }] }],
    timeout: 10000
  }),
  list: () => admin.listPartitionReassignments({ topics: [{ topic, partitions: [0] }], timeout: 10000 })
}

async function main () {
  await admin.connect()
  try {
    const r = await steps[step]()
    process.stdout.write(JSON.stringify({ ok: r ?? null }) + '\n')
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: e.message, type: e.type }) + '\n')
  } finally {
    await admin.disconnect()
  }
}

main()
