// Scenario `mem`: resident memory of a proxy against idle and hostile clients: per idle proxied
// connection pair, per connection holding an unfinished Bolt frame (slowloris, and a trickle of
// single bytes), and before / at the peak of / after a churn of 100,000 short connections.
// The hostile figures extend `mem` rather than starting a `mem-hostile` beside it: every figure
// is the ΔRSS of the same proxies started with the same config, the peers are measured in the
// same run, and one chart (the scenario's) puts the per-connection costs side by side.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatValue } from '../lib/chart';
import { ensureBuilt, runXload, startResponder, type Responder, type XloadResult } from '../lib/loadgen';
import { ROOT } from '../lib/paths';
import { ALL_PATHS, hardNofile, PATH_COLORS, PathName, RunningPath, startPath, stopPath, unavailable, type Route } from '../lib/peers';
import { cpuUsExact, ctxSwitches, hasIoUring, rssBytes } from '../lib/procfs';
import { sleep, stop } from '../lib/procs';
import { SlowClients } from '../lib/slowclients';
import { portSockets } from '../lib/sockets';
import type { BenchOptions, Scenario, ScenarioResult, Table } from '../lib/types';

const WANT_CONNS = 10_000;
const SETTLE_MS = 1000;
/** window over which wakeups and CPU of the idle proxy are counted */
const WAKE_MS = 3000;

const MODES = ['idle', 'slowloris', 'trickle', 'churn'] as const;
type Mode = (typeof MODES)[number];

const FIXTURES = path.join(ROOT, 'bench', 'fixtures');
const REQ_FILE = path.join(FIXTURES, 'bolt-req-1k.bin');
const RESP_FILE = path.join(FIXTURES, 'bolt-resp-1k.bin');
/** Bolt v1 request header: 22 bytes, then className, the header map and the content */
const BOLT_HDR = 22;
/** slowloris: each client announces a frame with this much after the header ... */
const SLOW_BODY = 64 * 1024;
/** ... sends this much of it and stops */
const SLOW_SENT = 16 * 1024;
const SLOW_CONNS = { full: 2000, quick: 200 };
/** xmesh's listener for them: set explicitly, above the frame (x_proxy refuses a frame above it) */
const SLOW_BUFFER_LIMIT = 1024 * 1024;
/** xmesh closes a frame left unfinished this long (default 30 s): here above any measurement,
 * so a slow host does not cut one short */
const SLOW_FRAME_TIMEOUT = '60s';
/** trickle: after the header, this many rounds of one byte per connection; the RSS is taken
 * after the rounds that are a power of two (1, 2, 4, ...) */
const TRICKLE_ROUNDS = 64;
/** the round a column of the trickle table shows besides the last */
const TRICKLE_EARLY = 8;
const CHURN = { full: 100_000, quick: 5000, concurrency: 500, maxSeconds: 120 };

/** Waiting on conditions (never a fixed sleep): each bounded. */
const DRAIN_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 10_000;
const RSS_POLL_MS = 200;
/** RSS has settled when two polls in a row differ by less than this */
const RSS_STABLE_BYTES = 64 * 1024;
const RSS_SETTLE_MAX_MS = 3000;

interface MemSample {
  path: PathName;
  conns: number;
  answered: number;
  idleRss: number;
  loadedRss: number;
  bytesPerConn: number;
  /** context switches/s and CPU µs/s of the proxy over WAKE_MS, without and with the conns */
  idleWakeups: number;
  loadedWakeups: number;
  idleCpu: number;
  loadedCpu: number;
}

interface SlowSample {
  path: PathName;
  /** clients connected, and still open when the RSS was taken */
  conns: number;
  alive: number;
  idleRss: number;
  heldRss: number;
  /** bytes the proxy had not read (its sockets' receive queues), and its upstream connections */
  unread: number;
  upstreamConns: number;
  /** once every client closed and the proxy closed its side */
  afterRss: number;
  leftOpen: number;
  /** the same clients again on the same proxy: does memory not returned get reused (the
   * allocator kept it) or does it add up (a leak)? */
  held2Rss: number;
  after2Rss: number;
}

