//! Typed configuration of one Reolink camera source. The password is never logged: `Debug`
//! is written by hand and redacts it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use baichuan::crypto::EncryptionLevel;

/// The default Baichuan TCP port ("media port").
pub const DEFAULT_TCP_PORT: u16 = 9000;
/// The UDP ports battery cameras listen on for discovery (spec §1, §8.3).
pub const DEFAULT_UDP_DISCOVERY_PORTS: [u16; 2] = [2018, 2015];

/// How to reach the camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Wired/mains cameras and NVRs: Baichuan over TCP (port 9000 by default).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port, usually [`DEFAULT_TCP_PORT`].
        port: u16,
    },
    /// Battery cameras: BcUdp. Discovery sends `C2D_C` (by UID) to `ip` on each of `ports`
    /// and to every address in `targets` (broadcast addresses). Without a UID, the client
    /// first asks the same targets for it with `C2D_S`.
    Udp {
        /// Camera UID (sticker / app). `None` = learn it from the camera at `ip`.
        uid: Option<String>,
        /// Camera address, for unicast discovery.
        ip: Option<IpAddr>,
        /// Local UDP port to bind (0 = ephemeral).
        local_port: u16,
        /// Discovery ports used with `ip`; empty = [`DEFAULT_UDP_DISCOVERY_PORTS`].
        ports: Vec<u16>,
        /// Extra discovery destinations, e.g. `255.255.255.255:2015`. When empty and `ip` is
        /// `None`, the limited broadcast address on the default ports is used.
        targets: Vec<SocketAddr>,
    },
}

impl Transport {
    /// TCP to `host:9000`.
    pub fn tcp(host: impl Into<String>) -> Self {
        Transport::Tcp {
            host: host.into(),
            port: DEFAULT_TCP_PORT,
        }
    }

    /// The UDP discovery destinations this transport implies (empty for TCP).
    pub fn udp_discovery_targets(&self) -> Vec<SocketAddr> {
        let Transport::Udp {
            ip, ports, targets, ..
        } = self
        else {
            return Vec::new();
        };
        let ports: &[u16] = if ports.is_empty() {
            &DEFAULT_UDP_DISCOVERY_PORTS
        } else {
            ports
        };
        let mut out = Vec::new();
        if let Some(ip) = ip {
            out.extend(ports.iter().map(|&p| SocketAddr::new(*ip, p)));
        }
        out.extend(targets.iter().copied());
        if out.is_empty() {
            let bcast = IpAddr::from([255, 255, 255, 255]);
            out.extend(ports.iter().map(|&p| SocketAddr::new(bcast, p)));
        }
        out
    }
}

/// Which stream of the channel to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stream {
    /// Full resolution.
    #[default]
    Main,
    /// Low resolution ("fluent"); battery cameras often serve only one stream at a time.
    Sub,
}

impl Stream {
    pub(crate) fn kind(self) -> baichuan::login::StreamKind {
        match self {
            Stream::Main => baichuan::login::StreamKind::Main,
            Stream::Sub => baichuan::login::StreamKind::Sub,
        }
    }
}

/// Retry and keep-alive timings. The defaults follow the spec's timer table (§10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Time allowed from transport up to logged in.
    pub login_timeout: Duration,
    /// Msg 93 ping interval.
    pub ping_interval: Duration,
    /// Battery (msg 253) poll interval.
    pub battery_interval: Duration,
    /// Wi-Fi signal (msg 115) poll interval while a session is open (also asked once at
    /// login).
    pub signal_interval: Duration,
    /// Silence after which the connection is considered dead.
    pub idle_timeout: Duration,
    /// First reconnect delay; doubles per failure up to `backoff_max` (± 25 % jitter).
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Delay before retrying after the camera rejected the credentials.
    pub auth_retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            connect_timeout: Duration::from_secs(5),
            login_timeout: Duration::from_secs(15),
            ping_interval: Duration::from_secs(5),
            battery_interval: Duration::from_secs(60),
            signal_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(20),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            auth_retry: Duration::from_secs(300),
        }
    }
}

/// One camera source.
#[derive(Clone, PartialEq, Eq)]
pub struct ReolinkConfig {
    /// Camera name, used in tracing spans.
    pub name: String,
    /// TCP or UDP.
    pub transport: Transport,
    /// Login user.
    pub username: String,
    /// Login password (never logged).
    pub password: String,
    /// Main or sub stream.
    pub stream: Stream,
    /// Camera channel (0 for single cameras; NVR channel otherwise).
    pub channel: u8,
    /// Highest encryption level offered in login (`FullAes` like the official client).
    pub max_encryption: EncryptionLevel,
    /// Timers; `Timing::default()` in production.
    pub timing: Timing,
}

impl ReolinkConfig {
    /// A config with defaults: main stream, channel 0, full AES offered, default timings.
    pub fn new(
        name: impl Into<String>,
        transport: Transport,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        ReolinkConfig {
            name: name.into(),
            transport,
            username: username.into(),
            password: password.into(),
            stream: Stream::Main,
            channel: 0,
            max_encryption: EncryptionLevel::FullAes,
            timing: Timing::default(),
        }
    }
}

impl fmt::Debug for ReolinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReolinkConfig")
            .field("name", &self.name)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("stream", &self.stream)
            .field("channel", &self.channel)
            .field("max_encryption", &self.max_encryption)
            .field("timing", &self.timing)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let c = ReolinkConfig::new("cam", Transport::tcp("10.0.0.2"), "admin", "hunter2");
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("<redacted>"));
    }

    #[test]
    fn udp_targets() {
        let t = Transport::Udp {
            uid: Some("X".into()),
            ip: Some("10.0.0.9".parse().unwrap()),
            local_port: 0,
            ports: vec![],
            targets: vec![],
        };
        let v: Vec<String> = t
            .udp_discovery_targets()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(v, ["10.0.0.9:2018", "10.0.0.9:2015"]);
        let t = Transport::Udp {
            uid: Some("X".into()),
            ip: None,
            local_port: 0,
            ports: vec![],
            targets: vec![],
        };
        assert_eq!(t.udp_discovery_targets().len(), 2);
        assert!(t.udp_discovery_targets()[0].ip().to_string() == "255.255.255.255");
    }
}
