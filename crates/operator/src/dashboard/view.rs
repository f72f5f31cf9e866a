//! What every page shares: the navigation, rendering with security headers, error pages, and
//! amounts and times written for people (integer arithmetic only: money never becomes a float).

use std::collections::HashMap;
use std::str::FromStr;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use mppsol_store::StoreError;
use solana_address::Address;

use crate::AppState;
use crate::error::ApiError;

/// The navigation bar and what its sign-out form needs.
#[derive(Debug, Clone)]
pub struct Nav {
    /// The page's section (`overview`, `accounts`, …), highlighted.
    pub active: &'static str,
    /// The session's CSRF token, in every form.
    pub csrf: String,
    /// Who is signed in (the operator's name).
    pub operator: String,
}

/// The headers every HTML page carries: no caching, a strict CSP (no inline script or
/// style), no framing, no sniffing.
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// Renders a page with `status`.
pub(crate) fn render_with(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => secure((status, Html(html)).into_response()),
        Err(e) => PageError(ApiError::Unexpected(Box::new(e))).into_response(),
    }
}

/// Renders a page (200).
pub(crate) fn render(page: &impl Template) -> Response {
    render_with(StatusCode::OK, page)
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    detail: String,
}

/// A failed page: the API's error, shown as HTML (500s say nothing internal, and are logged).
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let detail = match &self.0 {
            ApiError::Unexpected(cause) => {
                tracing::error!(error = %cause, "dashboard page failed");
                "Something went wrong on our side; it has been logged.".to_owned()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail,
        };
        match page.render() {
            Ok(html) => secure((status, Html(html)).into_response()),
            Err(_) => status.into_response(),
        }
    }
}

/// What a page handler returns.
pub(crate) type PageResult = Result<Response, PageError>;

/// A point in time: machine-readable UTC for the `<time>` element (the page's script shows it
/// in the viewer's zone) and a UTC text for readers without script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339, UTC.
    pub iso: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub text: String,
}

impl When {
    /// Of Unix seconds.
    pub fn at(unix: i64) -> Self {
        let t = time::OffsetDateTime::from_unix_timestamp(unix)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
        let (h, mi, s) = (t.hour(), t.minute(), t.second());
        Self {
            iso: format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
            text: format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"),
        }
    }
}

