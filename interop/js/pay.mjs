#!/usr/bin/env node
// Pays a URL with @solana/mpp's client (the mppx plugin) and prints one JSON line:
//   {"status":200,"receipt":"<Payment-Receipt header>","decodedReceipt":{...},
//    "signature":"<receipt reference>","credentialType":"transaction"|"signature","body":"..."}
//
// Usage: node pay.mjs URL --rpc-url http://127.0.0.1:PORT [--keypair FILE] [--push] [--replay]
//   --keypair FILE   Solana CLI keypair file (JSON array of 64 bytes); or set MPP_KEYPAIR to that JSON
//   --push           broadcast the payment ourselves and send its signature (type="signature");
//                    default is pull mode (the signed transaction goes to the server)
//   --replay         after paying, send the same credential again and add its status to the
//                    summary as "replayStatus" (a server must refuse it)
// Exits 0 when a response came back (whatever its status), 1 when the payment failed.
import { Receipt } from 'mppx';
import { Mppx, solana } from '@solana/mpp/client';

import { die, loadSigner, parseArgs, requireLoopback } from './lib.mjs';

const args = parseArgs(process.argv.slice(2), ['push', 'replay']);
const url = args._[0] ?? die('usage: node pay.mjs URL --rpc-url URL [--keypair FILE] [--push]');
const rpcUrl = requireLoopback(args['rpc-url'] ?? die('--rpc-url is required'), '--rpc-url');
const signer = await loadSigner({ file: args.keypair, env: 'MPP_KEYPAIR' });

let credentialType;
const method = solana.charge({
    broadcast: args.push === true,
    onProgress: event => {
        if (event.type === 'signed') credentialType = 'transaction';
        if (event.type === 'paid') credentialType = 'signature';
    },
    rpcUrl,
    signer,
});
// Remember the last credential sent (for --replay); the SDK puts it in `Authorization: Payment …`.
let lastCredential;
const recordingFetch = (input, init) => {
    const auth =
        new Headers(init?.headers).get('authorization') ??
        (input instanceof Request ? input.headers.get('authorization') : null);
    if (auth?.startsWith('Payment ')) lastCredential = auth;
    return globalThis.fetch(input, init);
};
const mppx = Mppx.create({ fetch: recordingFetch, methods: [method], polyfill: false });

try {
    const response = await mppx.fetch(url);
    const receipt = response.headers.get('payment-receipt');
    let decodedReceipt = null;
    if (receipt) {
        try {
            decodedReceipt = Receipt.deserialize(receipt);
        } catch (e) {
            decodedReceipt = { error: String(e) };
        }
    }
    const body = await response.text();
    let replayStatus;
    if (args.replay) {
        if (!lastCredential) throw new Error('--replay: no credential was sent');
        const replay = await globalThis.fetch(url, { headers: { authorization: lastCredential } });
        replayStatus = replay.status;
        await replay.arrayBuffer();
    }
    process.stdout.write(
        `${JSON.stringify({
            body,
            credentialType: credentialType ?? null,
            decodedReceipt,
            payer: signer.address,
            receipt,
            ...(replayStatus !== undefined ? { replayStatus } : {}),
            signature: decodedReceipt?.reference ?? null,
            status: response.status,
        })}\n`,
    );
} catch (e) {
    process.stderr.write(`payment failed: ${e?.stack ?? e}\n`);
    if (e?.cause) process.stderr.write(`cause: ${e.cause?.stack ?? JSON.stringify(e.cause)}\n`);
    process.exit(1);
}