interface TrickleSample {
  path: PathName;
  conns: number;
  alive: number;
  idleRss: number;
  /** RSS once every client sent the 22 B header, then after rounds 1, 2, 4, ... of one byte */
  headerRss: number;
  roundRss: { round: number; rss: number }[];
  unread: number;
  afterRss: number;
}

interface ChurnSample {
  path: PathName;
  lg: XloadResult;
  beforeRss: number;
  peakRss: number;
  afterRss: number;
  leftOpen: number;
  /** a second churn of as many on the same proxy: a leak adds up, memory the allocator kept is reused */
  lg2: XloadResult;
  after2Rss: number;
}

interface Upstreams {
  /** 16 B request / 16 B response, for the idle connections (tcp_proxy) */
  echo: Responder;
  /** discards what it gets: where an L4 proxy sends the slow clients' bytes */
  sink: Responder;
  /** Bolt: the captured 1 KiB response with the request's id, for the churn */
  bolt: Responder;
}

/** How often pid is scheduled, and what it burns, while nothing happens. */
async function idleCost(pid: number): Promise<{ wakeups: number; cpu: number }> {
  const c0 = ctxSwitches(pid);
  const u0 = cpuUsExact(pid);
  await sleep(WAKE_MS);
  return { wakeups: ((ctxSwitches(pid) - c0) * 1000) / WAKE_MS, cpu: ((cpuUsExact(pid) - u0) * 1000) / WAKE_MS };
}

/** RSS once it stops moving: polled until two samples in a row agree (bounded). */
async function settledRss(pid: number): Promise<number> {
  let last = rssBytes(pid);
  const t0 = Date.now();
  for (;;) {
    await sleep(RSS_POLL_MS);
    const now = rssBytes(pid);
    if (Math.abs(now - last) < RSS_STABLE_BYTES || Date.now() - t0 > RSS_SETTLE_MAX_MS) return now;
    last = now;
  }
}

/** Waits until the clients of port have nothing left to send and the proxy has read all it
 * received; returns the bytes still unread by the proxy (0 unless the wait timed out). */
async function drained(port: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const [s] = portSockets(port);
    if ((s.localRx === 0 && s.remoteTx === 0) || Date.now() - t0 > DRAIN_TIMEOUT_MS) return s.localRx;
    await sleep(20);
  }
}

/** Waits until the proxy holds no connection on port; returns how many it still held. */
async function closedOn(port: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const [s] = portSockets(port);
    if (s.local === 0 || Date.now() - t0 > CLOSE_TIMEOUT_MS) return s.local;
    await sleep(50);
  }
}

/** A Bolt v1 request announcing SLOW_BODY bytes after its header: the captured request's
 * header, className and header map, its content length raised, the content padded. Clients
 * only ever send a prefix of it. */
function unfinishedBoltFrame(): Buffer {
  const fx = fs.readFileSync(REQ_FILE);
  const classLen = fx.readUInt16BE(14);
  const headerLen = fx.readUInt16BE(16);
  const head = Buffer.from(fx.subarray(0, BOLT_HDR));
  head.writeUInt32BE(SLOW_BODY - classLen - headerLen, 18); // contentLen
  const body = Buffer.alloc(SLOW_BODY, 0x5a);
  fx.copy(body, 0, BOLT_HDR, BOLT_HDR + classLen + headerLen);
  return Buffer.concat([head, body]);
}

function routes(up: Upstreams): Route[] {
  return [
    { name: 'mem', upstreamPort: up.echo.port },
    { name: 'slow', upstreamPort: up.sink.port, xproxy: 'bolt', bufferLimitBytes: SLOW_BUFFER_LIMIT, frameTimeout: SLOW_FRAME_TIMEOUT },
    { name: 'rpc', upstreamPort: up.bolt.port, xproxy: 'bolt' },
  ];
}

