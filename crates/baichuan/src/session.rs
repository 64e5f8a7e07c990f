//! The client session as an explicit state machine for a transport-agnostic driver (a tokio
//! TCP task, or the BcUdp stream): login (upgrade or legacy first message → nonce → modern
//! login → logged in with the negotiated encryption), requests, video streams (media packets
//! decoded per stream), the msg 234 keep-alive and battery pushes.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::crypto::{Encryption, EncryptionLevel};
use crate::header::Header;
use crate::login::{self, LoginLayout, StreamKind};
use crate::media::{MediaDecoder, MediaError, MediaPacket};
use crate::msg::{self, Body, Codec, Message, MsgId};
use crate::xml::{AlarmEvent, BatteryInfo, DeviceInfo, Extension};

/// Largest amount of undecoded media buffered per stream before it is dropped.
pub const MAX_MEDIA_BUFFER: usize = 16 * 1024 * 1024;
/// Most outstanding requests remembered for reply matching.
pub const MAX_PENDING: usize = 256;

/// Errors of the session layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    /// The call is not valid in the current state.
    #[error("{what} is not possible in state {state:?}")]
    WrongState {
        /// What was attempted.
        what: &'static str,
        /// The state.
        state: SessionState,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] msg::Error),
}

/// Which first message to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginMethod {
    /// Header-only "upgrade" (what current firmware and the official client use).
    #[default]
    Upgrade,
    /// The 1836-byte hashed legacy message (fallback for cameras that reset on the upgrade).
    Legacy,
}

/// Why login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// The camera answered the modern login with this status (400/401 = bad credentials).
    Rejected(u16),
    /// The nonce reply named an encryption level we cannot speak.
    UnsupportedEncryption(u8),
    /// The first reply had no nonce (pre-modern camera, or an error status).
    NoNonce(u16),
}

/// Session state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Transport up, nothing sent.
    Connecting,
    /// First login message (upgrade or legacy) sent; waiting for the nonce.
    LegacyLoginSent,
    /// Modern login sent.
    ModernLoginSent {
        /// The nonce.
        nonce: String,
        /// The level the camera chose.
        level: EncryptionLevel,
    },
    /// Logged in; no stream running.
    LoggedIn {
        /// Negotiated level.
        level: EncryptionLevel,
    },
    /// Logged in with at least one stream running.
    Streaming {
        /// Negotiated level.
        level: EncryptionLevel,
    },
    /// Login failed; close the transport.
    Failed(LoginFailure),
    /// Logout sent.
    LoggedOut,
}

/// What the driver should do or know after a message.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Write these bytes to the transport.
    Send(Bytes),
    /// Login succeeded.
    LoggedIn {
        /// Negotiated level.
        level: EncryptionLevel,
        /// DeviceInfo from the reply, if present.
        device_info: Option<DeviceInfo>,
    },
    /// Login failed; the session is finished.
    LoginFailed(LoginFailure),
    /// A media packet of a running stream.
    Media {
        /// Channel.
        channel: u8,
        /// Stream.
        stream: StreamKind,
        /// The packet.
        packet: MediaPacket,
    },
    /// Media bytes were dropped while resynchronising (logged once per event).
    MediaResync {
        /// Stream.
        stream: StreamKind,
        /// Bytes dropped.
        skipped: usize,
    },
    /// The camera refused a start-video request.
    StreamRefused {
        /// Stream.
        stream: StreamKind,
        /// Status.
        code: u16,
    },
    /// Battery state (msg 252 push or msg 253 reply).
    Battery(Vec<BatteryInfo>),
    /// The camera's Wi-Fi signal in dBm (msg 115 reply, after
    /// [`Session::request_wifi_signal`]).
    WifiSignal(i32),
    /// Motion and AI alarm state (msg 33 push, after [`Session::subscribe_alarms`]).
    Alarms(Vec<AlarmEvent>),
    /// The reply to a request made with [`Session::request`] (matched on msg id + tag).
    Reply(Message),
    /// An unsolicited message (alarm events, channel info, …).
    Push(Message),
    /// A recoverable decoding problem (the stream stayed in sync).
    ProtocolError(msg::Error),
}

