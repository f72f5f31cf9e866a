//! The overview: spend today and over 30 days (one chart per currency), payments per minute,
//! pending settlements, approvals waiting, failures, open sessions and their unsettled
//! exposure, and the RPC's health (a timed call to the ledger).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Extension;
use axum::extract::State;
use mppsol_store::operator::{COUNT_CAP, utc_day};

use super::auth::Viewer;
use super::chart::{self, Chart};
use super::view::{Nav, PageResult, Units, render};
use crate::AppState;

/// Days the chart covers, today included.
const DAYS: i64 = 30;

/// One currency's spend.
struct Spend {
    symbol: String,
    today: String,
    month: String,
    chart: Chart,
}

/// The RPC's answer to a timed call.
struct Rpc {
    ok: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    nav: Nav,
    spend: Vec<Spend>,
    per_minute: String,
    payments_last_hour: String,
    pending_settlements: String,
    pending_approvals: u64,
    pending_approvals_text: String,
    failures: String,
    open_sessions: u64,
    exposure: Vec<String>,
    rpc: Rpc,
    chart_width: u32,
    chart_height: u32,
    chart_full: u32,
}

/// A capped count: `1,000+` at the cap.
fn count(n: u64) -> String {
    let text = super::view::units(n, 0);
    if n >= COUNT_CAP {
        format!("{text}+")
    } else {
        text
    }
}

/// Payments per minute over an hour, one decimal, integer arithmetic.
fn per_minute(last_hour: u64) -> String {
    let tenths = last_hour * 10 / 60;
    format!("{}.{}", tenths / 10, tenths % 10)
}

async fn rpc_health(state: &AppState) -> Rpc {
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(2), state.ledger().slot()).await {
        Ok(Ok(slot)) => Rpc {
            ok: true,
            detail: format!("slot {slot} · {} ms", started.elapsed().as_millis()),
        },
        Ok(Err(e)) => Rpc {
            ok: false,
            detail: format!("unreachable: {e}"),
        },
        Err(_) => Rpc {
            ok: false,
            detail: "no answer within 2 s".into(),
        },
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> PageResult {
    let now = state.now();
    let today = utc_day(now);
    let days: Vec<String> = (0..DAYS)
        .rev()
        .map(|back| utc_day(now - back * 86_400))
        .collect();
    let since = days.first().cloned().unwrap_or_else(|| today.clone());
    let o = state
        .store()
        .dashboard_overview(&viewer.actor, &since, now)
        .await?;
    let mut units = Units::new(&state);
    // Per currency, per day; SOL is shown (empty) when nothing was spent at all.
    let mut by_currency: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for d in &o.daily_spend {
        *by_currency
            .entry(d.currency.clone())
            .or_default()
            .entry(d.day.clone())
            .or_default() += d.total;
    }
    if by_currency.is_empty() {
        by_currency.insert("sol".into(), BTreeMap::new());
    }
    let mut spend = Vec::new();
    for (currency, per_day) in &by_currency {
        let unit = units.of(currency).await;
        let series: Vec<(String, u64, String)> = days
            .iter()
            .map(|d| {
                let total = per_day.get(d).copied().unwrap_or(0);
                (d.clone(), total, unit.show(total))
            })
            .collect();
        let month = per_day.values().fold(0u64, |a, b| a.saturating_add(*b));
        spend.push(Spend {
            symbol: unit.symbol.clone(),
            today: unit.show(per_day.get(&today).copied().unwrap_or(0)),
            month: unit.show(month),
            chart: chart::layout(&series),
        });
    }
    let mut exposure = Vec::new();
    for e in &o.unsettled_exposure {
        exposure.push(units.show(e.amount, &e.currency).await);
    }
    Ok(render(&OverviewPage {
        nav: viewer.nav("overview"),
        spend,
        per_minute: per_minute(o.payments_last_hour),
        payments_last_hour: count(o.payments_last_hour),
        pending_settlements: count(o.pending_settlements),
        pending_approvals: o.pending_approvals,
        pending_approvals_text: count(o.pending_approvals),
        failures: count(o.failures_last_day),
        open_sessions: o.open_sessions,
        exposure,
        rpc: rpc_health(&state).await,
        chart_width: chart::WIDTH,
        chart_height: chart::HEIGHT,
        chart_full: chart::HEIGHT + chart::LABELS,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_capped_counts_read_well() {
        assert_eq!(per_minute(0), "0.0");
        assert_eq!(per_minute(90), "1.5");
        assert_eq!(per_minute(59), "0.9");
        assert_eq!(count(12), "12");
        assert_eq!(count(COUNT_CAP), "1,000+");
    }
}
