//! BcUdp packets from the shared fixtures decode to the MANIFEST values; DATA/ACK re-encode
//! byte for byte; discovery XML re-encodes byte for byte (the layout matches).

use crate::common::{entry, manifest, num, read, read_hex, root};
use baichuan::media::{MediaDecoder, MediaPacket};
use baichuan::msg::{Body, Codec};
use baichuan::udp::{self, P2p, UdpPacket};
use bytes::BytesMut;

#[test]
fn manifest_udp_packets() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let mut n = 0;
    for e in &m {
        let file = e["file"].as_str().unwrap();
        let exp = &e["expected"];
        let Some(kind) = exp["type"].as_str() else {
            continue;
        };
        let bytes = read(&root, file);
        let pkt = UdpPacket::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(&pkt.to_bytes()[..], &bytes[..], "{file}: re-encoding");
        assert_eq!(
            num(&exp["magic"]) as u32,
            u32::from_le_bytes(bytes[..4].try_into().unwrap())
        );
        match (kind, &pkt) {
            ("discovery", UdpPacket::Discovery(d)) => {
                assert_eq!(d.tid as u64, num(&exp["tid"]), "{file}");
                assert_eq!(
                    u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as u64,
                    num(&exp["unknown"])
                );
                assert_eq!(
                    u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as u64,
                    num(&exp["crc"])
                );
                assert_eq!(exp["crc_valid"], true);
                assert_eq!(udp::crc32(&bytes[20..]) as u64, num(&exp["crc"]));
                assert_eq!(bytes.len() - 20, num(&exp["payload_len"]) as usize);
                assert_eq!(d.msg.to_xml(), exp["xml"].as_str().unwrap(), "{file}");
                assert!(!matches!(d.msg, P2p::Other(_)), "{file}: typed");
            }
            ("data", UdpPacket::Data(d)) => {
                assert_eq!(d.connection_id as u64, num(&exp["connection_id"]));
                assert_eq!(d.unknown as u64, num(&exp["unknown"]));
                assert_eq!(d.packet_id as u64, num(&exp["packet_id"]));
                assert_eq!(d.payload.len() as u64, num(&exp["payload_len"]));
                let head = exp["payload_head"].as_str().unwrap();
                assert_eq!(hex::encode(&d.payload[..head.len() / 2]), head);
                if let Some(msgs) = exp["bc_messages_in_payload"].as_array() {
                    let mut codec = Codec::default();
                    let mut buf = BytesMut::from(&d.payload[..]);
                    for want in msgs {
                        let msg = codec.decode(&mut buf).unwrap().unwrap();
                        let h = &want["header"];
                        assert_eq!(msg.header.msg_id as u64, num(&h["msg_id"]));
                        assert_eq!(msg.header.body_len as u64, num(&h["body_len"]));
                        assert_eq!(
                            hex::encode(msg.header.tag()),
                            h["bytes12_15"].as_str().unwrap()
                        );
                        assert_eq!(msg.header.stream_type as u64, num(&h["stream_type"]));
                        assert_eq!(msg.header.msg_num as u64, num(&h["msg_num"]));
                        assert_eq!(msg.header.response_code as u64, num(&h["response_code"]));
                        let Body::Binary(b) = &msg.body else {
                            panic!("{:?}", msg.body)
                        };
                        let mut mb = BytesMut::from(&b[..]);
                        let p = MediaDecoder::new().decode(&mut mb).unwrap().unwrap();
                        let med = &want["media"];
                        match (med["kind"].as_str().unwrap(), p) {
                            ("AAC", MediaPacket::Aac(d)) => {
                                assert_eq!(d.len() as u64, num(&med["size"]))
                            }
                            ("PFrame", MediaPacket::Video(v)) => {
                                assert_eq!(v.data.len() as u64, num(&med["payload_size"]));
                                assert_eq!(v.microseconds as u64, num(&med["microseconds"]));
                                assert_eq!(v.unknown as u64, num(&med["unknown"]));
                            }
                            (k, p) => panic!("{k} vs {p:?}"),
                        }
                        assert!(mb.is_empty());
                    }
                    assert!(buf.is_empty());
                }
            }
            ("ack", UdpPacket::Ack(a)) => {
                assert_eq!(a.connection_id as u64, num(&exp["connection_id"]));
                assert_eq!(a.unknown as u64, num(&exp["unknown"]));
                assert_eq!(a.group_id as u64, num(&exp["group_id"]));
                assert_eq!(a.packet_id as u64, num(&exp["packet_id"]));
                assert_eq!(a.maybe_latency as u64, num(&exp["maybe_latency"]));
                assert_eq!(a.truth_table.len() as u64, num(&exp["payload_len"]));
            }
            (k, p) => panic!("{file}: expected {k}, got {p:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 16);
}

/// udp_multi_3 + udp_multi_4 reassemble (with the retransmitted 7 dropped as a duplicate)
/// into the 1856-byte legacy login.
#[test]
fn multi_packets_reassemble() {
    let Some(root) = root() else { return };
    let mut r = udp::Reassembler::new();
    let mut out = BytesMut::new();
    for i in [3, 4, 7] {
        let b = read(&root, &format!("neolink/bcudp/udp_multi_{i}.bin"));
        let UdpPacket::Data(d) = UdpPacket::decode(&b).unwrap() else {
            panic!()
        };
        let o = r.on_data(d.packet_id, d.payload, &mut out);
        if i == 7 {
            assert_eq!(o, udp::DataOutcome::Duplicate);
        }
    }
    assert_eq!(out.len(), 1856);
    let msg = Codec::default().decode(&mut out).unwrap().unwrap();
    assert_eq!(msg.header.response_code, 0xdc12);
    let Body::LegacyLogin(l) = msg.body else {
        panic!()
    };
    assert_eq!(
        &l.username[..31],
        baichuan::crypto::md5_31("admin").as_bytes()
    );
    assert_eq!(&l.password[..31], b"EC7553E42CAD6F1007645BA062F7E8E");
}

#[test]
fn udp_xml_crypto_sample() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let e = entry(&m, "neolink/bcudp/xml_crypto_sample1.bin");
    assert_eq!(e["expected"]["decrypt"], "UDP XOR with tid 87");
    let mut c = read(&root, "neolink/bcudp/xml_crypto_sample1.bin");
    udp::udp_xor(&mut c, 87);
    let p = read(&root, "neolink/bcudp/xml_crypto_sample1_plaintext.bin");
    assert_eq!(c, p);
    let t = entry(&m, "neolink/bcudp/xml_crypto_sample1_plaintext.bin")["expected"]["text"]
        .as_str()
        .unwrap();
    assert_eq!(p, t.as_bytes());
}

/// The messages.md ACK payload (204 bytes): missing at 0, 12, 36, 102, 138.
#[test]
fn ack_payload_204() {
    let Some(root) = root() else { return };
    let t = read_hex(&root, "literals/neolink_docs/udp_md_ack_payload_204.hex");
    assert_eq!(t.len(), 204);
    let missing: Vec<usize> = t
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == 0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(missing, vec![0, 12, 36, 102, 138]);
    // A sender holding 1..=205 after an ACK for 0 with this table keeps exactly those gaps.
    let mut s = udp::Sender::new(80);
    s.send(&vec![0u8; 1330 * 206], 0).unwrap();
    s.on_ack(&udp::AckPacket {
        connection_id: 80,
        unknown: 0,
        group_id: 0,
        packet_id: 0,
        maybe_latency: 0,
        truth_table: t.clone().into(),
    });
    let resent: Vec<u32> = s.due(1000).iter().map(|p| p.packet_id).collect();
    assert_eq!(resent, vec![1, 13, 37, 103, 139, 205]);
}

/// The D2C_C_R literal with a negative cid, and the P2P XML literals, parse.
#[test]
fn p2p_literals() {
    let Some(root) = root() else { return };
    let b = read(
        &root,
        "literals/neolink_xml_tests/bcudp_test_d2c_c_r_deser.xml",
    );
    let x = baichuan::xml::parse(&b).unwrap();
    let msg = P2p::from_element(&x.children[0]);
    assert_eq!(
        msg,
        P2p::D2cCR {
            timer: Some(udp::Timer {
                def: 3000,
                hb: 20000,
                hbt: 60000
            }),
            rsp: 0,
            cid: -376_737_975,
            did: 49
        }
    );
    for e in std::fs::read_dir(root.join("literals/p2p_xml")).unwrap() {
        let p = e.unwrap().path();
        let x = baichuan::xml::parse(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(x.name, "P2P", "{}", p.display());
        let _ = P2p::from_element(&x.children[0]);
    }
}
