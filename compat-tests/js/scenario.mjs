// The contract with compat-tests/run.py (see skeinlib/scenario.py): argv is
// SCENARIO --bootstrap HOST:PORT --expect JSON --apis K,K..; the last stdout line is
// RESULT {"status", "step", "detail", "notes"}.
export class Fail extends Error {}
export class Skip extends Error {}
export class Unsupported extends Error {}

export function parseArgs (argv) {
  const a = { scenario: argv[0], bootstrap: '', expect: {}, apis: new Set(), topics: [], out: '' }
  for (let i = 1; i < argv.length; i += 2) {
    if (argv[i] === '--bootstrap') a.bootstrap = argv[i + 1]
    else if (argv[i] === '--expect') a.expect = argv[i + 1] ? JSON.parse(argv[i + 1]) : {}
    else if (argv[i] === '--apis') a.apis = new Set(argv[i + 1].split(',').filter(Boolean).map(Number))
    else if (argv[i] === '--topics') a.topics = argv[i + 1].split(',').filter(Boolean)
    else if (argv[i] === '--out') a.out = argv[i + 1]
  }
  return a
}

export async function run (scenarios) {
  const args = parseArgs(process.argv.slice(2))
  const ctx = {
    ...args,
    current: 'start',
    notes: [],
    step (name) { this.current = name; console.log('step:', name) },
    note (t) { this.notes.push(t); console.log('note:', t) },
    has (k) { return this.apis.has(k) },
    // Asks the runner to stop and start the broker; the returned object's done turns
    // true once it is back. The caller keeps producing and consuming meanwhile.
    requestRestart () {
      const st = { done: false }
      process.stdin.once('data', () => { st.done = true; process.stdin.pause() })
      process.stdin.resume()
      console.log('control: restart')
      return st
    },
    eq (what, expected, got) {
      const e = JSON.stringify(expected); const g = JSON.stringify(got)
      if (e !== g) throw new Fail(`${what}: expected ${e}, got ${g}`)
    },
    check (cond, what, expected, got) {
      if (!cond) throw new Fail(`${what}: expected ${expected}, got ${JSON.stringify(got)}`)
    },
    // One broker or a cluster: the runner's --cluster mode sends brokers and
    // replication_factor in --expect.
    get rf () { return this.expect.replication_factor || 1 },
    // [[node id, host, port]] sorted by id.
    brokers () {
      const bs = this.expect.brokers || [[this.expect.node_id, this.expect.host, this.expect.port]]
      return [...bs].sort((x, y) => x[0] - y[0])
    },
    // Each leader is a broker of the cluster (the broker itself when there is one).
    checkLeaders (what, got) {
      const ids = this.brokers().map(b => b[0])
      if (ids.length === 1) this.eq(what, got.map(() => ids[0]), got)
      else this.check(got.every(x => ids.includes(x)), what, `leaders among ${JSON.stringify(ids)}`, got)
    }
  }
  const emit = (status, step = '', detail = '') =>
    console.log('RESULT ' + JSON.stringify({ status, step, detail, notes: ctx.notes }))
  const fn = scenarios[args.scenario]
  if (!fn) { emit('unsupported', '', `no scenario ${args.scenario} for this client`); process.exit(0) }
  try {
    await fn(ctx)
    emit('pass')
  } catch (e) {
    if (e instanceof Unsupported) emit('unsupported', ctx.current, e.message)
    else if (e instanceof Skip) emit('skip', ctx.current, e.message)
    else if (e instanceof Fail) emit('fail', ctx.current, e.message)
    else { console.error(e); emit('fail', ctx.current, `${e.name}: ${e.message}`) }
  }
  process.exit(0)
}
