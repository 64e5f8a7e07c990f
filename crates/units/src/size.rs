//! [`ByteSize`]: `"8MiB"`, `"500kB"`, `"1.5GiB"`, `"8 MiB"`, or a bare integer of bytes.

use std::fmt;

use crate::{WithUnit, deserialize_with_unit, scale, split_number};

/// A size in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Parses a size: a number (decimals allowed) and a unit (`B`, `kB`/`KB`, `KiB`, `MB`,
/// `MiB`, `GB`, `GiB`, `TB`, `TiB`; none means bytes), rounded down to whole bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size {s:?}: expected a number and a unit (B, kB, KiB, MB, MiB, GB, GiB, \
             TB or TiB), e.g. \"4MiB\" or \"500kB\""
        )
    };
    let (number, unit) = split_number(s);
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    scale(number, u128::from(mult))
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(bad)
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(ByteSize)
    }
}

impl WithUnit for ByteSize {
    const EXPECTING: &'static str = "a size such as \"8MiB\" or a number of bytes";
    fn from_integer(v: u64) -> Option<Self> {
        Some(ByteSize(v))
    }
}

deserialize_with_unit!(ByteSize);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = |s: &str, v: u64| assert_eq!(parse_size(s), Ok(v), "{s}");
        ok("0", 0);
        ok("7", 7);
        ok("1000B", 1000);
        ok("4MiB", 4 << 20);
        ok("8 MiB", 8 << 20);
        ok("512KiB", 512 << 10);
        ok("2MB", 2_000_000);
        ok("500kB", 500_000);
        ok("1.5GiB", 3 << 29);
        ok("2TiB", 2 << 40);
        for bad in [
            "",
            "MiB",
            "8 parsecs",
            "4mib",
            "-1",
            "1.2.3MiB",
            "99999999999999TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_size("4 parsecs")
                .unwrap_err()
                .contains("invalid size")
        );
    }

    #[test]
    fn display() {
        assert_eq!(ByteSize(512).to_string(), "512 B");
        assert_eq!(ByteSize(8 << 20).to_string(), "8.0 MiB");
    }
}
