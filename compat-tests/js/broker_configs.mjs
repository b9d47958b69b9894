// Broker configs through @platformatic/kafka's admin client
// (IncrementalAlterConfigs v1, DescribeConfigs v4), for broker_configs_test.py.
//
//   node broker_configs.mjs alter BOOTSTRAP BROKER NAME OP [VALUE]   (OP: 0 set, 1 delete)
//   node broker_configs.mjs describe BOOTSTRAP BROKER
// Prints one JSON line: the client's answer, or the error codes and messages
// the broker answered with.
import { Admin } from '@platformatic/kafka'

const [op, bootstrap, broker, name, configOperation, value] = process.argv.slice(2)
const admin = new Admin({ clientId: 'skein-broker-configs', bootstrapBrokers: [bootstrap], timeout: 10000 })
const BROKER = 4

// The per-resource answers of a refused request, wherever the client put them.
function responses (e) {
  for (const x of [e, ...(e.errors || [])]) {
    if (x && x.response && x.response.responses) return x.response.responses
  }
  return null
}

async function main () {
  let out
  if (op === 'describe') {
    out = await admin.describeConfigs({ resources: [{ resourceType: BROKER, resourceName: broker }], includeSynonyms: true })
  } else {
    const config = { name, configOperation: Number(configOperation), value: value === undefined ? null : value }
    await admin.incrementalAlterConfigs({ resources: [{ resourceType: BROKER, resourceName: broker, configs: [config] }] })
    out = { ok: true }
  }
  process.stdout.write(JSON.stringify(out, (k, v) => typeof v === 'bigint' ? String(v) : v) + '\n')
}

main().then(() => admin.close(), async e => {
  process.stdout.write(JSON.stringify({ error: e.message, responses: responses(e) }) + '\n')
  await admin.close()
  process.exit(1)
})
