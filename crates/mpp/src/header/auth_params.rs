//! RFC 9110 §11 challenge lists: `#challenge`, `challenge = auth-scheme [ 1*SP ( token68 /
//! #auth-param ) ]`, `auth-param = token BWS "=" BWS ( token / quoted-string )`.
//!
//! One left-to-right pass over the bytes, no backtracking beyond a single token68 probe per
//! challenge, so hostile input costs linear time. Scheme and parameter names come back as
//! written; callers compare them case-insensitively.
//!
//! Two leniencies match what the public conformance vectors require of every MPP SDK: text after
//! a parameter's value up to the next top-level comma is skipped (a description with unescaped
//! quotes ends at the first one), and a quoted-string left open at the end of the field is
//! reported through [`RawChallenge::unterminated`] instead of failing the whole field.

use std::borrow::Cow;

use crate::error::{FormatError, HeaderError};

/// The longest field value we parse. The spec asks servers to keep challenges under 8 KB and
/// clients to take at least 4 KB; several challenges can share one field, so allow headroom.
pub const MAX_FIELD_LEN: usize = 64 * 1024;

/// One challenge as the grammar sees it, before any scheme-specific meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChallenge<'a> {
    /// The auth-scheme as written.
    pub scheme: &'a str,
    /// A token68 credential-style value, if the challenge carried one instead of params.
    pub token68: Option<&'a str>,
    /// Parameters in order of appearance, names as written, values unescaped.
    pub params: Vec<(&'a str, Cow<'a, str>)>,
    /// The parameter whose quoted-string ran to the end of the field without a closing quote
    /// (only ever the last one). Callers ignore it if they do not know the name, and refuse it
    /// if they do.
    pub unterminated: Option<&'a str>,
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// Tries `token68` at the cursor: it must fill the whole list element.
    fn try_token68(&mut self) -> Option<&'a str> {
        let start = self.i;
        let mut j = start;
        while self.b.get(j).copied().is_some_and(is_token68_char) {
            j += 1;
        }
        if j == start {
            return None;
        }
        while self.b.get(j) == Some(&b'=') {
            j += 1;
        }
        let end = j;
        while self.b.get(j).copied().is_some_and(is_ws) {
            j += 1;
        }
        match self.b.get(j) {
            None | Some(b',') => {
                self.i = j;
                Some(&self.s[start..end])
            }
            _ => None,
        }
    }

    /// Reads a quoted-string; the flag is false when the field ended before the closing quote.
    fn quoted_string(&mut self) -> Result<(Cow<'a, str>, bool), HeaderError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let mut seg = self.i;
        let mut owned: Option<String> = None;
        loop {
            let closed = match self.peek() {
                None => Some(false),
                Some(b'"') => Some(true),
                _ => None,
            };
            if let Some(closed) = closed {
                let tail = &self.s[seg..self.i];
                if closed {
                    self.i += 1;
                }
                let v = match owned {
                    Some(mut o) => {
                        o.push_str(tail);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(tail),
                };
                return Ok((v, closed));
            }
            match self.peek() {
                Some(b'\\') => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[seg..self.i]);
                    let at = self.i + 1;
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ); obs-text arrives here as
                    // a whole UTF-8 character.
                    let Some(c) = self.s[at..].chars().next() else {
                        // A lone backslash at the very end: the string is open.
                        self.i = at;
                        seg = at;
                        continue;
                    };
                    if c.is_ascii() && !(c == '\t' || (' '..='~').contains(&c)) {
                        return Err(HeaderError::UnexpectedChar { at });
                    }
                    o.push(c);
                    self.i = at + c.len_utf8();
                    seg = self.i;
                }
                // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
                Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => self.i += 1,
                Some(_) => return Err(HeaderError::UnexpectedChar { at: self.i }),
                None => unreachable!("end of input handled above"),
            }
        }
    }

    /// `BWS "=" BWS ( token / quoted-string )`, cursor after the name; then skips to the end of
    /// the list element. The flag is false for a quoted-string left open.
    fn param_value(&mut self, name: &str) -> Result<(Cow<'a, str>, bool), HeaderError> {
        self.skip_ws();
        debug_assert_eq!(self.peek(), Some(b'='));
        self.i += 1;
        self.skip_ws();
        let v = match self.peek() {
            Some(b'"') => self.quoted_string()?,
            Some(b) if is_tchar(b) => (Cow::Borrowed(self.token()), true),
            None | Some(b',') => return Err(HeaderError::MissingValue(name.to_owned())),
            Some(_) => return Err(HeaderError::UnexpectedChar { at: self.i }),
        };
        self.skip_rest_of_element();
        Ok(v)
    }

    /// Skips anything after a value up to the next comma outside quotes (or the end).
    fn skip_rest_of_element(&mut self) {
        let mut in_quote = false;
        while let Some(b) = self.peek() {
            match (in_quote, b) {
                (false, b',') => return,
                (_, b'"') => in_quote = !in_quote,
                (true, b'\\') => self.i += 1,
                _ => {}
            }
            self.i += 1;
        }
        self.i = self.i.min(self.b.len());
    }
}

