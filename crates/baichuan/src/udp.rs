//! BcUdp, the UDP transport of battery cameras: discovery/session XML packets (XOR + CRC),
//! DATA and ACK packets, a [`Reassembler`] (ordering, duplicates, ACK contents), a [`Sender`]
//! (fragmentation, retransmission with injected time) and the [`UdpClient`] state machine
//! (discovery, handshake, heartbeats, disconnect).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::xml::{self, Element, Layout, XmlError};

/// Discovery / session-control packet magic.
pub const DISCOVERY_MAGIC: u32 = 0x2a87_cf3a;
/// DATA packet magic.
pub const DATA_MAGIC: u32 = 0x2a87_cf10;
/// ACK packet magic.
pub const ACK_MAGIC: u32 = 0x2a87_cf20;
/// Header length of discovery and DATA packets.
pub const HEADER_LEN: usize = 20;
/// Header length of ACK packets.
pub const ACK_HEADER_LEN: usize = 28;
/// Largest datagram accepted.
pub const MAX_DATAGRAM_LEN: usize = 65_535;
/// Largest discovery XML payload accepted.
pub const MAX_DISCOVERY_PAYLOAD: usize = 8 * 1024;
/// MTU announced in C2D_C.
pub const DEFAULT_MTU: u32 = 1350;
/// Largest DATA payload we send (MTU − 20).
pub const MAX_DATA_PAYLOAD: usize = 1330;
/// Packets accepted ahead of the next expected one; later ones are dropped.
pub const MAX_REORDER_WINDOW: u32 = 1024;
/// Most unacknowledged DATA packets kept for retransmission.
pub const MAX_UNACKED: usize = 4096;
/// Key words of the discovery XOR.
pub const UDP_KEY: [u32; 8] = [
    0x1f2d_3c4b,
    0x5a6c_7f8d,
    0x3817_2e4b,
    0x8271_635a,
    0x863f_1a2b,
    0xa5c6_f7d8,
    0x8371_e1b4,
    0x17f2_d3a5,
];

/// Discovery retransmit interval.
pub const DISCOVERY_RESEND_MS: u64 = 500;
/// Give up discovery after this long.
pub const DISCOVERY_TIMEOUT_MS: u64 = 15_000;
/// C2D_HB interval.
pub const HEARTBEAT_MS: u64 = 1_000;
/// ACK interval (the official client acks every 10 ms).
pub const ACK_INTERVAL_MS: u64 = 10;
/// DATA retransmit interval.
pub const RETRANSMIT_MS: u64 = 500;
/// Silence after which the camera is considered gone.
pub const SILENCE_TIMEOUT_MS: u64 = 10_000;

/// Errors of the UDP layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UdpError {
    /// Datagram shorter than its header.
    #[error("datagram of {0} bytes is too short")]
    TooShort(usize),
    /// Datagram longer than [`MAX_DATAGRAM_LEN`].
    #[error("datagram of {0} bytes is too long")]
    TooLong(usize),
    /// Unknown magic.
    #[error("unknown UDP magic {0:#010x}")]
    UnknownMagic(u32),
    /// Announced payload length does not fit the datagram or a limit.
    #[error("payload length {announced} does not fit {available} bytes")]
    BadLength {
        /// Announced.
        announced: u32,
        /// Available.
        available: usize,
    },
    /// CRC mismatch in a discovery packet.
    #[error("discovery CRC {actual:#010x}, header says {expected:#010x}")]
    BadCrc {
        /// From the header.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// Discovery XML did not parse or lacked `<P2P>`.
    #[error("discovery XML: {0}")]
    Xml(#[from] XmlError),
    /// Too many unacknowledged packets.
    #[error("send window full ({0} unacknowledged packets)")]
    WindowFull(usize),
    /// The client is not connected.
    #[error("not connected")]
    NotConnected,
}

static CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Reflected CRC-32 (poly 0xEDB88320), init 0, no final xor, as the discovery header uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// The discovery XOR in place (symmetric).
pub fn udp_xor(data: &mut [u8], tid: u32) {
    let mut stream = [0u8; 32];
    for (i, k) in UDP_KEY.iter().enumerate() {
        stream[i * 4..i * 4 + 4].copy_from_slice(&k.wrapping_add(tid).to_le_bytes());
    }
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= stream[i % 32];
    }
}