/// A duration for people: `45 s`, `12 min`, `3 h`, `2 d`.
pub fn ago(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// `amount` base units with `decimals`, digits grouped by thousands and trailing zeros of the
/// fraction trimmed: `1234500000, 9` → `1,234.5`.
pub fn units(amount: u64, decimals: u8) -> String {
    let scale = 10u64.checked_pow(u32::from(decimals));
    let (whole, frac) = match scale {
        Some(scale) => (amount / scale, amount % scale),
        None => (0, amount),
    };
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if decimals == 0 || frac == 0 {
        return grouped;
    }
    let frac = format!("{frac:0width$}", width = usize::from(decimals));
    format!("{grouped}.{}", frac.trim_end_matches('0'))
}

/// Reads a decimal amount typed in token units (`1,234.5`) into base units; `None` when it is
/// not a number, has more fraction digits than `decimals`, or overflows.
pub fn parse_units(text: &str, decimals: u8) -> Option<u64> {
    let t: String = text
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    let (whole, frac) = t.split_once('.').unwrap_or((t.as_str(), ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !digits(whole)
        || !digits(frac)
        || frac.len() > usize::from(decimals)
    {
        return None;
    }
    let scale = 10u64.checked_pow(u32::from(decimals))?;
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_units: u64 = if frac.is_empty() {
        0
    } else {
        let pad = 10u64.checked_pow(u32::from(decimals) - frac.len() as u32)?;
        frac.parse::<u64>().ok()?.checked_mul(pad)?
    };
    whole.checked_mul(scale)?.checked_add(frac_units)
}

/// `Abcd…wxyz` for a long address or signature.
pub fn short(text: &str) -> String {
    if text.len() <= 12 || !text.is_ascii() {
        return text.to_owned();
    }
    format!("{}…{}", &text[..4], &text[text.len() - 4..])
}

/// How a currency is written and how many decimals its amounts have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `SOL`, or a shortened mint.
    pub symbol: String,
    /// Decimals; `None` when the mint could not be read (amounts then show base units).
    pub decimals: Option<u8>,
}

impl Unit {
    /// `amount` in this unit, with its symbol.
    pub fn show(&self, amount: u64) -> String {
        match self.decimals {
            Some(d) => format!("{} {}", units(amount, d), self.symbol),
            None => format!("{} base units of {}", units(amount, 0), self.symbol),
        }
    }

    /// `amount` in this unit without the symbol (form values).
    pub fn plain(&self, amount: u64) -> String {
        units(amount, self.decimals.unwrap_or(0)).replace(',', "")
    }
}

/// Mint decimals looked up on the ledger once per page.
pub(crate) struct Units<'a> {
    state: &'a AppState,
    known: HashMap<String, Unit>,
}

/// Where an SPL mint (Token and Token-2022 alike) keeps its decimals: after the
/// `COption<Pubkey>` authority (36 bytes) and the `u64` supply.
const MINT_DECIMALS_OFFSET: usize = 44;

impl<'a> Units<'a> {
    pub(crate) fn new(state: &'a AppState) -> Self {
        Self {
            state,
            known: HashMap::new(),
        }
    }

    /// The unit of `currency` (`sol` or a mint address).
    pub(crate) async fn of(&mut self, currency: &str) -> Unit {
        if let Some(u) = self.known.get(currency) {
            return u.clone();
        }
        let unit = if currency.eq_ignore_ascii_case("sol") {
            Unit {
                symbol: "SOL".into(),
                decimals: Some(9),
            }
        } else {
            let decimals = match Address::from_str(currency) {
                Ok(mint) => match self.state.ledger().get_account(&mint).await {
                    Ok(Some(account)) => account.data.get(MINT_DECIMALS_OFFSET).copied(),
                    _ => None,
                },
                Err(_) => None,
            };
            Unit {
                symbol: short(currency),
                decimals,
            }
        };
        self.known.insert(currency.to_owned(), unit.clone());
        unit
    }

    /// `amount` of `currency`, for people.
    pub(crate) async fn show(&mut self, amount: u64, currency: &str) -> String {
        self.of(currency).await.show(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_and_trimmed_without_floats() {
        assert_eq!(units(1_234_500_000, 9), "1.2345");
        assert_eq!(units(1_234_000_500_000_000, 9), "1,234,000.5");
        assert_eq!(units(5, 9), "0.000000005");
        assert_eq!(units(0, 6), "0");
        assert_eq!(units(1_000_000, 0), "1,000,000");
        assert_eq!(units(u64::MAX, 9), "18,446,744,073.709551615");
        assert_eq!(units(u64::MAX, 30), "0.000000000018446744073709551615");
    }

    #[test]
    fn typed_amounts_parse_to_base_units_exactly() {
        assert_eq!(parse_units("1.5", 9), Some(1_500_000_000));
        assert_eq!(parse_units("1,000", 6), Some(1_000_000_000));
        assert_eq!(parse_units(".25", 2), Some(25));
        assert_eq!(parse_units("0.000000001", 9), Some(1));
        assert_eq!(parse_units("0.0000000001", 9), None, "finer than the mint");
        assert_eq!(parse_units("1e3", 9), None);
        assert_eq!(parse_units("-1", 9), None);
        assert_eq!(parse_units("", 9), None);
        assert_eq!(parse_units(".", 9), None);
        assert_eq!(parse_units("18446744074", 9), None, "overflows u64");
    }

    #[test]
    fn times_are_utc_rfc3339_and_durations_round_down() {
        let w = When::at(1_795_305_599);
        assert_eq!(w.iso, "2026-11-21T23:59:59Z");
        assert_eq!(w.text, "2026-11-21 23:59 UTC");
        assert_eq!(ago(59), "59 s");
        assert_eq!(ago(61), "1 min");
        assert_eq!(ago(7200), "2 h");
        assert_eq!(ago(-5), "0 s");
        assert_eq!(
            short("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"),
            "7xKX…gAsU"
        );
        assert_eq!(short("sol"), "sol");
    }
}