/// Parses one `WWW-Authenticate` field value into its challenges, in order.
pub fn parse_challenge_list(value: &str) -> Result<Vec<RawChallenge<'_>>, HeaderError> {
    if value.len() > MAX_FIELD_LEN {
        return Err(HeaderError::TooLong { max: MAX_FIELD_LEN });
    }
    let mut c = Cursor {
        s: value,
        b: value.as_bytes(),
        i: 0,
    };
    let mut out: Vec<RawChallenge<'_>> = Vec::new();
    loop {
        // Empty list elements are allowed by the `#rule` (RFC 9110 §5.6.1).
        while c.peek().is_some_and(|b| is_ws(b) || b == b',') {
            c.i += 1;
        }
        let Some(_) = c.peek() else { break };
        let name_at = c.i;
        let name = c.token();
        if name.is_empty() {
            return Err(HeaderError::UnexpectedChar { at: name_at });
        }
        let after_name = c.i;
        c.skip_ws();
        if c.peek() == Some(b'=') {
            let Some(current) = out.last_mut() else {
                return Err(HeaderError::UnexpectedChar { at: name_at });
            };
            let (v, closed) = c.param_value(name)?;
            current.params.push((name, v));
            if !closed {
                current.unterminated = Some(name);
            }
            continue;
        }
        // A new challenge: the scheme must be followed by the end, a comma, or 1*SP.
        let mut ch = RawChallenge {
            scheme: name,
            token68: None,
            params: Vec::new(),
            unterminated: None,
        };
        if c.i > after_name && c.peek().is_some_and(|b| b != b',') {
            if c.b[after_name] != b' ' {
                return Err(HeaderError::UnexpectedChar { at: after_name });
            }
            if let Some(t) = c.try_token68() {
                ch.token68 = Some(t);
            } else {
                let p_at = c.i;
                let p = c.token();
                if p.is_empty() {
                    return Err(HeaderError::UnexpectedChar { at: p_at });
                }
                c.skip_ws();
                if c.peek() != Some(b'=') {
                    return Err(HeaderError::UnexpectedChar { at: c.i });
                }
                let (v, closed) = c.param_value(p)?;
                ch.params.push((p, v));
                if !closed {
                    ch.unterminated = Some(p);
                }
            }
        } else if c.i == after_name && c.peek().is_some_and(|b| b != b',') {
            return Err(HeaderError::UnexpectedChar { at: c.i });
        }
        out.push(ch);
    }
    Ok(out)
}

