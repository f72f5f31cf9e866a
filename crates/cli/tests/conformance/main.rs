//! `mppsol conformance` against the public harness's vector cases, one process per call exactly
//! as the harness runs it (stdin → one JSON document on stdout, exit 0).

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn call(request: &Value) -> (Value, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mppsol"))
        .arg("conformance")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mppsol");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    assert!(out.status.success(), "adapter exited {:?}", out.status);
    let text = String::from_utf8(out.stdout).expect("utf-8 stdout");
    // Exactly one JSON document (a trailing newline is fine).
    let v: Value = serde_json::from_str(text.trim_end()).expect("one JSON document on stdout");
    (v, took)
}

fn op(op: &str, input: &Value) -> Value {
    call(&json!({"schema": 1, "op": op, "input": input})).0
}

fn ok_value(resp: &Value, case: &str) -> Value {
    assert_eq!(resp["ok"], true, "{case}: {resp}");
    resp["value"].clone()
}

#[test]
fn harness_vector_cases() {
    let doc: Value =
        serde_json::from_str(include_str!("cases.json")).expect("cases.json is valid JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() > 100, "the fixture lost cases");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let o = case["op"].as_str().expect("op");
        let (resp, took) = call(&json!({"schema": 1, "op": o, "input": case["input"]}));
        if let Some(ms) = case.get("max_ms").and_then(Value::as_u64) {
            assert!(took < Duration::from_millis(ms), "{name}: took {took:?}");
        }
        if let Some(expected) = case.get("value") {
            assert_eq!(&ok_value(&resp, name), expected, "{name}");
        } else if let Some(expected) = case.get("error") {
            assert_eq!(resp["ok"], false, "{name}: {resp}");
            assert_eq!(&resp["error"]["type"], expected, "{name}: {resp}");
            assert!(resp["error"]["message"].is_string(), "{name}");
        } else if let Some(wire) = case.get("same_parse_as") {
            let ours = ok_value(&resp, name);
            let parse = case["parse_op"].as_str().expect("parse_op");
            let theirs = ok_value(&op(parse, &json!({"header": wire})), name);
            let mine = ok_value(&op(parse, &ours), name);
            assert_eq!(mine, theirs, "{name}: formatted {ours}");
        } else if let Some(parse) = case.get("roundtrip").and_then(Value::as_str) {
            let ours = ok_value(&resp, name);
            assert_eq!(ok_value(&op(parse, &ours), name), case["input"], "{name}");
        } else {
            panic!("{name}: case has no expectation");
        }
    }
}

#[test]
fn every_other_op_is_unsupported() {
    for o in [
        "tempo.receipt.verify",
        "server.verify",
        "http.payment_request",
        "nope",
    ] {
        let r = op(o, &json!({}));
        assert_eq!(r["error"]["type"], "unsupported_operation", "{o}");
    }
}

#[test]
fn legacy_command_abi() {
    let run = |cmd: &str, stdin: &str| -> Value {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mppsol"))
            .args(["conformance", cmd])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let parsed = run(
        "parse-www-authenticate",
        "Payment id=\"a\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"e30\"\n",
    );
    assert_eq!(parsed["success"], true);
    assert_eq!(parsed["result"]["id"], "a");
    let id = run(
        "generate-challenge-id",
        r#"{"secretKey":"test-vector-secret-minimum-32-byte-secret","realm":"api.example.com","method":"tempo","intent":"charge","request":{"amount":"1000000"}}"#,
    );
    assert_eq!(id["result"], "6QDs0BmhrI_v67iWeCMvGqQJEFQ6ErWKlk7zi5xL6t0");
    let bad = run("parse-authorization", "Bearer x");
    assert_eq!(bad["success"], false);
    assert_eq!(bad["error_type"], "parse_error");
    let fmt = run(
        "format-receipt",
        r#"{"status":"success","method":"tempo","timestamp":"2026-01-29T12:00:00Z","reference":"r"}"#,
    );
    assert!(fmt["result"].is_string(), "{fmt}");
}
