//! Per-camera detector settings: typed, strict, with units, validated ranges and errors that name the key.
//!
//! The table is meant to be embedded in a camera's configuration (the
//! agent's `[motion]`, a hub camera's `[camera.motion]`):
//!
//! ```toml
//! sensitivity = 60            # 1..=100: higher finds fainter, smaller changes
//! min_area_percent = 0.5      # smallest moving region, % of the picture (0.01..=100)
//! min_duration = "1s"         # motion must last this long to become an event
//! cooldown = "5s"             # this long without motion ends an event
//! analysis_fps = 5            # frames analysed per second at most (1..=30)
//!
//! [[exclude]]                 # zero or more polygons, normalized 0..1 (x right, y down)
//! name = "street"
//! points = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.3], [0.0, 0.3]]
//!
//! [[zone]]                    # zero or more named detection zones, same coordinates
//! name = "driveway"           # required: 1..=64 of letters, digits, space, - _ .
//! points = [[0.0, 0.3], [0.5, 0.3], [0.5, 1.0], [0.0, 1.0]]
//! ```
//!
//! Without `[[zone]]`, motion anywhere outside the exclusion zones counts.
//! With zones, only motion inside one of them counts, and each event carries
//! the name of the zone where most of its motion was (a cell in two zones
//! belongs to the first listed).
//!
//! Unknown keys are refused; range errors from deserializing name the key
//! (serde's path); [`Settings::validate`] checks what spans keys (polygon
//! shape, zone names) and names the key as `exclude[2].points` or
//! `zone[0].name`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What is wrong with a settings table: the key (relative to the motion
/// table, e.g. `exclude[1].points[0]`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingsError {
    pub key: String,
    pub reason: String,
}

impl SettingsError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> SettingsError {
        SettingsError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The detector's settings for one camera. `Default` is what a camera gets
/// when its configuration has an empty motion table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// 1..=100. Sets the luma difference a cell must show above its own
    /// noise: at 100 about 3 levels and 3 noise deviations, at 1 about 23
    /// levels and 6 deviations (see the crate's design note).
    pub sensitivity: Sensitivity,
    /// Smallest moving region that counts, in percent of the whole
    /// picture (exclusion zones included in the whole).
    pub min_area_percent: AreaPercent,
    /// Motion must go on this long (gaps shorter than the cool-down, at
    /// most 1 s, do not break it) before it is an event. `"0s"` makes every
    /// moving frame start one.
    #[serde(with = "duration_units")]
    pub min_duration: Duration,
    /// An event ends once this long has passed without motion; motion
    /// within it continues the same event. Events are therefore at least
    /// this far apart. The event's end is its last moving frame.
    #[serde(with = "duration_units")]
    pub cooldown: Duration,
    /// Analyse at most this many frames per second; [`crate::Detector::due`]
    /// tells the caller which frames to hand over.
    pub analysis_fps: AnalysisFps,
    /// Regions where nothing counts as motion (a road, a tree, a clock
    /// overlay).
    pub exclude: Vec<Zone>,
    /// Named detection zones (`[[zone]]`): when there are any, motion
    /// counts only inside them, and an event is named by the zone where
    /// most of its motion was.
    #[serde(rename = "zone")]
    pub zones: Vec<Zone>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sensitivity: Sensitivity(60),
            min_area_percent: AreaPercent(0.5),
            min_duration: Duration::from_secs(1),
            cooldown: Duration::from_secs(5),
            analysis_fps: AnalysisFps(5),
            exclude: Vec::new(),
            zones: Vec::new(),
        }
    }
}

/// Longest `min_duration` or `cooldown` accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Most exclusion zones, and most detection zones, per camera.
pub const MAX_ZONES: usize = 32;
/// The longest detection zone name.
pub const MAX_ZONE_NAME: usize = 64;
/// Most points per zone.
pub const MAX_POINTS: usize = 64;

impl Settings {
    /// Checks what deserialization alone cannot: durations in range, zone
    /// count and polygon shape. The error names the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, d) in [
            ("min_duration", self.min_duration),
            ("cooldown", self.cooldown),
        ] {
            if d > MAX_DURATION {
                return Err(SettingsError::new(
                    key,
                    format!(
                        "{} is longer than the maximum of 1h",
                        humantime::format_duration(d)
                    ),
                ));
            }
        }
        check_polygons("exclude", &self.exclude)?;
        check_polygons("zone", &self.zones)?;
        for (i, zone) in self.zones.iter().enumerate() {
            let key = format!("zone[{i}].name");
            if let Err(why) = check_zone_name(&zone.name) {
                return Err(SettingsError::new(key, why));
            }
            if self.zones[..i].iter().any(|z| z.name == zone.name) {
                return Err(SettingsError::new(
                    key,
                    format!("{:?} names another zone too; names must differ", zone.name),
                ));
            }
        }
        Ok(())
    }

    /// The smallest region, as a fraction of the picture (0..=1).
    pub fn min_area_fraction(&self) -> f32 {
        self.min_area_percent.0 / 100.0
    }
}

