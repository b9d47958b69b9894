// Topic creations through @platformatic/kafka's admin client (CreateTopics v7),
// for limits_test.py's controller_mutation_rate scenario.
//
//   node mutations.mjs BOOTSTRAP CLIENT_ID PARTITIONS NAME[+NAME...]...
// Each argument is one CreateTopics request (names joined by + go together).
// Prints one JSON line: for each argument, the error code (0 on success) and
// message, and how long the client took.
import { Admin } from '@platformatic/kafka'

const [bootstrap, clientId, partitions, ...names] = process.argv.slice(2)
const admin = new Admin({ clientId, bootstrapBrokers: [bootstrap], timeout: 10000, retries: 0 })

function codeOf (e) {
  for (const x of [e, ...(e.errors || []), e.cause].filter(Boolean)) {
    if (x.apiCode !== undefined) return { code: x.apiCode, message: x.message }
    if (x.response && x.response.topics) {
      const t = x.response.topics.find(t => t.errorCode)
      if (t) return { code: t.errorCode, message: t.errorMessage }
    }
    if (x.errors) {
      const inner = codeOf({ errors: Object.values(x.errors) })
      if (inner.code !== undefined) return inner
    }
  }
  return { code: undefined, message: e.message }
}

async function main () {
  const out = {}
  for (const name of names) {
    const t0 = Date.now()
    try {
      await admin.createTopics({ topics: name.split('+'), partitions: Number(partitions), replicas: 1 })
      out[name] = { code: 0 }
    } catch (e) {
      out[name] = codeOf(e)
    }
    out[name].ms = Date.now() - t0
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().then(() => admin.close(), async e => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n')
  await admin.close()
  process.exit(1)
})
