"""Pays an MPP-priced URL with solana-pay-kit 0.10.0 (PyPI), as its users would.

    python pay.py URL --keypair FILE --rpc-url RPC --asset MINT --max-amount N [--push]

Pull (default): solana-pay-kit's permissioned ``PayKitClient`` answers the 402 with a
``type="transaction"`` credential; the server broadcasts (and co-signs when it sponsors fees).

Push (``--push``): solana-pay-kit 0.10.0 ships no push-mode client (its README lists
``charge/push`` as server-only), so this composes one from the SDK's own building blocks:
``parse_www_authenticate_all`` reads the challenge, ``build_charge_transaction`` builds and
signs the transfer, solana-py sends it and polls ``getSignatureStatuses`` (HTTP only, no
websocket), and ``format_authorization`` writes the ``type="signature"`` credential.

Prints one JSON line on stdout: mode, status, receipt (the raw ``Payment-Receipt`` header),
the receipt decoded by the SDK, signature (the transaction id: the receipt's reference in pull
mode, where a sponsoring server's fee-payer signature comes first), payerSignature (the payer's
own signature in what the SDK sent), the decoded challenge request and the body.
Exits non-zero when no receipt came back. The RPC URL is always the one given: never a public
cluster.
"""

from __future__ import annotations

import logging
import warnings

# Importing the SDK builds a default config around its published demo signer and says so;
# that signer is never used here (the payer's keypair file is).
warnings.filterwarnings("ignore", message=".*shipped demo signer.*")
logging.getLogger("solana_pay_kit").addFilter(lambda r: "shipped demo signer" not in r.getMessage())

import argparse
import asyncio
import base64
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from solana.rpc.async_api import AsyncClient
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus

from solana_pay_kit import Signer
from solana_pay_kit._paycore.solana import MethodDetails
from solana_pay_kit.client import (
    AssetPermission,
    ClientPermissions,
    PayKitClient,
)
from solana_pay_kit.protocols.mpp.client.charge import build_charge_transaction
from solana_pay_kit.protocols.mpp.core.headers import (
    format_authorization,
    parse_authorization,
    parse_receipt,
    parse_www_authenticate_all,
)
from solana_pay_kit.protocols.mpp.core.types import PaymentCredential
from solana_pay_kit.protocols.mpp.intents.charge import ChargeRequest


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def loopback_only(url: str) -> None:
    host = (urlsplit(url).hostname or "").lower()
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        sys.exit(f"pay.py: refusing non-loopback URL {url}")