/// Appends `name="value"` with RFC 9110 quoted-string escaping; refuses control characters,
/// which would let a value split the header.
pub fn push_quoted_param(out: &mut String, name: &str, value: &str) -> Result<(), FormatError> {
    // ASCII controls other than HTAB are what can end or corrupt a header line; non-ASCII text
    // travels as obs-text and parses back unchanged.
    if value.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return Err(FormatError::ControlChar(name.to_owned()));
    }
    out.push_str(name);
    out.push_str("=\"");
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(c: &'a RawChallenge<'_>) -> Vec<(&'a str, &'a str)> {
        c.params.iter().map(|(k, v)| (*k, v.as_ref())).collect()
    }

    #[test]
    fn parses_tokens_and_quoted_strings() {
        let l = parse_challenge_list(r#"Payment id="a\"b", realm=api , intent = "x\\y""#).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].scheme, "Payment");
        assert_eq!(
            params(&l[0]),
            [("id", "a\"b"), ("realm", "api"), ("intent", "x\\y")]
        );
    }

    #[test]
    fn splits_several_challenges_in_one_field() {
        let l = parse_challenge_list(
            r#"Basic realm="x", Payment id="1", method="a", Bearer, Newauth abc==, Payment id="2""#,
        )
        .unwrap();
        let schemes: Vec<_> = l.iter().map(|c| c.scheme).collect();
        assert_eq!(
            schemes,
            ["Basic", "Payment", "Bearer", "Newauth", "Payment"]
        );
        assert_eq!(params(&l[1]), [("id", "1"), ("method", "a")]);
        assert_eq!(l[3].token68, Some("abc=="));
        assert_eq!(params(&l[4]), [("id", "2")]);
    }

    #[test]
    fn text_after_a_value_is_skipped_to_the_next_comma() {
        let l = parse_challenge_list(r#"Payment d="Pay for "Premium" now, 50%", id=a"#).unwrap();
        assert_eq!(params(&l[0]), [("d", "Pay for "), ("id", "a")]);
    }

    #[test]
    fn unterminated_quoted_string_is_flagged_not_fatal() {
        let l = parse_challenge_list(r#"Payment id="a", fuzz="\\\"#).unwrap();
        assert_eq!(l[0].unterminated, Some("fuzz"));
        assert_eq!(params(&l[0])[0], ("id", "a"));
    }

    #[test]
    fn refuses_control_chars_and_missing_values() {
        assert_eq!(
            parse_challenge_list("Payment id=\"a\nb\""),
            Err(HeaderError::UnexpectedChar { at: 13 })
        );
        assert_eq!(
            parse_challenge_list("Payment realm=x, id="),
            Err(HeaderError::MissingValue("id".into()))
        );
    }

    #[test]
    fn param_before_any_scheme_is_refused() {
        assert_eq!(
            parse_challenge_list(r#"id="a", Payment"#),
            Err(HeaderError::UnexpectedChar { at: 0 })
        );
    }

    #[test]
    fn quoting_escapes_and_refuses_crlf() {
        let mut s = String::new();
        push_quoted_param(&mut s, "d", r#"say "hi" \ bye"#).unwrap();
        assert_eq!(s, r#"d="say \"hi\" \\ bye""#);
        let field = format!("X {s}");
        let l = parse_challenge_list(&field).unwrap();
        assert_eq!(params(&l[0]), [("d", r#"say "hi" \ bye"#)]);
        assert_eq!(
            push_quoted_param(&mut String::new(), "d", "a\r\nSet-Cookie: x"),
            Err(FormatError::ControlChar("d".into()))
        );
    }

    #[test]
    fn hostile_input_is_linear() {
        // 60 KB of quotes/backslashes/commas must parse (or fail) without blowing up.
        let evil = format!("Payment {}", "a=\"\\\\\",".repeat(8_000));
        assert!(parse_challenge_list(&evil).is_ok());
        let evil2 = format!("Payment {}", ",".repeat(60_000));
        assert!(parse_challenge_list(&evil2).is_ok());
        assert_eq!(
            parse_challenge_list(&"a".repeat(MAX_FIELD_LEN + 1)),
            Err(HeaderError::TooLong { max: MAX_FIELD_LEN })
        );
    }
}
