//! `mppsol conformance`: the adapter the public MPP conformance harness calls once per check.
//!
//! Contract (shared/conformance-adapter.md): JSON ABI (schema 1) on stdin/stdout when called
//! without an argument; the legacy command ABI when called with a legacy command name. One
//! request per process, exactly one JSON document on stdout, exit 0 whenever it was written.

use std::io::{Read, Write};

use anyhow::Context as _;
use mpp::{
    B64Json, Challenge, Credential, IdInput, Receipt, b64url_decode, b64url_encode,
    compute_challenge_id, format_authorization, format_payment_receipt, format_www_authenticate,
    parse_authorization, parse_challenge, parse_payment_receipt,
};
use serde_json::{Map, Value, json};

/// Arguments of `mppsol conformance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A legacy command (`parse-www-authenticate`, `format-authorization`,
    /// `generate-challenge-id`, …); omit it for the JSON ABI.
    legacy_command: Option<String>,
}

/// The harness's error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorType {
    Parse,
    Format,
    Encoding,
    Generation,
    Unsupported,
    Unknown,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::Parse => "parse_error",
            ErrorType::Format => "format_error",
            ErrorType::Encoding => "encoding_error",
            ErrorType::Generation => "generation_error",
            ErrorType::Unsupported => "unsupported_operation",
            ErrorType::Unknown => "unknown_error",
        }
    }
}

#[derive(Debug)]
struct OpError {
    kind: ErrorType,
    message: String,
}

fn err(kind: ErrorType, message: impl std::fmt::Display) -> OpError {
    OpError {
        kind,
        message: message.to_string(),
    }
}

/// Runs one request from stdin and writes the response to stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the request from stdin")?;
    let response = match args.legacy_command {
        None => json_abi(&input),
        Some(cmd) => legacy_abi(&cmd, &input),
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &response).context("writing the response")?;
    out.write_all(b"\n").context("writing the response")?;
    out.flush().context("writing the response")?;
    Ok(())
}

/// Answers one JSON-ABI request document.
pub fn json_abi(input: &[u8]) -> Value {
    let result = serde_json::from_slice::<Value>(input)
        .map_err(|e| err(ErrorType::Unknown, format!("request is not JSON: {e}")))
        .and_then(|req| {
            if req.get("schema") != Some(&json!(1)) {
                return Err(err(ErrorType::Unknown, "unsupported request schema"));
            }
            let op = req
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| err(ErrorType::Unknown, "request has no `op`"))?;
            let input = req.get("input").cloned().unwrap_or(Value::Null);
            dispatch(op, input)
        });
    match result {
        Ok(value) => json!({"ok": true, "value": value}),
        Err(e) => json!({"ok": false, "error": {"type": e.kind.as_str(), "message": e.message}}),
    }
}

/// Answers one legacy-ABI command: the raw input is trimmed, as the official adapters do.
pub fn legacy_abi(command: &str, input: &[u8]) -> Value {
    let text = String::from_utf8_lossy(input);
    let text = text.trim();
    let as_json = || {
        serde_json::from_str::<Value>(text)
            .map_err(|e| err(ErrorType::Format, format!("input is not JSON: {e}")))
    };
    let header = |h: &str| json!({"header": h});
    let textv = |t: &str| json!({"text": t});
    let result = match command {
        "parse-www-authenticate" => dispatch("challenge.parse", header(text)),
        "parse-authorization" => dispatch("credential.parse", header(text)),
        "parse-receipt" => dispatch("receipt.parse", header(text)),
        "format-www-authenticate" => as_json().and_then(|v| dispatch("challenge.format", v)),
        "format-authorization" => as_json().and_then(|v| dispatch("credential.format", v)),
        "format-receipt" => as_json().and_then(|v| dispatch("receipt.format", v)),
        "base64url-encode" => dispatch("base64url.encode", textv(text)),
        "base64url-decode" => dispatch("base64url.decode", textv(text)),
        "generate-challenge-id" => serde_json::from_str::<Value>(text)
            .map_err(|e| err(ErrorType::Generation, format!("input is not JSON: {e}")))
            .and_then(|v| dispatch("challenge.id", v)),
        other => Err(err(
            ErrorType::Unsupported,
            format!("unknown command `{other}`"),
        )),
    };
    match result {
        // Legacy results are bare values: the header, the text, or the id.
        Ok(Value::Object(m)) if m.len() == 1 && !command.starts_with("parse-") => {
            let v = m.into_iter().next().map_or(Value::Null, |(_, v)| v);
            json!({"success": true, "result": v})
        }
        Ok(v) => json!({"success": true, "result": v}),
        Err(e) => json!({"success": false, "error": e.message, "error_type": e.kind.as_str()}),
    }
}

