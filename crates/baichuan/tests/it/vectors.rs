//! Known-answer vectors under generated/: our encoders reproduce every file byte for byte.

use crate::common::{read, root};
use baichuan::camera;
use baichuan::crypto::{AesKey, Encryption, EncryptionLevel, bc_xor, md5_31, md5_upper_hex};
use baichuan::header::{Header, MsgClass};
use baichuan::login::{self, LoginLayout, StreamKind};
use baichuan::msg::{Codec, Message};
use baichuan::udp::{self, AckPacket, DiscoveryPacket, P2p, Reassembler, Sender, UdpPacket};
use baichuan::xml::{self, BatteryInfo, Element, Extension, Layout, Preview};
use bytes::{Bytes, BytesMut};
use serde_json::Value;

const NONCE: &str = "9E6D1FCB9E69846D";

fn enc(codec: &mut Codec, m: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    codec.encode(m, &mut b).unwrap();
    b.to_vec()
}

fn bc(m: &Message) -> Vec<u8> {
    enc(&mut Codec::default(), m)
}

fn disc(tid: u32, msg: P2p) -> Vec<u8> {
    UdpPacket::Discovery(DiscoveryPacket { tid, msg })
        .to_bytes()
        .to_vec()
}

fn vectors(root: &std::path::Path, dir: &str) -> Value {
    serde_json::from_slice(&read(root, &format!("generated/{dir}/vectors.json"))).unwrap()
}

#[test]
fn camera_proxy_vectors() {
    let Some(root) = root() else { return };
    let f = |n: &str| read(&root, &format!("generated/camera_proxy/{n}"));
    let v = vectors(&root, "camera_proxy");
    let inp = |n: &str, k: &str| v[n]["inputs"][k].clone();

    let legacy = login::legacy_login(
        inp("bc_legacy_login.bin", "username").as_str().unwrap(),
        inp("bc_legacy_login.bin", "password").as_str().unwrap(),
        EncryptionLevel::BcEncrypt,
        [0, 0, 0, 1],
    );
    assert_eq!(bc(&legacy), f("bc_legacy_login.bin"));

    let modern = login::modern_login(
        "admin",
        "password",
        inp("bc_modern_login.bin", "nonce").as_str().unwrap(),
        LoginLayout::CameraProxy,
        [0; 4],
    );
    assert_eq!(bc(&modern), f("bc_modern_login.bin"));
    assert_eq!(bc(&login::ping([0; 4])), f("bc_ping.bin"));
    for (file, stream) in [
        ("bc_start_video_main.bin", "mainStream"),
        ("bc_start_video_sub.bin", "subStream"),
    ] {
        assert_eq!(inp(file, "stream"), stream);
        let p = Preview {
            channel_id: 0,
            handle: 0,
            stream_type: Some(stream.into()),
        };
        assert_eq!(bc(&login::preview_start(&p, [0; 4])), f(file), "{file}");
    }

    let c2d_c = |tid| {
        disc(
            tid,
            P2p::C2dC {
                uid: "TESTUID1234567".into(),
                cli_port: 53500,
                cid: 1_234_567,
                mtu: 1350,
                debug: 0,
                p: "WIN".into(),
            },
        )
    };
    assert_eq!(c2d_c(1234), f("c2d_c_discovery.bin"));
    assert_eq!(c2d_c(3290), f("c2d_c_discovery_tid3290_vherrlein.bin"));
    assert_eq!(
        disc(
            1234,
            P2p::C2dT {
                sid: 62_097_899,
                conn: "local".into(),
                cid: 1_234_567,
                mtu: 1350
            }
        ),
        f("c2d_t_local.bin")
    );
    // P2P server messages are not typed; the generic element writer reproduces them.
    let q = Element::new("C2M_Q")
        .leaf("uid", "TESTUID1234567")
        .leaf("p", "WIN");
    assert_eq!(disc(1234, P2p::Other(q)), f("c2m_q_lookup.bin"));
    let r = Element::new("C2R_C")
        .leaf("uid", "TESTUID1234567")
        .child(Element::new("cli").leaf("ip", "").leaf("port", 53500))
        .child(
            Element::new("relay")
                .leaf("ip", "127.0.0.1")
                .leaf("port", 58100),
        )
        .leaf("cid", 1_234_567)
        .leaf("debug", 0)
        .leaf("family", 4)
        .leaf("p", "WIN");
    assert_eq!(disc(1234, P2p::Other(r)), f("c2r_c_register.bin"));

    let ack = AckPacket {
        connection_id: 80,
        unknown: 0,
        group_id: 0,
        packet_id: 41,
        maybe_latency: 0,
        truth_table: Bytes::new(),
    };
    assert_eq!(UdpPacket::Ack(ack).to_bytes().to_vec(), f("udp_ack_41.bin"));

    let mut s = Sender::new(80);
    let pkts = s.send(&f("bc_legacy_login.bin"), 0).unwrap();
    assert_eq!(pkts.len(), 2);
    assert_eq!(
        UdpPacket::Data(pkts[0].clone()).to_bytes().to_vec(),
        f("udp_data_legacy_login_frag0.bin")
    );
    assert_eq!(
        UdpPacket::Data(pkts[1].clone()).to_bytes().to_vec(),
        f("udp_data_legacy_login_frag1.bin")
    );

    let md5 = &v["md5_hash_examples"];
    assert_eq!(
        md5["md5_hash(admin+nonce, zero_last=False)"],
        md5_31(&format!("admin{NONCE}"))
    );
    assert_eq!(
        md5["md5_hash(password+nonce, zero_last=False)"],
        md5_31(&format!("password{NONCE}"))
    );
    assert_eq!(
        md5["md5_hash(admin, zero_last=True)"],
        format!("{}\0", md5_31("admin"))
    );
    assert_eq!(
        md5["md5_hash(password, zero_last=True)"],
        format!("{}\0", md5_31("password"))
    );
    for (k, want) in v["udp_crc_examples"].as_object().unwrap() {
        assert_eq!(
            format!("{:08x}", udp::crc32(k.as_bytes())),
            want.as_str().unwrap(),
            "{k:?}"
        );
    }
    let bcx = |off: u8| {
        let mut b = b"<?xml".to_vec();
        bc_xor(&mut b, off);
        hex::encode(b)
    };
    assert_eq!(v["bc_xor_offset_0_of_\"<?xml\""], bcx(0));
    assert_eq!(v["bc_xor_offset_9_of_\"<?xml\""], bcx(9));
}

