//! Every encoder round-trips through its decoder (no fixtures needed).

use baichuan::camera;
use baichuan::crypto::{AesKey, Encryption, EncryptionLevel, bc_xor};
use baichuan::header::{Header, MsgClass};
use baichuan::login::{self, LoginLayout, StreamKind};
use baichuan::media::{
    AdpcmFrame, FrameKind, MediaDecoder, MediaInfo, MediaPacket, VideoCodec, VideoFrame,
};
use baichuan::msg::{Body, Codec, Message};
use baichuan::udp::{AckPacket, DataPacket, DiscoveryPacket, P2p, Timer, UdpPacket};
use baichuan::xml::{self, BatteryInfo, BcXml, Element, Extension, Layout};
use bytes::{Bytes, BytesMut};

fn codecs() -> Vec<Codec> {
    let k = AesKey::derive("nonce", "pw");
    vec![
        Codec::new(Encryption::None),
        Codec::new(Encryption::BcEncrypt),
        Codec::new(Encryption::Aes(k)),
        Codec::new(Encryption::FullAes(k)),
    ]
}

fn roundtrip(m: &Message) {
    for mut c in codecs() {
        let mut b = BytesMut::new();
        c.encode(m, &mut b).unwrap();
        let wire = b.clone();
        let mut d = c.clone();
        let got = d.decode(&mut b).unwrap().unwrap();
        assert!(b.is_empty());
        assert_eq!(
            (&got.extension, &got.body),
            (&m.extension, &m.body),
            "{:?}",
            c.encryption()
        );
        assert_eq!(got.header.msg_id, m.header.msg_id);
        assert_eq!(got.header.tag(), m.header.tag());
        // And the decoded message re-encodes to the same bytes.
        let mut again = BytesMut::new();
        c.encode(&got, &mut again).unwrap();
        assert_eq!(again, wire);
    }
}

#[test]
fn message_builders_roundtrip() {
    let tag = [3, 1, 0x34, 0x12];
    let info = baichuan::xml::DeviceInfo {
        kind: Some("ipc".into()),
        channel_num: Some(1),
        resolution: Some((1920, 1080)),
        soft_ver: Some("1".into()),
        firm_version: Some("v3".into()),
        type_info: Some("IPC".into()),
    };
    let req = Header::new(1, MsgClass::Modern);
    for m in [
        login::login_upgrade(EncryptionLevel::FullAes, tag),
        login::legacy_login("admin", "pw & <x>", EncryptionLevel::Aes, tag),
        login::modern_login("admin", "pw", "N", LoginLayout::Standard, tag),
        login::modern_login("admin", "pw", "N", LoginLayout::CameraProxy, tag),
        login::logout("a&b", "<pw>", tag),
        login::start_video(2, StreamKind::Extern, 9),
        login::stop_video(2, StreamKind::Sub, 10),
        login::ping(tag),
        login::battery_info_request(1, tag),
        login::keepalive_reply(&req),
        login::simple_request(146, tag),
        camera::nonce_reply(&req, EncryptionLevel::FullAes, "abc"),
        camera::login_ok(&req, &info),
        camera::status_reply(&req, 401),
        camera::battery_list_push(&[BatteryInfo {
            voltage_mv: Some(-1),
            ..Default::default()
        }]),
        camera::battery_info_reply(&req, &BatteryInfo::default()),
        camera::keepalive_request(tag),
    ] {
        roundtrip(&m);
    }
    let l = login::logout("a&b", "<pw>", tag);
    assert_eq!(l.xml().unwrap().login_user().unwrap().password, "<pw>");
    let ok = camera::login_ok(&req, &info);
    assert_eq!(ok.xml().unwrap().device_info(), Some(info));
}

