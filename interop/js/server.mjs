#!/usr/bin/env node
// A paid HTTP API built with @solana/mpp's server (the mppx plugin): one priced route, paid in an
// SPL mint on a loopback Solana JSON-RPC endpoint, optionally with fee sponsorship.
//
// Usage: node server.mjs --rpc-url URL --recipient ADDRESS --mint MINT [--amount 25000]
//          [--decimals 6] [--port 0] [--path /paid] [--fee-payer-keypair FILE]
//          [--network localnet] [--upstream URL] [--realm NAME]
//   --fee-payer-keypair  sponsor fees: the challenge carries feePayer/feePayerKey and the server
//                        co-signs pull transactions with this key
//   --upstream           after payment, fetch this URL and return its body (the same work as a
//                        paying reverse proxy such as `mppsol serve`); default: a fixed JSON body
// Prints one JSON line once listening: {"url":"http://127.0.0.1:PORT","path":"/paid",...}.
// Every other path answers 404. Runs until killed.
import { randomBytes } from 'node:crypto';
import http from 'node:http';

import { Mppx, solana } from '@solana/mpp/server';
import { TOKEN_PROGRAM } from '@solana/mpp';

import { die, loadSigner, parseArgs, requireLoopback } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const rpcUrl = requireLoopback(args['rpc-url'] ?? die('--rpc-url is required'), '--rpc-url');
const recipient = args.recipient ?? die('--recipient is required');
const mint = args.mint ?? die('--mint is required');
const amount = args.amount ?? '25000';
const decimals = Number(args.decimals ?? '6');
const port = Number(args.port ?? '0');
const path = args.path ?? '/paid';
const network = args.network ?? 'localnet';
const upstream = args.upstream ? requireLoopback(args.upstream, '--upstream') : undefined;
const feePayer = args['fee-payer-keypair'] ? await loadSigner({ file: args['fee-payer-keypair'] }) : undefined;

const mppx = Mppx.create({
    methods: [
        solana.charge({
            currency: mint,
            decimals,
            network,
            recipient,
            rpcUrl,
            tokenProgram: args['token-program'] ?? TOKEN_PROGRAM,
            ...(feePayer ? { signer: feePayer } : {}),
        }),
    ],
    realm: args.realm ?? 'solana-mpp.interop.test',
    secretKey: args['secret-key'] ?? randomBytes(32).toString('hex'),
});

const charge = mppx.charge({ amount, currency: mint, description: 'interop: one paid request' });
const listener = Mppx.toNodeListener(charge);

const server = http.createServer(async (req, res) => {
    try {
        const url = new URL(req.url, 'http://localhost');
        if (req.method !== 'GET' || url.pathname !== path) {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
            return;
        }
        const result = await listener(req, res);
        if (result.status === 402) return; // the challenge (or a verification failure) was written
        let body = JSON.stringify({ paid: true });
        let type = 'application/json';
        if (upstream) {
            const up = await fetch(upstream);
            body = await up.text();
            type = up.headers.get('content-type') ?? type;
        }
        res.setHeader('content-type', type);
        res.end(body);
    } catch (e) {
        process.stderr.write(`server error: ${e?.stack ?? e}\n`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error');
    }
});
server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(
        `${JSON.stringify({
            feePayer: feePayer?.address ?? null,
            path,
            recipient,
            url: `http://127.0.0.1:${addr.port}`,
        })}\n`,
    );
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