/// `<timer>` of D2C_C_R (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timer {
    /// def.
    pub def: u32,
    /// hb.
    pub hb: u32,
    /// hbt.
    pub hbt: u32,
}

/// A discovery / session-control message (the child of `<P2P>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum P2p {
    /// Ask any camera for its UID; `to/port` = our port.
    C2dS {
        /// Client port.
        port: u16,
    },
    /// Connect request by UID.
    C2dC {
        /// Camera UID.
        uid: String,
        /// Client port.
        cli_port: u16,
        /// Client id.
        cid: i32,
        /// MTU.
        mtu: u32,
        /// Debug flag (0).
        debug: u32,
        /// Platform: WIN / MAC.
        p: String,
    },
    /// Camera's connect reply.
    D2cCR {
        /// Timers.
        timer: Option<Timer>,
        /// 0 ok, −3 refused.
        rsp: i32,
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
    },
    /// Client transmission offer.
    C2dT {
        /// Session id.
        sid: u32,
        /// local / map / relay.
        conn: String,
        /// Client id.
        cid: i32,
        /// MTU.
        mtu: u32,
    },
    /// Camera transmission offer.
    D2cT {
        /// Session id.
        sid: u32,
        /// local / map / relay.
        conn: String,
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
    },
    /// Accept a camera-initiated D2C_T.
    C2dA {
        /// Session id.
        sid: u32,
        /// Connection kind.
        conn: String,
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
        /// MTU.
        mtu: u32,
    },
    /// Camera confirmation.
    D2cCfm {
        /// Session id.
        sid: u32,
        /// Connection kind.
        conn: String,
        /// Response.
        rsp: i32,
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
        /// time_r.
        time_r: u32,
    },
    /// Client heartbeat.
    C2dHb {
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
    },
    /// Camera heartbeat.
    D2cHb {
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
    },
    /// Client disconnect.
    C2dDisc {
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
    },
    /// Camera disconnect.
    D2cDisc {
        /// Client id.
        cid: i32,
        /// Device id.
        did: i32,
    },
    /// Anything else (P2P server messages, D2C_S_R, …): the element as parsed.
    Other(Element),
}

fn get<T: std::str::FromStr + Default>(e: &Element, n: &str) -> T {
    e.parse_of(n).unwrap_or_default()
}

impl P2p {
    /// From the child of `<P2P>`.
    pub fn from_element(e: &Element) -> Self {
        let s = |n: &str| e.text_of(n).unwrap_or_default().to_owned();
        match e.name.as_str() {
            "C2D_S" => P2p::C2dS {
                port: e.get("to").map(|t| get(t, "port")).unwrap_or_default(),
            },
            "C2D_C" => P2p::C2dC {
                uid: s("uid"),
                cli_port: e.get("cli").map(|t| get(t, "port")).unwrap_or_default(),
                cid: get(e, "cid"),
                mtu: get(e, "mtu"),
                debug: get(e, "debug"),
                p: s("p"),
            },
            "D2C_C_R" => P2p::D2cCR {
                timer: e.get("timer").map(|t| Timer {
                    def: get(t, "def"),
                    hb: get(t, "hb"),
                    hbt: get(t, "hbt"),
                }),
                rsp: get(e, "rsp"),
                cid: get(e, "cid"),
                did: get(e, "did"),
            },
            "C2D_T" => P2p::C2dT {
                sid: get(e, "sid"),
                conn: s("conn"),
                cid: get(e, "cid"),
                mtu: get(e, "mtu"),
            },
            "D2C_T" => P2p::D2cT {
                sid: get(e, "sid"),
                conn: s("conn"),
                cid: get(e, "cid"),
                did: get(e, "did"),
            },
            "C2D_A" => P2p::C2dA {
                sid: get(e, "sid"),
                conn: s("conn"),
                cid: get(e, "cid"),
                did: get(e, "did"),
                mtu: get(e, "mtu"),
            },
            "D2C_CFM" => P2p::D2cCfm {
                sid: get(e, "sid"),
                conn: s("conn"),
                rsp: get(e, "rsp"),
                cid: get(e, "cid"),
                did: get(e, "did"),
                time_r: get(e, "time_r"),
            },
            "C2D_HB" => P2p::C2dHb {
                cid: get(e, "cid"),
                did: get(e, "did"),
            },
            "D2C_HB" => P2p::D2cHb {
                cid: get(e, "cid"),
                did: get(e, "did"),
            },
            "C2D_DISC" => P2p::C2dDisc {
                cid: get(e, "cid"),
                did: get(e, "did"),
            },
            "D2C_DISC" => P2p::D2cDisc {
                cid: get(e, "cid"),
                did: get(e, "did"),
            },
            _ => P2p::Other(e.clone()),
        }
    }

