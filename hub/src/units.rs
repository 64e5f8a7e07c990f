//! Sizes and durations with units in configuration files: `"8MiB"`,
//! `"500kB"`, `"30s"`, `"15m"`, `"7d"`. Bare integers mean bytes / seconds.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// A size in bytes, written with a unit (`B`, `kB`, `KiB`, `MB`, `MiB`, `GB`,
/// `GiB`, `TB`, `TiB`) or as a bare integer of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A duration in whole seconds, written with a unit (`s`, `m`, `h`, `d`) or
/// as a bare integer of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secs(pub u64);

impl Secs {
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

fn split_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let idx = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (s[..idx].trim(), s[idx..].trim())
}

fn scaled(num: &str, mult: u64, what: &str, input: &str) -> Result<u64, String> {
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("{what} {input:?} is too large"));
    }
    let f: f64 = num
        .parse()
        .map_err(|_| format!("{what} {input:?} does not start with a number"))?;
    let v = f * mult as f64;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(format!("{what} {input:?} is out of range"));
    }
    Ok(v.round() as u64)
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (num, unit) = split_unit(s);
        let mult: u64 = match unit {
            "" | "B" => 1,
            "kB" | "KB" => 1000,
            "KiB" => 1 << 10,
            "MB" => 1000 * 1000,
            "MiB" => 1 << 20,
            "GB" => 1000 * 1000 * 1000,
            "GiB" => 1 << 30,
            "TB" => 1000u64.pow(4),
            "TiB" => 1 << 40,
            other => {
                return Err(format!(
                    "size {s:?} has unknown unit {other:?} (use B, kB, KiB, MB, MiB, GB, GiB, TB or TiB)"
                ));
            }
        };
        scaled(num, mult, "size", s).map(ByteSize)
    }
}

impl std::str::FromStr for Secs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (num, unit) = split_unit(s);
        let mult: u64 = match unit {
            "" | "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86400,
            other => {
                return Err(format!(
                    "duration {s:?} has unknown unit {other:?} (use s, m, h or d)"
                ));
            }
        };
        scaled(num, mult, "duration", s).map(Secs)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = self.0 as f64;
        let mut i = 0;
        while v >= 1024.0 && i + 1 < UNITS.len() {
            v /= 1024.0;
            i += 1;
        }
        if i == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{v:.1} {}", UNITS[i])
        }
    }
}

macro_rules! deserialize_with_units {
    ($ty:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        Ok(<$ty>::from(v))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        u64::try_from(v)
                            .map(<$ty>::from)
                            .map_err(|_| E::custom("must not be negative"))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

impl From<u64> for ByteSize {
    fn from(v: u64) -> Self {
        ByteSize(v)
    }
}
impl From<u64> for Secs {
    fn from(v: u64) -> Self {
        Secs(v)
    }
}

deserialize_with_units!(ByteSize, "a size such as \"8MiB\" or a number of bytes");
deserialize_with_units!(
    Secs,
    "a duration such as \"30s\", \"15m\", \"7d\" or a number of seconds"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let check = |s: &str, v: u64| assert_eq!(s.parse::<ByteSize>(), Ok(ByteSize(v)), "{s}");
        check("0", 0);
        check("12", 12);
        check("8MiB", 8 << 20);
        check("8 MiB", 8 << 20);
        check("1.5GiB", 3 << 29);
        check("500kB", 500_000);
        assert!("8 parsecs".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
        assert!("99999999999999TiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn durations() {
        let check = |s: &str, v: u64| assert_eq!(s.parse::<Secs>(), Ok(Secs(v)), "{s}");
        check("30", 30);
        check("30s", 30);
        check("15m", 900);
        check("2h", 7200);
        check("7d", 604_800);
        assert!("3 fortnights".parse::<Secs>().is_err());
    }

    #[test]
    fn display() {
        assert_eq!(ByteSize(512).to_string(), "512 B");
        assert_eq!(ByteSize(8 << 20).to_string(), "8.0 MiB");
    }
}
