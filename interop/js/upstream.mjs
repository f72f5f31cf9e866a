#!/usr/bin/env node
// A trivial upstream API (knows nothing about payments) for the benchmark: both paid servers
// forward each paid request here, so both do the same work after verifying the payment.
// Usage: node upstream.mjs [--port 0]; prints {"url":"http://127.0.0.1:PORT"} once listening.
import http from 'node:http';

import { parseArgs } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const body = JSON.stringify({ forecast: 'sunny' });
const server = http.createServer((req, res) => {
    // A credential must never reach the upstream.
    const leaked = /^payment /i.test(req.headers.authorization ?? '');
    res.writeHead(leaked ? 500 : 200, { 'content-type': 'application/json' });
    res.end(leaked ? 'LEAKED' : body);
});
server.keepAliveTimeout = 30_000;
server.listen(Number(args.port ?? '0'), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
