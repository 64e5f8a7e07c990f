//! [`Dur`]: `"500ms"`, `"30s"`, `"15m"`, `"2h"`, `"7d"`, `"1m30s"`, `"1.5h"`, or a bare
//! integer of seconds.

use std::time::Duration;

use crate::{WithUnit, deserialize_with_unit, scale, split_number};

/// A duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn from_secs(secs: u64) -> Dur {
        Dur(Duration::from_secs(secs))
    }

    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

/// Parses a duration: one or more parts of a number (decimals allowed) and a unit (`ms`,
/// `s`, `m`/`min`, `h`, `d`), e.g. `"1h30m"`; a lone number without a unit is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: expected a number and a unit (ms, s, m, h or d), e.g. \
             \"500ms\", \"30s\", \"2m\", \"1h30m\" or \"14d\""
        )
    };
    let mut nanos: u128 = 0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut parts = 0;
    while !rest.is_empty() {
        let (number, after) = split_number(rest);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let ns_per: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            // A lone number: seconds.
            "" if parts == 0 && next.trim().is_empty() => 1_000_000_000,
            _ => return Err(bad()),
        };
        nanos = scale(number, ns_per)
            .and_then(|v| nanos.checked_add(v))
            .ok_or_else(bad)?;
        parts += 1;
        rest = next.trim_start();
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Dur)
    }
}

impl WithUnit for Dur {
    const EXPECTING: &'static str =
        "a duration such as \"30s\", \"15m\", \"7d\" or a number of seconds";
    fn from_integer(v: u64) -> Option<Self> {
        Some(Dur::from_secs(v))
    }
}

deserialize_with_unit!(Dur);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok =
            |s: &str, ms: u64| assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        ok("500ms", 500);
        ok("0s", 0);
        ok("30s", 30_000);
        ok("30", 30_000);
        ok("2m", 120_000);
        ok("15min", 900_000);
        ok("1h", 3_600_000);
        ok("1m30s", 90_000);
        ok("1h 30m", 5_400_000);
        ok("1.5h", 5_400_000);
        ok("14d", 14 * 86_400_000);
        ok("8 s", 8000);
        for bad in [
            "",
            "s",
            "1w",
            "-1s",
            "3 fortnights",
            "30 30",
            "1s2",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_duration("1w")
                .unwrap_err()
                .contains("invalid duration")
        );
    }

    #[test]
    fn bare_integers_are_seconds() {
        #[derive(serde::Deserialize)]
        struct T {
            a: Dur,
            b: Dur,
        }
        let t: T = toml::from_str("a = 30\nb = \"1m\"").unwrap();
        assert_eq!((t.a.as_secs(), t.b.as_secs()), (30, 60));
        assert!(toml::from_str::<T>("a = -1\nb = 1").is_err());
    }
}
