//! The `Payment-Receipt` body: `status`, `method`, `timestamp`, `reference`, plus whatever
//! fields the method defines (kept in `extra`).

use serde_json::{Map, Value};

use crate::clock::Timestamp;
use crate::error::HeaderError;
use crate::names::MethodName;

/// The only status a receipt may carry: receipts exist only for successful payments.
pub const STATUS_SUCCESS: &str = "success";

/// A payment receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Always `"success"` for receipts we issue; parsed as sent.
    pub status: String,
    /// Payment method used.
    pub method: MethodName,
    /// RFC 3339 settlement time, as sent.
    pub timestamp: String,
    /// Method-specific reference (a transaction signature, a channel id).
    pub reference: String,
    /// Method-defined fields (`challengeId`, `externalId`, `acceptedCumulative`, …) and
    /// extensions such as our server signature. Order is irrelevant: signatures use JCS.
    pub extra: Map<String, Value>,
}

impl Receipt {
    /// A success receipt.
    pub fn success(method: MethodName, at: Timestamp, reference: impl Into<String>) -> Self {
        Self {
            status: STATUS_SUCCESS.to_owned(),
            method,
            // Second precision, like challenge expiries: peers parse it either way, and it
            // reads better in logs.
            timestamp: at.truncated_to_seconds().to_string(),
            reference: reference.into(),
            extra: Map::new(),
        }
    }

    /// Adds a method-defined field.
    pub fn with_field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The settlement time, if well-formed.
    pub fn timestamp_at(&self) -> Option<Timestamp> {
        Timestamp::parse(&self.timestamp).ok()
    }

    /// The receipt as one JSON object (core fields win over same-named extras).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        m.insert("status".into(), Value::String(self.status.clone()));
        m.insert("method".into(), Value::String(self.method.to_string()));
        m.insert("timestamp".into(), Value::String(self.timestamp.clone()));
        m.insert("reference".into(), Value::String(self.reference.clone()));
        m
    }

    /// Reads a receipt object, checking the core fields.
    pub fn from_json(v: Value) -> Result<Self, HeaderError> {
        let Value::Object(mut m) = v else {
            return Err(HeaderError::WrongType("receipt"));
        };
        let mut take = |k: &'static str| match m.remove(k) {
            Some(Value::String(s)) if s.is_empty() => Err(HeaderError::EmptyParam(k)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(HeaderError::WrongType(k)),
            None => Err(HeaderError::MissingParam(k)),
        };
        let status = take("status")?;
        let method = MethodName::new(take("method")?).ok_or(HeaderError::InvalidMethod)?;
        let timestamp = take("timestamp")?;
        let reference = take("reference")?;
        if Timestamp::parse(&timestamp).is_err() {
            return Err(HeaderError::InvalidTimestamp("timestamp"));
        }
        Ok(Self {
            status,
            method,
            timestamp,
            reference,
            extra: m,
        })
    }
}
