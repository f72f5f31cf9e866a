// Load-generator thread for bench.mjs: pays a URL in a loop with @solana/mpp's client.
//
// workerData: { keys: number[][] (64-byte keypairs), rpcUrl, blockhashMode, concurrency, reuseMs }
// Messages in: { url, seconds } -> out: { ok, latencies, errors, reuse_waits, seconds }.
//
// Each of `concurrency` loops takes the least-recently-used payer of this thread's pool, waits if
// that payer started a payment less than `reuseMs` ago (counted in `reuse_waits`), and pays with
// the payer's own SDK client. A paid request is a 200 that carries a Payment-Receipt header.
import { parentPort, workerData } from 'node:worker_threads';

import { createKeyPairSignerFromBytes } from '@solana/kit';
import { Mppx, solana } from '@solana/mpp/client';
import { Credential } from 'mppx';

const { keys, rpcUrl, blockhashMode, concurrency, reuseMs } = workerData;
const sleep = ms => new Promise(r => setTimeout(r, ms));

/**
 * `--blockhash client`: the SDK's pull credential, built with the SDK's public
 * `buildChargeTransaction` without the challenge's advisory `recentBlockhash` (so the SDK fetches
 * one), for the unmodified challenge.
 */
function ownBlockhash(signer) {
    return async challenge => {
        if (challenge.method !== 'solana' || challenge.intent !== 'charge') return undefined;
        const { recentBlockhash: _hint, ...methodDetails } = challenge.request.methodDetails ?? {};
        const transaction = await solana.buildChargeTransaction({
            request: { ...challenge.request, methodDetails },
            rpcUrl,
            signer,
        });
        return Credential.serialize({ challenge, payload: { transaction, type: 'transaction' } });
    };
}

const pool = await Promise.all(
    keys.map(async bytes => {
        const signer = await createKeyPairSignerFromBytes(Uint8Array.from(bytes));
        const client = Mppx.create({
            methods: [solana.charge({ rpcUrl, signer })],
            polyfill: false,
            ...(blockhashMode === 'client' ? { onChallenge: ownBlockhash(signer) } : {}),
        });
        return { client, lastStart: -Infinity };
    }),
);

async function load(url, seconds) {
    let ok = 0;
    let reuseWaits = 0;
    const latencies = [];
    const errors = {};
    const count = key => {
        errors[key] = (errors[key] ?? 0) + 1;
    };
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
        Array.from({ length: concurrency }, async () => {
            while (performance.now() < deadline) {
                const payer = pool.shift();
                const idle = performance.now() - payer.lastStart;
                if (idle < reuseMs) {
                    reuseWaits += 1;
                    await sleep(reuseMs - idle);
                }
                const t0 = performance.now();
                payer.lastStart = t0;
                try {
                    const res = await payer.client.fetch(url);
                    const text = await res.text();
                    if (res.status === 200 && res.headers.get('payment-receipt')) {
                        ok += 1;
                        latencies.push(performance.now() - t0);
                    } else {
                        let detail;
                        try {
                            detail = JSON.parse(text).detail ?? '';
                        } catch {
                            detail = text.slice(0, 80);
                        }
                        count(`HTTP ${res.status}: ${detail}`.slice(0, 160));
                    }
                } catch (e) {
                    count(String(e?.message ?? e).slice(0, 160));
                }
                pool.push(payer);
            }
        }),
    );
    return { errors, latencies, ok, reuse_waits: reuseWaits, seconds: (performance.now() - start) / 1000 };
}

parentPort.on('message', async ({ url, seconds }) => {
    parentPort.postMessage(await load(url, seconds));
});
parentPort.postMessage({ ready: true });
