//! The camera's side of one BC session, independent of the transport: login (nonce, modern
//! and legacy credential checks, encryption negotiation), DeviceInfo, battery replies and
//! pushes, ping replies, the msg 234 keep-alive, and paced media on msg 3. The TCP and UDP
//! drivers feed it bytes and time and send what it writes.

use std::sync::Arc;
use std::time::Duration;

use baichuan::camera;
use baichuan::crypto::{Encryption, EncryptionLevel};
use baichuan::header::{Header, MsgClass};
use baichuan::media::MediaPacket;
use baichuan::msg::{Body, Codec, Message, MsgId};
use baichuan::xml::{BatteryInfo, DeviceInfo, Extension};
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::Shared;
use super::media::MediaCursor;

/// Media bytes per msg 3 message (a real camera cuts its stream at arbitrary points).
const MEDIA_CHUNK: usize = 32 * 1024;
/// Bytes of each binary payload encrypted under full AES (what a camera announces).
const FULL_AES_ENCRYPT_LEN: usize = 1024;

fn rank(l: EncryptionLevel) -> u8 {
    match l {
        EncryptionLevel::None => 0,
        EncryptionLevel::BcEncrypt => 1,
        EncryptionLevel::Aes | EncryptionLevel::Aes03 => 2,
        EncryptionLevel::FullAes => 3,
        EncryptionLevel::Other(_) => 1,
    }
}

/// One simulated BC session.
pub(crate) struct CameraConn {
    shared: Arc<Shared>,
    codec: Codec,
    nonce: String,
    level: Option<EncryptionLevel>,
    logged_in: bool,
    stream: Option<Header>,
    media: MediaCursor,
    next_due: Option<Instant>,
    keepalive_num: u16,
    keepalive_outstanding: Option<Instant>,
    closed: bool,
    /// This session's number, for the shared streaming clock.
    id: u64,
    /// The client asked for alarm pushes (msg 31).
    alarms_subscribed: bool,
}

impl Drop for CameraConn {
    fn drop(&mut self) {
        self.shared.stream_ended(self.id);
    }
}