    /// To an element (children in the order the reference implementations use).
    pub fn to_element(&self) -> Element {
        let ids =
            |name: &str, cid: i32, did: i32| Element::new(name).leaf("cid", cid).leaf("did", did);
        match self {
            P2p::C2dS { port } => {
                Element::new("C2D_S").child(Element::new("to").leaf("port", port))
            }
            P2p::C2dC {
                uid,
                cli_port,
                cid,
                mtu,
                debug,
                p,
            } => Element::new("C2D_C")
                .leaf("uid", uid)
                .child(Element::new("cli").leaf("port", cli_port))
                .leaf("cid", cid)
                .leaf("mtu", mtu)
                .leaf("debug", debug)
                .leaf("p", p),
            P2p::D2cCR {
                timer,
                rsp,
                cid,
                did,
            } => {
                let mut e = Element::new("D2C_C_R");
                if let Some(t) = timer {
                    e = e.child(
                        Element::new("timer")
                            .leaf("def", t.def)
                            .leaf("hb", t.hb)
                            .leaf("hbt", t.hbt),
                    );
                }
                e.leaf("rsp", rsp).leaf("cid", cid).leaf("did", did)
            }
            P2p::C2dT {
                sid,
                conn,
                cid,
                mtu,
            } => Element::new("C2D_T")
                .leaf("sid", sid)
                .leaf("conn", conn)
                .leaf("cid", cid)
                .leaf("mtu", mtu),
            P2p::D2cT {
                sid,
                conn,
                cid,
                did,
            } => Element::new("D2C_T")
                .leaf("sid", sid)
                .leaf("conn", conn)
                .leaf("cid", cid)
                .leaf("did", did),
            P2p::C2dA {
                sid,
                conn,
                cid,
                did,
                mtu,
            } => Element::new("C2D_A")
                .leaf("sid", sid)
                .leaf("conn", conn)
                .leaf("cid", cid)
                .leaf("did", did)
                .leaf("mtu", mtu),
            P2p::D2cCfm {
                sid,
                conn,
                rsp,
                cid,
                did,
                time_r,
            } => Element::new("D2C_CFM")
                .leaf("sid", sid)
                .leaf("conn", conn)
                .leaf("rsp", rsp)
                .leaf("cid", cid)
                .leaf("did", did)
                .leaf("time_r", time_r),
            P2p::C2dHb { cid, did } => ids("C2D_HB", *cid, *did),
            P2p::D2cHb { cid, did } => ids("D2C_HB", *cid, *did),
            P2p::C2dDisc { cid, did } => ids("C2D_DISC", *cid, *did),
            P2p::D2cDisc { cid, did } => ids("D2C_DISC", *cid, *did),
            P2p::Other(e) => e.clone(),
        }
    }

    /// The plain XML text (`<P2P>\n<X>\n…</P2P>\n`).
    pub fn to_xml(&self) -> String {
        xml::write(&Element::new("P2P").child(self.to_element()), Layout::P2P)
    }
}

/// A discovery packet: header + XOR-ed XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryPacket {
    /// Transaction id (also the XOR key tweak); replies reuse the request's.
    pub tid: u32,
    /// The message.
    pub msg: P2p,
}

