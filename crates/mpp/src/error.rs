//! Small error enums, one per job. Variants name the rule that failed so tests can assert the
//! exact error and callers can map it to a problem type.

use thiserror::Error;

/// A base64url or JSON payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not base64url (RFC 4648 §5).
    #[error("invalid base64url")]
    Base64,
    /// The bytes are not JSON.
    #[error("invalid JSON")]
    Json,
    /// The JSON is valid but not an object.
    #[error("JSON value is not an object")]
    NotAnObject,
    /// An integer outside ±2^53, which JCS (IEEE-754 doubles) would silently change.
    #[error("integer beyond 2^53 cannot be canonicalised exactly; send it as a string")]
    InexactNumber,
    /// JCS canonicalisation failed (for example a non-finite number).
    #[error("cannot canonicalise JSON: {0}")]
    Canonicalize(String),
}

/// A header field value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The field value is longer than the parser accepts.
    #[error("header value longer than {max} bytes")]
    TooLong {
        /// The cap, in bytes.
        max: usize,
    },
    /// The field value is empty or only whitespace.
    #[error("empty header value")]
    Empty,
    /// A byte that the grammar does not allow here.
    #[error("unexpected character at byte {at}")]
    UnexpectedChar {
        /// Byte offset into the field value.
        at: usize,
    },
    /// A quoted-string has no closing quote.
    #[error("unterminated quoted-string")]
    UnterminatedQuotedString,
    /// An auth-param has `=` but no value.
    #[error("auth-param `{0}` has no value")]
    MissingValue(String),
    /// The same auth-param name appears twice in one challenge.
    #[error("duplicate auth-param `{0}`")]
    DuplicateParam(String),
    /// A required auth-param or field is absent.
    #[error("missing required `{0}`")]
    MissingParam(&'static str),
    /// A required auth-param or field is present but empty.
    #[error("`{0}` must not be empty")]
    EmptyParam(&'static str),
    /// The field does not use the `Payment` scheme.
    #[error("not a Payment header")]
    WrongScheme,
    /// No `Payment` challenge in the field(s).
    #[error("no Payment challenge")]
    NoPaymentChallenge,
    /// `method` is not `1*LOWERALPHA`.
    #[error("invalid payment method identifier")]
    InvalidMethod,
    /// `intent` is not `1*(ALPHA / DIGIT / "-")`.
    #[error("invalid payment intent")]
    InvalidIntent,
    /// `expires` or `timestamp` is not an RFC 3339 date-time.
    #[error("`{0}` is not an RFC 3339 date-time")]
    InvalidTimestamp(&'static str),
    /// A field has the wrong JSON type.
    #[error("`{0}` has the wrong type")]
    WrongType(&'static str),
    /// A base64url JSON part failed to decode.
    #[error("`{field}`: {source}")]
    Decode {
        /// Which part (`request`, `opaque`, `credential`, `receipt`).
        field: &'static str,
        /// Why.
        source: DecodeError,
    },
    /// The value is not valid UTF-8.
    #[error("header value is not UTF-8")]
    NotUtf8,
}

/// A value cannot be written as a header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A parameter holds a control character (CR, LF, NUL, …) that would split or corrupt the
    /// header; refusing it is what stops header injection.
    #[error("`{0}` contains a control character")]
    ControlChar(String),
    /// A required value is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// `method` is not `1*LOWERALPHA`.
    #[error("invalid payment method identifier")]
    InvalidMethod,
    /// `intent` is not `1*(ALPHA / DIGIT / "-")`.
    #[error("invalid payment intent")]
    InvalidIntent,
    /// A JSON part could not be encoded.
    #[error("encoding: {0}")]
    Encode(#[from] DecodeError),
}

/// A challenge could not be issued or failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The HMAC secret is shorter than 32 bytes.
    #[error("challenge secret must be at least 32 bytes (got {0})")]
    SecretTooShort(usize),
    /// The id does not match the HMAC of the challenge's parameters under any known secret.
    #[error("challenge id does not match its parameters")]
    IdMismatch,
    /// The challenge has expired (beyond the allowed clock skew).
    #[error("challenge expired at {0}")]
    Expired(String),
    /// The verifier requires `expires` and the challenge has none.
    #[error("challenge has no expiry")]
    MissingExpires,
    /// `expires` is not an RFC 3339 date-time.
    #[error("challenge expiry is not an RFC 3339 date-time")]
    InvalidExpires,
    /// The request body does not match the challenge's `digest`.
    #[error("request body does not match the challenge digest")]
    DigestMismatch,
    /// The challenge could not be encoded.
    #[error("{0}")]
    Format(#[from] FormatError),
}

/// A decimal amount string is not a strict base-unit integer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Empty string.
    #[error("amount is empty")]
    Empty,
    /// A sign, dot, exponent, space or other non-digit.
    #[error("amount must be ASCII digits only")]
    NotDigits,
    /// `0` followed by more digits.
    #[error("amount has a leading zero")]
    LeadingZero,
    /// More than `u64::MAX` base units.
    #[error("amount exceeds u64")]
    Overflow,
}