#[test]
fn independent_vectors() {
    let Some(root) = root() else { return };
    let f = |n: &str| read(&root, &format!("generated/independent/{n}"));
    let v = vectors(&root, "independent");

    for row in v["aes_key_derivation"].as_array().unwrap() {
        let k = AesKey::derive(
            row["nonce"].as_str().unwrap(),
            row["password"].as_str().unwrap(),
        );
        assert_eq!(&k.0[..], row["key_ascii"].as_str().unwrap().as_bytes());
        assert_eq!(hex::encode(k.0), row["key_hex"].as_str().unwrap());
    }
    let key = AesKey::derive(NONCE, "password");

    // Plain inputs come from our writers.
    let ext_xml = f("xml_extension_channel0.xml");
    assert_eq!(Extension::channel(0).to_xml().as_bytes(), &ext_xml[..]);
    let preview = Preview {
        channel_id: 0,
        handle: 0,
        stream_type: Some("mainStream".into()),
    };
    let preview_xml = f("xml_preview_main.xml");
    assert_eq!(
        xml::write_body(vec![preview.to_element()], Layout::BC).as_bytes(),
        &preview_xml[..]
    );

    let mut e = ext_xml.clone();
    key.encrypt(&mut e);
    assert_eq!(e, f("aes_extension_channel0.enc"));
    key.decrypt(&mut e);
    assert_eq!(e, ext_xml);
    let mut p = preview_xml.clone();
    key.encrypt(&mut p);
    assert_eq!(p, f("aes_preview_main.enc"));

    // Full AES msg 3 (extension + payload each from the IV), and back.
    let mut aes = Codec::new(Encryption::Aes(key));
    let mut m = login::start_video(0, StreamKind::Main, 5);
    m.extension = Some(Extension::channel(0));
    let want = f("bc_msg3_start_video_aes.bin");
    assert_eq!(enc(&mut aes, &m), want);
    let mut buf = BytesMut::from(&want[..]);
    let back = aes.decode(&mut buf).unwrap().unwrap();
    assert_eq!((&back.extension, &back.body), (&m.extension, &m.body));
    assert_eq!(back.header.payload_offset, Some(104));

    for off in [1u8, 9, 250] {
        let mut x = ext_xml.clone();
        bc_xor(&mut x, off);
        assert_eq!(
            x,
            f(&format!("bcencrypt_extension_offset{off}.bin")),
            "offset {off}"
        );
    }

    assert_eq!(
        bc(&login::login_upgrade(EncryptionLevel::FullAes, [0; 4])),
        f("bc_login_upgrade_dc12.bin")
    );
    assert_eq!(
        bc(&login::ping([0, 0, 3, 0])),
        f("bc_msg93_ping_request.bin")
    );
    assert_eq!(
        bc(&login::start_video(0, StreamKind::Sub, 7)),
        f("bc_msg3_start_video_bcencrypt_ch0_sub.bin")
    );

    // msg 234: the camera's request, then our reply echoing bytes 12-15.
    let req = camera::keepalive_request([0, 0, 0x02, 0x01]);
    assert_eq!(req.header.msg_num, 258);
    assert_eq!(
        bc(&login::keepalive_reply(&req.header)),
        f("bc_msg234_keepalive_reply.bin")
    );

    let b = &v["bc_msg252_battery_list_bcencrypt.bin"]["expected"]["battery"];
    let s = |k: &str| b[k].as_str().map(str::to_owned);
    let n = |k: &str| b[k].as_i64();
    let info = BatteryInfo {
        channel_id: n("channelId").map(|x| x as u8),
        charge_status: s("chargeStatus"),
        adapter_status: s("adapterStatus"),
        voltage_mv: n("voltage").map(|x| x as i32),
        current_ma: n("current").map(|x| x as i32),
        temperature_c: n("temperature").map(|x| x as i32),
        battery_percent: n("batteryPercent").map(|x| x as u32),
        low_power: n("lowPower").map(|x| x as u32),
        battery_version: n("batteryVersion").map(|x| x as u32),
        power_supply_status: None,
    };
    let push = camera::battery_list_push(std::slice::from_ref(&info));
    let want = f("bc_msg252_battery_list_bcencrypt.bin");
    assert_eq!(bc(&push), want);
    let mut buf = BytesMut::from(&want[..]);
    let got = Codec::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(got.header.class, MsgClass::ModernReply);
    assert_eq!(got.xml().unwrap().battery().unwrap(), vec![info]);

    // UDP.
    let input = f("reolink_aio_fragmentation_input.bin");
    let pkts = Sender::new(884).send(&input, 0).unwrap();
    assert_eq!(pkts.len(), 2);
    assert_eq!(pkts[1].payload.len(), 937);
    assert_eq!(
        UdpPacket::Data(pkts[0].clone()).to_bytes().to_vec(),
        f("reolink_aio_fragmentation_dgram0.bin")
    );
    assert_eq!(
        UdpPacket::Data(pkts[1].clone()).to_bytes().to_vec(),
        f("reolink_aio_fragmentation_dgram1.bin")
    );

    let empty = AckPacket {
        connection_id: 80,
        unknown: 0,
        group_id: u32::MAX,
        packet_id: u32::MAX,
        maybe_latency: 0,
        truth_table: Bytes::new(),
    };
    assert_eq!(
        UdpPacket::Ack(empty).to_bytes().to_vec(),
        f("udp_ack_empty_nothing_yet.bin")
    );
    assert_eq!(
        Reassembler::new().ack(80),
        None,
        "we never send the 'nothing yet' ACK"
    );

    let mut r = Reassembler::new();
    let mut out = BytesMut::new();
    for id in (0..=10).chain([12, 13]) {
        r.on_data(id, Bytes::from_static(b"x"), &mut out);
    }
    assert_eq!(out.len(), 11);
    let ack = r.ack(80).unwrap();
    assert_eq!(
        UdpPacket::Ack(ack).to_bytes().to_vec(),
        f("udp_ack_with_gaps.bin")
    );

    let ids = (1_234_567, 80);
    assert_eq!(
        disc(
            1234,
            P2p::C2dC {
                uid: "TESTUID1234567".into(),
                cli_port: 53500,
                cid: ids.0,
                mtu: 1350,
                debug: 0,
                p: "WIN".into()
            }
        ),
        f("udp_c2d_c_tid1234.bin")
    );
    assert_eq!(
        f("udp_c2d_c_tid1234.bin"),
        read(&root, "generated/camera_proxy/c2d_c_discovery.bin")
    );
    assert_eq!(
        disc(
            0xffff_fff0,
            P2p::C2dDisc {
                cid: ids.0,
                did: ids.1
            }
        ),
        f("udp_c2d_disc_tid0xfffffff0.bin")
    );
    assert_eq!(
        disc(
            7,
            P2p::C2dHb {
                cid: ids.0,
                did: ids.1
            }
        ),
        f("udp_c2d_hb_tid7.bin")
    );
    assert_eq!(
        disc(100, P2p::C2dS { port: 53500 }),
        f("udp_c2d_s_tid100.bin")
    );
    for name in [
        "udp_c2d_c_tid1234.bin",
        "udp_c2d_disc_tid0xfffffff0.bin",
        "udp_c2d_hb_tid7.bin",
        "udp_c2d_s_tid100.bin",
    ] {
        let UdpPacket::Discovery(d) = UdpPacket::decode(&f(name)).unwrap() else {
            panic!()
        };
        assert_eq!(d.msg.to_xml(), v[name]["xml"].as_str().unwrap(), "{name}");
    }

    for (k, want) in v["udp_crc_check_values"].as_object().unwrap() {
        assert_eq!(
            format!("{:08x}", udp::crc32(k.as_bytes())),
            want.as_str().unwrap()
        );
    }
    // md5 helper sanity.
    assert_eq!(md5_upper_hex("admin"), "21232F297A57A5A743894A0E4A801FC3");
    let _ = Header::new(1, MsgClass::Legacy);
}