async function measureIdle(p: RunningPath, conns: number, o: BenchOptions, notes: string[]): Promise<MemSample> {
  const pid = p.proc!.pid;
  await sleep(SETTLE_MS);
  const idleRss = rssBytes(pid);
  const idle = await idleCost(pid);
  let loadedRss = 0;
  let loaded = { wakeups: NaN, cpu: NaN };
  let answered = 0;
  // the connections stay open while the RSS settles and the wakeup window runs
  const duration = Math.max(o.duration, Math.ceil((SETTLE_MS + WAKE_MS) / 1000) + 1);
  const lg = await runXload(
    { target: `127.0.0.1:${p.ports.mem}`, conns, idle: true, duration, reqSize: 16, respSize: 16, cpu: o.loadgenCpu },
    path.join(o.workdir, `xload-mem-${p.name}.log`),
    {
      onReady: async (s) => {
        const ready = s.lines.find((l) => l.includes('"ready"'));
        answered = ready ? (JSON.parse(ready) as { answered: number }).answered : 0;
        await sleep(SETTLE_MS);
        loadedRss = rssBytes(pid);
        loaded = await idleCost(pid);
      },
    },
  );
  if (answered < conns) notes.push(`${p.name}: only ${answered} of ${conns} connections completed an exchange`);
  const s: MemSample = {
    path: p.name, conns, answered, idleRss, loadedRss, bytesPerConn: (loadedRss - idleRss) / Math.max(1, answered),
    idleWakeups: idle.wakeups, loadedWakeups: loaded.wakeups, idleCpu: idle.cpu, loadedCpu: loaded.cpu,
  };
  o.log(`${p.name} idle: idle ${mib(idleRss)} MiB, with ${answered} conns ${mib(loadedRss)} MiB, ` +
    `${s.bytesPerConn.toFixed(0)} B/conn pair, wakeups/s ${s.idleWakeups.toFixed(1)} idle, ${s.loadedWakeups.toFixed(1)} with conns ` +
    `(errors ${lg.errors})`);
  return s;
}

/** n clients each send the header and SLOW_SENT bytes of an unfinished frame, and hold. */
async function measureSlowloris(p: RunningPath, up: Upstreams, n: number, frame: Buffer, o: BenchOptions): Promise<SlowSample> {
  const pid = p.proc!.pid;
  const port = p.ports.slow;
  await sleep(SETTLE_MS);
  const idleRss = await settledRss(pid);
  const wave = async () => {
    const cl = await SlowClients.open(port, n);
    try {
      await cl.send(frame.subarray(0, BOLT_HDR + SLOW_SENT));
      const unread = await drained(port);
      const heldRss = await settledRss(pid);
      return { heldRss, unread, upstreamConns: portSockets(up.sink.port)[0].remote, alive: cl.alive };
    } finally {
      await cl.close();
    }
  };
  const w1 = await wave();
  const leftOpen = await closedOn(port);
  const afterRss = await settledRss(pid);
  const w2 = await wave();
  await closedOn(port);
  const after2Rss = await settledRss(pid);
  const s: SlowSample = { path: p.name, conns: n, alive: w1.alive, idleRss, heldRss: w1.heldRss, unread: w1.unread, upstreamConns: w1.upstreamConns,
    afterRss, leftOpen, held2Rss: w2.heldRss, after2Rss };
  o.log(`${p.name} slowloris: idle ${mib(idleRss)} MiB, holding ${w1.alive} ${mib(w1.heldRss)} MiB ` +
    `(${perConn(w1.heldRss - idleRss, n)} B/conn, unread ${w1.unread} B, ${w1.upstreamConns} upstream conns), after close ${mib(afterRss)} MiB; ` +
    `again: holding ${mib(w2.heldRss)} MiB, after close ${mib(after2Rss)} MiB`);
  return s;
}

/** n clients each send the 22 B header, then one byte per round: RSS must follow the bytes
 * (a few per connection), not the reads (one per byte). */