impl CameraConn {
    pub(crate) fn new(shared: Arc<Shared>, conn_no: u64) -> Self {
        let media = MediaCursor::new(&shared.media);
        CameraConn {
            nonce: format!(
                "{:016X}",
                0x5EED_0000_0000_0000u64 ^ conn_no.wrapping_mul(0x9E37_79B9)
            ),
            shared,
            codec: Codec::new(Encryption::BcEncrypt),
            level: None,
            logged_in: false,
            stream: None,
            media,
            next_due: None,
            keepalive_num: 0,
            keepalive_outstanding: None,
            closed: false,
            id: conn_no,
            alarms_subscribed: false,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// When the next media group is due (`None` when not streaming).
    pub(crate) fn media_due(&self) -> Option<Instant> {
        self.next_due
    }

    /// Since when a msg 234 has gone unanswered.
    pub(crate) fn keepalive_outstanding(&self) -> Option<Instant> {
        self.keepalive_outstanding
    }

    fn encode(&mut self, m: &Message, out: &mut BytesMut) {
        if let Err(e) = self.codec.encode(m, out) {
            tracing::debug!(error = %e, "sim: encode failed");
        }
    }

    fn device_info(&self) -> DeviceInfo {
        let i = self.shared.media.info_dims();
        DeviceInfo {
            kind: Some(
                if self.shared.cfg.is_udp() {
                    "wifipc"
                } else {
                    "ipc"
                }
                .into(),
            ),
            channel_num: Some(1),
            resolution: Some(i),
            soft_ver: Some("33554880".into()),
            firm_version: Some("v3.0.0.0_SIM".into()),
            type_info: Some("IPC".into()),
        }
    }

    fn battery(&self) -> BatteryInfo {
        let (percent, charging) = *self.shared.battery.borrow();
        BatteryInfo {
            channel_id: Some(0),
            charge_status: Some(if charging { "charging" } else { "none" }.into()),
            adapter_status: Some(if charging { "solarPanel" } else { "none" }.into()),
            voltage_mv: Some(3900),
            current_ma: Some(if charging { -396 } else { 120 }),
            temperature_c: Some(21),
            battery_percent: Some(u32::from(percent)),
            low_power: Some(u32::from(percent < 10)),
            battery_version: Some(2),
            power_supply_status: None,
        }
    }

    /// Handles every complete message in `inb`; replies are appended to `out`.
    pub(crate) fn on_bytes(&mut self, inb: &mut BytesMut, out: &mut BytesMut) {
        loop {
            match self.codec.decode(inb) {
                Ok(Some(m)) => self.on_message(m, out),
                Ok(None) => break,
                Err(e) => tracing::debug!(error = %e, "sim: bad message"),
            }
            if self.closed {
                break;
            }
        }
    }

    fn on_message(&mut self, m: Message, out: &mut BytesMut) {
        let h = m.header;
        match (m.id(), h.class) {
            (MsgId::Login, MsgClass::Legacy)
                if self.shared.cfg.reset_on_login_upgrade && m.body == Body::Empty =>
            {
                self.shared.stat(|s| s.upgrade_logins_reset += 1);
                self.closed = true;
            }
            (MsgId::Login, MsgClass::Legacy) => {
                let requested = EncryptionLevel::from_request_code(h.response_code)
                    .unwrap_or(EncryptionLevel::BcEncrypt);
                let offered = self.shared.cfg.encryption.level();
                let chosen = if rank(requested) < rank(offered) {
                    requested
                } else {
                    offered
                };
                if let Body::LegacyLogin(l) = &m.body {
                    let ok = camera::check_legacy_login(
                        l,
                        &self.shared.cfg.username,
                        &self.shared.cfg.password,
                    );
                    self.shared.stat(|s| {
                        s.legacy_logins += 1;
                        if !ok {
                            s.legacy_login_mismatches += 1;
                        }
                    });
                }
                let reply = camera::nonce_reply(&h, chosen, &self.nonce);
                self.encode(&reply, out);
                if chosen == EncryptionLevel::None {
                    self.codec.set_encryption(Encryption::None);
                }
                self.level = Some(chosen);
            }
            (MsgId::Login, _) => {
                let Some(level) = self.level else {
                    self.encode(&camera::status_reply(&h, 400), out);
                    return;
                };
                let ok = m.xml().and_then(|x| x.login_user()).is_some_and(|u| {
                    camera::check_modern_login(
                        &u,
                        &self.shared.cfg.username,
                        &self.shared.cfg.password,
                        &self.nonce,
                    )
                });
                self.shared.stat(|s| s.login_attempts += 1);
                if !ok {
                    self.shared.stat(|s| s.logins_failed += 1);
                    self.encode(&camera::status_reply(&h, 401), out);
                    self.closed = true;
                    return;
                }
                self.shared.stat(|s| s.logins_ok += 1);
                let reply = camera::login_ok(&h, &self.device_info());
                self.encode(&reply, out);
                if let Some(e) =
                    Encryption::negotiated(level, &self.nonce, &self.shared.cfg.password)
                {
                    self.codec.set_encryption(e);
                }
                self.logged_in = true;
                self.push_battery(out);
            }
            _ if !self.logged_in => {
                self.encode(&camera::status_reply(&h, 400), out);
            }
            (MsgId::VideoStart, _) => {
                let info = self.media.info_packet();
                let mut reply = camera::video_first_reply(&h, &info);
                if matches!(self.codec.encryption(), Encryption::FullAes(_)) {
                    let mut e = Extension::binary();
                    e.encrypt_len = Some(32);
                    reply.extension = Some(e);
                }
                self.encode(&reply, out);
                self.stream = Some(h);
                self.next_due = Some(Instant::now());
                self.shared.stat(|s| s.streams_started += 1);
                self.shared.stream_started(self.id);
            }
            (MsgId::VideoStop, _) => {
                self.stream = None;
                self.next_due = None;
                self.shared.stream_ended(self.id);
                self.encode(&camera::status_reply(&h, 200), out);
            }
            (MsgId::Ping, _) => {
                self.shared.stat(|s| s.pings += 1);
                self.encode(&camera::status_reply(&h, 200), out);
            }
            (MsgId::BatteryInfo, _) => {
                self.shared.stat(|s| s.battery_requests += 1);
                let b = self.battery();
                self.encode(&camera::battery_info_reply(&h, &b), out);
            }
            (MsgId::WifiSignal, _) => {
                self.shared.stat(|s| s.signal_requests += 1);
                let signal = *self.shared.wifi_signal.borrow();
                match signal {
                    Some(dbm) => self.encode(&camera::wifi_signal_reply(&h, dbm), out),
                    None => self.encode(&camera::status_reply(&h, 400), out),
                }
            }
            (MsgId::AlarmSubscribe, _) => {
                self.shared.stat(|s| s.alarm_subscriptions += 1);
                self.encode(&camera::status_reply(&h, 200), out);
                self.alarms_subscribed = true;
                self.push_alarm(out);
            }
            (MsgId::KeepAlive, _) => {
                self.keepalive_outstanding = None;
                self.shared.stat(|s| s.keepalive_replies += 1);
            }
            (MsgId::Logout, _) => {
                self.closed = true;
                self.stream = None;
                self.next_due = None;
                self.shared.stream_ended(self.id);
            }
            _ => {
                self.encode(&camera::status_reply(&h, 400), out);
            }
        }
    }

    /// Pushes msg 33 AlarmEventList with the current alarm state, to a subscribed session.
    pub(crate) fn push_alarm(&mut self, out: &mut BytesMut) {
        if !self.logged_in || !self.alarms_subscribed {
            return;
        }
        let (motion, ai) = self.shared.alarm.borrow().clone();
        let event = baichuan::xml::AlarmEvent {
            channel_id: Some(0),
            status: if motion { "MD" } else { "none" }.into(),
            ai_type: Some(if ai.is_empty() {
                "none".to_owned()
            } else {
                ai.join(",")
            }),
            recording: Some(0),
            timestamp: Some(0),
        };
        self.encode(&camera::alarm_event_list_push(&[event]), out);
        self.shared.stat(|s| s.alarm_pushes += 1);
    }

    /// Pushes msg 252 BatteryList.
    pub(crate) fn push_battery(&mut self, out: &mut BytesMut) {
        if !self.logged_in {
            return;
        }
        let b = self.battery();
        self.encode(&camera::battery_list_push(&[b]), out);
        self.shared.stat(|s| s.battery_pushes += 1);
    }

    /// Sends the camera-initiated msg 234 keep-alive.
    pub(crate) fn send_keepalive(&mut self, out: &mut BytesMut) {
        if !self.logged_in {
            return;
        }
        self.keepalive_num = self.keepalive_num.wrapping_add(1);
        let n = self.keepalive_num.to_le_bytes();
        let m = camera::keepalive_request([0, 0, n[0], n[1]]);
        self.encode(&m, out);
        self.keepalive_outstanding.get_or_insert_with(Instant::now);
        self.shared.stat(|s| s.keepalives_sent += 1);
    }

    /// Writes the due media group (if any) and schedules the next one.
    pub(crate) fn send_media(&mut self, now: Instant, out: &mut BytesMut) {
        let (Some(due), Some(req)) = (self.next_due, self.stream) else {
            return;
        };
        if now < due {
            return;
        }
        let (packets, step_us) = self.media.next_group();
        let mut stream = BytesMut::new();
        for p in &packets {
            p.encode(&mut stream);
        }
        let full_aes = matches!(self.codec.encryption(), Encryption::FullAes(_));
        for chunk in stream.chunks(MEDIA_CHUNK) {
            let mut m = camera::video_data(&req, Bytes::copy_from_slice(chunk));
            if full_aes {
                let mut e = Extension::binary();
                e.encrypt_len = Some(chunk.len().min(FULL_AES_ENCRYPT_LEN) as u32);
                e.check_pos = Some(0);
                e.check_value = Some(i64::from(i32::from_le_bytes([
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                    *chunk.get(3).unwrap_or(&0),
                ])));
                m.extension = Some(e);
            }
            self.encode(&m, out);
        }
        let video = packets
            .iter()
            .filter(|p| matches!(p, MediaPacket::Video(_)))
            .count() as u64;
        self.shared.stat(|s| s.frames_sent += video);
        let mut next = due + Duration::from_micros(u64::from(step_us));
        if next + Duration::from_secs(1) < now {
            next = now; // fell far behind (e.g. a stalled link): do not burst
        }
        self.next_due = Some(next);
    }
}
