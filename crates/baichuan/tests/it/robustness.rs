//! Hostile input: truncations and bit flips of every fixture never panic, decoders make
//! progress, and announced lengths are checked against the MAX_* bounds before allocating.

use std::path::Path;

use baichuan::header::MAX_BODY_LEN;
use baichuan::media::MediaDecoder;
use baichuan::msg::{Codec, Error};
use baichuan::udp::{self, Reassembler, UdpPacket};
use baichuan::xml::{self, BcXml, XmlError};
use bytes::{Bytes, BytesMut};

/// Runs every decoder over `data`; returns nothing, must not panic or loop forever.
fn exercise(data: &[u8]) {
    let mut codec = Codec::default();
    let mut buf = BytesMut::from(data);
    for _ in 0..data.len() + 2 {
        let before = buf.len();
        match codec.decode(&mut buf) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => assert!(buf.len() < before, "codec made no progress on error"),
        }
    }
    let mut media = MediaDecoder::new();
    let mut buf = BytesMut::from(data);
    for _ in 0..data.len() + 2 {
        let before = buf.len();
        match media.decode(&mut buf) {
            Ok(Some(_)) => assert!(buf.len() < before),
            Ok(None) => break,
            Err(_) => assert!(buf.len() < before, "media made no progress on error"),
        }
    }
    let _ = UdpPacket::decode(data);
    let _ = xml::parse(data);
    let _ = BcXml::parse(data);
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Positions to try: all for small files, an even sample plus the edges for big ones.
fn positions(len: usize) -> Vec<usize> {
    if len <= 256 {
        return (0..len).collect();
    }
    let step = len / 128;
    let mut v: Vec<usize> = (0..len).step_by(step).collect();
    v.extend(0..24);
    v.extend(len.saturating_sub(24)..len);
    v
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let Some(root) = crate::common::root() else {
        return;
    };
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(all.len() > 200);
    let mut runs = 0;
    for p in &all {
        let data = std::fs::read(p).unwrap();
        // Past 16 KiB the decoders only see more of the same.
        let data = &data[..data.len().min(16 * 1024)];
        for cut in positions(data.len()) {
            exercise(&data[..cut]);
            exercise(&data[cut..]);
            runs += 2;
        }
        for pos in positions(data.len()) {
            let mut d = data.to_vec();
            d[pos] ^= 1 << (pos % 8);
            exercise(&d);
            runs += 1;
        }
    }
    assert!(runs > 10_000, "{runs}");
}

#[test]
fn two_gib_body_fails_without_allocating() {
    let mut h = baichuan::header::Header::new(3, baichuan::header::MsgClass::ModernReply);
    h.body_len = 0x8000_0000;
    let mut buf = BytesMut::new();
    h.encode(&mut buf);
    let cap = buf.capacity();
    let err = Codec::default().decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        Error::BodyTooLong {
            len: 0x8000_0000,
            max: MAX_BODY_LEN
        }
    );
    assert!(buf.capacity() <= cap);
    assert!(buf.len() < 24, "the bad header was dropped");
}

#[test]
fn max_body_waits_without_reserving() {
    let mut h = baichuan::header::Header::new(3, baichuan::header::MsgClass::ModernReply);
    h.body_len = MAX_BODY_LEN;
    let mut buf = BytesMut::new();
    h.encode(&mut buf);
    let cap = buf.capacity();
    assert_eq!(Codec::default().decode(&mut buf), Ok(None));
    assert_eq!(buf.capacity(), cap);
}

#[test]
fn payload_offset_past_body_is_rejected() {
    let mut h = baichuan::header::Header::new(3, baichuan::header::MsgClass::ModernReply);
    h.body_len = 4;
    h.payload_offset = Some(5);
    let mut buf = BytesMut::new();
    h.encode(&mut buf);
    buf.extend_from_slice(b"abcd");
    assert!(matches!(
        Codec::default().decode(&mut buf),
        Err(Error::BadPayloadOffset { .. })
    ));
}

#[test]
fn garbage_then_message_resyncs() {
    let mut buf = BytesMut::from(&b"\x00\x01garbage garbage garbage"[..]);
    let mut m = BytesMut::new();
    Codec::default()
        .encode(&baichuan::login::ping([0, 0, 1, 0]), &mut m)
        .unwrap();
    buf.extend_from_slice(&m);
    let mut codec = Codec::default();
    let mut errors = 0;
    let msg = loop {
        match codec.decode(&mut buf) {
            Ok(Some(m)) => break m,
            Ok(None) => panic!("message lost"),
            Err(_) => errors += 1,
        }
    };
    assert_eq!(msg.header.msg_id, 93);
    assert_eq!(errors, 1);
}

#[test]
fn media_huge_sizes_are_garbage() {
    let mut b = b"00dcH264".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&[0u8; 12]);
    let mut buf = BytesMut::from(&b[..]);
    assert!(MediaDecoder::new().decode(&mut buf).is_err());
    let mut b = b"00dcH264".to_vec();
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes()); // additional header
    b.extend_from_slice(&[0u8; 8]);
    let mut buf = BytesMut::from(&b[..]);
    assert!(MediaDecoder::new().decode(&mut buf).is_err());
}

#[test]
fn xml_bounds() {
    let big = vec![b' '; xml::MAX_XML_LEN + 1];
    assert!(matches!(xml::parse(&big), Err(XmlError::TooLong { .. })));
    let deep = "<a>".repeat(xml::MAX_XML_DEPTH + 1);
    assert_eq!(xml::parse(deep.as_bytes()), Err(XmlError::TooComplex));
    let many = format!("<r>{}</r>", "<a/>".repeat(xml::MAX_XML_ELEMENTS + 1));
    assert_eq!(xml::parse(many.as_bytes()), Err(XmlError::TooComplex));
    assert_eq!(xml::parse(b""), Err(XmlError::Empty));
    assert_eq!(xml::parse(&[0xff, 0xfe]), Err(XmlError::NotUtf8));
    // Entities and attributes are unescaped.
    let x = xml::parse(b"<a k=\"&lt;1&gt;\">x &amp; y&#65;</a>").unwrap();
    assert_eq!((x.text.as_str(), x.get_attr("k")), ("x & yA", Some("<1>")));
}

#[test]
fn udp_bounds() {
    // DATA announcing 2 GiB.
    let mut d = Vec::new();
    d.extend_from_slice(&udp::DATA_MAGIC.to_le_bytes());
    d.extend_from_slice(&[0u8; 12]);
    d.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    assert!(matches!(
        UdpPacket::decode(&d),
        Err(udp::UdpError::BadLength { .. })
    ));
    // Discovery with a bad CRC.
    let mut p = UdpPacket::Discovery(udp::DiscoveryPacket {
        tid: 5,
        msg: udp::P2p::C2dHb { cid: 1, did: 2 },
    })
    .to_bytes()
    .to_vec();
    p[16] ^= 1;
    assert!(matches!(
        UdpPacket::decode(&p),
        Err(udp::UdpError::BadCrc { .. })
    ));
    assert!(matches!(
        UdpPacket::decode(&[0; 10]),
        Err(udp::UdpError::TooShort(10))
    ));
    // The reassembler keeps at most MAX_REORDER_WINDOW packets.
    let mut r = Reassembler::new();
    let mut out = BytesMut::new();
    assert_eq!(
        r.on_data(udp::MAX_REORDER_WINDOW, Bytes::from_static(b"x"), &mut out),
        udp::DataOutcome::TooFarAhead
    );
    assert_eq!(
        r.on_data(u32::MAX, Bytes::from_static(b"x"), &mut out),
        udp::DataOutcome::Duplicate
    );
}
