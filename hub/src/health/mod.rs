//! Camera health: the footage's own checks ([`footage`]: gaps, disk, upload backlog, as stored
//! events), what an agent reports about its Pi ([`slot`], kept on each camera) and
//! the checks that turn readings into health events on the camera's event feed
//! ([`monitor`]: under-voltage, throttling, a recording that stopped, a camera offline
//! too long, a disk about to fill), so they reach MQTT and every other consumer.

pub mod footage;
pub mod monitor;
pub mod slot;
