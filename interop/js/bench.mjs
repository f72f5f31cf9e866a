#!/usr/bin/env node
// Throughput benchmark: paid requests per second of `mppsol serve` against the @solana/mpp server
// (server.mjs), in one run, on one `mppsol localnet`, with one load generator.
//
// Both servers: one route priced at 25000 base units of the localnet's dev USDC (SPL Token,
// 6 decimals), pull mode, fees sponsored by a server key, each paid request forwarded to the same
// trivial upstream (upstream.mjs). Every paid request is a 402, a signed transaction built from
// the challenge, and the paid retry. Rounds alternate which server goes first; the figure is the
// median over rounds. Every 200 is checked against the chain at the end: the recipient's USDC
// balance must have grown by exactly price × (paid requests).
//
// Load generator (--loadgen):
// - `rust` (default): `mppsol bench`, a Rust client (mppsol's PayingClient) run as its own
//   process per round: payers, signers and the mint's facts are prepared before the clock
//   starts, so what is measured is mostly the servers; it reports its own CPU, the server's,
//   the localnet's and the upstream's over the measured window (from /proc).
// - `sdk`: @solana/mpp's own client (the mppx plugin) in --threads worker threads
//   (loadgen.mjs). It costs ~6 ms of CPU per payment, so it is itself the bottleneck on 2 vCPUs;
//   kept to show how each server fares with the SDK's client (see BENCHMARKS.md).
//
// Payers (sdk load generator): a pool of --payers keys taken least-recently-used first, so no
// two in-flight payments share a token account and no payer pays again within --reuse-ms of its
// last payment (the SDK's transaction for the same payer, amount and blockhash is
// byte-identical). The Rust load generator takes payers least-recently-used first too; its
// transactions carry mppsol's per-challenge reference key when the challenge has one.
//
// Blockhash (--blockhash, sdk load generator only): `challenge` (default) is the SDK client as
// shipped: it signs with the challenge's advisory `recentBlockhash`. `client` builds the same
// transaction with the SDK's public `buildChargeTransaction` after dropping that hint, so the
// SDK fetches a blockhash itself. The Rust load generator uses the challenge's blockhash.
//
// Usage: node bench.mjs --mppsol PATH/TO/release/mppsol [--loadgen rust|sdk] [--concurrency 16]
//          [--threads 1] [--duration 15] [--warmup 3] [--runs 5] [--payers 4096]
//          [--reuse-ms 6000] [--blockhash challenge|client] [--out results.json]
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { createKeyPairSignerFromBytes } from '@solana/kit';

import { die, parseArgs } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const mppsolBin = args.mppsol ?? die('--mppsol PATH (a release build of mppsol) is required');
const concurrency = Number(args.concurrency ?? '16');
const threads = Number(args.threads ?? '1');
const duration = Number(args.duration ?? '15');
const warmup = Number(args.warmup ?? '3');
const runs = Number(args.runs ?? '5');
const payerCount = Number(args.payers ?? '4096');
const reuseMs = Number(args['reuse-ms'] ?? '6000');
const blockhashMode = args.blockhash ?? 'challenge';
const loadgen = args.loadgen ?? 'rust';
if (!['rust', 'sdk'].includes(loadgen)) die('--loadgen is `rust` or `sdk`');
if (!['challenge', 'client'].includes(blockhashMode)) die('--blockhash is `challenge` or `client`');
const PRICE = 25_000n;
const CLK_TCK = 100; // Linux USER_HZ