#[derive(Debug)]
struct Stream {
    channel: u8,
    kind: StreamKind,
    tag: [u8; 4],
    buf: BytesMut,
    decoder: MediaDecoder,
}

/// A client session over any ordered byte transport.
#[derive(Debug)]
pub struct Session {
    username: String,
    password: String,
    max_level: EncryptionLevel,
    layout: LoginLayout,
    state: SessionState,
    codec: Codec,
    next_num: u16,
    login_tag: [u8; 4],
    streams: Vec<Stream>,
    pending: VecDeque<(u32, [u8; 4])>,
}

impl Session {
    /// A new session for these credentials, asking for full AES (0x12) like the official client.
    pub fn new(username: &str, password: &str) -> Self {
        Session {
            username: username.into(),
            password: password.into(),
            max_level: EncryptionLevel::FullAes,
            layout: LoginLayout::Standard,
            state: SessionState::Connecting,
            codec: Codec::new(Encryption::BcEncrypt),
            next_num: 0,
            login_tag: [0; 4],
            streams: Vec::new(),
            pending: VecDeque::new(),
        }
    }

    /// Changes the highest encryption level requested.
    pub fn with_max_encryption(mut self, level: EncryptionLevel) -> Self {
        self.max_level = level;
        self
    }

    /// Current state.
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The codec (negotiated encryption lives here).
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    fn encode(&mut self, m: &Message) -> Result<Bytes, SessionError> {
        let mut b = BytesMut::new();
        self.codec.encode(m, &mut b)?;
        Ok(b.freeze())
    }

    fn next_tag(&mut self, stream_byte: u8) -> [u8; 4] {
        let n = self.next_num.to_le_bytes();
        self.next_num = self.next_num.wrapping_add(1);
        [0, stream_byte, n[0], n[1]]
    }

    fn logged_in_level(&self) -> Option<EncryptionLevel> {
        match self.state {
            SessionState::LoggedIn { level } | SessionState::Streaming { level } => Some(level),
            _ => None,
        }
    }

    fn wrong(&self, what: &'static str) -> SessionError {
        SessionError::WrongState {
            what,
            state: self.state.clone(),
        }
    }

    /// Builds the first login message; returns the bytes to send.
    pub fn start_login(&mut self, method: LoginMethod) -> Result<Bytes, SessionError> {
        if self.state != SessionState::Connecting {
            return Err(self.wrong("start_login"));
        }
        self.login_tag = self.next_tag(0);
        let m = match method {
            LoginMethod::Upgrade => login::login_upgrade(self.max_level, self.login_tag),
            LoginMethod::Legacy => login::legacy_login(
                &self.username,
                &self.password,
                self.max_level,
                self.login_tag,
            ),
        };
        let b = self.encode(&m)?;
        self.state = SessionState::LegacyLoginSent;
        Ok(b)
    }

    /// Frames the next message from the transport buffer (see [`Codec::decode`]).
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, msg::Error> {
        self.codec.decode(src)
    }

    /// Decodes every complete message in `src` and handles it. Recoverable decode errors are
    /// reported as [`Action::ProtocolError`].
    pub fn on_bytes(&mut self, src: &mut BytesMut) -> Result<Vec<Action>, SessionError> {
        let mut actions = Vec::new();
        loop {
            match self.codec.decode(src) {
                Ok(Some(m)) => actions.extend(self.on_message(m)?),
                Ok(None) => break,
                Err(e) => actions.push(Action::ProtocolError(e)),
            }
        }
        Ok(actions)
    }

