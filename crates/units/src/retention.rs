//! [`Retention`]: how much footage to keep, as both binaries write it: `max_age`,
//! `max_size` and `min_free`, each a value with a unit or `"unlimited"`.

use std::time::Duration;

use serde::Deserialize;

use crate::{ByteSize, Dur, Limit};

/// A retention table as written: a key left out is `None` and takes the binary's default
/// ([`RetentionTable::or`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionTable {
    /// Delete footage older than this.
    #[serde(default)]
    pub max_age: Option<Limit<Dur>>,
    /// Keep recordings under this many bytes.
    #[serde(default)]
    pub max_size: Option<Limit<ByteSize>>,
    /// Keep at least this much free on the recordings filesystem.
    #[serde(default)]
    pub min_free: Option<Limit<ByteSize>>,
}

impl RetentionTable {
    /// The limits, with `defaults` for the keys left out.
    pub fn or(self, defaults: Retention) -> Retention {
        Retention {
            max_age: self.max_age.unwrap_or(defaults.max_age),
            max_size: self.max_size.unwrap_or(defaults.max_size),
            min_free: self.min_free.unwrap_or(defaults.min_free),
        }
    }
}

/// Retention limits. Deserialized on its own, a key left out is no limit (the hub's
/// tables); the agent fills its defaults in with [`RetentionTable::or`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Limit<Dur>,
    pub max_size: Limit<ByteSize>,
    pub min_free: Limit<ByteSize>,
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RetentionTable::deserialize(d).map(|t| t.or(Retention::UNLIMITED))
    }
}

impl Retention {
    /// Keep everything.
    pub const UNLIMITED: Retention = Retention {
        max_age: Limit(None),
        max_size: Limit(None),
        min_free: Limit(None),
    };

    pub fn is_unlimited(&self) -> bool {
        self.max_age.is_unlimited() && self.max_size.is_unlimited() && self.min_free.is_unlimited()
    }

    pub fn max_age(&self) -> Option<Duration> {
        self.max_age.0.map(|d| d.0)
    }

    pub fn max_bytes(&self) -> Option<u64> {
        self.max_size.0.map(|b| b.0)
    }

    pub fn min_free_bytes(&self) -> Option<u64> {
        self.min_free.0.map(|b| b.0)
    }

    /// Refuses zero limits (a zero age or size would delete every recording as soon as it
    /// is written, a zero floor is none): `Err((key, reason))`, the key relative to the
    /// table.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let deletes_all = "0 would delete every recording as soon as it is written;";
        let zero = [
            (
                "max_age",
                self.max_age.0.is_some_and(Dur::is_zero),
                format!("{deletes_all} write \"unlimited\" for no age limit"),
            ),
            (
                "max_size",
                self.max_size.0 == Some(ByteSize(0)),
                format!("{deletes_all} write \"unlimited\" for no size limit"),
            ),
            (
                "min_free",
                self.min_free.0 == Some(ByteSize(0)),
                "0 is no free-space floor; write \"unlimited\" for none".to_owned(),
            ),
        ];
        match zero.into_iter().find(|(_, is_zero, _)| *is_zero) {
            Some((key, _, why)) => Err((key, why)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        retention: Retention,
        #[serde(default)]
        table: RetentionTable,
    }

    #[test]
    fn keys_left_out_are_unlimited_or_take_defaults() {
        let f: File = toml::from_str("[retention]\nmax_size = \"1GiB\"\n").unwrap();
        assert_eq!(f.retention.max_bytes(), Some(1 << 30));
        assert_eq!(
            (f.retention.max_age(), f.retention.min_free_bytes()),
            (None, None)
        );
        let defaults = Retention {
            max_age: Limit(Some(Dur::from_secs(86_400))),
            max_size: Limit(Some(ByteSize(10))),
            min_free: Limit(Some(ByteSize(5))),
        };
        let f: File =
            toml::from_str("[table]\nmax_size = \"unlimited\"\nmin_free = \"2MiB\"\n").unwrap();
        let r = f.table.or(defaults);
        assert_eq!(r.max_age(), Some(Duration::from_secs(86_400)));
        assert_eq!(r.max_bytes(), None);
        assert_eq!(r.min_free_bytes(), Some(2 << 20));
        assert!(toml::from_str::<File>("[retention]\nmax_ages = \"1d\"\n").is_err());
    }

    #[test]
    fn zero_limits_are_refused_with_the_new_form() {
        for (text, key) in [
            ("max_age = \"0s\"", "max_age"),
            ("max_size = 0", "max_size"),
            ("min_free = \"0B\"", "min_free"),
        ] {
            let f: File = toml::from_str(&format!("[retention]\n{text}\n")).unwrap();
            let (k, why) = f.retention.check().unwrap_err();
            assert_eq!(k, key);
            assert!(why.contains("\"unlimited\""), "{why}");
        }
        assert!(Retention::UNLIMITED.check().is_ok());
        assert!(Retention::UNLIMITED.is_unlimited());
    }
}