/// A DATA packet: a slice of the BC byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPacket {
    /// Client writes the camera's did; the camera writes the client's cid.
    pub connection_id: i32,
    /// Unknown u32 (0).
    pub unknown: u32,
    /// Per-direction packet counter from 0.
    pub packet_id: u32,
    /// Stream bytes.
    pub payload: Bytes,
}

/// An ACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckPacket {
    /// As in DATA.
    pub connection_id: i32,
    /// Unknown u32 (0).
    pub unknown: u32,
    /// 0 (0xffffffff in a "nothing yet" ACK).
    pub group_id: u32,
    /// Last contiguous packet id received (0xffffffff = none).
    pub packet_id: u32,
    /// "maybe latency"; 0 works.
    pub maybe_latency: u32,
    /// One byte per id after `packet_id` up to the highest received: 1 have, 0 missing.
    pub truth_table: Bytes,
}

/// Any BcUdp packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpPacket {
    /// Discovery / session control.
    Discovery(DiscoveryPacket),
    /// DATA.
    Data(DataPacket),
    /// ACK.
    Ack(AckPacket),
}

fn rd_u32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn payload_of(d: &[u8], header: usize, len_at: usize) -> Result<&[u8], UdpError> {
    let announced = rd_u32(d, len_at);
    let available = d.len() - header;
    if announced as usize > available {
        return Err(UdpError::BadLength {
            announced,
            available,
        });
    }
    Ok(&d[header..header + announced as usize])
}

impl UdpPacket {
    /// Decodes one datagram.
    pub fn decode(d: &[u8]) -> Result<UdpPacket, UdpError> {
        if d.len() > MAX_DATAGRAM_LEN {
            return Err(UdpError::TooLong(d.len()));
        }
        if d.len() < HEADER_LEN {
            return Err(UdpError::TooShort(d.len()));
        }
        match rd_u32(d, 0) {
            DISCOVERY_MAGIC => {
                let payload = payload_of(d, HEADER_LEN, 4)?;
                if payload.len() > MAX_DISCOVERY_PAYLOAD {
                    return Err(UdpError::BadLength {
                        announced: payload.len() as u32,
                        available: MAX_DISCOVERY_PAYLOAD,
                    });
                }
                let tid = rd_u32(d, 12);
                let expected = rd_u32(d, 16);
                let actual = crc32(payload);
                if expected != actual {
                    return Err(UdpError::BadCrc { expected, actual });
                }
                let mut plain = payload.to_vec();
                udp_xor(&mut plain, tid);
                let root = xml::parse(&plain)?;
                let msg = match root.children.first() {
                    Some(c) if root.name == "P2P" => P2p::from_element(c),
                    _ => P2p::Other(root),
                };
                Ok(UdpPacket::Discovery(DiscoveryPacket { tid, msg }))
            }
            DATA_MAGIC => Ok(UdpPacket::Data(DataPacket {
                connection_id: rd_u32(d, 4) as i32,
                unknown: rd_u32(d, 8),
                packet_id: rd_u32(d, 12),
                payload: Bytes::copy_from_slice(payload_of(d, HEADER_LEN, 16)?),
            })),
            ACK_MAGIC => {
                if d.len() < ACK_HEADER_LEN {
                    return Err(UdpError::TooShort(d.len()));
                }
                Ok(UdpPacket::Ack(AckPacket {
                    connection_id: rd_u32(d, 4) as i32,
                    unknown: rd_u32(d, 8),
                    group_id: rd_u32(d, 12),
                    packet_id: rd_u32(d, 16),
                    maybe_latency: rd_u32(d, 20),
                    truth_table: Bytes::copy_from_slice(payload_of(d, ACK_HEADER_LEN, 24)?),
                }))
            }
            m => Err(UdpError::UnknownMagic(m)),
        }
    }