    /// Handles one decoded message.
    pub fn on_message(&mut self, m: Message) -> Result<Vec<Action>, SessionError> {
        let mut out = Vec::new();
        match (&self.state, m.id()) {
            (SessionState::LegacyLoginSent, MsgId::Login) => {
                let code = m.header.response_code;
                let nonce = m.xml().and_then(|x| x.encryption()).map(|e| e.nonce);
                let level = EncryptionLevel::from_answer_code(code);
                match (nonce, level) {
                    (Some(nonce), Some(level)) => {
                        if Encryption::negotiated(level, &nonce, &self.password).is_none() {
                            let f = LoginFailure::UnsupportedEncryption(level.to_u8());
                            self.state = SessionState::Failed(f);
                            out.push(Action::LoginFailed(f));
                            return Ok(out);
                        }
                        if level == EncryptionLevel::None {
                            self.codec.set_encryption(Encryption::None);
                        }
                        let login = login::modern_login(
                            &self.username,
                            &self.password,
                            &nonce,
                            self.layout,
                            self.login_tag,
                        );
                        out.push(Action::Send(self.encode(&login)?));
                        self.state = SessionState::ModernLoginSent { nonce, level };
                    }
                    _ => {
                        let f = LoginFailure::NoNonce(code);
                        self.state = SessionState::Failed(f);
                        out.push(Action::LoginFailed(f));
                    }
                }
            }
            (SessionState::ModernLoginSent { nonce, level }, MsgId::Login) => {
                let (nonce, level) = (nonce.clone(), *level);
                let code = m.header.response_code;
                if code == 200 {
                    if let Some(e) = Encryption::negotiated(level, &nonce, &self.password) {
                        self.codec.set_encryption(e);
                    }
                    self.state = SessionState::LoggedIn { level };
                    out.push(Action::LoggedIn {
                        level,
                        device_info: m.xml().and_then(|x| x.device_info()),
                    });
                } else {
                    let f = LoginFailure::Rejected(code);
                    self.state = SessionState::Failed(f);
                    out.push(Action::LoginFailed(f));
                }
            }
            (_, MsgId::KeepAlive) => {
                let reply = login::keepalive_reply(&m.header);
                out.push(Action::Send(self.encode(&reply)?));
            }
            (_, MsgId::VideoStart) if self.stream_index(&m.header).is_some() => {
                self.on_video(m, &mut out);
            }
            (_, MsgId::BatteryList | MsgId::BatteryInfo)
                if m.xml().and_then(|x| x.battery()).is_some() =>
            {
                self.take_pending(&m.header);
                if let Some(b) = m.xml().and_then(|x| x.battery()) {
                    out.push(Action::Battery(b));
                }
            }
            (_, MsgId::WifiSignal)
                if m.header.response_code == 200
                    && m.xml()
                        .and_then(|x| x.wifi_signal())
                        .and_then(|w| w.signal)
                        .is_some() =>
            {
                self.take_pending(&m.header);
                if let Some(dbm) = m.xml().and_then(|x| x.wifi_signal()).and_then(|w| w.signal) {
                    out.push(Action::WifiSignal(dbm));
                }
            }
            (_, MsgId::AlarmEventList) if m.xml().and_then(|x| x.alarm_events()).is_some() => {
                if let Some(list) = m.xml().and_then(|x| x.alarm_events()) {
                    out.push(Action::Alarms(list));
                }
            }
            _ => {
                if self.take_pending(&m.header) {
                    out.push(Action::Reply(m));
                } else {
                    out.push(Action::Push(m));
                }
            }
        }
        Ok(out)
    }

    fn take_pending(&mut self, h: &Header) -> bool {
        let key = (h.msg_id, h.tag());
        match self.pending.iter().position(|k| *k == key) {
            Some(i) => {
                self.pending.remove(i);
                true
            }
            None => false,
        }
    }

