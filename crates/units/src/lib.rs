//! The configuration dialect the agent and the hub share: sizes ([`ByteSize`]: `"8MiB"`,
//! `"500kB"`, a bare integer of bytes), durations ([`Dur`]: `"30s"`, `"1m30s"`, `"500ms"`,
//! `"7d"`, a bare integer of seconds), limits that may be `"unlimited"` ([`Limit`]), and the
//! retention table built from them ([`Retention`]: `max_age`, `max_size`, `min_free`).
//!
//! One grammar for both binaries, so a value written for one means the same in the other.
//! Only the defaults differ, and they stay in each binary's code (a key left out of the
//! agent's `[record.retention]` takes the agent's SD-card-sized default; the hub's means no
//! limit). Pure: strings in, values out.

mod duration;
mod limit;
mod retention;
mod size;

pub use duration::{Dur, parse_duration};
pub use limit::Limit;
pub use retention::{Retention, RetentionTable};
pub use size::{ByteSize, parse_size};

/// A number with a unit, split: the leading digits (with at most one `.`) and the rest,
/// both trimmed.
fn split_number(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut dot = false;
    let end = s
        .find(|c: char| {
            if c == '.' && !dot {
                dot = true;
                return false;
            }
            !c.is_ascii_digit()
        })
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// `number × unit` exactly (no floating point): the integer part times `unit`, plus the
/// fraction's digits times `unit` over their power of ten, rounded down. `None` when it is
/// not a number or does not fit.
fn scale(number: &str, unit: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.len() > 18 {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut v = int.checked_mul(unit)?;
    if !frac.is_empty() {
        let digits: u128 = frac.parse().ok()?;
        v = v.checked_add(digits.checked_mul(unit)? / 10u128.pow(frac.len() as u32))?;
    }
    Some(v)
}

/// A value that configuration files write with a unit: parsed from a string, or from a
/// bare integer in the type's base unit (bytes, seconds).
pub trait WithUnit: std::str::FromStr<Err = String> + Sized {
    /// What the deserializer says it expected.
    const EXPECTING: &'static str;
    /// A bare integer.
    fn from_integer(v: u64) -> Option<Self>;
}

/// `Deserialize` for a [`WithUnit`] type: a string with a unit or a bare integer.
macro_rules! deserialize_with_unit {
    ($ty:ty) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(crate::UnitVisitor::<$ty>(std::marker::PhantomData))
            }
        }
    };
}
pub(crate) use deserialize_with_unit;

/// Visits a string with a unit or a bare integer; with `UNLIMITED` also `"unlimited"`.
pub(crate) struct UnitVisitor<T>(pub std::marker::PhantomData<T>);

impl<T: WithUnit> serde::de::Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        T::from_integer(v).ok_or_else(|| E::custom(format!("{v} is too large")))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("must not be negative"))?;
        self.visit_u64(v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_split_and_scale_exactly() {
        assert_eq!(split_number("1.5h"), ("1.5", "h"));
        assert_eq!(split_number(" 8 MiB"), ("8", " MiB"));
        assert_eq!(split_number("1.2.3s"), ("1.2", ".3s"));
        assert_eq!(scale("1.5", 3600), Some(5400));
        assert_eq!(scale("0.001", 1000), Some(1));
        assert_eq!(scale(".5", 10), Some(5));
        assert_eq!(scale("", 10), None);
        assert_eq!(scale(".", 10), None);
        assert_eq!(scale("99999999999999999999999999999999999999999", 10), None);
    }
}
