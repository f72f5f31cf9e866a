//! `Accept-Payment: tempo/charge, solana/*;q=0.6, */session;q=0`: which method/intent pairs a
//! client can pay, with HTTP-style weights, and how a server ranks its offers by it.

use crate::error::HeaderError;
use crate::header::auth_params::is_tchar;

/// One `payment-range`; `None` stands for the `*` wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRange {
    /// Method, or any.
    pub method: Option<String>,
    /// Intent, or any.
    pub intent: Option<String>,
    /// Weight in thousandths (`q=0.5` is 500); integers keep ranking exact.
    pub q: u16,
}

impl PaymentRange {
    fn matches(&self, method: &str, intent: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.intent.as_deref().is_none_or(|i| i == intent)
    }

    /// Exact method beats exact intent beats `*/*`.
    fn specificity(&self) -> u8 {
        (u8::from(self.method.is_some()) << 1) | u8::from(self.intent.is_some())
    }
}

/// Parses an `Accept-Payment` field value. Servers may ignore a malformed one (the spec allows
/// it), so callers usually treat an error as "no preference".
pub fn parse_accept_payment(value: &str) -> Result<Vec<PaymentRange>, HeaderError> {
    if value.len() > 8 * 1024 {
        return Err(HeaderError::TooLong { max: 8 * 1024 });
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for element in value.split(',') {
        let at = offset;
        offset += element.len() + 1;
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        let mut parts = element.split(';');
        let token = parts.next().unwrap_or("").trim_matches([' ', '\t']);
        let (m, i) = token
            .split_once('/')
            .ok_or(HeaderError::UnexpectedChar { at })?;
        let method = wildcard(m, |b| b.is_ascii_lowercase()).ok_or(HeaderError::InvalidMethod)?;
        let intent = wildcard(i, |b| b.is_ascii_alphanumeric() || b == b'-')
            .ok_or(HeaderError::InvalidIntent)?;
        let mut q = 1000;
        for p in parts {
            let p = p.trim_matches([' ', '\t']);
            let (k, v) = p
                .split_once('=')
                .ok_or(HeaderError::UnexpectedChar { at })?;
            if k.eq_ignore_ascii_case("q") {
                q = parse_qvalue(v).ok_or(HeaderError::UnexpectedChar { at })?;
            } else if k.is_empty() || !k.bytes().all(is_tchar) {
                return Err(HeaderError::UnexpectedChar { at });
            }
        }
        out.push(PaymentRange { method, intent, q });
    }
    Ok(out)
}

fn wildcard(s: &str, ok: impl Fn(u8) -> bool) -> Option<Option<String>> {
    match s {
        "*" => Some(None),
        "" => None,
        s if s.bytes().all(ok) => Some(Some(s.to_owned())),
        _ => None,
    }
}

/// RFC 9110 §12.4.2 `qvalue`, in thousandths.
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_val: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac_val),
        "1" if frac_val == 0 => Some(1000),
        _ => None,
    }
}

/// Formats ranges back into a field value (what our client sends).
pub fn format_accept_payment(ranges: &[PaymentRange]) -> String {
    let mut out = String::new();
    for (n, r) in ranges.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        out.push_str(r.method.as_deref().unwrap_or("*"));
        out.push('/');
        out.push_str(r.intent.as_deref().unwrap_or("*"));
        match r.q {
            1000.. => {}
            0 => out.push_str(";q=0"),
            q => {
                out.push_str(";q=0.");
                out.push_str(format!("{q:03}").trim_end_matches('0'));
            }
        }
    }
    out
}

/// Orders a server's offers (method, intent) by the client's preferences, as core §8.3 asks:
/// drop offers no range accepts with `q>0`, sort by the most specific matching range's `q`
/// descending, keep server order on ties. If nothing matches, the server's own order is kept.
/// Returns indexes into `offers`.
pub fn rank_offers(offers: &[(&str, &str)], ranges: &[PaymentRange]) -> Vec<usize> {
    if ranges.is_empty() {
        return (0..offers.len()).collect();
    }
    let mut scored: Vec<(usize, u16)> = offers
        .iter()
        .enumerate()
        .filter_map(|(idx, (m, i))| {
            ranges
                .iter()
                .filter(|r| r.matches(m, i))
                // most specific wins; among equals, the first listed
                .fold(None::<&PaymentRange>, |best, r| match best {
                    Some(b) if b.specificity() >= r.specificity() => Some(b),
                    _ => Some(r),
                })
                .filter(|r| r.q > 0)
                .map(|r| (idx, r.q))
        })
        .collect();
    if scored.is_empty() {
        return (0..offers.len()).collect();
    }
    scored.sort_by_key(|&(_, q)| std::cmp::Reverse(q));
    scored.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: [(&str, &str); 4] = [
        ("stripe", "charge"),
        ("solana", "charge"),
        ("tempo", "session"),
        ("tempo", "charge"),
    ];

    fn rank(h: &str) -> Vec<(&'static str, &'static str)> {
        let r = parse_accept_payment(h).unwrap();
        rank_offers(&OFFERS, &r)
            .into_iter()
            .map(|i| OFFERS[i])
            .collect()
    }

    #[test]
    fn spec_example_weights() {
        assert_eq!(
            rank("tempo/charge, tempo/session, stripe/charge;q=0.5, solana/charge;q=0.3"),
            [
                ("tempo", "session"),
                ("tempo", "charge"),
                ("stripe", "charge"),
                ("solana", "charge")
            ]
        );
    }

    #[test]
    fn wildcards_and_q_zero() {
        assert_eq!(
            rank("tempo/*, solana/*;q=0.6, stripe/charge;q=0.2"),
            [
                ("tempo", "session"),
                ("tempo", "charge"),
                ("solana", "charge"),
                ("stripe", "charge")
            ]
        );
        assert_eq!(
            rank("tempo/charge, tempo/session;q=0, solana/charge;q=0.8, stripe/charge;q=0.4"),
            [
                ("tempo", "charge"),
                ("solana", "charge"),
                ("stripe", "charge")
            ]
        );
    }

    #[test]
    fn most_specific_range_decides() {
        // `tempo/session;q=0` is more specific than `*/*`, so tempo/session is dropped.
        assert_eq!(
            rank("*/*;q=0.5, tempo/session;q=0"),
            [
                ("stripe", "charge"),
                ("solana", "charge"),
                ("tempo", "charge")
            ]
        );
    }

    #[test]
    fn no_match_keeps_server_order() {
        assert_eq!(rank("lightning/charge").len(), 4);
    }

    #[test]
    fn malformed_values_are_errors() {
        assert!(parse_accept_payment("tempo").is_err());
        assert!(parse_accept_payment("Tempo/charge").is_err());
        assert!(parse_accept_payment("tempo/charge;q=2").is_err());
        assert!(parse_accept_payment("tempo/charge;q=0.1234").is_err());
    }

    #[test]
    fn format_round_trips() {
        let h = "tempo/charge, solana/*;q=0.6, */session;q=0";
        assert_eq!(format_accept_payment(&parse_accept_payment(h).unwrap()), h);
    }
}