class Recorder(httpx.AsyncHTTPTransport):
    """The SDK's inner transport, recording what it sent and got (the challenge it saw, the
    payer's signature in its credential)."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[httpx.Response] = []
        self.authorizations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.extend(request.headers.get_list("authorization"))
        resp = await super().handle_async_request(request)
        self.responses.append(resp)
        return resp

    def payer_signature(self, payer: str) -> str | None:
        """The payer's own signature in the transaction the SDK sent (slot 0 is the server's
        when it sponsors fees, filled in only when it co-signs)."""
        for header in self.authorizations:
            credential = parse_authorization(header)
            tx = VersionedTransaction.from_bytes(base64.b64decode(credential.payload["transaction"]))
            keys = [str(k) for k in tx.message.account_keys]
            if payer in keys:
                return str(tx.signatures[keys.index(payer)])
        return None

    def challenge_request(self) -> dict[str, Any] | None:
        for resp in self.responses:
            if resp.status_code == 402:
                found = parse_www_authenticate_all(resp.headers.get_list("www-authenticate"))
                if found:
                    return found[0].decode_request()
        return None


async def pay_pull(args: argparse.Namespace, rpc: AsyncClient) -> dict[str, Any]:
    signer = Signer.file(args.keypair)
    permissions = (
        ClientPermissions.builder()
        .allow_origin(origin_of(args.url))
        .only_network("localnet")
        .allow_asset(AssetPermission.with_cap("localnet", args.asset, args.max_amount))
        .build()
    )
    recorder = Recorder()
    client = (
        PayKitClient.builder()
        .signer(signer)
        .rpc(rpc)
        .network("localnet")
        .permissions(permissions)
        .base_transport(recorder)
        .build()
    )
    async with client:
        resp = await client.get(args.url)
    challenge_request = recorder.challenge_request()
    signature = None
    # The server broadcast the transaction; its id is the receipt's reference.
    receipt_header = resp.headers.get("payment-receipt")
    if receipt_header:
        signature = parse_receipt(receipt_header).reference
    out = summary("pull", resp, challenge_request, signature)
    out["payerSignature"] = recorder.payer_signature(signer.pubkey())
    return out


async def wait_confirmed(rpc: AsyncClient, sig: Signature, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = (await rpc.get_signature_statuses([sig])).value
        status = statuses[0] if statuses else None
        if status is not None:
            if status.err is not None:
                raise RuntimeError(f"transaction {sig} failed: {status.err}")
            if status.confirmation_status in (
                TransactionConfirmationStatus.Confirmed,
                TransactionConfirmationStatus.Finalized,
            ):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"transaction {sig} not confirmed within {timeout}s")


async def pay_push(args: argparse.Namespace, rpc: AsyncClient) -> dict[str, Any]:
    keypair = Signer.file(args.keypair).keypair
    async with httpx.AsyncClient() as http:
        first = await http.get(args.url)
        if first.status_code != 402:
            return summary("push", first, None, None)
        challenges = parse_www_authenticate_all(first.headers.get_list("www-authenticate"))
        challenge = next((c for c in challenges if c.method == "solana" and c.intent == "charge"), None)
        if challenge is None:
            sys.exit("pay.py: no solana/charge challenge in the 402")
        raw = challenge.decode_request()
        request = ChargeRequest.from_dict(raw)
        details = MethodDetails.from_dict(request.method_details or {})
        if details.fee_payer:
            sys.exit("pay.py: the challenge sponsors fees; push mode cannot be used with a fee payer")
        if request.currency != args.asset and request.currency.upper() != args.asset.upper():
            sys.exit(f"pay.py: challenge currency {request.currency} is not the allowed {args.asset}")
        if int(request.amount) > args.max_amount:
            sys.exit(f"pay.py: challenge amount {request.amount} exceeds --max-amount {args.max_amount}")
        if details.network != "localnet":
            sys.exit(f"pay.py: challenge network {details.network!r} is not localnet")
        payload = await build_charge_transaction(
            signer=keypair,
            rpc_client=rpc,
            amount=request.amount,
            currency=request.currency,
            recipient=request.recipient,
            external_id=request.external_id,
            method_details=details,
        )
        tx_bytes = base64.b64decode(payload.transaction)
        sig = VersionedTransaction.from_bytes(tx_bytes).signatures[0]
        sent = await rpc.send_raw_transaction(tx_bytes)
        if sent.value != sig:
            sys.exit(f"pay.py: sendTransaction returned {sent.value}, expected {sig}")
        await wait_confirmed(rpc, sig)
        credential = PaymentCredential(
            challenge=challenge.to_echo(),
            payload={"type": "signature", "signature": str(sig)},
        )
        resp = await http.get(args.url, headers={"authorization": format_authorization(credential)})
    out = summary("push", resp, raw, str(sig))
    out["payerSignature"] = str(sig)
    return out


def summary(mode: str, resp: httpx.Response, request: dict[str, Any] | None, sig: str | None) -> dict[str, Any]:
    receipt_header = resp.headers.get("payment-receipt")
    decoded = None
    if receipt_header:
        r = parse_receipt(receipt_header)
        decoded = {
            "status": r.status,
            "method": r.method,
            "timestamp": r.timestamp,
            "reference": r.reference,
            "challengeId": r.challenge_id,
        }
    return {
        "mode": mode,
        "status": resp.status_code,
        "receipt": receipt_header,
        "receiptDecoded": decoded,
        "signature": sig,
        "challengeRequest": request,
        "body": resp.text,
    }


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--keypair", required=True, help="Solana CLI JSON keypair file of the payer")
    p.add_argument("--rpc-url", required=True, help="loopback JSON-RPC URL (mppsol localnet)")
    p.add_argument("--asset", required=True, help="the mint the client may pay in")
    p.add_argument("--max-amount", type=int, required=True, help="cap per payment, base units")
    p.add_argument("--push", action="store_true", help="push mode (type=signature)")
    args = p.parse_args()
    loopback_only(args.url)
    loopback_only(args.rpc_url)
    rpc = AsyncClient(args.rpc_url)
    try:
        out = await (pay_push(args, rpc) if args.push else pay_pull(args, rpc))
    finally:
        await rpc.close()
    print(json.dumps(out))
    return 0 if out["receipt"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