#[test]
fn binary_mode_follows_msg_num() {
    let req = Header::new(3, MsgClass::Modern);
    let first = camera::video_first_reply(&req, &MediaPacket::Aac(Bytes::from_static(b"<xml")));
    let next = camera::video_data(&req, Bytes::from_static(b"<looks like xml but is binary"));
    let mut cam = Codec::default();
    let mut wire = BytesMut::new();
    cam.encode(&first, &mut wire).unwrap();
    cam.encode(&next, &mut wire).unwrap();
    let mut client = Codec::default();
    let a = client.decode(&mut wire).unwrap().unwrap();
    let b = client.decode(&mut wire).unwrap().unwrap();
    assert_eq!(a.extension, Some(Extension::binary()));
    assert!(matches!(a.body, Body::Binary(_)));
    assert_eq!(b.body, next.body);
    assert!(client.is_binary(3, 0));
    // binaryData=0 clears it.
    let mut off = Message::new(first.header, Body::Empty);
    off.extension = Some(Extension {
        binary_data: Some(0),
        ..Default::default()
    });
    let mut w = BytesMut::new();
    cam.encode(&off, &mut w).unwrap();
    client.decode(&mut w).unwrap().unwrap();
    assert!(!client.is_binary(3, 0));
}

#[test]
fn header_roundtrip_all_classes() {
    for class in [
        MsgClass::Legacy,
        MsgClass::LegacyReply,
        MsgClass::Modern,
        MsgClass::ModernReply,
        MsgClass::ModernFile,
    ] {
        for rev in [false, true] {
            let mut h = Header::new(0xdead_beef, class);
            h.reversed_magic = rev;
            h.set_tag([1, 2, 3, 4]);
            h.response_code = 0xdd12;
            let mut b = BytesMut::new();
            h.encode(&mut b);
            assert_eq!(b.len(), class.header_len());
            assert_eq!(Header::parse(&b).unwrap(), Some(h));
            assert_eq!(Header::parse(&b[..b.len() - 1]).unwrap(), None);
        }
    }
    assert_eq!(
        EncryptionLevel::from_answer_code(0xdd12),
        Some(EncryptionLevel::FullAes)
    );
    assert_eq!(
        EncryptionLevel::from_request_code(0xdc01),
        Some(EncryptionLevel::BcEncrypt)
    );
    assert_eq!(EncryptionLevel::from_answer_code(0x00c8), None);
}

#[test]
fn media_roundtrip_every_kind() {
    let info = MediaInfo {
        width: 1,
        height: 2,
        unknown: 1,
        fps: 3,
        start: [1; 6],
        end: [2; 6],
        reserved: 7,
    };
    let pkts = vec![
        MediaPacket::InfoV1(info),
        MediaPacket::InfoV2(info),
        MediaPacket::Video(VideoFrame {
            kind: FrameKind::P,
            channel_digit: b'3',
            codec: VideoCodec::H264,
            microseconds: 9,
            unknown: 1,
            extra_header: Bytes::new(),
            data: Bytes::from_static(&[0, 0, 0, 1, 0x41]),
        }),
        MediaPacket::Aac(Bytes::from_static(&[1, 2, 3])),
        MediaPacket::Adpcm(AdpcmFrame {
            block_field: 2,
            data: Bytes::from_static(&[0; 13]),
        }),
    ];
    let mut b = BytesMut::new();
    for p in &pkts {
        p.encode(&mut b);
        assert_eq!(b.len() % 8, 0, "padded to 8");
    }
    let mut d = MediaDecoder::new();
    for p in &pkts {
        assert_eq!(d.decode(&mut b).unwrap().as_ref(), Some(p));
    }
    assert!(b.is_empty());
}

