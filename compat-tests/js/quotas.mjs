// Client quotas through @platformatic/kafka's admin client (AlterClientQuotas,
// DescribeClientQuotas), for quota_test.py.
//
//   node quotas.mjs set BOOTSTRAP CLIENT_ID KEY VALUE
//   node quotas.mjs remove BOOTSTRAP CLIENT_ID KEY
//   node quotas.mjs describe BOOTSTRAP CLIENT_ID
// Prints the client's answer as one JSON line.
import { Admin } from '@platformatic/kafka'

const [op, bootstrap, clientId, key, value] = process.argv.slice(2)
const admin = new Admin({ clientId: 'skein-quotas', bootstrapBrokers: [bootstrap], timeout: 10000 })
const entities = [{ entityType: 'client-id', entityName: clientId }]

async function main () {
  let out
  if (op === 'describe') {
    out = await admin.describeClientQuotas({ components: [{ entityType: 'client-id', matchType: 0, match: clientId }] })
  } else {
    const ops = [op === 'set' ? { key, value: Number(value), remove: false } : { key, remove: true }]
    out = await admin.alterClientQuotas({ entries: [{ entities, ops }] })
  }
  process.stdout.write(JSON.stringify(out, (k, v) => typeof v === 'bigint' ? String(v) : v) + '\n')
}

main().then(() => admin.close(), async e => {
  process.stdout.write(JSON.stringify({ error: e.message, cause: String(e.errors || e.cause || '') }) + '\n')
  await admin.close()
  process.exit(1)
})
