//! Time as the protocol sees it: RFC 3339 timestamps and a `Clock` port so rules stay pure.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, written on the wire as RFC 3339 in UTC with `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// The text is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time")]
pub struct TimestampError;

impl Timestamp {
    /// Seconds since the Unix epoch (the Solana clock's unit); `None` outside the supported range.
    pub fn from_unix(secs: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(secs).ok().map(Self)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Parses an RFC 3339 date-time (any offset; normalised to UTC).
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Self(t.to_offset(time::UtcOffset::UTC)))
            .map_err(|_| TimestampError)
    }

    /// Adds a duration, saturating at the far end of the calendar.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(time_duration(d)))
    }

    /// Subtracts a duration, saturating.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(time_duration(d)))
    }

    /// The same instant with sub-second precision dropped: what we emit, since several peers
    /// compare or display `expires` to the second.
    pub fn truncated_to_seconds(self) -> Self {
        Self(self.0.replace_nanosecond(0).unwrap_or(self.0))
    }
}

fn time_duration(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Formatting a UTC OffsetDateTime within years 0..=9999 cannot fail; fall back to the
        // debug form rather than panic if it ever does.
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where the current time comes from. Rules take a `Timestamp`; only the edges own a clock.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(OffsetDateTime::now_utc())
    }
}

/// A clock that always answers the same instant (tests, replays, the embedded chain's clock).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_emits_utc_z() {
        let t = Timestamp::parse("2025-01-15T14:05:00+02:00").unwrap();
        assert_eq!(t.to_string(), "2025-01-15T12:05:00Z");
        assert_eq!(Timestamp::parse("2025-01-15T12:05:00Z").unwrap(), t);
    }

    #[test]
    fn refuses_non_rfc3339() {
        for s in [
            "2025-01-15",
            "2025-01-15T12:05Z",
            "tomorrow",
            "",
            "2025-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(s), Err(TimestampError), "{s}");
        }
    }

    #[test]
    fn truncation_drops_fraction() {
        let t = Timestamp::parse("2025-01-15T12:05:00.789Z").unwrap();
        assert_eq!(t.truncated_to_seconds().to_string(), "2025-01-15T12:05:00Z");
    }
}