/// Checks the count and shape of the polygons of `key` (`exclude`, `zone`).
fn check_polygons(key: &str, zones: &[Zone]) -> Result<(), SettingsError> {
    if zones.len() > MAX_ZONES {
        return Err(SettingsError::new(
            key,
            format!("{} zones; at most {MAX_ZONES} are allowed", zones.len()),
        ));
    }
    for (i, zone) in zones.iter().enumerate() {
        let key = format!("{key}[{i}].points");
        if zone.points.len() < 3 {
            return Err(SettingsError::new(
                key,
                format!(
                    "a polygon needs at least 3 points, got {}",
                    zone.points.len()
                ),
            ));
        }
        if zone.points.len() > MAX_POINTS {
            return Err(SettingsError::new(
                key,
                format!(
                    "{} points; at most {MAX_POINTS} are allowed",
                    zone.points.len()
                ),
            ));
        }
        for (j, p) in zone.points.iter().enumerate() {
            for v in p {
                if !(0.0..=1.0).contains(v) {
                    return Err(SettingsError::new(
                        format!("{key}[{j}]"),
                        format!("coordinate {v} is outside 0..=1 (normalized to the picture)"),
                    ));
                }
            }
        }
        if polygon_area(&zone.points) < 1e-6 {
            return Err(SettingsError::new(key, "the polygon encloses no area"));
        }
    }
    Ok(())
}