    /// Encodes into one datagram.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            UdpPacket::Discovery(p) => {
                let mut payload = p.msg.to_xml().into_bytes();
                udp_xor(&mut payload, p.tid);
                dst.put_u32_le(DISCOVERY_MAGIC);
                dst.put_u32_le(payload.len() as u32);
                dst.put_u32_le(1);
                dst.put_u32_le(p.tid);
                dst.put_u32_le(crc32(&payload));
                dst.put_slice(&payload);
            }
            UdpPacket::Data(p) => {
                dst.put_u32_le(DATA_MAGIC);
                dst.put_i32_le(p.connection_id);
                dst.put_u32_le(p.unknown);
                dst.put_u32_le(p.packet_id);
                dst.put_u32_le(p.payload.len() as u32);
                dst.put_slice(&p.payload);
            }
            UdpPacket::Ack(p) => {
                dst.put_u32_le(ACK_MAGIC);
                dst.put_i32_le(p.connection_id);
                dst.put_u32_le(p.unknown);
                dst.put_u32_le(p.group_id);
                dst.put_u32_le(p.packet_id);
                dst.put_u32_le(p.maybe_latency);
                dst.put_u32_le(p.truth_table.len() as u32);
                dst.put_slice(&p.truth_table);
            }
        }
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }
}

/// What [`Reassembler::on_data`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOutcome {
    /// The packet (and this many bytes in total, including buffered successors) was delivered.
    Delivered(usize),
    /// Already delivered or already buffered; dropped.
    Duplicate,
    /// Out of order; buffered until the gap fills.
    Buffered,
    /// Too far ahead of the next expected id ([`MAX_REORDER_WINDOW`]); dropped.
    TooFarAhead,
}

/// Receive side: restores order, drops duplicates and knows what to acknowledge.
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    next: u32,
    pending: BTreeMap<u32, Bytes>,
    received_any: bool,
}

impl Reassembler {
    /// Expecting packet 0 first.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next packet id expected in order.
    pub fn next_expected(&self) -> u32 {
        self.next
    }

    /// Feeds one DATA payload; in-order bytes are appended to `out`.
    pub fn on_data(&mut self, packet_id: u32, payload: Bytes, out: &mut BytesMut) -> DataOutcome {
        let dist = packet_id.wrapping_sub(self.next);
        if dist >= 1 << 31 {
            return DataOutcome::Duplicate;
        }
        if dist >= MAX_REORDER_WINDOW {
            return DataOutcome::TooFarAhead;
        }
        self.received_any = true;
        if dist > 0 {
            if self.pending.contains_key(&packet_id) {
                return DataOutcome::Duplicate;
            }
            self.pending.insert(packet_id, payload);
            return DataOutcome::Buffered;
        }
        let mut n = payload.len();
        out.extend_from_slice(&payload);
        self.next = self.next.wrapping_add(1);
        while let Some(p) = self.pending.remove(&self.next) {
            n += p.len();
            out.extend_from_slice(&p);
            self.next = self.next.wrapping_add(1);
        }
        DataOutcome::Delivered(n)
    }

    /// The ACK to send now, or `None` before anything was received (never send "nothing yet").
    pub fn ack(&self, connection_id: i32) -> Option<AckPacket> {
        if !self.received_any {
            return None;
        }
        let last = self.next.wrapping_sub(1);
        let max_ahead = self
            .pending
            .keys()
            .map(|k| k.wrapping_sub(self.next))
            .filter(|d| *d < MAX_REORDER_WINDOW)
            .max();
        let table = match max_ahead {
            None => Bytes::new(),
            Some(m) => (0..=m)
                .map(|d| u8::from(self.pending.contains_key(&self.next.wrapping_add(d))))
                .collect::<Vec<u8>>()
                .into(),
        };
        Some(AckPacket {
            connection_id,
            unknown: 0,
            group_id: 0,
            packet_id: last,
            maybe_latency: 0,
            truth_table: table,
        })
    }
}

#[derive(Debug, Clone)]
struct Unacked {
    payload: Bytes,
    last_sent_ms: u64,
    first_sent_ms: u64,
}

/// Send side: cuts the BC stream into DATA packets, keeps them until acknowledged and says
/// what to retransmit. Time is passed in (milliseconds on any monotonic scale).
#[derive(Debug, Clone)]
pub struct Sender {
    connection_id: i32,
    next_id: u32,
    unacked: BTreeMap<u32, Unacked>,
    retransmit_ms: u64,
    max_payload: usize,
}

