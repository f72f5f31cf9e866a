//! Hot paths of a paid request, as a server sees them:
//! - `challenge/issue_and_format`: build the request JSON (JCS + base64url), HMAC the id, write
//!   the `WWW-Authenticate` value — what every unpaid request costs.
//! - `credential/parse_and_verify`: decode the `Authorization` value, check the id in constant
//!   time and the expiry — what every paid request costs before the method's own checks.

// Benchmark code: a failed expectation is a broken benchmark.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mpp::{
    B64Json, Challenge, ChallengeKeyring, ChallengeSecret, Credential, IntentName, MethodName,
    Timestamp, VerifyOptions, format_authorization, format_www_authenticate, parse_authorization,
};
use serde_json::{Map, Value, json};

fn request() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "amount": "1000000",
        "currency": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        "recipient": "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
        "description": "Premium API call",
        "methodDetails": {
            "network": "mainnet", "decimals": 6, "feePayer": true,
            "feePayerKey": "Gh9ZwEmdLJ8DscKNTkTqPbNwLNNBjuSzaG9Vp2KGtKJr",
            "recentBlockhash": "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
            "tokenProgram": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        }
    }) else {
        unreachable!()
    };
    m
}

fn issue(secret: &ChallengeSecret, req: Map<String, Value>, now: Timestamp) -> Challenge {
    Challenge::builder(
        "api.example.com",
        MethodName::solana(),
        IntentName::charge(),
        B64Json::encode(req).expect("encodes"),
    )
    .with_expires(now.saturating_add(std::time::Duration::from_secs(300)))
    .issue(secret)
}

fn benches(c: &mut Criterion) {
    let secret = ChallengeSecret::new([42u8; 32]).expect("secret");
    let keys = ChallengeKeyring::new(secret.clone());
    let now = Timestamp::parse("2026-11-21T12:00:00Z").expect("time");
    let req = request();

    c.bench_function("challenge/issue_and_format", |b| {
        b.iter(|| {
            let ch = issue(&secret, black_box(req.clone()), now);
            black_box(format_www_authenticate(&ch).expect("formats"))
        })
    });

    let mut payload = Map::new();
    payload.insert("type".into(), "transaction".into());
    // A realistic pull payload: a ~700-byte transaction, base64.
    payload.insert("transaction".into(), "A".repeat(940).into());
    let header = format_authorization(&Credential::new(issue(&secret, req, now), payload));
    let opts = VerifyOptions::default();
    c.bench_function("credential/parse_and_verify", |b| {
        b.iter(|| {
            let cred = parse_authorization(black_box(&header)).expect("parses");
            cred.challenge.verify(&keys, now, &opts).expect("verifies");
            black_box(cred)
        })
    });
}

criterion_group!(wire, benches);
criterion_main!(wire);
