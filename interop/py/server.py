"""A paid API served with solana-pay-kit 0.10.0's MPP server side (PyPI): one priced route.

    python server.py --rpc-url RPC --recipient ADDR --currency MINT|SOL --amount 0.01 \
        [--port 0] [--path /paid] [--decimals 6] [--fee-payer-keypair FILE] [--accept-push]

The route is gated by the SDK's own ``solana_pay_kit.protocols.mpp.server.middleware.pay``
decorator over its ``Mpp`` charge handler (HMAC challenges, credential verification, fee-payer
co-signing, broadcast, confirmation by polling ``getSignatureStatuses`` over HTTP, receipts).
The SDK's framework shims (Flask/FastAPI/Django) and its USD ``configure()`` surface only know
the well-known stablecoin mints, so the low-level ``Mpp`` is what can price a local dev mint.
``--amount`` is human-readable, as the SDK takes it (``0.01`` USDC is 10000 base units).

Prints one JSON line on stdout once listening (url, recipient, currency, amount in base
units, feePayer), then serves one request at a time until killed. Everything it talks to is
the loopback RPC URL given: never a public cluster.
"""

from __future__ import annotations

import logging
import warnings

# Importing the SDK builds a default config around its published demo signer and says so;
# that signer is never used here (the recipient and fee payer are given explicitly).
warnings.filterwarnings("ignore", message=".*shipped demo signer.*")
logging.getLogger("solana_pay_kit").addFilter(lambda r: "shipped demo signer" not in r.getMessage())

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
from http.server import BaseHTTPRequestHandler, HTTPServer  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from solana_pay_kit import Signer  # noqa: E402
from solana_pay_kit._paycore.rpc import SolanaRpc  # noqa: E402
from solana_pay_kit._paycore.store import MemoryStore  # noqa: E402
from solana_pay_kit.protocols.mpp.core.headers import format_receipt  # noqa: E402
from solana_pay_kit.protocols.mpp.intents.charge import parse_units  # noqa: E402
from solana_pay_kit.protocols.mpp.server import Config, Mpp  # noqa: E402
from solana_pay_kit.protocols.mpp.server.middleware import pay  # noqa: E402


def loopback_only(url: str) -> None:
    host = (urlsplit(url).hostname or "").lower()
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        sys.exit(f"server.py: refusing non-loopback RPC URL {url}")


class Req:
    """What the SDK's ``pay`` decorator reads from a request: its headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def build(args: argparse.Namespace) -> Any:
    fee_payer = Signer.file(args.fee_payer_keypair).keypair if args.fee_payer_keypair else None
    mpp = Mpp(
        Config(
            recipient=args.recipient,
            currency=args.currency,
            decimals=args.decimals,
            network="localnet",
            rpc_url=args.rpc_url,
            secret_key=secrets.token_urlsafe(48),
            realm=args.realm,
            accept_push_mode=args.accept_push,
            fee_payer_signer=fee_payer,
            store=MemoryStore(),
            rpc=SolanaRpc(args.rpc_url),
        )
    )

    @pay(mpp, args.amount, description="solana-pay-kit interop route")
    async def paid(_request: Req, _credential: Any, receipt: Any) -> dict[str, Any]:
        return {
            "status_code": 200,
            "headers": {"content-type": "application/json", "payment-receipt": format_receipt(receipt)},
            "body": {"paid": True, "reference": receipt.reference},
        }

    return paid


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rpc-url", required=True)
    p.add_argument("--recipient", required=True)
    p.add_argument("--currency", required=True, help="a mint address, or SOL")
    p.add_argument("--amount", required=True, help="human-readable (0.01), as the SDK takes it")
    p.add_argument("--decimals", type=int, default=6)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/paid")
    p.add_argument("--realm", default="solana-pay-kit.interop.test")
    p.add_argument("--fee-payer-keypair", help="sponsor fees with this keypair (pull only)")
    p.add_argument("--accept-push", action="store_true", help="accept type=signature credentials")
    args = p.parse_args()
    loopback_only(args.rpc_url)
    if args.currency.upper() == "SOL" and args.decimals == 6:
        args.decimals = 9

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    paid = build(args)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if urlsplit(self.path).path != args.path:
                self.reply(404, {"content-type": "application/json"}, {"error": "not found"})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            resp = loop.run_until_complete(paid(Req(headers)))
            out_headers = {k: v for k, v in resp["headers"].items()}
            self.reply(resp["status_code"], out_headers, resp["body"])

        def reply(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *a: Any) -> None:
            sys.stderr.write("server.py: " + (fmt % a) + "\n")

    httpd = HTTPServer(("127.0.0.1", args.port), Handler)
    port = httpd.server_address[1]
    print(
        json.dumps(
            {
                "url": f"http://127.0.0.1:{port}{args.path}",
                "recipient": args.recipient,
                "currency": args.currency,
                "amount": parse_units(args.amount, args.decimals),
                "feePayer": Signer.file(args.fee_payer_keypair).pubkey() if args.fee_payer_keypair else None,
                "acceptPush": args.accept_push,
            }
        ),
        flush=True,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