impl Sender {
    /// `connection_id` = the peer's id (the camera's did for a client).
    pub fn new(connection_id: i32) -> Self {
        Sender {
            connection_id,
            next_id: 0,
            unacked: BTreeMap::new(),
            retransmit_ms: RETRANSMIT_MS,
            max_payload: MAX_DATA_PAYLOAD,
        }
    }

    /// Changes the retransmit interval.
    pub fn with_retransmit_ms(mut self, ms: u64) -> Self {
        self.retransmit_ms = ms;
        self
    }

    /// Number of packets waiting for an ACK.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// When the oldest unacknowledged packet was first sent.
    pub fn oldest_unacked_ms(&self) -> Option<u64> {
        self.unacked.values().map(|u| u.first_sent_ms).min()
    }

    /// Cuts `stream` into DATA packets (≤ 1330 payload bytes each) and remembers them.
    pub fn send(&mut self, stream: &[u8], now_ms: u64) -> Result<Vec<DataPacket>, UdpError> {
        let n = stream.len().div_ceil(self.max_payload);
        if self.unacked.len() + n > MAX_UNACKED {
            return Err(UdpError::WindowFull(self.unacked.len()));
        }
        let mut out = Vec::with_capacity(n);
        for chunk in stream.chunks(self.max_payload) {
            let payload = Bytes::copy_from_slice(chunk);
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            self.unacked.insert(
                id,
                Unacked {
                    payload: payload.clone(),
                    last_sent_ms: now_ms,
                    first_sent_ms: now_ms,
                },
            );
            out.push(DataPacket {
                connection_id: self.connection_id,
                unknown: 0,
                packet_id: id,
                payload,
            });
        }
        Ok(out)
    }

    /// Drops what the peer acknowledged.
    pub fn on_ack(&mut self, ack: &AckPacket) {
        if ack.packet_id == u32::MAX && ack.group_id == u32::MAX {
            return;
        }
        let base = ack.packet_id;
        self.unacked.retain(|&id, _| {
            let d = id.wrapping_sub(base);
            if d == 0 || d >= 1 << 31 {
                return false;
            }
            let idx = (d - 1) as usize;
            ack.truth_table.get(idx).is_none_or(|&b| b == 0)
        });
    }

    /// Packets due for retransmission at `now_ms` (their timer restarts).
    pub fn due(&mut self, now_ms: u64) -> Vec<DataPacket> {
        let mut out = Vec::new();
        for (&id, u) in self.unacked.iter_mut() {
            if now_ms.saturating_sub(u.last_sent_ms) >= self.retransmit_ms {
                u.last_sent_ms = now_ms;
                out.push(DataPacket {
                    connection_id: self.connection_id,
                    unknown: 0,
                    packet_id: id,
                    payload: u.payload.clone(),
                });
            }
        }
        out
    }
}

/// Configuration of a [`UdpClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpClientConfig {
    /// Camera UID.
    pub uid: String,
    /// Our local UDP port (sent in C2D_C).
    pub client_port: u16,
    /// Our client id (random).
    pub cid: i32,
    /// Transaction id for discovery packets (random).
    pub tid: u32,
    /// Where to send C2D_C: the camera's address on 2018 and 2015, and/or broadcasts.
    pub discovery_targets: Vec<SocketAddr>,
}

/// Why a UDP session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No D2C_C_R within [`DISCOVERY_TIMEOUT_MS`].
    DiscoveryTimeout,
    /// D2C_C_R with a non-zero rsp (−3 = busy).
    Refused(i32),
    /// D2C_DISC for our did.
    CameraDisconnected,
    /// Nothing received for [`SILENCE_TIMEOUT_MS`].
    Silence,
    /// We closed.
    Local,
}

/// State of a [`UdpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpState {
    /// Sending C2D_C every 500 ms.
    Discovering {
        /// When discovery started.
        since_ms: u64,
        /// When C2D_C was last sent (`None` = not yet).
        last_sent_ms: Option<u64>,
    },
    /// Session up: DATA/ACK flowing.
    Connected {
        /// Camera's device id.
        did: i32,
        /// The address the camera answered from (it talks from a new port).
        camera: SocketAddr,
    },
    /// Finished.
    Closed(CloseReason),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Destination.
    pub to: SocketAddr,
    /// Datagram bytes.
    pub datagram: Bytes,
}

