//! Home Assistant MQTT discovery: the retained config messages that make each camera a
//! device with a `camera` entity (its snapshots), a motion `binary_sensor` (and person,
//! vehicle and animal ones where the camera labels what it sees), battery and Wi-Fi
//! signal `sensor`s for battery cameras, an online `binary_sensor` and a `problem` one per health check. Every entity is available while the
//! hub's status topic says `online` (the hub's last will sets it `offline`). Pure: topics
//! and JSON only.

use serde_json::{Value, json};

/// The hub's topic names under `prefix`.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
    pub discovery: String,
    pub client_id: String,
}

impl Topics {
    /// `PREFIX/status`: `online`, or `offline` (the last will).
    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// `PREFIX/CAMERA/WHAT` (`motion`, `online`, `battery`, `signal`, `snapshot`, `event`,
    /// a label).
    pub fn camera(&self, camera: &str, what: &str) -> String {
        format!("{}/{camera}/{what}", self.prefix)
    }

    fn config(&self, component: &str, object: &str) -> String {
        format!(
            "{}/{component}/{}/{object}/config",
            self.discovery, self.client_id
        )
    }

    fn unique_id(&self, camera: &str, what: &str) -> String {
        format!("{}_{camera}_{what}", self.client_id)
    }
}

/// What discovery needs to know of a camera.
#[derive(Debug, Clone)]
pub struct CameraFacts {
    pub name: String,
    pub description: String,
    /// `agent`, `demo`, `rtsp`, `reolink`.
    pub kind: &'static str,
    /// The camera's alarms name what they saw (person, vehicle, animal).
    pub labels: bool,
    /// The camera runs on a battery.
    pub battery: bool,
    /// Its health problem codes (`crate::health::monitor`), each a `problem` sensor.
    pub health: Vec<&'static str>,
}

/// The labels a labelling camera gets a binary sensor for.
pub const LABELS: [&str; 3] = ["person", "vehicle", "animal"];

/// Every retained discovery message for `cam`: (topic, JSON).
pub fn configs(t: &Topics, cam: &CameraFacts) -> Vec<(String, Value)> {
    let device = json!({
        "identifiers": [format!("{}_{}", t.client_id, cam.name)],
        "name": if cam.description.is_empty() { cam.name.clone() } else { cam.description.clone() },
        "model": format!("{} camera", cam.kind),
        "manufacturer": "camera hub",
    });
    let availability = json!([{ "topic": t.status() }]);
    let base = |what: &str, name: &str| {
        json!({
            "name": name,
            "unique_id": t.unique_id(&cam.name, what),
            "object_id": format!("{}_{}", cam.name, what),
            "device": device.clone(),
            "availability": availability.clone(),
        })
    };
    let binary = |what: &str, name: &str, class: &str| {
        let mut v = base(what, name);
        v["state_topic"] = json!(t.camera(&cam.name, what));
        v["payload_on"] = json!("ON");
        v["payload_off"] = json!("OFF");
        v["device_class"] = json!(class);
        (
            t.config("binary_sensor", &format!("{}_{what}", cam.name)),
            v,
        )
    };
    let mut out = Vec::new();
    let mut camera = base("camera", "Snapshot");
    camera["topic"] = json!(t.camera(&cam.name, "snapshot"));
    out.push((t.config("camera", &format!("{}_camera", cam.name)), camera));
    out.push(binary("motion", "Motion", "motion"));
    if cam.labels {
        for label in LABELS {
            let name = format!("{}{}", label[..1].to_uppercase(), &label[1..]);
            out.push(binary(label, &name, "occupancy"));
        }
    }
    let (topic, mut online) = binary("online", "Online", "connectivity");
    online["entity_category"] = json!("diagnostic");
    out.push((topic, online));
    for code in &cam.health {
        let what = format!("health_{code}");
        let name = format!("Health: {}", code.replace('_', " "));
        let (topic, mut v) = binary(&what, &name, "problem");
        v["entity_category"] = json!("diagnostic");
        out.push((topic, v));
    }
    if cam.battery {
        let mut b = base("battery", "Battery");
        b["state_topic"] = json!(t.camera(&cam.name, "battery"));
        b["device_class"] = json!("battery");
        b["unit_of_measurement"] = json!("%");
        b["state_class"] = json!("measurement");
        b["entity_category"] = json!("diagnostic");
        out.push((t.config("sensor", &format!("{}_battery", cam.name)), b));
        let mut s = base("signal", "Wi-Fi signal");
        s["state_topic"] = json!(t.camera(&cam.name, "signal"));
        s["device_class"] = json!("signal_strength");
        s["unit_of_measurement"] = json!("dBm");
        s["state_class"] = json!("measurement");
        s["entity_category"] = json!("diagnostic");
        out.push((t.config("sensor", &format!("{}_signal", cam.name)), s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_a_unique_id_state_and_availability() {
        let t = Topics {
            prefix: "hub".into(),
            discovery: "homeassistant".into(),
            client_id: "home".into(),
        };
        let cam = CameraFacts {
            name: "door".into(),
            description: "Front door".into(),
            kind: "reolink",
            labels: true,
            battery: true,
            health: vec!["offline"],
        };
        let c = configs(&t, &cam);
        let topics: Vec<&str> = c.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/camera/home/door_camera/config",
                "homeassistant/binary_sensor/home/door_motion/config",
                "homeassistant/binary_sensor/home/door_person/config",
                "homeassistant/binary_sensor/home/door_vehicle/config",
                "homeassistant/binary_sensor/home/door_animal/config",
                "homeassistant/binary_sensor/home/door_online/config",
                "homeassistant/binary_sensor/home/door_health_offline/config",
                "homeassistant/sensor/home/door_battery/config",
                "homeassistant/sensor/home/door_signal/config",
            ]
        );
        let ids: std::collections::HashSet<&str> = c
            .iter()
            .map(|(_, v)| v["unique_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), c.len());
        for (_, v) in &c {
            assert_eq!(v["availability"][0]["topic"], "hub/status");
            assert_eq!(v["device"]["identifiers"][0], "home_door");
            assert_eq!(v["device"]["name"], "Front door");
        }
        assert_eq!(c[0].1["topic"], "hub/door/snapshot");
        assert_eq!(c[1].1["state_topic"], "hub/door/motion");
        assert_eq!(c[6].1["state_topic"], "hub/door/health_offline");
        assert_eq!(c[6].1["device_class"], "problem");
        assert_eq!(c[7].1["unit_of_measurement"], "%");
        assert_eq!(c[8].1["state_topic"], "hub/door/signal");
        assert_eq!(c[8].1["unit_of_measurement"], "dBm");
        assert_eq!(c[8].1["device_class"], "signal_strength");
    }
}