fn dispatch(op: &str, input: Value) -> Result<Value, OpError> {
    match op {
        "challenge.parse" => challenge_parse(&input),
        "challenge.format" => challenge_format(input),
        "credential.parse" => credential_parse(&input),
        "credential.format" => credential_format(input),
        "receipt.parse" => receipt_parse(&input),
        "receipt.format" => receipt_format(input),
        "base64url.encode" => text_field(&input, ErrorType::Encoding)
            .map(|t| json!({"text": b64url_encode(t.as_bytes())})),
        "base64url.decode" => base64url_decode(&input),
        "challenge.id" => challenge_id(input),
        other => Err(err(
            ErrorType::Unsupported,
            format!("operation `{other}` is not supported"),
        )),
    }
}

fn header_field(input: &Value) -> Result<&str, OpError> {
    input
        .get("header")
        .and_then(Value::as_str)
        .ok_or_else(|| err(ErrorType::Parse, "input needs a string `header`"))
}

fn text_field(input: &Value, kind: ErrorType) -> Result<&str, OpError> {
    input
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| err(kind, "input needs a string `text`"))
}

fn base64url_decode(input: &Value) -> Result<Value, OpError> {
    let text = text_field(input, ErrorType::Encoding)?;
    let bytes = b64url_decode(text).map_err(|e| err(ErrorType::Encoding, e))?;
    let s = String::from_utf8(bytes)
        .map_err(|_| err(ErrorType::Encoding, "decoded bytes are not UTF-8"))?;
    Ok(json!({"text": s}))
}

/// The harness's canonical Challenge: `request` decoded, absent optionals omitted.
fn challenge_value(c: &Challenge) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), c.id.clone().into());
    m.insert("realm".into(), c.realm.clone().into());
    m.insert("method".into(), c.method.to_string().into());
    m.insert("intent".into(), c.intent.to_string().into());
    m.insert("request".into(), Value::Object(c.request.value().clone()));
    let optional = [
        ("expires", &c.expires),
        ("description", &c.description),
        ("digest", &c.digest),
        ("opaque", &c.opaque),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            m.insert(k.into(), v.clone().into());
        }
    }
    Value::Object(m)
}

fn challenge_parse(input: &Value) -> Result<Value, OpError> {
    let c = parse_challenge(header_field(input)?).map_err(|e| err(ErrorType::Parse, e))?;
    Ok(challenge_value(&c))
}

/// Builds a challenge from the harness's object form, whose `request` may be the decoded object
/// (encoded here with JCS) or the wire string.
fn challenge_from_value(v: Value, kind: ErrorType) -> Result<Challenge, OpError> {
    let Value::Object(mut m) = v else {
        return Err(err(kind, "challenge must be an object"));
    };
    if let Some(Value::Object(req)) = m.get("request") {
        let encoded = B64Json::encode(req.clone()).map_err(|e| err(kind, e))?;
        m.insert("request".into(), encoded.encoded().into());
    }
    Challenge::from_echo(m).map_err(|e| err(kind, e))
}

fn challenge_format(input: Value) -> Result<Value, OpError> {
    let c = challenge_from_value(input, ErrorType::Format)?;
    let h = format_www_authenticate(&c).map_err(|e| err(ErrorType::Format, e))?;
    Ok(json!({"header": h}))
}

fn credential_parse(input: &Value) -> Result<Value, OpError> {
    let c = parse_authorization(header_field(input)?).map_err(|e| err(ErrorType::Parse, e))?;
    let mut echo = challenge_value(&c.challenge);
    if let Value::Object(m) = &mut echo {
        // The echo carries no description in the harness's canonical form.
        m.remove("description");
        if let Some(h) = &c.challenge.header {
            m.insert("header".into(), h.clone().into());
        }
    }
    let mut out = Map::new();
    out.insert("challenge".into(), echo);
    out.insert("payload".into(), Value::Object(c.payload));
    if let Some(s) = c.source {
        out.insert("source".into(), s);
    }
    Ok(Value::Object(out))
}

fn credential_format(input: Value) -> Result<Value, OpError> {
    let kind = ErrorType::Format;
    let Value::Object(mut m) = input else {
        return Err(err(kind, "credential must be an object"));
    };
    let challenge = challenge_from_value(m.remove("challenge").unwrap_or(Value::Null), kind)?;
    let payload = match m.remove("payload") {
        Some(Value::Object(p)) => p,
        _ => return Err(err(kind, "`payload` must be an object")),
    };
    let mut c = Credential::new(challenge, payload);
    match m.remove("source") {
        None | Some(Value::Null) => {}
        Some(s @ (Value::String(_) | Value::Object(_))) => c.source = Some(s),
        Some(_) => return Err(err(kind, "`source` must be a string or an object")),
    }
    Ok(json!({"header": format_authorization(&c)}))
}