/// What happened on receipt of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpEvent {
    /// The camera accepted us.
    Connected {
        /// Its did.
        did: i32,
        /// Its address.
        camera: SocketAddr,
    },
    /// BC stream bytes, in order.
    Data(Bytes),
    /// The session ended.
    Closed(CloseReason),
}

/// Output of [`UdpClient::on_datagram`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpOutput {
    /// Events for the caller.
    pub events: Vec<UdpEvent>,
    /// Datagrams to send now.
    pub send: Vec<Outgoing>,
}

/// Client side of a local BcUdp session as an explicit state machine. The caller owns the
/// socket and the clock: it calls [`UdpClient::poll`] every ~10 ms, feeds received datagrams
/// to [`UdpClient::on_datagram`] and BC bytes to [`UdpClient::send`].
#[derive(Debug, Clone)]
pub struct UdpClient {
    cfg: UdpClientConfig,
    state: UdpState,
    sender: Option<Sender>,
    rx: Reassembler,
    last_rx_ms: u64,
    last_hb_ms: u64,
    last_ack_ms: u64,
    ack_dirty: bool,
}

impl UdpClient {
    /// Starts discovering at `now_ms`.
    pub fn new(cfg: UdpClientConfig, now_ms: u64) -> Self {
        UdpClient {
            cfg,
            state: UdpState::Discovering {
                since_ms: now_ms,
                last_sent_ms: None,
            },
            sender: None,
            rx: Reassembler::new(),
            last_rx_ms: now_ms,
            last_hb_ms: 0,
            last_ack_ms: 0,
            ack_dirty: false,
        }
    }

    /// Current state.
    pub fn state(&self) -> UdpState {
        self.state
    }

    fn disc(&self, to: SocketAddr, msg: P2p) -> Outgoing {
        Outgoing {
            to,
            datagram: UdpPacket::Discovery(DiscoveryPacket {
                tid: self.cfg.tid,
                msg,
            })
            .to_bytes(),
        }
    }

    /// The C2D_C discovery message for this client.
    pub fn c2d_c(&self) -> P2p {
        P2p::C2dC {
            uid: self.cfg.uid.clone(),
            cli_port: self.cfg.client_port,
            cid: self.cfg.cid,
            mtu: DEFAULT_MTU,
            debug: 0,
            p: "WIN".into(),
        }
    }

