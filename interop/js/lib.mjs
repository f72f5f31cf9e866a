// Shared helpers for the interop scripts: argument parsing, keypair loading, loopback guard.
import { readFileSync } from 'node:fs';

import { createKeyPairSignerFromBytes } from '@solana/kit';

/** Parses `--name value` and `--flag` arguments; positionals go to `_`. */
export function parseArgs(argv, flags = []) {
    const out = { _: [] };
    for (let i = 0; i < argv.length; i += 1) {
        const a = argv[i];
        if (!a.startsWith('--')) {
            out._.push(a);
            continue;
        }
        const name = a.slice(2);
        if (flags.includes(name)) {
            out[name] = true;
            continue;
        }
        if (i + 1 >= argv.length) die(`missing value for --${name}`);
        out[name] = argv[(i += 1)];
    }
    return out;
}

export function die(message) {
    process.stderr.write(`${message}\n`);
    process.exit(2);
}

/**
 * Loads a Solana CLI keypair (JSON array of 64 bytes, as `mppsol keys new` writes) from a file, or
 * from the JSON text in an environment variable.
 */
export async function loadSigner({ file, env }) {
    let text;
    if (file) text = readFileSync(file, 'utf8');
    else if (env && process.env[env]) text = process.env[env];
    else die(`no keypair: pass --keypair FILE${env ? ` or set ${env}` : ''}`);
    const bytes = Uint8Array.from(JSON.parse(text));
    if (bytes.length !== 64) die('a keypair is a JSON array of 64 bytes');
    return await createKeyPairSignerFromBytes(bytes);
}

/** These scripts only ever talk to a local chain: refuse anything but loopback. */
export function requireLoopback(url, what) {
    const host = new URL(url).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) {
        die(`${what} must be a loopback URL (got ${url}); never point the interop scripts at a public cluster`);
    }
    return url;
}
