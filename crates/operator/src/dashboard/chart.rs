//! The overview's 30-day spend chart as geometry for an inline SVG (no script, no chart
//! library). Pure: days and totals in, bars out. Heights are integer arithmetic on base units
//! (u128, so no total overflows).

/// The drawing area of the SVG, in its own units.
pub const WIDTH: u32 = 1080;
/// Height of the bar area.
pub const HEIGHT: u32 = 160;
/// Space under the bars for the day labels.
pub const LABELS: u32 = 20;

/// One day's bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height (at least 1 for a non-zero day, so it stays visible).
    pub h: u32,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// The day's total, written for people (the bar's tooltip).
    pub label: String,
}

/// A day label under the axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// Centre of the label.
    pub x: u32,
    /// `MM-DD`.
    pub text: String,
}

/// The chart: bars, a few day labels and the scale's top value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// One per day, oldest first.
    pub bars: Vec<Bar>,
    /// Every fifth day, and the last.
    pub ticks: Vec<Tick>,
    /// The largest day, written for people (the top of the scale).
    pub max_label: String,
    /// Whether any day has spend.
    pub any: bool,
}

/// Lays out `days` (`(day, total, label)`, oldest first) as bars scaled to the largest day.
pub fn layout(days: &[(String, u64, String)]) -> Chart {
    let n = u32::try_from(days.len()).unwrap_or(u32::MAX).max(1);
    let slot = WIDTH / n;
    let gap = (slot / 5).max(1);
    let max = days.iter().map(|d| d.1).max().unwrap_or(0);
    let bars = days
        .iter()
        .zip(0u32..)
        .map(|((day, total, label), i)| {
            let h = if max == 0 {
                0
            } else {
                let scaled = u128::from(*total) * u128::from(HEIGHT) / u128::from(max);
                let h = u32::try_from(scaled).unwrap_or(HEIGHT);
                if *total > 0 { h.max(1) } else { 0 }
            };
            Bar {
                x: i * slot + gap / 2,
                y: HEIGHT - h,
                w: slot - gap,
                h,
                day: day.clone(),
                label: label.clone(),
            }
        })
        .collect::<Vec<_>>();
    let last = bars.len().saturating_sub(1);
    let ticks = bars
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 == 0 || *i == last)
        .map(|(_, b)| Tick {
            x: b.x + b.w / 2,
            text: b.day.get(5..).unwrap_or(&b.day).to_owned(),
        })
        .collect();
    let max_label = days
        .iter()
        .find(|d| d.1 == max)
        .map(|d| d.2.clone())
        .unwrap_or_default();
    Chart {
        bars,
        ticks,
        max_label,
        any: max > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(i: u32, total: u64) -> (String, u64, String) {
        (format!("2026-11-{i:02}"), total, format!("{total} u"))
    }

    #[test]
    fn bars_scale_to_the_largest_day_and_small_days_stay_visible() {
        let days: Vec<_> = (1..=30)
            .map(|i| day(i, if i == 30 { u64::MAX } else { u64::from(i % 3) }))
            .collect();
        let c = layout(&days);
        assert_eq!(c.bars.len(), 30);
        let top = &c.bars[29];
        assert_eq!((top.h, top.y), (HEIGHT, 0));
        assert_eq!(c.bars[0].h, 1, "a tiny non-zero day is 1 unit tall");
        assert_eq!(c.bars[2].h, 0, "an empty day has no bar");
        assert!(c.bars.iter().all(|b| b.x + b.w <= WIDTH));
        assert_eq!(c.max_label, format!("{} u", u64::MAX));
        assert_eq!(c.ticks.first().map(|t| t.text.as_str()), Some("11-01"));
        assert_eq!(c.ticks.last().map(|t| t.text.as_str()), Some("11-30"));
        assert!(c.any);
    }

    #[test]
    fn an_empty_month_draws_nothing() {
        let c = layout(&(1..=30).map(|i| day(i, 0)).collect::<Vec<_>>());
        assert!(!c.any);
        assert!(c.bars.iter().all(|b| b.h == 0));
        assert!(!layout(&[]).any);
    }
}