const children = [];
const dir = mkdtempSync(path.join(os.tmpdir(), 'mppsol-bench-'));
function cleanup() {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { force: true, recursive: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** Spawns a process that prints one JSON line when ready; resolves with [child, json]. */
function spawnReady(cmd, argv, opts = {}) {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    children.push(child);
    return new Promise((resolve, reject) => {
        const rl = createInterface({ input: child.stdout });
        rl.once('line', line => resolve([child, JSON.parse(line)]));
        child.once('exit', code => reject(new Error(`${cmd} exited (${code}) before it was ready`)));
    });
}

function spawnPlain(cmd, argv) {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(child);
    return child;
}

async function freePort() {
    return await new Promise(resolve => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

async function waitListening(port, child) {
    const deadline = Date.now() + 60_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode})`);
        const ok = await new Promise(resolve => {
            const s = net.connect(port, '127.0.0.1', () => {
                s.end();
                resolve(true);
            });
            s.on('error', () => resolve(false));
        });
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`port ${port} never opened`);
        await new Promise(r => setTimeout(r, 50));
    }
}

let rpcUrl;
async function rpc(method, params) {
    const res = await fetch(rpcUrl, {
        body: JSON.stringify({ id: 1, jsonrpc: '2.0', method, params }),
        headers: { 'content-type': 'application/json' },
        method: 'POST',
    });
    const json = await res.json();
    if (json.error) throw new Error(`${method}: ${JSON.stringify(json.error)}`);
    return json.result;
}

/** A new keypair (Solana CLI 64-byte form), its signer, and (when named) its key file. */
async function newKey(name) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
    const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const bytes = Uint8Array.from([...seed, ...pub]);
    let file;
    if (name) {
        file = path.join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify([...bytes]), { mode: 0o600 });
    }
    return { bytes, file, signer: await createKeyPairSignerFromBytes(bytes) };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds the whole machine has spent busy so far (all CPUs, from /proc/stat). */
function machineBusySeconds() {
    const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
        .split('\n')[0]
        .trim()
        .split(/\s+/)
        .map(Number);
    return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

function report(r, t, res) {
    process.stderr.write(
        `round ${r + 1} ${t.name}: ${res.rps.toFixed(1)} paid req/s, p50 ${res.p50_ms?.toFixed(1)} ms, ` +
            `p99 ${res.p99_ms?.toFixed(1)} ms, reuse waits ${res.reuse_waits}, server CPU ${res.server_cpu_ms_per_paid?.toFixed(2)} ms/paid, ` +
            `cpu s ${JSON.stringify(res.cpu_s)}, errors ${JSON.stringify(res.errors)}\n`,
    );
}

function percentile(sorted, p) {
    if (sorted.length === 0) return null;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Starts the load-generator threads, each with its share of payers and loops. */
async function startThreads(keys) {
    const workers = [];
    for (let t = 0; t < threads; t += 1) {
        const worker = new Worker(path.join(here, 'loadgen.mjs'), {
            workerData: {
                blockhashMode,
                concurrency: Math.floor(concurrency / threads) + (t < concurrency % threads ? 1 : 0),
                keys: keys.filter((_, i) => i % threads === t).map(k => [...k]),
                reuseMs,
                rpcUrl,
            },
        });
        await new Promise((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
        });
        workers.push(worker);
    }
    return workers;
}

/** Every thread pays `url` for `seconds`; their counts merged. */
async function load(workers, url, seconds) {
    const parts = await Promise.all(
        workers.map(
            w =>
                new Promise((resolve, reject) => {
                    w.once('message', resolve);
                    w.once('error', reject);
                    w.postMessage({ seconds, url });
                }),
        ),
    );
    const errors = {};
    for (const p of parts) for (const [k, n] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + n;
    const latencies = parts.flatMap(p => p.latencies).sort((a, b) => a - b);
    const ok = parts.reduce((n, p) => n + p.ok, 0);
    const secs = Math.max(...parts.map(p => p.seconds));
    return {
        errors,
        ok,
        p50_ms: percentile(latencies, 50),
        p99_ms: percentile(latencies, 99),
        reuse_waits: parts.reduce((n, p) => n + p.reuse_waits, 0),
        rps: ok / secs,
        seconds: secs,
    };
}

/** Runs `mppsol bench` against one server for `seconds` (after `warm` unmeasured seconds). */
async function loadRust(ctx, t, seconds, warm) {
    const argv = ['bench', t.url, '--payers', ctx.payersFile, '--rpc-url', rpcUrl, '--mint', ctx.mint];
    argv.push('--concurrency', String(concurrency), '--duration', String(seconds), '--warmup', String(warm));
    argv.push('--server-pid', String(t.pid));
    for (const [name, pid] of Object.entries(ctx.watch)) argv.push('--watch-pid', `${name}=${pid}`);
    const child = spawn(mppsolBin, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', d => {
        out += d;
    });
    const code = await new Promise(resolve => child.once('exit', resolve));
    if (code !== 0) throw new Error(`mppsol bench exited with ${code}`);
    const r = JSON.parse(out);
    const cpu = { loadgen: r.loadgen_cpu_s, server: r.server_cpu_s };
    for (const name of Object.keys(ctx.watch)) cpu[name] = r.cpu_s[name];
    cpu.other = r.cpu_s.machine - Object.values(cpu).reduce((a, b) => a + b, 0);
    for (const k of Object.keys(cpu)) cpu[k] = Number(cpu[k].toFixed(2));
    return {
        cpu_s: cpu,
        errors: r.errors,
        loadgen_cpu_ms_per_paid: r.loadgen_cpu_ms_per_paid,
        ok: r.ok,
        p50_ms: r.p50_ms,
        p99_ms: r.p99_ms,
        paid_total: r.ok + r.warmup_ok,
        reuse_waits: 0,
        rps: r.rps,
        seconds: r.seconds,
        server_cpu_ms_per_paid: r.server_cpu_ms_per_paid,
    };
}

async function main() {
    // 1. The chain, the upstream, the keys.
    // LiteSVM logs every refused blockhash at ERROR; keep the console (and its CPU) quiet.
    const [localnet, chain] = await spawnReady(mppsolBin, ['localnet', '--port', '0', '--json'], {
        env: { ...process.env, MPPSOL_LOG: process.env.MPPSOL_LOG ?? 'warn,litesvm=off' },
    });
    rpcUrl = chain.url;
    const [upstream, up] = await spawnReady(process.execPath, [path.join(here, 'upstream.mjs')]);
    const seller = await newKey('seller');
    const sponsorMppsol = await newKey('sponsor-mppsol');
    const sponsorJs = await newKey('sponsor-js');
    await rpc('mppsol_mintTokens', [seller.signer.address, chain.usdc, 0]);
    for (const s of [sponsorMppsol, sponsorJs]) await rpc('requestAirdrop', [s.signer.address, 1_000_000_000_000]);
    // 2. The payers, funded; each gets its own SDK client in a load-generator thread.
    const keys = [];
    while (keys.length < payerCount) {
        const batch = await Promise.all(
            Array.from({ length: Math.min(64, payerCount - keys.length) }, async () => {
                const { bytes, signer } = await newKey();
                await rpc('mppsol_mintTokens', [signer.address, chain.usdc, 1_000_000_000]);
                return bytes;
            }),
        );
        keys.push(...batch);
    }
    const payersFile = path.join(dir, 'payers.json');
    writeFileSync(payersFile, JSON.stringify(keys.map(k => [...k])), { mode: 0o600 });
    const workers = loadgen === 'sdk' ? await startThreads(keys) : [];
    process.stderr.write(
        `${payerCount} payers funded; load generator: ${loadgen === 'sdk' ? `SDK, ${threads} thread(s)` : 'mppsol bench'}\n`,
    );

    // 3. The two servers.
    const mppsolPort = await freePort();
    const config = path.join(dir, 'mppsol.toml');
    writeFileSync(
        config,
        `realm = "bench.mppsol.test"
upstream = "${up.url}"
database = "sqlite:${path.join(dir, 'seller.db')}"
secret_file = "${path.join(dir, 'challenge.key')}"
receipt_keypair = "${seller.file}"

[solana]
network = "localnet"
rpc_url = "${chain.url}"
recipient = "${seller.signer.address}"
fee_payer_keypair = "${sponsorMppsol.file}"

[[route]]
method = "GET"
path = "/paid"
amount = "${PRICE}"
currency = "${chain.usdc}"
description = "bench"
`,
    );
    const mppsolServe = spawnPlain(mppsolBin, ['serve', '--config', config, '--listen', `127.0.0.1:${mppsolPort}`]);
    await waitListening(mppsolPort, mppsolServe);
    const [jsServer, js] = await spawnReady(process.execPath, [
        path.join(here, 'server.mjs'),
        ...['--rpc-url', chain.url, '--recipient', seller.signer.address, '--mint', chain.usdc],
        ...['--amount', String(PRICE), '--path', '/paid', '--upstream', up.url],
        ...['--fee-payer-keypair', sponsorJs.file],
    ]);
    process.stderr.write(
        `pids: localnet ${localnet.pid}, upstream ${upstream.pid}, mppsol serve ${mppsolServe.pid}, ` +
            `@solana/mpp server ${jsServer.pid}\n`,
    );
    const targets = [
        { name: 'mppsol serve', pid: mppsolServe.pid, url: `http://127.0.0.1:${mppsolPort}/paid` },
        { name: '@solana/mpp server', pid: jsServer.pid, url: `${js.url}/paid` },
    ];

    const sellerAta = await rpc('mppsol_mintTokens', [seller.signer.address, chain.usdc, 0]);
    const balance = async () => BigInt((await rpc('getTokenAccountBalance', [sellerAta])).value.amount);
    const before = await balance();
    let paid = 0;

    const ctx = { mint: chain.usdc, payersFile, watch: { localnet: localnet.pid, upstream: upstream.pid } };
    for (const t of targets) {
        const w = loadgen === 'sdk' ? await load(workers, t.url, warmup) : await loadRust(ctx, t, warmup, 1);
        paid += w.paid_total ?? w.ok;
        process.stderr.write(`warmup ${t.name}: ${w.ok} paid, errors ${JSON.stringify(w.errors)}\n`);
    }
    const results = { [targets[0].name]: [], [targets[1].name]: [] };
    for (let r = 0; r < runs; r += 1) {
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
            if (loadgen === 'rust') {
                const res = await loadRust(ctx, t, duration, 1);
                paid += res.paid_total;
                results[t.name].push(res);
                report(r, t, res);
                continue;
            }
            const cpu0 = {
                chain: cpuSeconds(localnet.pid),
                machine: machineBusySeconds(),
                self: process.cpuUsage(),
                server: cpuSeconds(t.pid),
                upstream: cpuSeconds(upstream.pid),
            };
            const res = await load(workers, t.url, duration);
            const self = process.cpuUsage(cpu0.self);
            res.cpu_s = {
                loadgen: (self.user + self.system) / 1e6,
                localnet: cpuSeconds(localnet.pid) - cpu0.chain,
                server: cpuSeconds(t.pid) - cpu0.server,
                upstream: cpuSeconds(upstream.pid) - cpu0.upstream,
            };
            // Whatever else ran on the machine meanwhile (should be ~0 on a quiet machine).
            res.cpu_s.other =
                machineBusySeconds() - cpu0.machine - Object.values(res.cpu_s).reduce((a, b) => a + b, 0);
            for (const k of Object.keys(res.cpu_s)) res.cpu_s[k] = Number(res.cpu_s[k].toFixed(2));
            res.server_cpu_ms_per_paid = res.ok ? (1000 * res.cpu_s.server) / res.ok : null;
            paid += res.ok;
            results[t.name].push(res);
            report(r, t, res);
        }
    }

    // 4. Every 200 was a real payment, landed, of exactly the price.
    const received = (await balance()) - before;
    const expected = PRICE * BigInt(paid);
    if (received !== expected) {
        throw new Error(`recipient received ${received}, but ${paid} paid requests × ${PRICE} = ${expected}`);
    }

    const summary = {};
    for (const [name, rs] of Object.entries(results)) {
        summary[name] = {
            median_p50_ms: median(rs.map(r => r.p50_ms)),
            median_p99_ms: median(rs.map(r => r.p99_ms)),
            median_rps: median(rs.map(r => r.rps)),
            median_server_cpu_ms_per_paid: median(rs.map(r => r.server_cpu_ms_per_paid)),
            median_cpu_s: Object.fromEntries(
                Object.keys(rs[0]?.cpu_s ?? {}).map(k => [k, median(rs.map(r => r.cpu_s[k]))]),
            ),
            errors: rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
            reuse_waits: rs.reduce((n, r) => n + r.reuse_waits, 0),
            rps_per_round: rs.map(r => Number(r.rps.toFixed(1))),
        };
    }
    const [a, b] = targets.map(t => summary[t.name]);
    const out = {
        blockhash: loadgen === 'sdk' ? blockhashMode : 'challenge',
        concurrency,
        loadgen,
        duration_s: duration,
        load_threads: loadgen === 'sdk' ? threads : null,
        payers: payerCount,
        payer_reuse_ms: reuseMs,
        machine: `${os.cpus().length} vCPU ${os.cpus()[0]?.model ?? ''}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
        node: process.version,
        paid_requests_checked_on_chain: paid,
        ratio_rps: a.median_rps / b.median_rps,
        ratio_server_cpu_per_paid: b.median_server_cpu_ms_per_paid / a.median_server_cpu_ms_per_paid,
        results,
        runs,
        summary,
    };
    if (args.out) writeFileSync(args.out, `${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify({ ...out, results: undefined }, null, 2)}\n`);
}

main().then(
    () => process.exit(0),
    e => {
        process.stderr.write(`bench failed: ${e?.stack ?? e}\n`);
        process.exit(1);
    },
);
