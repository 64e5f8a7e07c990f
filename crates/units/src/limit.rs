//! [`Limit`]: a value with a unit, or `"unlimited"`.

use std::marker::PhantomData;

use serde::Deserialize;

use crate::{UnitVisitor, WithUnit};

/// A limit that may be `"unlimited"` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<T>(pub Option<T>);

impl<T> Default for Limit<T> {
    /// No limit.
    fn default() -> Self {
        Limit(None)
    }
}

impl<T> Limit<T> {
    pub const UNLIMITED: Limit<T> = Limit(None);

    pub fn is_unlimited(&self) -> bool {
        self.0.is_none()
    }
}

impl<'de, T: WithUnit> Deserialize<'de> for Limit<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: WithUnit> serde::de::Visitor<'_> for V<T> {
            type Value = Limit<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "\"unlimited\" or {}", T::EXPECTING)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit<T>, E> {
                UnitVisitor::<T>(PhantomData)
                    .visit_u64(v)
                    .map(|t| Limit(Some(t)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit<T>, E> {
                UnitVisitor::<T>(PhantomData)
                    .visit_i64(v)
                    .map(|t| Limit(Some(t)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit<T>, E> {
                if v.trim() == "unlimited" {
                    return Ok(Limit(None));
                }
                v.parse::<T>()
                    .map(|t| Limit(Some(t)))
                    .map_err(|e| E::custom(format!("{e} (or \"unlimited\")")))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ByteSize, Dur};

    #[test]
    fn unlimited_or_a_value() {
        #[derive(Deserialize)]
        struct T {
            a: Limit<ByteSize>,
            b: Limit<Dur>,
        }
        let t: T = toml::from_str("a = \"unlimited\"\nb = \"14d\"").unwrap();
        assert_eq!(t.a, Limit(None));
        assert_eq!(t.b, Limit(Some(Dur::from_secs(14 * 86_400))));
        let t: T = toml::from_str("a = 1024\nb = 60").unwrap();
        assert_eq!(
            (t.a, t.b),
            (Limit(Some(ByteSize(1024))), Limit(Some(Dur::from_secs(60))))
        );
        let e = toml::from_str::<T>("a = \"lots\"\nb = \"1s\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("invalid size") && e.contains("unlimited"), "{e}");
    }
}
