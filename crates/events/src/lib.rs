//! What happens at a camera beside its video: motion, a camera's alarm with a label
//! (person, vehicle, animal, ...), battery and charging, going online or offline, a refused
//! password. Every source publishes [`Event`]s into its camera's event channel beside the
//! video one (the hub's camera sources, and later the agent's motion detector and Reolink
//! alarm messages), and whatever consumes them reads this one type: a log today; an event
//! store in SQLite, a timeline, MQTT and webhooks next.
//!
//! Types only: no runtime, no I/O. An event serializes to one flat JSON object
//! (`{"at_ms":…,"origin":"camera","kind":"alarm","label":"person","active":true}`), and
//! [`What::key`] and [`Label::as_str`] are stable names for columns and topics. Strings
//! that come from a device are bounded ([`MAX_TEXT_LEN`]) when an event is made.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest label or reason an event carries (longer ones are cut at a character
/// boundary): events are stored and sent on, and some of their text comes from devices.
pub const MAX_TEXT_LEN: usize = 200;

/// One thing that happened at a camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, in unix milliseconds: the device's time when it says, else when
    /// the publisher learned of it.
    pub at_ms: i64,
    /// Who noticed.
    pub origin: Origin,
    #[serde(flatten)]
    pub what: What,
    /// The named detection zone of the camera where the motion was, when its detector
    /// has zones (bounded like device text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

impl Event {
    pub fn new(at_ms: i64, origin: Origin, what: What) -> Event {
        Event {
            at_ms,
            origin,
            what,
            zone: None,
        }
    }

    /// The same event, in the named zone `zone` (if any).
    pub fn in_zone(mut self, zone: Option<&str>) -> Event {
        self.zone = zone.map(bounded);
        self
    }
}

/// Who noticed an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The camera said so (a Reolink alarm message, a battery report).
    Camera,
    /// The camera's agent worked it out (motion detection on the Pi).
    Agent,
    /// The hub saw it (its session to the camera came up or went down).
    Hub,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// Something moved; `active` false when it stopped.
    Motion { active: bool },
    /// The camera classified what it saw; `active` false when it is gone.
    Alarm { label: Label, active: bool },
    /// A battery camera's charge.
    Battery { percent: u8, charging: bool },
    /// Video flows (again).
    Online,
    /// The camera was lost, and why.
    Offline { reason: String },
    /// The camera refused the user name or password.
    AuthFailed,
    /// Something about the camera's health began (`active`) or ended: `code` is a short
    /// stable name (`under_voltage`, `throttled`, `recording_stopped`, `offline`,
    /// `disk_low`), `message` a sentence for people.
    Health {
        code: String,
        active: bool,
        message: String,
    },
}

impl What {
    /// Stable name of the kind, for a column or a topic.
    pub fn key(&self) -> &'static str {
        match self {
            What::Motion { .. } => "motion",
            What::Alarm { .. } => "alarm",
            What::Battery { .. } => "battery",
            What::Online => "online",
            What::Offline { .. } => "offline",
            What::AuthFailed => "auth_failed",
            What::Health { .. } => "health",
        }
    }

    /// For an event that starts or ends something (motion, an alarm): whether it starts
    /// it. A timeline pairs starts with ends.
    pub fn active(&self) -> Option<bool> {
        match self {
            What::Motion { active } | What::Alarm { active, .. } | What::Health { active, .. } => {
                Some(*active)
            }
            _ => None,
        }
    }

    /// A health condition began or ended; code and message bounded as device text is.
    pub fn health(code: &str, active: bool, message: &str) -> What {
        What::Health {
            code: bounded(code),
            active,
            message: bounded(message),
        }
    }

    /// The camera was lost: the reason is cut to one line of at most [`MAX_TEXT_LEN`].
    pub fn offline(reason: &str) -> What {
        What::Offline {
            reason: bounded(reason.lines().next().unwrap_or_default()),
        }
    }
}

/// What a camera's alarm says it saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Label {
    Person,
    Vehicle,
    Animal,
    Face,
    Package,
    /// Someone at the door (a doorbell's press).
    Visitor,
    /// A label this crate does not know yet, as the device named it.
    Other(String),
}

impl Label {
    /// A device's name for what it saw (`"people"`, `"dog_cat"`, ...): a known label where
    /// the name is one, else [`Label::Other`] with the name, lower-cased and bounded.
    pub fn parse(name: &str) -> Label {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "person" | "people" | "human" => Label::Person,
            "vehicle" | "car" => Label::Vehicle,
            "animal" | "pet" | "dog_cat" => Label::Animal,
            "face" => Label::Face,
            "package" => Label::Package,
            "visitor" => Label::Visitor,
            _ => Label::Other(bounded(&name)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Label::Person => "person",
            Label::Vehicle => "vehicle",
            Label::Animal => "animal",
            Label::Face => "face",
            Label::Package => "package",
            Label::Visitor => "visitor",
            Label::Other(name) => name,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Label, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Label::parse(&name))
    }
}

/// `text` cut to [`MAX_TEXT_LEN`] bytes at a character boundary, without control
/// characters.
fn bounded(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).collect();
    if out.len() > MAX_TEXT_LEN {
        let mut cut = MAX_TEXT_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_flat_json_and_read_back() {
        let cases = [
            (
                Event::new(
                    5,
                    Origin::Camera,
                    What::Alarm {
                        label: Label::Person,
                        active: true,
                    },
                ),
                r#"{"at_ms":5,"origin":"camera","kind":"alarm","label":"person","active":true}"#,
            ),
            (
                Event::new(
                    6,
                    Origin::Camera,
                    What::Battery {
                        percent: 41,
                        charging: false,
                    },
                ),
                r#"{"at_ms":6,"origin":"camera","kind":"battery","percent":41,"charging":false}"#,
            ),
            (
                Event::new(7, Origin::Hub, What::Online),
                r#"{"at_ms":7,"origin":"hub","kind":"online"}"#,
            ),
            (
                Event::new(8, Origin::Hub, What::offline("timed out\nsecond line")),
                r#"{"at_ms":8,"origin":"hub","kind":"offline","reason":"timed out"}"#,
            ),
            (
                Event::new(9, Origin::Agent, What::Motion { active: false }),
                r#"{"at_ms":9,"origin":"agent","kind":"motion","active":false}"#,
            ),
            (
                Event::new(10, Origin::Hub, What::AuthFailed),
                r#"{"at_ms":10,"origin":"hub","kind":"auth_failed"}"#,
            ),
        ];
        for (event, json) in cases {
            assert_eq!(serde_json::to_string(&event).unwrap(), json);
            assert_eq!(serde_json::from_str::<Event>(json).unwrap(), event);
        }
    }

    #[test]
    fn keys_labels_and_bounds() {
        let alarm = What::Alarm {
            label: Label::parse("dog_cat"),
            active: false,
        };
        assert_eq!((alarm.key(), alarm.active()), ("alarm", Some(false)));
        assert_eq!(What::Online.active(), None);
        assert_eq!(Label::parse(" People "), Label::Person);
        assert_eq!(Label::parse("Bird").as_str(), "bird");
        let long = Label::parse(&"é".repeat(300));
        assert!(long.as_str().len() <= MAX_TEXT_LEN);
        let What::Offline { reason } = What::offline(&format!("a\u{7}{}", "x".repeat(500))) else {
            unreachable!()
        };
        assert_eq!(reason.len(), MAX_TEXT_LEN);
        assert!(reason.starts_with("ax"));
    }
}