async function measureTrickle(p: RunningPath, n: number, frame: Buffer, o: BenchOptions): Promise<TrickleSample> {
  const pid = p.proc!.pid;
  const port = p.ports.slow;
  await sleep(SETTLE_MS);
  const idleRss = await settledRss(pid);
  const cl = await SlowClients.open(port, n);
  const roundRss: { round: number; rss: number }[] = [];
  let headerRss: number, unread = 0, alive: number;
  try {
    await cl.send(frame.subarray(0, BOLT_HDR));
    unread += await drained(port);
    headerRss = await settledRss(pid);
    for (let r = 1; r <= TRICKLE_ROUNDS; r++) {
      await cl.send(frame.subarray(BOLT_HDR + r - 1, BOLT_HDR + r));
      unread += await drained(port);
      if ((r & (r - 1)) === 0 || r === TRICKLE_ROUNDS) roundRss.push({ round: r, rss: await settledRss(pid) });
    }
    alive = cl.alive;
  } finally {
    await cl.close();
  }
  await closedOn(port);
  const afterRss = await settledRss(pid);
  const s: TrickleSample = { path: p.name, conns: n, alive, idleRss, headerRss, roundRss, unread, afterRss };
  o.log(`${p.name} trickle: header ${perConn(headerRss - idleRss, n)} B/conn; B/conn more after r single bytes: ` +
    roundRss.map((x) => `${x.round}:${perConn(x.rss - headerRss, n)}`).join(' '));
  return s;
}

/** total connections, CHURN.concurrency at a time, each one Bolt request and close; twice. */
async function measureChurn(p: RunningPath, total: number, o: BenchOptions): Promise<ChurnSample> {
  const pid = p.proc!.pid;
  await sleep(SETTLE_MS);
  const beforeRss = await settledRss(pid);
  let peakRss = beforeRss;
  const churn = async (n: number) => {
    const poll = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 100);
    try {
      return await runXload(
        { target: `127.0.0.1:${p.ports.rpc}`, conns: CHURN.concurrency, churn: total, duration: CHURN.maxSeconds, reqFile: REQ_FILE,
          respSize: fs.statSync(RESP_FILE).size, cpu: o.loadgenCpu },
        path.join(o.workdir, `xload-churn-${p.name}-${n}.log`),
      );
    } finally {
      clearInterval(poll);
      peakRss = Math.max(peakRss, rssBytes(pid));
    }
  };
  const lg = await churn(1);
  const leftOpen = await closedOn(p.ports.rpc);
  const afterRss = await settledRss(pid);
  const peak1 = peakRss;
  const lg2 = await churn(2);
  await closedOn(p.ports.rpc);
  const after2Rss = await settledRss(pid);
  o.log(`${p.name} churn: ${lg.requests} of ${total} in ${lg.duration_s.toFixed(1)} s (errors ${lg.errors}), RSS before ` +
    `${mib(beforeRss)} peak ${mib(peak1)} after ${mib(afterRss)} MiB; again: ${lg2.requests} (errors ${lg2.errors}), after ${mib(after2Rss)} MiB`);
  return { path: p.name, lg, beforeRss, peakRss: peak1, afterRss, leftOpen, lg2, after2Rss };
}

const mib = (b: number) => (b / 1048576).toFixed(1);
const perConn = (b: number, n: number) => Math.round(b / Math.max(1, n));
const label = (p: PathName) => (p.startsWith('xmesh') ? `${p} (x_proxy)` : `${p} (L4)`);

