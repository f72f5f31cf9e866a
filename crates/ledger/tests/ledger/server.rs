//! The JSON-RPC server's wire format, spoken raw over HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mppsol_ledger::programs;
use serde_json::{Value, json};
use solana_address::Address;
use solana_signer::Signer;

use crate::common::{Fixture, SOL, transfer_checked};

async fn post(url: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn call(url: &str, method: &str, params: Value) -> Value {
    post(
        url,
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    )
    .await
}

fn wire(tx: &solana_transaction::versioned::VersionedTransaction) -> String {
    BASE64.encode(bincode::serialize(tx).unwrap())
}

#[tokio::test]
async fn json_parsed_get_transaction_shows_transfer_checked() {
    let fx = Fixture::rpc().await;
    let usdc = fx.embedded.dev_mints().usdc;
    let alice = fx.funded(SOL).await;
    let from = fx
        .embedded
        .mint_tokens(&usdc.address, &alice.pubkey(), 2_000_000)
        .await
        .unwrap();
    let bob = Address::new_unique();
    let to = fx
        .embedded
        .create_ata(&bob, &usdc.address, &usdc.token_program)
        .await
        .unwrap();
    let memo = solana_instruction::Instruction::new_with_bytes(
        programs::MEMO_PROGRAM,
        b"invoice-9",
        vec![],
    );
    let ix = transfer_checked(
        &usdc.token_program,
        &usdc.address,
        &alice.pubkey(),
        &bob,
        1_500_000,
        6,
    );
    let tx = fx.sign(&[ix, memo], &[&alice]).await;
    let signature = fx.ledger.send(&tx).await.unwrap();

    let reply = call(
        &fx.url(),
        "getTransaction",
        json!([signature.to_string(), {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}]),
    )
    .await;
    let result = &reply["result"];
    assert_eq!(result["version"], json!("legacy"));
    let instructions = &result["transaction"]["message"]["instructions"];
    assert_eq!(
        instructions[0],
        json!({
            "program": "spl-token",
            "programId": programs::TOKEN_PROGRAM.to_string(),
            "parsed": {"type": "transferChecked", "info": {
                "source": from.to_string(),
                "mint": usdc.address.to_string(),
                "destination": to.to_string(),
                "authority": alice.pubkey().to_string(),
                "tokenAmount": {"uiAmount": 1.5, "decimals": 6, "amount": "1500000",
                                "uiAmountString": "1.5"},
            }},
            "stackHeight": null,
        })
    );
    assert_eq!(instructions[1]["parsed"], json!("invoice-9"));
    assert_eq!(instructions[1]["program"], json!("spl-memo"));
    let keys = &result["transaction"]["message"]["accountKeys"];
    assert_eq!(
        keys[0],
        json!({"pubkey": alice.pubkey().to_string(), "writable": true, "signer": true, "source": "transaction"})
    );
    let meta = &result["meta"];
    assert_eq!(meta["err"], Value::Null);
    assert_eq!(meta["status"], json!({"Ok": null}));
    assert_eq!(meta["fee"], json!(5000));
    let post_bob = meta["postTokenBalances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["owner"] == json!(bob.to_string()))
        .expect("bob's balance");
    assert_eq!(
        post_bob["uiTokenAmount"],
        json!({"uiAmount": 1.5, "decimals": 6, "amount": "1500000", "uiAmountString": "1.5"})
    );
    assert_eq!(
        post_bob["programId"],
        json!(programs::TOKEN_PROGRAM.to_string())
    );
    assert!(meta["computeUnitsConsumed"].as_u64().unwrap() > 0);
    assert!(meta.get("loadedAddresses").is_none());

    // json encoding: compiled instructions, loadedAddresses present.
    let reply = call(
        &fx.url(),
        "getTransaction",
        json!([signature.to_string(), {"encoding": "json"}]),
    )
    .await;
    let message = &reply["result"]["transaction"]["message"];
    assert_eq!(message["header"]["numRequiredSignatures"], json!(1));
    assert_eq!(message["instructions"][0]["stackHeight"], Value::Null);
    assert_eq!(
        reply["result"]["meta"]["loadedAddresses"],
        json!({"writable": [], "readonly": []})
    );
    assert!(reply["result"].get("version").is_none());

    let none = call(
        &fx.url(),
        "getSignaturesForAddress",
        json!([Address::new_unique().to_string()]),
    )
    .await;
    assert_eq!(none["result"], json!([]));
    let sigs = call(
        &fx.url(),
        "getSignaturesForAddress",
        json!([to.to_string(), {"limit": 5}]),
    )
    .await;
    assert_eq!(sigs["result"][0]["signature"], json!(signature.to_string()));
    assert_eq!(sigs["result"][0]["memo"], json!("[9] invoice-9"));
    assert_eq!(sigs["result"][0]["confirmationStatus"], json!("finalized"));
}

#[tokio::test]
async fn protocol_errors_have_json_rpc_codes() {
    let fx = Fixture::rpc().await;
    let url = fx.url();
    let code = |v: &Value| v["error"]["code"].as_i64();

    assert_eq!(
        code(&call(&url, "getNothing", json!([])).await),
        Some(-32601)
    );
    let bad_b64 = call(
        &url,
        "sendTransaction",
        json!(["%%%", {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(code(&bad_b64), Some(-32602));
    assert!(
        bad_b64["error"]["message"]
            .as_str()
            .unwrap()
            .contains("base64")
    );
    let bad_b58 = call(&url, "sendTransaction", json!(["0OIl"])).await;
    assert_eq!(code(&bad_b58), Some(-32602));
    let not_a_tx = call(
        &url,
        "sendTransaction",
        json!([BASE64.encode([1u8, 2, 3]), {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(code(&not_a_tx), Some(-32602));
    assert_eq!(
        code(&call(&url, "getBalance", json!(["not-an-address"])).await),
        Some(-32602)
    );
    assert_eq!(
        code(&call(&url, "getBalance", json!([])).await),
        Some(-32602)
    );
    assert_eq!(
        code(&call(&url, "getBalance", json!({"a": 1})).await),
        Some(-32602)
    );
    assert_eq!(code(&call(&url, "getSlot", json!(null)).await), None);

    let raw = reqwest::Client::new()
        .post(&url)
        .body("{not json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(code(&raw), Some(-32700));
    assert_eq!(raw["id"], Value::Null);
    assert_eq!(
        code(&post(&url, json!({"id": 3, "method": "getSlot"})).await),
        Some(-32600)
    );
    assert_eq!(code(&post(&url, json!([])).await), Some(-32600));

    let batch = post(
        &url,
        json!([
            {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            {"jsonrpc": "2.0", "id": "two", "method": "nope"},
            {"jsonrpc": "2.0", "id": 3, "method": "getVersion"},
        ]),
    )
    .await;
    assert_eq!(batch[0], json!({"jsonrpc": "2.0", "result": "ok", "id": 1}));
    assert_eq!(batch[1]["id"], json!("two"));
    assert_eq!(code(&batch[1]), Some(-32601));
    assert!(
        batch[2]["result"]["solana-core"]
            .as_str()
            .unwrap()
            .starts_with('3')
    );
    assert!(batch[2]["result"]["feature-set"].is_u64());
}

#[tokio::test]
async fn accounts_in_every_encoding() {
    let fx = Fixture::rpc().await;
    let url = fx.url();
    let mint = fx.embedded.dev_mints().usdc_2022;
    let owner = Address::new_unique();
    let ata = fx
        .embedded
        .mint_tokens(&mint.address, &owner, 2_500_000)
        .await
        .unwrap();

    let reply = call(
        &url,
        "getAccountInfo",
        json!([ata.to_string(), {"encoding": "jsonParsed"}]),
    )
    .await;
    let value = &reply["result"]["value"];
    assert!(reply["result"]["context"]["slot"].is_u64());
    assert_eq!(
        value["owner"],
        json!(programs::TOKEN_2022_PROGRAM.to_string())
    );
    let data = &value["data"];
    assert_eq!(data["program"], json!("spl-token-2022"));
    assert_eq!(data["parsed"]["type"], json!("account"));
    let info = &data["parsed"]["info"];
    assert_eq!(info["owner"], json!(owner.to_string()));
    assert_eq!(info["mint"], json!(mint.address.to_string()));
    assert_eq!(info["state"], json!("initialized"));
    assert_eq!(info["tokenAmount"]["uiAmountString"], json!("2.5"));
    assert!(
        info["extensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["extension"] == json!("transferFeeAmount"))
    );

    let mint_reply = call(
        &url,
        "getAccountInfo",
        json!([mint.address.to_string(), {"encoding": "jsonParsed"}]),
    )
    .await;
    let mint_info = &mint_reply["result"]["value"]["data"]["parsed"]["info"];
    assert_eq!(mint_info["decimals"], json!(6));
    assert_eq!(mint_info["supply"], json!("2500000"));
    assert_eq!(
        mint_info["mintAuthority"],
        json!(fx.embedded.faucet().to_string())
    );
    let fee = &mint_info["extensions"][0];
    assert_eq!(fee["extension"], json!("transferFeeConfig"));
    assert_eq!(
        fee["state"]["newerTransferFee"]["transferFeeBasisPoints"],
        json!(100)
    );

    let b64 = call(
        &url,
        "getAccountInfo",
        json!([ata.to_string(), {"encoding": "base64"}]),
    )
    .await;
    let raw = BASE64
        .decode(b64["result"]["value"]["data"][0].as_str().unwrap())
        .unwrap();
    let account = fx.ledger.get_account(&ata).await.unwrap().unwrap();
    assert_eq!(raw, account.data);
    assert_eq!(b64["result"]["value"]["space"], json!(account.data.len()));

    let zstd = call(
        &url,
        "getAccountInfo",
        json!([ata.to_string(), {"encoding": "base64+zstd"}]),
    )
    .await;
    assert_eq!(zstd["error"]["code"], json!(-32602));
    assert!(
        zstd["error"]["message"]
            .as_str()
            .unwrap()
            .contains("base64+zstd")
    );
    let big_b58 = call(
        &url,
        "getAccountInfo",
        json!([ata.to_string(), {"encoding": "base58"}]),
    )
    .await;
    assert_eq!(big_b58["error"]["code"], json!(-32602));
    let missing = call(
        &url,
        "getAccountInfo",
        json!([Address::new_unique().to_string()]),
    )
    .await;
    assert_eq!(missing["result"]["value"], Value::Null);

    let by_owner = call(
        &url,
        "getTokenAccountsByOwner",
        json!([owner.to_string(), {"mint": mint.address.to_string()}, {"encoding": "jsonParsed"}]),
    )
    .await;
    assert_eq!(
        by_owner["result"]["value"][0]["pubkey"],
        json!(ata.to_string())
    );
    let by_program = call(
        &url,
        "getTokenAccountsByOwner",
        json!([owner.to_string(), {"programId": programs::TOKEN_PROGRAM.to_string()}]),
    )
    .await;
    assert_eq!(by_program["result"]["value"], json!([]));

    let balance = call(&url, "getTokenAccountBalance", json!([ata.to_string()])).await;
    assert_eq!(
        balance["result"]["value"],
        json!({"uiAmount": 2.5, "decimals": 6, "amount": "2500000", "uiAmountString": "2.5"})
    );
    let not_token = call(
        &url,
        "getTokenAccountBalance",
        json!([fx.embedded.faucet().to_string()]),
    )
    .await;
    assert_eq!(not_token["error"]["code"], json!(-32602));
}

#[tokio::test]
async fn send_simulate_fee_and_status_over_the_wire() {
    let fx = Fixture::rpc().await;
    let url = fx.url();
    let usdc = fx.embedded.dev_mints().usdc;
    let alice = fx.funded(SOL).await;
    fx.embedded
        .mint_tokens(&usdc.address, &alice.pubkey(), 5)
        .await
        .unwrap();
    let bob = Address::new_unique();
    fx.embedded
        .create_ata(&bob, &usdc.address, &usdc.token_program)
        .await
        .unwrap();
    let failing = fx
        .sign(
            &[transfer_checked(
                &usdc.token_program,
                &usdc.address,
                &alice.pubkey(),
                &bob,
                6,
                6,
            )],
            &[&alice],
        )
        .await;

    let preflight = call(
        &url,
        "sendTransaction",
        json!([wire(&failing), {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(preflight["error"]["code"], json!(-32002));
    assert_eq!(
        preflight["error"]["data"]["err"],
        json!({"InstructionError": [0, {"Custom": 1}]})
    );
    assert!(
        preflight["error"]["data"]["logs"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );

    let sim = call(
        &url,
        "simulateTransaction",
        json!([wire(&failing), {"encoding": "base64", "replaceRecentBlockhash": true}]),
    )
    .await;
    assert_eq!(
        sim["result"]["value"]["err"],
        json!({"InstructionError": [0, {"Custom": 1}]})
    );
    assert!(sim["result"]["value"]["replacementBlockhash"]["blockhash"].is_string());
    let conflict = call(&url, "simulateTransaction", json!([wire(&failing), {"encoding": "base64", "sigVerify": true, "replaceRecentBlockhash": true}])).await;
    assert_eq!(conflict["error"]["code"], json!(-32602));

    // Without preflight it lands as failed, as on a cluster.
    let landed = call(
        &url,
        "sendTransaction",
        json!([wire(&failing), {"encoding": "base64", "skipPreflight": true}]),
    )
    .await;
    assert_eq!(landed["result"], json!(failing.signatures[0].to_string()));
    let statuses = call(
        &url,
        "getSignatureStatuses",
        json!([[
            failing.signatures[0].to_string(),
            Address::new_unique().to_string()
        ]]),
    )
    .await;
    assert_eq!(statuses["error"]["code"], json!(-32602));
    let statuses = call(
        &url,
        "getSignatureStatuses",
        json!([[failing.signatures[0].to_string()], {"searchTransactionHistory": true}]),
    )
    .await;
    let status = &statuses["result"]["value"][0];
    assert_eq!(
        status["err"],
        json!({"InstructionError": [0, {"Custom": 1}]})
    );
    assert_eq!(
        status["status"],
        json!({"Err": {"InstructionError": [0, {"Custom": 1}]}})
    );
    assert_eq!(status["confirmationStatus"], json!("finalized"));
    let dup = call(
        &url,
        "sendTransaction",
        json!([wire(&failing), {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(dup["error"]["data"]["err"], json!("AlreadyProcessed"));

    let message = BASE64.encode(failing.message.serialize());
    let fee = call(&url, "getFeeForMessage", json!([message])).await;
    assert_eq!(fee["result"]["value"], json!(5000));
    fx.embedded.expire_blockhash().await.unwrap();
    let fee = call(&url, "getFeeForMessage", json!([message])).await;
    assert_eq!(fee["result"]["value"], Value::Null);

    let airdrop = call(&url, "requestAirdrop", json!([bob.to_string(), SOL])).await;
    assert!(airdrop["result"].is_string());
    assert_eq!(fx.ledger.balance(&bob).await.unwrap(), SOL);
    let epoch = call(&url, "getEpochInfo", json!([])).await;
    assert_eq!(
        epoch["result"]["absoluteSlot"],
        json!(fx.ledger.slot().await.unwrap())
    );
    let height = call(&url, "getBlockHeight", json!([])).await;
    assert_eq!(
        height["result"],
        json!(fx.embedded.block_height().await.unwrap())
    );
    let genesis = call(&url, "getGenesisHash", json!([])).await;
    assert_eq!(
        genesis["result"],
        json!(fx.embedded.genesis_hash().to_string())
    );
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let fx = Fixture::rpc().await;
    let url = fx.url();
    assert_eq!(
        call(&url, "getHealth", json!([])).await["result"],
        json!("ok")
    );
    let Fixture { server, .. } = fx;
    server.expect("server").shutdown().await;
    let after = reqwest::Client::new()
        .post(&url)
        .json(&json!({}))
        .send()
        .await;
    assert!(after.is_err());
}

#[tokio::test]
async fn versioned_transactions_over_the_wire() {
    let fx = Fixture::rpc().await;
    let url = fx.url();
    let (signature, recipient) = crate::suite::lookup_table_transfer(&fx).await;

    let refused = call(
        &url,
        "getTransaction",
        json!([signature.to_string(), {"encoding": "json"}]),
    )
    .await;
    assert_eq!(refused["error"]["code"], json!(-32015));
    let reply = call(
        &url,
        "getTransaction",
        json!([signature.to_string(), {"encoding": "json", "maxSupportedTransactionVersion": 0}]),
    )
    .await;
    let result = &reply["result"];
    assert_eq!(result["version"], json!(0));
    assert_eq!(
        result["meta"]["loadedAddresses"],
        json!({"writable": [recipient.to_string()], "readonly": []})
    );
    assert_eq!(
        result["transaction"]["message"]["addressTableLookups"][0]["writableIndexes"],
        json!([0])
    );
    let parsed = call(
        &url,
        "getTransaction",
        json!([signature.to_string(), {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}]),
    )
    .await;
    let keys = parsed["result"]["transaction"]["message"]["accountKeys"]
        .as_array()
        .unwrap()
        .clone();
    let loaded = keys.last().unwrap();
    assert_eq!(
        loaded,
        &json!({"pubkey": recipient.to_string(), "writable": true, "signer": false, "source": "lookupTable"})
    );
    assert_eq!(
        parsed["result"]["transaction"]["message"]["instructions"][0]["parsed"],
        json!({"type": "transfer", "info": {"source": keys[0]["pubkey"], "destination": recipient.to_string(),
               "lamports": SOL}})
    );

    // base58 is the default wire encoding of sendTransaction.
    let payer = fx.funded(SOL).await;
    let tx = fx
        .sign(
            &[solana_system_interface::instruction::transfer(
                &payer.pubkey(),
                &recipient,
                1,
            )],
            &[&payer],
        )
        .await;
    let b58 = bs58::encode(bincode::serialize(&tx).unwrap()).into_string();
    let sent = call(&url, "sendTransaction", json!([b58])).await;
    assert_eq!(sent["result"], json!(tx.signatures[0].to_string()));
    let b64 = call(
        &url,
        "getTransaction",
        json!([tx.signatures[0].to_string(), "base64"]),
    )
    .await;
    let bytes = BASE64
        .decode(b64["result"]["transaction"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, bincode::serialize(&tx).unwrap());
}
