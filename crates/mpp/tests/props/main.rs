//! Property tests: format → parse round trips for challenges, credentials and receipts, and no
//! parser panics on arbitrary input.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use mpp::{
    B64Json, Challenge, ChallengeSecret, Credential, IntentName, MethodName, Receipt, Timestamp,
    format_authorization, format_payment_receipt, format_www_authenticate, parse_authorization,
    parse_challenge, parse_payment_receipt,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Text as header values carry it: no ASCII control characters except tab, any Unicode.
fn text() -> impl Strategy<Value = String> {
    "[^\\x00-\\x08\\x0a-\\x1f\\x7f]{0,40}"
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        // JCS numbers are doubles: integers within ±2^53 (larger ones are refused by design).
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    let value = json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(any::<String>(), value, 0..5).prop_map(|m| m.into_iter().collect())
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..4_102_444_800).prop_map(|s| Timestamp::from_unix(s).expect("in range"))
}

prop_compose! {
    fn challenge()(
        realm in text(),
        method in "[a-z]{1,12}",
        intent in "[a-zA-Z0-9-]{1,12}",
        request in json_object(),
        expires in proptest::option::of(timestamp()),
        description in proptest::option::of(text()),
        body in proptest::option::of(any::<Vec<u8>>()),
        opaque in proptest::option::of(prop::collection::btree_map("[a-z]{1,8}", text(), 0..3)),
    ) -> Challenge {
        let mut b = Challenge::builder(
            realm,
            MethodName::new(method).expect("valid"),
            IntentName::new(intent).expect("valid"),
            B64Json::encode(request).expect("encodes"),
        );
        if let Some(t) = expires { b = b.with_expires(t); }
        if let Some(d) = description { b = b.with_description(d); }
        if let Some(body) = body { b = b.with_body_digest(&body); }
        if let Some(o) = opaque { b = b.with_opaque(o).expect("opaque"); }
        b.issue(&ChallengeSecret::new([7u8; 32]).expect("secret"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn challenge_format_parse_round_trips(c in challenge()) {
        let text = format_www_authenticate(&c).expect("formats");
        prop_assert_eq!(parse_challenge(&text).expect("parses"), c);
    }

    #[test]
    fn credential_format_parse_round_trips(
        c in challenge(),
        payload in json_object(),
        source in proptest::option::of(prop_oneof![
            text().prop_map(Value::from),
            json_object().prop_map(Value::Object),
        ]),
    ) {
        let mut cred = Credential::new(c, payload);
        cred.source = source;
        let text = format_authorization(&cred);
        prop_assert_eq!(parse_authorization(&text).expect("parses"), cred);
    }

    #[test]
    fn receipt_format_parse_round_trips(
        method in "[a-z]{1,12}",
        at in timestamp(),
        reference in "[^\\x00-\\x1f]{1,40}",
        extra in json_object(),
    ) {
        let mut r = Receipt::success(MethodName::new(method).expect("valid"), at, reference);
        for (k, v) in extra {
            if !["status", "method", "timestamp", "reference"].contains(&k.as_str()) {
                r.extra.insert(k, v);
            }
        }
        let text = format_payment_receipt(&r);
        prop_assert_eq!(parse_payment_receipt(&text).expect("parses"), r);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(data in any::<Vec<u8>>()) {
        mpp::fuzzing::challenge(&data);
        mpp::fuzzing::credential(&data);
        mpp::fuzzing::receipt(&data);
        mpp::fuzzing::accept_payment(&data);
    }

    #[test]
    fn parsers_never_panic_on_header_shaped_text(
        s in "(Payment|payment|Basic|,| |\t|=|\"|\\\\|id|realm|method|intent|request|e30|[a-z]|é){0,80}"
    ) {
        mpp::fuzzing::challenge(s.as_bytes());
        mpp::fuzzing::credential(s.as_bytes());
        mpp::fuzzing::accept_payment(s.as_bytes());
        let _ = mpp::parse_amount(&s);
        let _ = mpp::ContentDigest::parse(&s);
    }
}
