// One E2B session through the unmodified JavaScript SDKs (`e2b`, `@e2b/code-interpreter`),
// against the server in E2B_API_URL / E2B_SANDBOX_URL. Prints one JSON object per step
// ({"step": ..., ...}); test_e2b_js_sdk.py checks them.
import { Sandbox } from '@e2b/code-interpreter'

const show = (step, fields) => console.log(JSON.stringify({ step, ...fields }))
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const sbx = await Sandbox.create({ timeoutMs: 60_000, metadata: { sdk: 'js' } })
const made = [sbx]
try {
  show('code', { text: (await sbx.runCode('x = 41\nx + 1')).text })
  const failing = await sbx.runCode('1 / 0')
  show('error', { name: failing.error?.name })

  const cmd = await sbx.commands.run('echo out; echo err >&2; id -u')
  show('command', { stdout: cmd.stdout, stderr: cmd.stderr, exitCode: cmd.exitCode })
  let streamed = ''
  const background = await sbx.commands.run('for i in 1 2 3; do echo $i; sleep 0.02; done', {
    background: true,
    onStdout: (data) => { streamed += data },
  })
  show('background', { exitCode: (await background.wait()).exitCode, streamed })

  const events = []
  const watcher = await sbx.files.watchDir('/home/user', (e) => events.push(`${e.type}:${e.name}`))
  await sbx.files.write('notes.txt', 'from js')
  for (let i = 0; i < 50 && !events.some((e) => e.endsWith(':notes.txt')); i++) await pause(20)
  await watcher.stop()
  show('files', {
    read: await sbx.files.read('notes.txt'),
    listed: (await sbx.files.list('/home/user')).map((e) => e.name),
    events,
  })

  let terminal = ''
  const pty = await sbx.pty.create({
    cols: 100, rows: 30,
    onData: (data) => { terminal += new TextDecoder().decode(data) },
  })
  await sbx.pty.sendInput(pty.pid, new TextEncoder().encode('stty size; exit\n'))
  await pty.wait().catch(() => {})
  show('pty', { sawSize: terminal.includes('30 100') })

  const snapshot = await sbx.createSnapshot()
  const copy = await Sandbox.create(snapshot.snapshotId, { timeoutMs: 60_000 })
  made.push(copy)
  show('snapshot', { copyX: (await copy.runCode('x')).text, copyFile: await copy.files.read('notes.txt') })

  const forks = await Sandbox.fork(sbx.sandboxId, { count: 2 })
  const started = forks.filter((f) => f instanceof Sandbox)
  made.push(...started)
  const grown = []
  for (const [i, fork] of started.entries()) grown.push((await fork.runCode(`x += ${i + 1}\nx`)).text)
  show('fork', { grown, sourceX: (await sbx.runCode('x')).text })

  await sbx.pause()
  const info = await Sandbox.getInfo(sbx.sandboxId)
  const again = await Sandbox.connect(sbx.sandboxId)
  show('pause', { state: info.state, metadata: info.metadata, afterX: (await again.runCode('x')).text })
} finally {
  for (const sandbox of made) await sandbox.kill()
}
show('killed', { listed: (await Sandbox.list().nextItems()).map((s) => s.sandboxId).filter((id) => id === sbx.sandboxId) })