export const scenario: Scenario = {
  name: 'mem',
  description: `RSS per idle proxied connection (${WANT_CONNS}), per slowloris connection holding an unfinished Bolt frame, ` +
    `and around a churn of ${CHURN.full} connections; xmesh vs haproxy vs nginx`,
  defaults: { duration: 3, warmup: 0, runs: 1 },
  async run(o: BenchOptions): Promise<ScenarioResult> {
    ensureBuilt(o.log);
    const notes: string[] = [];
    const bad = o.modes.filter((m) => !(MODES as readonly string[]).includes(m));
    if (bad.length) throw new TypeError(`--modes: mem has ${MODES.join(', ')}; got ${bad.join(', ')}`);
    const modes = new Set<Mode>((o.modes.length ? o.modes : MODES) as Mode[]);
    // every proxied connection costs the proxy two fds; without CAP_SYS_RESOURCE the hard
    // RLIMIT_NOFILE caps what we can ask for
    const hard = hardNofile();
    const conns = o.quick ? 1000 : Math.min(WANT_CONNS, Math.floor((hard - 256) / 2));
    if (modes.has('idle') && conns < WANT_CONNS && !o.quick) {
      notes.push(`RLIMIT_NOFILE hard limit ${hard} (no CAP_SYS_RESOURCE to raise it): ${conns} connections instead of ${WANT_CONNS}`);
    }
    const slowConns = o.quick ? SLOW_CONNS.quick : SLOW_CONNS.full;
    const churnTotal = o.quick ? CHURN.quick : CHURN.full;
    const wanted = (o.paths.length ? o.paths : ALL_PATHS.filter((p) => p !== 'direct' && p !== 'xmesh-cubic')) as PathName[];
    const paths = wanted.filter((p) => {
      const why = p === 'direct' ? 'nothing to measure without a proxy' : unavailable(p);
      if (why) notes.push(`path ${p} skipped: ${why}`);
      return !why;
    });
    const frame = unfinishedBoltFrame();
    const bound = paths.length * (o.duration + 60 * modes.size + 60) + 60;
    const upLog = (n: string) => path.join(o.workdir, `xresp-${n}.log`);
    const started: Responder[] = [];
    const samples: MemSample[] = [];
    const slow: SlowSample[] = [];
    const trickle: TrickleSample[] = [];
    const churn: ChurnSample[] = [];
    try {
      const echo = await startResponder({ reqSize: 16, respSize: 16, cpu: o.serverCpu, maxSeconds: bound }, upLog('echo'));
      started.push(echo);
      const sink = await startResponder({ bulk: 'sink', cpu: o.serverCpu, maxSeconds: bound }, upLog('sink'));
      started.push(sink);
      const bolt = await startResponder({ reqSize: fs.statSync(REQ_FILE).size, replyFile: RESP_FILE, echoId: '5:4', cpu: o.serverCpu, maxSeconds: bound },
        upLog('bolt'));
      started.push(bolt);
      const up: Upstreams = { echo, sink, bolt };
      for (const name of paths) {
        for (const mode of MODES) {
          if (!modes.has(mode)) continue;
          // a proxy of its own per figure: each starts from the same baseline, none reuses
          // memory another figure's connections left behind
          let p: RunningPath;
          try {
            p = await startPath(name, routes(up), { cpu: o.serverCpu, workdir: o.workdir, maxConns: Math.max(conns, slowConns, CHURN.concurrency) });
          } catch (e) {
            notes.push(`${name}: did not start: ${(e as Error).message}`);
            continue;
          }
          try {
            if (name.startsWith('xmesh') && name !== 'xmesh-epoll' && !hasIoUring(p.proc!.pid)) {
              notes.push(`${name}: runs without io_uring (--io-backend auto fell back to epoll)`);
            }
            if (mode === 'idle') samples.push(await measureIdle(p, conns, o, notes));
            else if (mode === 'slowloris') slow.push(await measureSlowloris(p, up, slowConns, frame, o));
            else if (mode === 'trickle') trickle.push(await measureTrickle(p, slowConns, frame, o));
            else churn.push(await measureChurn(p, churnTotal, o));
          } catch (e) {
            notes.push(`${name} ${mode}: ${(e as Error).message}`);
          } finally {
            await stopPath(p);
          }
        }
      }
    } finally {
      for (const r of started) await stop(r.proc);
    }
    const tables: Table[] = [];
    if (modes.has('idle')) {
      tables.push({
        title: `idle RSS and RSS with ${conns} idle proxied connections (tcp_proxy; each did one 16 B exchange first)`,
        columns: ['path', 'conns', 'idle RSS MiB', 'loaded RSS MiB', 'delta MiB', 'bytes/conn pair', 'wakeups/s idle', 'wakeups/s w/ conns',
          'cpu us/s idle', 'cpu us/s w/ conns'],
        rows: samples.map((s) => [s.path, s.answered, s.idleRss / 1048576, s.loadedRss / 1048576, (s.loadedRss - s.idleRss) / 1048576, Math.round(s.bytesPerConn),
          s.idleWakeups, s.loadedWakeups, s.idleCpu, s.loadedCpu]),
      });
    }
    if (modes.has('slowloris')) {
      tables.push({
        title: `slowloris: ${slowConns} clients each send a Bolt header announcing ${SLOW_BODY / 1024} KiB, then ${SLOW_SENT / 1024} KiB of it, and stop`,
        columns: ['path', 'held', 'idle RSS MiB', 'holding MiB', 'delta MiB', 'bytes/conn', 'unread B/conn', 'upstream conns',
          'after close MiB', 'after - idle MiB', 'left B/conn'],
        rows: slow.map((s) => [label(s.path), s.alive, s.idleRss / 1048576, s.heldRss / 1048576, (s.heldRss - s.idleRss) / 1048576,
          perConn(s.heldRss - s.idleRss, s.conns), perConn(s.unread, s.conns), s.upstreamConns, s.afterRss / 1048576,
          (s.afterRss - s.idleRss) / 1048576, perConn(s.afterRss - s.idleRss, s.conns)]),
      });
      tables.push({
        title: 'slowloris, return to baseline: the same clients twice on one proxy (RSS - idle RSS, MiB)',
        columns: ['path', 'holding', 'after close', 'holding again', 'after close again', 'still open after close'],
        rows: slow.map((s) => [label(s.path), (s.heldRss - s.idleRss) / 1048576, (s.afterRss - s.idleRss) / 1048576,
          (s.held2Rss - s.idleRss) / 1048576, (s.after2Rss - s.idleRss) / 1048576, s.leftOpen]),
      });
    }
    if (modes.has('trickle')) {
      tables.push({
        title: `trickle: ${slowConns} clients each send the ${BOLT_HDR} B header of that frame, then 1 byte per round, ${TRICKLE_ROUNDS} rounds`,
        columns: ['path', 'held', 'bytes/conn after header', '+ after 1 more B', `+ after ${TRICKLE_EARLY} more B`, `+ after ${TRICKLE_ROUNDS} more B`,
          `growth B per 1-byte read (rounds 2-${TRICKLE_ROUNDS})`, 'after close - idle MiB'],
        rows: trickle.map((s) => {
          const at = (r: number) => s.roundRss.find((x) => x.round === r)?.rss ?? NaN;
          // From round 1 on: the first byte may take a buffer (an io_uring connection copies
          // a trickle into a chunk of its own), what matters is whether each read adds more.
          return [label(s.path), s.alive, perConn(s.headerRss - s.idleRss, s.conns), perConn(at(1) - s.headerRss, s.conns),
            perConn(at(TRICKLE_EARLY) - s.headerRss, s.conns), perConn(at(TRICKLE_ROUNDS) - s.headerRss, s.conns),
            (at(TRICKLE_ROUNDS) - at(1)) / (s.conns * (TRICKLE_ROUNDS - 1)), (s.afterRss - s.idleRss) / 1048576];
        }),
      });
    }
    if (modes.has('churn')) {
      tables.push({
        title: `churn: ${churnTotal} connections, ${CHURN.concurrency} at a time, each one 1 KiB Bolt request and its response, then close`,
        columns: ['path', 'done', 'errors', 'conn/s', 'before MiB', 'peak MiB', 'after MiB', 'after - before MiB', 'still open',
          'after 2nd churn - before MiB'],
        rows: churn.map((s) => [label(s.path), s.lg.requests, s.lg.errors, Math.round(s.lg.rps), s.beforeRss / 1048576, s.peakRss / 1048576,
          s.afterRss / 1048576, (s.afterRss - s.beforeRss) / 1048576, s.leftOpen, (s.after2Rss - s.beforeRss) / 1048576]),
      });
      for (const s of churn) {
        for (const [i, lg] of [s.lg, s.lg2].entries()) {
          if (lg.requests < churnTotal) notes.push(`${s.path} churn ${i + 1}: ${lg.requests} of ${churnTotal} exchanges completed within ${CHURN.maxSeconds} s ` +
            `(opened ${lg.opened}, connect() refused ${lg.connect_errors}, errors ${lg.errors})`);
        }
      }
    }
    notes.push('RSS is VmRSS of the proxy process plus its direct children (nginx master + worker); kernel socket buffers are not in RSS. ' +
      'Each figure runs on a proxy started for it, after 1 s idle; an RSS is taken once two polls 200 ms apart agree within 64 KiB.');
    if (modes.has('idle')) {
      notes.push(`wakeups/s = context switches of all the proxy's threads (and children) over ${WAKE_MS / 1000} s with no traffic, before and while the ` +
        `connections are open; cpu us/s = its CPU time over the same window (per-thread schedstat, ns).`);
    }
    if (modes.has('slowloris') || modes.has('trickle')) {
      notes.push(`slowloris and trickle go to an xmesh.x_proxy Bolt listener (per_connection_buffer_limit_bytes ${SLOW_BUFFER_LIMIT}, frame_timeout ` +
        `${SLOW_FRAME_TIMEOUT}; the default 30 s would close them sooner), which must hold the unfinished frame until it is whole. HAProxy and ` +
        'nginx are L4: they pass the bytes on to the upstream (a sink) as they come and hold nothing of the frame; "upstream conns" are the ' +
        "proxy's connections to the sink, \"unread\" the bytes left in the proxy's socket receive queues when the RSS was taken (0: it had read everything).");
      notes.push('"after close" is taken once the proxy closed its side of every client connection; "left" = (after close - idle RSS) / clients: memory not returned. ' +
        'Then the same clients come again on the same proxy: if the second wave holds no more than the first, what was not returned is ' +
        'kept by the allocator for reuse; if it adds up, it leaked.');
    }
    if (modes.has('trickle')) {
      notes.push(`trickle: each round is one 1-byte read per connection (the round is read before the next is sent); "+ after N more B" = ` +
        `(RSS after round N - RSS after the header) / clients; "growth per 1-byte read" = (RSS after round ${TRICKLE_ROUNDS} - RSS after round 1) / ` +
        `clients / ${TRICKLE_ROUNDS - 1} (the first byte may take a buffer of its own): about 1 if memory follows the bytes, more if every read costs memory of its own.`);
    }
    if (modes.has('churn')) {
      notes.push(`churn: xload --churn (loopback, ${CHURN.concurrency} connections at a time, at most ${CHURN.maxSeconds} s), to the x_proxy Bolt listener ` +
        '(xmesh routes each request at L7 over one multiplexed upstream connection; the L4 peers open an upstream connection per client); ' +
        'peak = highest RSS polled every 100 ms during the churn; after = once the proxy closed every client connection and the RSS settled. ' +
        'Then a second churn of as many on the same proxy: what a leak leaves adds up, what the allocator keeps is reused.');
    }
    const slowOf = (p: PathName) => slow.find((s) => s.path === p);
    const idleOf = (p: PathName) => samples.find((s) => s.path === p);
    const charted = paths.filter((p) => slowOf(p) || idleOf(p));
    const groups: string[] = [];
    const cols: ((p: PathName) => number | null)[] = [];
    if (samples.length) {
      groups.push(`idle connection pair (${formatValue(samples[0].answered)})`);
      cols.push((p) => (idleOf(p) ? Math.round(idleOf(p)!.bytesPerConn) : null));
    }
    if (slow.length) {
      groups.push(`holding ${SLOW_SENT / 1024} KiB of a ${SLOW_BODY / 1024} KiB frame (${formatValue(slowConns)})`);
      cols.push((p) => (slowOf(p) ? perConn(slowOf(p)!.heldRss - slowOf(p)!.idleRss, slowConns) : null));
      groups.push('left after those clients closed');
      cols.push((p) => (slowOf(p) ? perConn(slowOf(p)!.afterRss - slowOf(p)!.idleRss, slowConns) : null));
    }
    const chart = groups.length ? {
      title: 'mem: proxy memory per connection, idle and slowloris (lower is better)',
      axis: 'bytes per connection (ΔRSS ÷ connections)',
      groups,
      series: charted.map((p) => ({ name: p.startsWith('xmesh') && slowOf(p) ? `${p} (x_proxy for slowloris)` : p, values: cols.map((f) => f(p)),
        color: PATH_COLORS[p] })),
    } : undefined;
    return { tables, notes, data: { conns, slowConns, churnTotal, samples, slowloris: slow, trickle, churn }, chart };
  },
};