    /// Timers: discovery retransmits and timeout, heartbeats, ACKs, DATA retransmits, silence.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        match self.state {
            UdpState::Discovering {
                since_ms,
                last_sent_ms,
            } => {
                if now_ms.saturating_sub(since_ms) >= DISCOVERY_TIMEOUT_MS {
                    self.state = UdpState::Closed(CloseReason::DiscoveryTimeout);
                } else if last_sent_ms
                    .is_none_or(|t| now_ms.saturating_sub(t) >= DISCOVERY_RESEND_MS)
                {
                    for &t in &self.cfg.discovery_targets {
                        out.push(self.disc(t, self.c2d_c()));
                    }
                    self.state = UdpState::Discovering {
                        since_ms,
                        last_sent_ms: Some(now_ms),
                    };
                }
            }
            UdpState::Connected { did, camera } => {
                if now_ms.saturating_sub(self.last_rx_ms) >= SILENCE_TIMEOUT_MS {
                    self.state = UdpState::Closed(CloseReason::Silence);
                    return out;
                }
                if now_ms.saturating_sub(self.last_hb_ms) >= HEARTBEAT_MS {
                    self.last_hb_ms = now_ms;
                    out.push(self.disc(
                        camera,
                        P2p::C2dHb {
                            cid: self.cfg.cid,
                            did,
                        },
                    ));
                }
                if self.ack_dirty && now_ms.saturating_sub(self.last_ack_ms) >= ACK_INTERVAL_MS {
                    if let Some(a) = self.rx.ack(did) {
                        out.push(Outgoing {
                            to: camera,
                            datagram: UdpPacket::Ack(a).to_bytes(),
                        });
                    }
                    self.last_ack_ms = now_ms;
                    self.ack_dirty = false;
                }
                if let Some(s) = self.sender.as_mut() {
                    for p in s.due(now_ms) {
                        out.push(Outgoing {
                            to: camera,
                            datagram: UdpPacket::Data(p).to_bytes(),
                        });
                    }
                }
            }
            UdpState::Closed(_) => {}
        }
        out
    }

    /// Handles one received datagram.
    pub fn on_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now_ms: u64,
    ) -> Result<UdpOutput, UdpError> {
        let pkt = UdpPacket::decode(datagram)?;
        let mut out = UdpOutput::default();
        match (self.state, pkt) {
            (UdpState::Closed(_), _) => {}
            (UdpState::Discovering { .. }, UdpPacket::Discovery(d)) => {
                if let P2p::D2cCR { rsp, cid, did, .. } = d.msg {
                    if cid != self.cfg.cid {
                        return Ok(out);
                    }
                    self.last_rx_ms = now_ms;
                    if rsp != 0 {
                        self.state = UdpState::Closed(CloseReason::Refused(rsp));
                        out.events.push(UdpEvent::Closed(CloseReason::Refused(rsp)));
                    } else {
                        self.state = UdpState::Connected { did, camera: from };
                        self.sender = Some(Sender::new(did));
                        self.last_hb_ms = now_ms;
                        out.send.push(self.disc(
                            from,
                            P2p::C2dHb {
                                cid: self.cfg.cid,
                                did,
                            },
                        ));
                        out.events.push(UdpEvent::Connected { did, camera: from });
                    }
                }
            }
            (UdpState::Discovering { .. }, _) => {}
            (UdpState::Connected { did, .. }, pkt) => {
                self.last_rx_ms = now_ms;
                match pkt {
                    UdpPacket::Discovery(d) => match d.msg {
                        P2p::D2cDisc { did: d_did, .. } if d_did == did => {
                            self.state = UdpState::Closed(CloseReason::CameraDisconnected);
                            out.events
                                .push(UdpEvent::Closed(CloseReason::CameraDisconnected));
                        }
                        P2p::D2cCR {
                            rsp: 0,
                            cid,
                            did: other,
                            ..
                        } if cid == self.cfg.cid && other != did => {
                            // A duplicate session opened by a retransmitted C2D_C: release it.
                            out.send.push(self.disc(
                                from,
                                P2p::C2dDisc {
                                    cid: self.cfg.cid,
                                    did: other,
                                },
                            ));
                        }
                        _ => {}
                    },
                    UdpPacket::Data(p) => {
                        if p.connection_id == self.cfg.cid {
                            let mut buf = BytesMut::new();
                            self.rx.on_data(p.packet_id, p.payload, &mut buf);
                            self.ack_dirty = true;
                            if !buf.is_empty() {
                                out.events.push(UdpEvent::Data(buf.freeze()));
                            }
                        }
                    }
                    UdpPacket::Ack(a) => {
                        if let Some(s) = self.sender.as_mut() {
                            s.on_ack(&a);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Queues BC bytes for the camera; returns the DATA datagrams to send now.
    pub fn send(&mut self, bc: &[u8], now_ms: u64) -> Result<Vec<Outgoing>, UdpError> {
        let UdpState::Connected { camera, .. } = self.state else {
            return Err(UdpError::NotConnected);
        };
        let s = self.sender.as_mut().ok_or(UdpError::NotConnected)?;
        Ok(s.send(bc, now_ms)?
            .into_iter()
            .map(|p| Outgoing {
                to: camera,
                datagram: UdpPacket::Data(p).to_bytes(),
            })
            .collect())
    }

    /// Closes the session: returns the C2D_DISC to send (send BC logout first).
    pub fn close(&mut self) -> Vec<Outgoing> {
        let out = match self.state {
            UdpState::Connected { did, camera } => vec![self.disc(
                camera,
                P2p::C2dDisc {
                    cid: self.cfg.cid,
                    did,
                },
            )],
            _ => Vec::new(),
        };
        self.state = UdpState::Closed(CloseReason::Local);
        out
    }
}