#[test]
fn udp_roundtrip_every_kind() {
    let msgs = vec![
        P2p::C2dS { port: 1 },
        P2p::C2dC {
            uid: "U&<".into(),
            cli_port: 2,
            cid: -3,
            mtu: 1350,
            debug: 0,
            p: "MAC".into(),
        },
        P2p::D2cCR {
            timer: Some(Timer {
                def: 1,
                hb: 2,
                hbt: 3,
            }),
            rsp: -3,
            cid: 4,
            did: -5,
        },
        P2p::D2cCR {
            timer: None,
            rsp: 0,
            cid: 4,
            did: 5,
        },
        P2p::C2dT {
            sid: 1,
            conn: "local".into(),
            cid: 2,
            mtu: 3,
        },
        P2p::D2cT {
            sid: 1,
            conn: "map".into(),
            cid: 2,
            did: 3,
        },
        P2p::C2dA {
            sid: 1,
            conn: "map".into(),
            cid: 2,
            did: 3,
            mtu: 4,
        },
        P2p::D2cCfm {
            sid: 1,
            conn: "relay".into(),
            rsp: 0,
            cid: 2,
            did: 3,
            time_r: 4,
        },
        P2p::C2dHb { cid: 1, did: 2 },
        P2p::D2cHb { cid: 1, did: 2 },
        P2p::C2dDisc { cid: 1, did: 2 },
        P2p::D2cDisc { cid: 1, did: 2 },
        P2p::Other(Element::new("D2C_S_R").leaf("uid", "X")),
    ];
    for (i, msg) in msgs.into_iter().enumerate() {
        let p = UdpPacket::Discovery(DiscoveryPacket {
            tid: i as u32 * 0x1000_0001,
            msg,
        });
        assert_eq!(UdpPacket::decode(&p.to_bytes()).unwrap(), p);
    }
    let d = UdpPacket::Data(DataPacket {
        connection_id: -1,
        unknown: 0,
        packet_id: 7,
        payload: Bytes::from_static(b"abc"),
    });
    assert_eq!(UdpPacket::decode(&d.to_bytes()).unwrap(), d);
    let a = UdpPacket::Ack(AckPacket {
        connection_id: 1,
        unknown: 0,
        group_id: 0,
        packet_id: 9,
        maybe_latency: 470,
        truth_table: Bytes::from_static(&[0, 1]),
    });
    assert_eq!(UdpPacket::decode(&a.to_bytes()).unwrap(), a);
}

#[test]
fn xml_writer_roundtrip_and_crypto_symmetry() {
    let doc = Element::versioned("Test")
        .leaf("a", "x & y")
        .child(Element::new("b").leaf("c", 1));
    for layout in [Layout::BC, Layout::BC_INDENTED, Layout::P2P] {
        let text = xml::write(&doc, layout);
        assert_eq!(xml::parse(text.as_bytes()).unwrap(), doc);
    }
    let body = BcXml::parse(xml::write_body(vec![doc.clone()], Layout::BC).as_bytes()).unwrap();
    assert_eq!(body.items, vec![doc]);
    let e = Extension {
        binary_data: Some(1),
        channel_id: Some(2),
        user_name: Some("u".into()),
        token: Some("t".into()),
        rf_id: Some(3),
        encrypt_len: Some(4),
        check_pos: Some(5),
        check_value: Some(-6),
    };
    assert_eq!(Extension::parse(e.to_xml().as_bytes()).unwrap(), e);
    let mut data = b"hello world".to_vec();
    for off in [0u8, 1, 138, 255] {
        bc_xor(&mut data, off);
        bc_xor(&mut data, off);
        assert_eq!(data, b"hello world");
    }
}

#[test]
fn nonce_reply_level_zero_is_plain() {
    let req = Header::new(1, MsgClass::Legacy);
    let m = camera::nonce_reply(&req, EncryptionLevel::None, "abc");
    let mut b = BytesMut::new();
    Codec::default().encode(&m, &mut b).unwrap();
    assert!(b[20..].starts_with(b"<?xml"));
    let m = camera::nonce_reply(&req, EncryptionLevel::Aes, "abc");
    let mut b = BytesMut::new();
    Codec::new(Encryption::Aes(AesKey::derive("n", "p")))
        .encode(&m, &mut b)
        .unwrap();
    let mut plain = b[20..].to_vec();
    bc_xor(&mut plain, 0);
    assert!(plain.starts_with(b"<?xml"), "msg 1 capped at BCEncrypt");
}