    fn remember(&mut self, msg_id: u32, tag: [u8; 4]) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((msg_id, tag));
    }

    fn stream_index(&self, h: &Header) -> Option<usize> {
        self.streams.iter().position(|s| s.tag == h.tag())
    }

    fn on_video(&mut self, m: Message, out: &mut Vec<Action>) {
        let Some(i) = self.stream_index(&m.header) else {
            return;
        };
        let code = m.header.response_code;
        let s = &mut self.streams[i];
        if code != 200 {
            out.push(Action::StreamRefused {
                stream: s.kind,
                code,
            });
            self.streams.remove(i);
            self.update_streaming();
            return;
        }
        let data = match m.body {
            Body::Binary(b) => b,
            _ => return,
        };
        if s.buf.len() + data.len() > MAX_MEDIA_BUFFER {
            out.push(Action::MediaResync {
                stream: s.kind,
                skipped: s.buf.len(),
            });
            s.buf.clear();
        }
        s.buf.extend_from_slice(&data);
        loop {
            match s.decoder.decode(&mut s.buf) {
                Ok(Some(packet)) => out.push(Action::Media {
                    channel: s.channel,
                    stream: s.kind,
                    packet,
                }),
                Ok(None) => break,
                Err(MediaError::Resync { skipped }) => out.push(Action::MediaResync {
                    stream: s.kind,
                    skipped,
                }),
            }
        }
    }

    fn update_streaming(&mut self) {
        if let Some(level) = self.logged_in_level() {
            self.state = if self.streams.is_empty() {
                SessionState::LoggedIn { level }
            } else {
                SessionState::Streaming { level }
            };
        }
    }

    /// Starts a stream; media arrives as [`Action::Media`].
    pub fn start_video(&mut self, channel: u8, kind: StreamKind) -> Result<Bytes, SessionError> {
        if self.logged_in_level().is_none() {
            return Err(self.wrong("start_video"));
        }
        let tag = self.next_tag(kind.header_byte());
        let num = u16::from_le_bytes([tag[2], tag[3]]);
        let m = login::start_video(channel, kind, num);
        let b = self.encode(&m)?;
        self.streams
            .retain(|s| !(s.channel == channel && s.kind == kind));
        self.streams.push(Stream {
            channel,
            kind,
            tag,
            buf: BytesMut::new(),
            decoder: MediaDecoder::new(),
        });
        self.update_streaming();
        Ok(b)
    }

    /// Stops a stream.
    pub fn stop_video(&mut self, channel: u8, kind: StreamKind) -> Result<Bytes, SessionError> {
        if self.logged_in_level().is_none() {
            return Err(self.wrong("stop_video"));
        }
        let tag = self.next_tag(kind.header_byte());
        let num = u16::from_le_bytes([tag[2], tag[3]]);
        let m = login::stop_video(channel, kind, num);
        self.remember(m.header.msg_id, tag);
        let b = self.encode(&m)?;
        self.streams
            .retain(|s| !(s.channel == channel && s.kind == kind));
        self.update_streaming();
        Ok(b)
    }

    /// Ping (msg 93); send every 5 s while connected.
    pub fn ping(&mut self) -> Result<Bytes, SessionError> {
        self.request(MsgId::Ping.to_u32(), None, Body::Empty)
    }

    /// Battery query (msg 253); the answer arrives as [`Action::Battery`].
    pub fn request_battery(&mut self, channel: u8) -> Result<Bytes, SessionError> {
        self.request(
            MsgId::BatteryInfo.to_u32(),
            Some(Extension::channel(channel)),
            Body::Empty,
        )
    }

    /// Wi-Fi signal query (msg 115, header only); a reply with a signal arrives as
    /// [`Action::WifiSignal`], any other (a wired camera's 400) as [`Action::Reply`].
    pub fn request_wifi_signal(&mut self) -> Result<Bytes, SessionError> {
        self.request(MsgId::WifiSignal.to_u32(), None, Body::Empty)
    }

    /// Alarm subscription (msg 31): the camera then pushes msg 33, arriving as
    /// [`Action::Alarms`]. Its own reply arrives as [`Action::Reply`].
    pub fn subscribe_alarms(&mut self) -> Result<Bytes, SessionError> {
        self.request(MsgId::AlarmSubscribe.to_u32(), None, Body::Empty)
    }

    /// Any request; its reply arrives as [`Action::Reply`].
    pub fn request(
        &mut self,
        msg_id: u32,
        extension: Option<Extension>,
        body: Body,
    ) -> Result<Bytes, SessionError> {
        if self.logged_in_level().is_none() {
            return Err(self.wrong("request"));
        }
        let tag = self.next_tag(0);
        let mut m = login::simple_request(msg_id, tag);
        m.extension = extension;
        m.body = body;
        self.remember(msg_id, tag);
        self.encode(&m)
    }

    /// Logout (msg 2); close the transport afterwards.
    pub fn logout(&mut self) -> Result<Bytes, SessionError> {
        if self.logged_in_level().is_none() {
            return Err(self.wrong("logout"));
        }
        let tag = self.next_tag(0);
        let m = login::logout(&self.username, &self.password, tag);
        let b = self.encode(&m)?;
        self.streams.clear();
        self.state = SessionState::LoggedOut;
        Ok(b)
    }
}