fn receipt_parse(input: &Value) -> Result<Value, OpError> {
    let r = parse_payment_receipt(header_field(input)?).map_err(|e| err(ErrorType::Parse, e))?;
    let timestamp = r
        .timestamp_at()
        .map(|t| t.to_string())
        .unwrap_or_else(|| r.timestamp.clone());
    let mut out = Map::new();
    out.insert("status".into(), r.status.into());
    out.insert("method".into(), r.method.to_string().into());
    out.insert("timestamp".into(), timestamp.into());
    out.insert("reference".into(), r.reference.into());
    let mut extra = r.extra;
    if let Some(Value::String(x)) = extra.remove("externalId") {
        out.insert("externalId".into(), x.into());
    }
    if !extra.is_empty() {
        out.insert("extra".into(), Value::Object(extra));
    }
    Ok(Value::Object(out))
}

fn receipt_format(input: Value) -> Result<Value, OpError> {
    let kind = ErrorType::Format;
    let Value::Object(mut m) = input else {
        return Err(err(kind, "receipt must be an object"));
    };
    // The harness's `extra` object holds method fields; on the wire they sit beside the rest.
    if let Some(extra) = m.remove("extra") {
        let Value::Object(extra) = extra else {
            return Err(err(kind, "`extra` must be an object"));
        };
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
    }
    let r = Receipt::from_json(Value::Object(m)).map_err(|e| err(kind, e))?;
    Ok(json!({"header": format_payment_receipt(&r)}))
}

fn challenge_id(input: Value) -> Result<Value, OpError> {
    let kind = ErrorType::Generation;
    let Value::Object(m) = input else {
        return Err(err(kind, "input must be an object"));
    };
    let s = |k: &str| m.get(k).and_then(Value::as_str);
    let secret = s("secretKey").ok_or_else(|| err(kind, "missing `secretKey`"))?;
    if secret.len() < mpp::ChallengeSecret::MIN_LEN {
        return Err(err(kind, "secretKey must be at least 32 bytes"));
    }
    let request = match m.get("request") {
        Some(Value::Object(o)) => B64Json::encode(o.clone()).map_err(|e| err(kind, e))?,
        _ => return Err(err(kind, "`request` must be an object")),
    };
    let required = |k: &str| s(k).ok_or_else(|| err(kind, format!("missing `{k}`")));
    let id = compute_challenge_id(
        secret.as_bytes(),
        &IdInput {
            realm: required("realm")?,
            method: required("method")?,
            intent: required("intent")?,
            request: request.encoded(),
            expires: s("expires"),
            digest: s("digest"),
            opaque: s("opaque"),
            header: s("header"),
        },
    );
    Ok(json!({"id": id}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_op_is_unsupported() {
        let r = json_abi(br#"{"schema":1,"op":"tempo.receipt.verify","input":{}}"#);
        assert_eq!(r["ok"], false);
        assert_eq!(r["error"]["type"], "unsupported_operation");
    }

    #[test]
    fn garbage_request_is_an_error_response_not_a_crash() {
        assert_eq!(json_abi(b"not json")["error"]["type"], "unknown_error");
        assert_eq!(
            json_abi(br#"{"schema":2}"#)["error"]["type"],
            "unknown_error"
        );
    }

    #[test]
    fn timestamp_is_normalised_to_z() {
        let wire = b64url_encode(
            r#"{"status":"success","method":"m","timestamp":"2026-01-29T14:00:30+02:00","reference":"r"}"#,
        );
        let v = receipt_parse(&json!({"header": wire})).unwrap();
        assert_eq!(v["timestamp"], "2026-01-29T12:00:30Z");
    }

    #[test]
    fn format_accepts_request_as_object_or_wire_string() {
        let base = json!({"id": "a", "realm": "r", "method": "tempo", "intent": "charge"});
        let mut as_object = base.clone();
        as_object["request"] = json!({});
        let mut as_string = base;
        as_string["request"] = json!("e30");
        let a = challenge_format(as_object).unwrap();
        assert_eq!(challenge_format(as_string).unwrap(), a);
        assert!(a["header"].as_str().unwrap().contains("request=\"e30\""));
    }

    #[test]
    fn legacy_results_are_bare_values() {
        let r = legacy_abi("base64url-encode", b"  abc \n");
        assert_eq!(r, json!({"success": true, "result": "YWJj"}));
        let r = legacy_abi("nope", b"");
        assert_eq!(r["error_type"], "unsupported_operation");
    }
}
