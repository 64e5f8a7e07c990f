//! An unknown configuration key named as itself, with the nearest known key
//! suggested. serde's `deny_unknown_fields` message lists what the table it failed in
//! expected, which for a camera (its source keys are a flattened enum tagged by `kind`)
//! is only the keys of that kind: `fallback_imag` was reported as "expected
//! `token_scheme`". The known keys are asked of the same types the file is read into
//! (each refuses a probe key and lists its own), so the list cannot drift from them.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use super::{Config, ConnectionsConfig, TlsConfig, recordings::RecordingsConfig};

/// A key no table has, to make each list its own.
const PROBE: &str = "zz_probe_key_zz";

/// The keys `T` lists when it refuses [`PROBE`] after `before`.
fn keys_of<T: DeserializeOwned>(before: &str) -> Vec<String> {
    let text = format!("{before}\n{PROBE} = 0\n");
    let Err(e) = toml::from_str::<T>(&text) else {
        return Vec::new();
    };
    let msg = e.to_string();
    let Some(expected) = msg.split("expected ").nth(1) else {
        return Vec::new();
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every key of every table of the hub's configuration.
fn known_keys() -> &'static [String] {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = keys_of::<Config>("");
        keys.extend(keys_of::<ConnectionsConfig>(""));
        keys.extend(keys_of::<RecordingsConfig>(""));
        keys.extend(keys_of::<TlsConfig>(""));
        keys.extend(keys_of::<units::Retention>(""));
        // A camera: its own keys (those the flattened source does not see) and each
        // kind's.
        keys.extend(
            [
                "id",
                "name",
                "description",
                "kind",
                "fallback_image",
                "segment_duration",
                "retention",
            ]
            .map(str::to_owned),
        );
        for kind in ["agent", "demo", "rtsp", "reolink"] {
            keys.extend(keys_of::<super::CameraConfig>(&format!(
                "id = 1\nname = \"c\"\nkind = \"{kind}\""
            )));
        }
        keys.retain(|k| k != PROBE);
        keys.sort();
        keys.dedup();
        keys
    })
}

/// The known key nearest to `key`, if one is near enough to be a misspelling.
pub fn nearest(key: &str) -> Option<&'static str> {
    known_keys()
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// The line of `text` (1-based) that sets `key`, if one does.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// `message` (a TOML parse error of `text`) with serde's "unknown field `K`, expected
/// ..." line replaced by one that names `K`, the line that sets it (serde's position is
/// the table's, for a camera) and the nearest known key.
pub fn explain(message: &str, text: &str) -> String {
    message
        .lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("unknown field `") else {
                return line.to_owned();
            };
            let Some((key, _)) = rest.split_once('`') else {
                return line.to_owned();
            };
            let at = line_of(text, key)
                .map(|n| format!(" (line {n})"))
                .unwrap_or_default();
            match nearest(key) {
                Some(k) => format!("unknown key `{key}`{at}; did you mean `{k}`?"),
                None => format!("unknown key `{key}`{at}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_come_from_every_table_and_kind() {
        let keys = known_keys();
        for k in [
            "listen",
            "max_frame_size",
            "max_connections",
            "memory_budget",
            "max_segment_size",
            "max_age",
            "cert",
            "fallback_image",
            "token_scheme",
            "password_file",
            "host",
            "width",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
        }
        assert!(!keys.iter().any(|k| k == PROBE));
    }

    #[test]
    fn a_misspelled_key_is_named_with_the_nearest_known_one() {
        let text = "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\nfallback_imag = \"x.jpg\"\n";
        let e = Config::parse(text, std::path::Path::new("hub.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown key `fallback_imag` (line 6); did you mean `fallback_image`?"),
            "{e}"
        );
        assert!(!e.contains("token_scheme"), "{e}");
        let e = Config::parse(
            "data_dir = \"d\"\n[connections]\nmax_conections = 5\n",
            std::path::Path::new("hub.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("did you mean `max_connections`?"), "{e}");
        let e = Config::parse("data_dir = \"d\"\nbanana = 1\n", std::path::Path::new("h"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown key `banana`") && !e.contains("did you mean"),
            "{e}"
        );
    }
}
