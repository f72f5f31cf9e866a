//! The Payment credential: the echoed challenge, an optional payer `source`, and the method's
//! proof (`payload`), kept as JSON for the method to interpret.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::challenge::Challenge;
use crate::encoding::B64Json;
use crate::error::HeaderError;
use crate::names::{IntentName, MethodName};

/// A decoded `Authorization: Payment` credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The challenge being answered, echoed verbatim (its `request` wire text included).
    pub challenge: Challenge,
    /// Payer identifier (a DID is recommended): a string or an object, as peers send.
    pub source: Option<Value>,
    /// The method-specific proof.
    pub payload: Map<String, Value>,
}

impl Credential {
    /// A credential answering `challenge` with `payload`.
    pub fn new(challenge: Challenge, payload: Map<String, Value>) -> Self {
        Self {
            challenge,
            source: None,
            payload,
        }
    }

    /// Sets the payer identifier.
    pub fn with_source(mut self, source: impl Into<Value>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Deserialises the payload into the method's type.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Object(self.payload.clone()))
    }

    /// The JSON document that goes (base64url'd) into the header.
    pub fn to_json(&self) -> Value {
        let wire = WireCredential {
            challenge: WireEcho::from(&self.challenge),
            source: self.source.clone(),
            payload: self.payload.clone(),
        };
        // Serialising plain strings and JSON maps cannot fail.
        serde_json::to_value(wire).unwrap_or(Value::Null)
    }

    /// Builds a credential from its decoded JSON document.
    pub fn from_json(v: Value) -> Result<Self, HeaderError> {
        let Value::Object(mut doc) = v else {
            return Err(HeaderError::WrongType("credential"));
        };
        let echo = match doc.remove("challenge") {
            Some(Value::Object(o)) => o,
            Some(_) => return Err(HeaderError::WrongType("challenge")),
            None => return Err(HeaderError::MissingParam("challenge")),
        };
        let payload = match doc.remove("payload") {
            Some(Value::Object(o)) => o,
            Some(_) => return Err(HeaderError::WrongType("payload")),
            None => return Err(HeaderError::MissingParam("payload")),
        };
        let source = match doc.remove("source") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::String(_) | Value::Object(_))) => Some(v),
            Some(_) => return Err(HeaderError::WrongType("source")),
        };
        Ok(Self {
            challenge: Challenge::from_echo(echo)?,
            source,
            payload,
        })
    }
}

fn take_str(o: &mut Map<String, Value>, k: &'static str) -> Result<Option<String>, HeaderError> {
    match o.remove(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(HeaderError::WrongType(k)),
    }
}

fn require(o: &mut Map<String, Value>, k: &'static str) -> Result<String, HeaderError> {
    take_str(o, k)?.ok_or(HeaderError::MissingParam(k))
}

fn decode(field: &'static str, text: &str) -> Result<B64Json, HeaderError> {
    B64Json::decode(text).map_err(|source| HeaderError::Decode { field, source })
}

impl Challenge {
    /// Reads the challenge object a credential echoes (`request` as its base64url wire text).
    /// Unknown members are ignored, as core §5 asks of unknown fields.
    pub fn from_echo(o: Map<String, Value>) -> Result<Challenge, HeaderError> {
        echo_from_json(o)
    }
}

fn echo_from_json(mut o: Map<String, Value>) -> Result<Challenge, HeaderError> {
    let id = require(&mut o, "id")?;
    if id.is_empty() {
        return Err(HeaderError::EmptyParam("id"));
    }
    let realm = require(&mut o, "realm")?;
    let method = MethodName::new(require(&mut o, "method")?).ok_or(HeaderError::InvalidMethod)?;
    let intent = IntentName::new(require(&mut o, "intent")?).ok_or(HeaderError::InvalidIntent)?;
    let request = decode("request", &require(&mut o, "request")?)?;
    let opaque = take_str(&mut o, "opaque")?;
    Ok(Challenge {
        id,
        realm,
        method,
        intent,
        request,
        expires: take_str(&mut o, "expires")?,
        description: take_str(&mut o, "description")?,
        digest: take_str(&mut o, "digest")?,
        opaque,
        header: take_str(&mut o, "header")?,
    })
}

#[derive(Serialize, Deserialize)]
struct WireCredential<'a> {
    #[serde(borrow)]
    challenge: WireEcho<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Value>,
    payload: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEcho<'a> {
    id: &'a str,
    realm: &'a str,
    method: &'a str,
    intent: &'a str,
    request: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opaque: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<&'a str>,
}

impl<'a> From<&'a Challenge> for WireEcho<'a> {
    fn from(c: &'a Challenge) -> Self {
        Self {
            id: &c.id,
            realm: &c.realm,
            method: c.method.as_str(),
            intent: c.intent.as_str(),
            request: c.request.encoded(),
            description: c.description.as_deref(),
            expires: c.expires.as_deref(),
            digest: c.digest.as_deref(),
            opaque: c.opaque.as_deref(),
            header: c.header.as_deref(),
        }
    }
}