/// Whether `name` can name a detection zone: it is shown on pages, stored with events
/// and used in the events API's filter, so it is short, printable and has no
/// characters that need escaping in a URL query beyond the space.
pub fn check_zone_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a detection zone needs a name".into());
    }
    if name.len() > MAX_ZONE_NAME {
        return Err(format!(
            "{} bytes; a zone name is at most {MAX_ZONE_NAME}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))
    {
        return Err(format!(
            "{c:?} is not allowed; use letters, digits, space, - _ ."
        ));
    }
    if name.trim() != name {
        return Err("a zone name does not start or end with a space".into());
    }
    Ok(())
}

/// Twice the signed area's magnitude / 2 (shoelace formula).
fn polygon_area(points: &[[f32; 2]]) -> f32 {
    let n = points.len();
    let twice: f32 = (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    twice.abs() / 2.0
}

/// An exclusion or detection zone: a polygon in normalized coordinates
/// (0..=1, `x` to the right, `y` down), closed implicitly. A cell of the
/// analysis grid is in it when its centre is inside (even-odd rule).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// An exclusion zone's name is for people reading the configuration; a
    /// detection zone's names its events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub points: Vec<[f32; 2]>,
}

impl Zone {
    /// True if `(x, y)` (normalized) is inside the polygon.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let pts = &self.points;
        let mut inside = false;
        let mut j = pts.len().wrapping_sub(1);
        for i in 0..pts.len() {
            let (pi, pj) = (pts[i], pts[j]);
            if (pi[1] > y) != (pj[1] > y) {
                let x_cross = pi[0] + (y - pi[1]) * (pj[0] - pi[0]) / (pj[1] - pi[1]);
                if x < x_cross {
                    inside = !inside;
                }
            }
            j = i;
        }
        inside
    }
}

macro_rules! ranged {
    ($(#[$doc:meta])* $name:ident($ty:ty), $lo:expr, $hi:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub $ty);

        impl $name {
            pub const MIN: $ty = $lo;
            pub const MAX: $ty = $hi;

            /// The value if it is in range.
            pub fn new(v: $ty) -> Result<$name, String> {
                if (Self::MIN..=Self::MAX).contains(&v) {
                    Ok($name(v))
                } else {
                    Err(format!(
                        concat!($what, " {} is out of range {}..={}"),
                        v,
                        Self::MIN,
                        Self::MAX
                    ))
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let v = <$ty>::deserialize(d)?;
                $name::new(v).map_err(serde::de::Error::custom)
            }
        }
    };
}

ranged!(
    /// Detector sensitivity, 1..=100.
    Sensitivity(u8), 1, 100, "sensitivity"
);
ranged!(
    /// Percent of the picture, 0.01..=100.
    AreaPercent(f32), 0.01, 100.0, "area"
);
ranged!(
    /// Analysed frames per second, 1..=30.
    AnalysisFps(u8), 1, 30, "analysis rate"
);

/// Serde for durations written with units (`"500ms"`, `"2s"`, `"1m 30s"`);
/// a bare number is refused because its unit would be a guess.
mod duration_units {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"500ms\", \"2s\", \"1m\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
                humantime::parse_duration(s).map_err(|e| {
                    E::custom(format!(
                        "invalid duration {s:?} ({e}): expected e.g. \"500ms\", \"2s\", \"1m\""
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Settings, String> {
        let settings: Settings = toml::from_str(s).map_err(|e| e.to_string())?;
        settings.validate().map_err(|e| e.to_string())?;
        Ok(settings)
    }

    #[test]
    fn empty_table_is_the_default() {
        assert_eq!(parse("").unwrap(), Settings::default());
    }

    #[test]
    fn full_table() {
        let s = parse(
            r#"
            sensitivity = 80
            min_area_percent = 1.5
            min_duration = "500ms"
            cooldown = "1m 30s"
            analysis_fps = 10
            [[exclude]]
            name = "street"
            points = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.25], [0.0, 0.25]]
            [[zone]]
            name = "front door"
            points = [[0.0, 0.25], [0.5, 0.25], [0.5, 1.0], [0.0, 1.0]]
            "#,
        )
        .unwrap();
        assert_eq!(s.sensitivity, Sensitivity(80));
        assert_eq!(s.min_area_percent, AreaPercent(1.5));
        assert_eq!(s.min_duration, Duration::from_millis(500));
        assert_eq!(s.cooldown, Duration::from_secs(90));
        assert_eq!(s.analysis_fps, AnalysisFps(10));
        assert_eq!(s.exclude.len(), 1);
        assert!(s.exclude[0].contains(0.5, 0.1));
        assert!(!s.exclude[0].contains(0.5, 0.3));
        assert_eq!(s.zones[0].name, "front door");
        // Round trip through TOML.
        let back: Settings = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    /// Each bad table fails with a message naming the key and the reason.
    #[test]
    fn errors_name_the_key() {
        let check = |input: &str, needles: &[&str]| {
            let err = parse(input).unwrap_err();
            for n in needles {
                assert!(err.contains(n), "{input:?}: {err:?} lacks {n:?}");
            }
        };
        check("sensitivity = 0", &["sensitivity", "out of range 1..=100"]);
        check("sensitivity = 101", &["sensitivity", "out of range"]);
        check(
            "min_area_percent = 0.0",
            &["min_area_percent", "0.01..=100"],
        );
        check("analysis_fps = 60", &["analysis_fps", "1..=30"]);
        check(
            "min_duration = \"1\"",
            &["min_duration", "invalid duration"],
        );
        check(
            "min_duration = 3",
            &["min_duration", "a duration with a unit"],
        );
        check("cooldown = \"2h\"", &["cooldown", "maximum of 1h"]);
        check("sensitivty = 5", &["unknown field `sensitivty`"]);
        check(
            "[[exclude]]\npoints = [[0.0, 0.0], [1.0, 0.0]]",
            &["exclude[0].points", "at least 3 points"],
        );
        check(
            "[[exclude]]\npoints = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]\n[[exclude]]\npoints = [[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]]",
            &["exclude[1].points[1]", "outside 0..=1"],
        );
        check(
            "[[exclude]]\npoints = [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]",
            &["exclude[0].points", "no area"],
        );
        check(
            "[[exclude]]\npoints = [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]\ncolour = 1",
            &["unknown field `colour`"],
        );
        let square = "points = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]";
        check(
            &format!("[[zone]]\n{square}"),
            &["zone[0].name", "needs a name"],
        );
        check(
            &format!("[[zone]]\nname = \"a<b\"\n{square}"),
            &["zone[0].name", "'<' is not allowed"],
        );
        check(
            &format!("[[zone]]\nname = \"{}\"\n{square}", "x".repeat(65)),
            &["zone[0].name", "at most 64"],
        );
        check(
            &format!("[[zone]]\nname = \"door\"\n{square}\n[[zone]]\nname = \"door\"\n{square}"),
            &["zone[1].name", "names another zone"],
        );
        check(
            "[[zone]]\nname = \"door\"\npoints = [[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]]",
            &["zone[0].points[1]", "outside 0..=1"],
        );
    }

    #[test]
    fn polygon_contains_even_odd() {
        // A concave "U": the notch is outside.
        let u = Zone {
            name: String::new(),
            points: vec![
                [0.1, 0.1],
                [0.3, 0.1],
                [0.3, 0.7],
                [0.7, 0.7],
                [0.7, 0.1],
                [0.9, 0.1],
                [0.9, 0.9],
                [0.1, 0.9],
            ],
        };
        assert!(u.contains(0.2, 0.5));
        assert!(u.contains(0.5, 0.8));
        assert!(!u.contains(0.5, 0.5));
        assert!(!u.contains(0.05, 0.5));
        assert!(!u.contains(0.5, 0.95));
    }
}
