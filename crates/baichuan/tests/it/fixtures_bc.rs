//! TCP BC messages from the shared fixtures decode to the values MANIFEST.json states, and
//! re-encode byte for byte.

use crate::common::{entry, manifest, num, read, read_hex, root};
use baichuan::crypto::{Encryption, bc_xor};
use baichuan::header::Header;
use baichuan::media::{self, MediaDecoder, MediaPacket};
use baichuan::msg::{Body, Codec, Message};
use baichuan::xml::{self, BcXml, Extension};
use bytes::BytesMut;
use serde_json::Value;

fn check_header(file: &str, h: &Header, exp: &Value) {
    let ctx = |f: &str| format!("{file}: {f}");
    assert_eq!(h.msg_id as u64, num(&exp["msg_id"]), "{}", ctx("msg_id"));
    assert_eq!(
        h.body_len as u64,
        num(&exp["body_len"]),
        "{}",
        ctx("body_len")
    );
    if !exp["channel_id"].is_null() {
        assert_eq!(
            h.channel_id as u64,
            num(&exp["channel_id"]),
            "{}",
            ctx("channel")
        );
        assert_eq!(
            h.stream_type as u64,
            num(&exp["stream_type"]),
            "{}",
            ctx("stream")
        );
        assert_eq!(h.msg_num as u64, num(&exp["msg_num"]), "{}", ctx("msg_num"));
    }
    if let Some(t) = exp["bytes12_15"].as_str() {
        assert_eq!(hex::encode(h.tag()), t, "{}", ctx("bytes12_15"));
    }
    if !exp["response_code"].is_null() {
        assert_eq!(
            h.response_code as u64,
            num(&exp["response_code"]),
            "{}",
            ctx("code")
        );
    }
    assert_eq!(
        h.class.to_u16() as u64,
        num(&exp["msg_class"]),
        "{}",
        ctx("class")
    );
    if !exp["header_len"].is_null() {
        assert_eq!(
            h.wire_len() as u64,
            num(&exp["header_len"]),
            "{}",
            ctx("header_len")
        );
    }
    match &exp["payload_offset"] {
        Value::Null => {
            if exp.get("payload_offset").is_some() {
                assert_eq!(h.payload_offset, None, "{}", ctx("payload_offset"))
            }
        }
        v => assert_eq!(
            h.payload_offset.map(u64::from),
            Some(num(v)),
            "{}",
            ctx("off")
        ),
    }
}

fn decode_all(codec: &mut Codec, bytes: &[u8]) -> Vec<Message> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = codec.decode(&mut buf).expect("decode") {
        out.push(m);
    }
    out
}

fn check_info(p: &MediaPacket, exp: &Value) {
    let (MediaPacket::InfoV1(i) | MediaPacket::InfoV2(i)) = p else {
        panic!("not an info packet: {p:?}");
    };
    assert_eq!(i.width as u64, num(&exp["width"]));
    assert_eq!(i.height as u64, num(&exp["height"]));
    assert_eq!(i.fps as u64, num(&exp["fps"]));
    if let Some(s) = exp["start"].as_array() {
        let s: Vec<u8> = s.iter().map(|v| num(v) as u8).collect();
        assert_eq!(&i.start[..], &s[..]);
    }
}

/// Every `neolink/bc/*.bin` entry with a `header` in MANIFEST.json.
#[test]
fn manifest_bc_messages() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let mut checked = 0;
    for e in &m {
        let file = e["file"].as_str().unwrap();
        let exp = &e["expected"];
        if !file.starts_with("neolink/bc/") || exp["header"].is_null() {
            continue;
        }
        let bytes = read(&root, file);
        let mut codec = Codec::default();
        if file.ends_with("modern_video_start2.bin") {
            // Binary mode was switched on by the previous message of this msg_num.
            let first = read(&root, "neolink/bc/modern_video_start1.bin");
            assert_eq!(decode_all(&mut codec, &first).len(), 1);
        }
        let msgs = decode_all(&mut codec, &bytes);
        assert_eq!(msgs.len(), 1, "{file}: one message");
        let msg = &msgs[0];
        check_header(file, &msg.header, &exp["header"]);

        // Byte-identical re-encoding.
        let mut out = BytesMut::new();
        let mut enc = codec.clone();
        enc.encode(msg, &mut out).unwrap();
        assert_eq!(&out[..], &bytes[..], "{file}: re-encoding differs");

        if let Some(x) = exp["xml"].as_object() {
            let doc = msg.xml().unwrap_or_else(|| panic!("{file}: no XML"));
            if let Some(enc) = x.get("Encryption") {
                let got = doc.encryption().unwrap();
                assert_eq!(got.nonce, enc["nonce"].as_str().unwrap(), "{file}");
                assert_eq!(got.kind, enc["type"].as_str().unwrap());
                assert_eq!(got.version, enc["version"].as_str().unwrap());
            }
            if let Some(p) = x.get("Preview") {
                let got = doc.preview().unwrap();
                assert_eq!(got.channel_id as u64, num(&p["channelId"]));
                assert_eq!(got.handle as u64, num(&p["handle"]));
                assert_eq!(got.stream_type.as_deref(), p["streamType"].as_str());
                assert_eq!(
                    doc.item("Preview").unwrap().get_attr("version"),
                    p["version"].as_str()
                );
            }
            if let Some(d) = x.get("DeviceInfo") {
                let got = doc.device_info().unwrap();
                assert_eq!(got.kind.as_deref(), d["type"].as_str());
                let r = d["resolution"].as_array().unwrap();
                assert_eq!(got.resolution, Some((num(&r[0]) as u32, num(&r[1]) as u32)));
                assert_eq!(got.soft_ver.as_deref(), d["softVer"].as_str());
                let sil = doc.stream_info_list().unwrap();
                assert_eq!(sil.stream_infos.len() as u64, num(&x["StreamInfo_count"]));
            }
        }
        if let Some(p) = exp["plaintext_equals"].as_str() {
            let Body::Xml(x) = &msg.body else {
                panic!("{file}: not XML")
            };
            assert_eq!(&x.text[..], &read(&root, p)[..], "{file}: plaintext");
        }
        if let Some(ext) = exp["extension_xml"].as_str() {
            let want = Extension::parse(ext.as_bytes()).unwrap();
            assert_eq!(msg.extension.as_ref(), Some(&want), "{file}");
            // Our writer produces the captured extension bytes exactly.
            let mut x = want.to_xml().into_bytes();
            bc_xor(&mut x, msg.header.channel_id);
            let off = msg.header.payload_offset.unwrap() as usize;
            assert_eq!(&x[..], &bytes[24..24 + off]);
        }
        if exp.get("extension").is_some_and(Value::is_null) {
            assert_eq!(msg.extension, None);
        }
        if exp.get("payload").is_some_and(Value::is_null) {
            assert_eq!(msg.body, Body::Empty);
        }
        if !exp["payload_len"].is_null() {
            let Body::Binary(b) = &msg.body else {
                panic!("{file}: not binary: {:?}", msg.body)
            };
            assert_eq!(b.len() as u64, num(&exp["payload_len"]));
            if exp["payload_encrypted"] == Value::Bool(false) {
                assert_eq!(&b[..], &bytes[bytes.len() - b.len()..]);
            }
            if !exp["media"].is_null() {
                let mut buf = BytesMut::from(&b[..]);
                let p = MediaDecoder::new().decode(&mut buf).unwrap().unwrap();
                assert!(matches!(p, MediaPacket::InfoV2(_)), "{file}");
                check_info(&p, &exp["media"]);
                if let MediaPacket::InfoV2(i) = p {
                    assert_eq!(i.start, [120, 4, 8, 20, 52, 39]);
                }
            }
            if !exp["media_start"].is_null() {
                let ms = &exp["media_start"];
                let h = media::peek_video_header(b).unwrap();
                assert_eq!(h.kind, media::FrameKind::I);
                assert_eq!(format!("{:?}", h.codec), ms["codec"].as_str().unwrap());
                assert_eq!(h.payload_size as u64, num(&ms["payload_size"]));
                assert_eq!(
                    h.additional_header_size as u64,
                    num(&ms["additional_header_size"])
                );
                assert_eq!(h.microseconds as u64, num(&ms["microseconds"]));
                assert_eq!(h.posix_time.map(u64::from), Some(num(&ms["posix_time"])));
                assert_eq!(&b[..4], ms["magic"].as_str().unwrap().as_bytes());
                // complete: false
                let mut buf = BytesMut::from(&b[..]);
                assert_eq!(MediaDecoder::new().decode(&mut buf), Ok(None));
                assert_eq!(buf.len(), b.len());
            }
        }
        if let Some(u) = exp["username_field"].as_str() {
            let Body::LegacyLogin(l) = &msg.body else {
                panic!("{file}: not legacy login")
            };
            assert_eq!(&l.username[..], u.as_bytes());
            assert_eq!(l.password, [0u8; 32]);
            assert_eq!(num(&exp["trailing_zero_bytes"]), 1772);
            assert!(bytes[20 + 64..].iter().all(|&b| b == 0));
            assert_eq!(l, &baichuan::msg::LegacyLogin::new("admin", ""));
        }
        checked += 1;
    }
    assert_eq!(
        checked, 10,
        "all neolink/bc messages with headers were checked"
    );
}

/// `xml_crypto_sample1.bin` decrypts (offset 0) to its plaintext, and back.
#[test]
fn manifest_bcencrypt_sample() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let e = entry(&m, "neolink/bc/xml_crypto_sample1.bin");
    assert_eq!(e["expected"]["decrypt"], "BCEncrypt offset 0");
    let mut c = read(&root, "neolink/bc/xml_crypto_sample1.bin");
    let p = read(&root, e["expected"]["plaintext_file"].as_str().unwrap());
    bc_xor(&mut c, 0);
    assert_eq!(c, p);
    let starts =
        entry(&m, "neolink/bc/xml_crypto_sample1_plaintext.bin")["expected"]["text_starts"]
            .as_str()
            .unwrap();
    assert!(p.starts_with(starts.as_bytes()));
    bc_xor(&mut c, 0);
    assert_eq!(c, read(&root, "neolink/bc/xml_crypto_sample1.bin"));
}

/// The AES-session pcap: nonce reply, modern login, and the multi-message segments decode;
/// frame 16's msg 3 payload is a plain InfoV2.
#[test]
fn manifest_encryption_protocol02_pcap() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let exp = &entry(&m, "neolink/bc/EncryptionProtocol02_login.pcapng")["expected"];
    let frames = crate::common::pcapng_tcp_payloads(&read(
        &root,
        "neolink/bc/EncryptionProtocol02_login.pcapng",
    ));
    assert_eq!(frames.len() as u64, num(&exp["frames"]));
    let payload = |i: usize| frames[i].1.clone();

    let mut codec = Codec::default();
    let nonce = decode_all(&mut codec, &payload(1));
    assert_eq!(nonce.len(), 1);
    let nr = &exp["nonce_reply"];
    assert_eq!(
        nonce[0].header.response_code as u64,
        num(&nr["response_code"])
    );
    assert_eq!(nonce[0].header.class.to_u16() as u64, num(&nr["msg_class"]));
    assert_eq!(
        nonce[0].xml().unwrap().encryption().unwrap().nonce,
        nr["nonce"].as_str().unwrap()
    );

    let login = decode_all(&mut codec, &payload(2));
    let ml = &exp["modern_login"];
    assert_eq!(login[0].header.body_len as u64, num(&ml["body_len"]));
    assert_eq!(login[0].header.class.to_u16() as u64, num(&ml["msg_class"]));
    let lu = login[0].xml().unwrap().login_user().unwrap();
    assert_eq!(lu.user_name, ml["bcencrypt_xml_userName"].as_str().unwrap());
    assert_eq!(lu.password, ml["bcencrypt_xml_password"].as_str().unwrap());
    assert_eq!(login[0].xml().unwrap().login_net().unwrap().kind, "LAN");

    // After login everything is AES with an unknown key: frame headers only.
    let hdrs = |i: usize| -> Vec<(u32, u32, String)> {
        let mut b = BytesMut::from(&payload(i)[..]);
        let mut v = Vec::new();
        while let Ok(Some(h)) = Header::parse(&b) {
            let n = h.wire_len() + h.body_len as usize;
            if b.len() < n {
                break;
            }
            v.push((h.msg_id, h.body_len, hex::encode(h.tag())));
            let _ = b.split_to(n);
        }
        v
    };
    assert_eq!(
        hdrs(6),
        vec![(80, 0, "00000007".into()), (104, 0, "00000008".into())]
    );
    let f8: Vec<u32> = hdrs(8).iter().map(|h| h.0).collect();
    assert_eq!(f8, vec![192, 31, 151, 58, 146]);
    let f16 = hdrs(16);
    assert_eq!(
        f16.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![104, 44, 3, 102]
    );

    // Frame 16's msg 3: AES extension (unknown key), plain InfoV2 payload.
    let mut b = BytesMut::from(&payload(16)[..]);
    let mut found = false;
    while let Ok(Some(h)) = Header::parse(&b) {
        let n = h.wire_len() + h.body_len as usize;
        if h.msg_id == 3 {
            let mr = &exp["msg3_reply"];
            assert_eq!(h.body_len as u64, num(&mr["body_len"]));
            assert_eq!(
                h.payload_offset.map(u64::from),
                Some(num(&mr["payload_offset"]))
            );
            let p = &b[h.wire_len() + h.payload_offset.unwrap() as usize..n];
            let mut mb = BytesMut::from(p);
            let pkt = MediaDecoder::new().decode(&mut mb).unwrap().unwrap();
            check_info(&pkt, &mr["payload_plain_infov2"]);
            found = true;
        }
        let _ = b.split_to(n);
    }
    assert!(found);
}

/// The E1 firmware-upgrade pcap: frame 0 is ConfigFileInfo; later camera frames are acks.
#[test]
fn manifest_e1_firmware_pcap() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let exp = &entry(&m, "neolink/bc/e1_firmwareupgrade.pcapng")["expected"]["frame0"];
    let frames =
        crate::common::pcapng_tcp_payloads(&read(&root, "neolink/bc/e1_firmwareupgrade.pcapng"));
    let mut codec = Codec::default();
    let msgs = decode_all(&mut codec, &frames[0].1);
    let h = &msgs[0].header;
    assert_eq!(h.msg_id as u64, num(&exp["msg_id"]));
    assert_eq!(h.body_len as u64, num(&exp["body_len"]));
    assert_eq!(hex::encode(h.tag()), exp["bytes12_15"].as_str().unwrap());
    let Body::Unknown { id: 67, body } = &msgs[0].body else {
        panic!("msg 67 is not in the catalogue: {:?}", msgs[0].body)
    };
    let doc = BcXml::parse(body).unwrap();
    let cfi = doc.item("ConfigFileInfo").unwrap();
    let want = &exp["xml"]["ConfigFileInfo"];
    assert_eq!(cfi.text_of("fileName"), want["fileName"].as_str());
    assert_eq!(
        cfi.parse_of::<u64>("fileSize"),
        Some(num(&want["fileSize"]))
    );
    assert_eq!(
        cfi.parse_of::<u64>("updateParameter"),
        Some(num(&want["updateParameter"]))
    );
    // 252 header-only camera acks.
    let mut acks = 0;
    for (_, p) in &frames[1..] {
        if p.len() == 24 {
            let h = Header::parse(p).unwrap().unwrap();
            assert_eq!((h.msg_id, h.response_code, h.class.to_u16()), (67, 200, 0));
            assert_eq!(hex::encode(h.tag()), "00000031");
            acks += 1;
        }
    }
    assert_eq!(acks, 252);
}

/// Every row of messages_md_headers.tsv parses and re-serialises byte for byte.
#[test]
fn messages_md_headers_roundtrip() {
    let Some(root) = root() else { return };
    let tsv =
        String::from_utf8(read(&root, "literals/neolink_docs/messages_md_headers.tsv")).unwrap();
    let mut rows = 0;
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let wire = hex::decode(f[4]).unwrap();
        let h = Header::parse(&wire)
            .unwrap_or_else(|e| panic!("md line {}: {e}", f[0]))
            .unwrap();
        assert_eq!(h.msg_id.to_string(), f[1], "line {}", f[0]);
        assert_eq!(h.body_len.to_string(), f[5], "line {}", f[0]);
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(&out[..], &wire[..h.wire_len()], "line {}", f[0]);
        rows += 1;
    }
    assert_eq!(rows, 88);
}

/// Every XML body transcribed from messages.md parses.
#[test]
fn messages_md_xml_parse() {
    let Some(root) = root() else { return };
    let dir = root.join("literals/neolink_docs/messages_md_xml");
    let mut n = 0;
    let mut failed = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "xml") {
            let b = std::fs::read(&p).unwrap();
            if BcXml::parse(&b).is_err() {
                failed.push(p.file_name().unwrap().to_string_lossy().into_owned());
            }
            n += 1;
        }
    }
    assert!(n >= 100, "{n} XML files");
    // The doc text of this one stops mid-tag (`<channelId>1</ch`); an error is right.
    assert_eq!(
        failed,
        vec!["msg295_client_StartZoomFocus_2.xml".to_string()]
    );
    let b = read(
        &root,
        "literals/neolink_docs/messages_md_xml/msg252_camera_BatteryList.xml",
    );
    let bl = BcXml::parse(&b).unwrap().battery().unwrap();
    assert_eq!(bl[0].voltage_mv, Some(3999));
    // A camera's motion alarm push (msg 33): status MD on channel 0, no AI type.
    let b = read(
        &root,
        "literals/neolink_docs/messages_md_xml/msg033_camera_AlarmEventList.xml",
    );
    let alarms = BcXml::parse(&b).unwrap().alarm_events().unwrap();
    assert_eq!(alarms.len(), 1);
    assert_eq!(
        (
            alarms[0].channel_id,
            alarms[0].motion(),
            alarms[0].ai_labels()
        ),
        (Some(0), true, Vec::<String>::new())
    );
}

/// The XML literals from neolink's tests.
#[test]
fn neolink_xml_literals() {
    let Some(root) = root() else { return };
    let lit = |f: &str| read(&root, &format!("literals/neolink_xml_tests/{f}"));
    let enc = BcXml::parse(&lit("test_encryption_deser.xml"))
        .unwrap()
        .encryption()
        .unwrap();
    assert_eq!(
        (enc.version.as_str(), enc.kind.as_str(), enc.nonce.as_str()),
        ("1.1", "md5", "9E6D1FCB9E69846D")
    );

    let login = BcXml::parse(&lit("test_login_deser.xml")).unwrap();
    let lu = login.login_user().unwrap();
    assert_eq!(lu.user_name, "9F07915E819A076E2E14169830769D6");
    assert_eq!(
        lu.user_name,
        baichuan::crypto::md5_31("admin9E6D1FCB9E69846D")
    );
    assert_eq!(lu.password, "8EFECD610524A98390F118D2789BE3B");
    assert_eq!(lu.user_ver, Some(1));
    let ln = login.login_net().unwrap();
    assert_eq!((ln.kind.as_str(), ln.udp_port), ("LAN", 0));

    let di = BcXml::parse(&lit("test_deviceinfo_partial_deser.xml")).unwrap();
    assert_eq!(di.device_info().unwrap().resolution, Some((3840, 2160)));

    assert_eq!(
        Extension::parse(&lit("test_binary_deser.xml"))
            .unwrap()
            .binary_data,
        Some(1)
    );
    let a = Extension::parse(&lit("test_enc3_extension_a.xml")).unwrap();
    assert_eq!(
        (a.encrypt_len, a.binary_data, a.check_pos, a.check_value),
        (Some(1024), Some(1), Some(0), Some(1_667_510_320))
    );
    assert_eq!(1_667_510_320u32.to_le_bytes(), *b"00dc");
    let b = Extension::parse(&lit("test_enc3_extension_b.xml")).unwrap();
    assert_eq!((b.check_pos, b.check_value), (Some(0), Some(-1_211_658)));
    let c = Extension::parse(&lit("test_enc3_extension_c.xml")).unwrap();
    assert_eq!(
        (c.check_pos, c.check_value),
        (Some(0), Some(-1_821_213_800))
    );

    let fl = BcXml::parse(&lit("test_empty_floodlight_status_list.xml")).unwrap();
    let item = fl.item("FloodlightStatusList").unwrap();
    assert!(item.children.is_empty());
    assert_eq!(item.get_attr("version"), Some("1.1"));
}

/// The truncated msg 3 from codex.rs: the codec must wait for more bytes.
#[test]
fn codex_eof_remainder_needs_more() {
    let Some(root) = root() else { return };
    let b = read_hex(
        &root,
        "literals/neolink_docs/codex_rs_eof_remainder_truncated.hex",
    );
    assert_eq!(b.len(), 202);
    let h = Header::parse(&b).unwrap().unwrap();
    assert_eq!((h.msg_id, h.body_len, h.response_code), (3, 1672, 200));
    assert_eq!(hex::encode(h.tag()), "00010400");
    let mut buf = BytesMut::from(&b[..]);
    assert_eq!(Codec::default().decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 202);
    let v = media::peek_video_header(&b[24..]).unwrap();
    assert_eq!((v.kind, v.payload_size), (media::FrameKind::P, 1642));
}

/// The messages.md InfoV2 hex.
#[test]
fn messages_md_infov2() {
    let Some(root) = root() else { return };
    let b = read_hex(
        &root,
        "literals/neolink_docs/messages_md_msg3_reply_infov2.hex",
    );
    let mut buf = BytesMut::from(&b[..]);
    let p = MediaDecoder::new().decode(&mut buf).unwrap().unwrap();
    let MediaPacket::InfoV2(i) = p else { panic!() };
    assert_eq!((i.width, i.height, i.fps), (2304, 1296, 15));
    assert_eq!(i.start, [120, 10, 6, 18, 36, 34]);
}

/// The issue #115 literals: the official upgrade header and neolink's 0xdc02 legacy login.
#[test]
fn issue115_literals() {
    let Some(root) = root() else { return };
    let up = read_hex(
        &root,
        "literals/issues/issue115_official_client_login_upgrade.hex",
    );
    let m = baichuan::login::login_upgrade(baichuan::crypto::EncryptionLevel::FullAes, [0; 4]);
    let mut out = BytesMut::new();
    Codec::default().encode(&m, &mut out).unwrap();
    assert_eq!(&out[..], &up[..]);

    let legacy = read(
        &root,
        "literals/issues/issue115_neolink_legacy_login_02dc_admin_123456.bin",
    );
    let msgs = decode_all(&mut Codec::default(), &legacy);
    assert_eq!(msgs[0].header.response_code, 0xdc02);
    let Body::LegacyLogin(l) = &msgs[0].body else {
        panic!()
    };
    assert_eq!(&l.password[..31], b"E10ADC3949BA59ABBE56E057F20F883");
    let m = baichuan::login::legacy_login(
        "admin",
        "123456",
        baichuan::crypto::EncryptionLevel::Aes,
        msgs[0].header.tag(),
    );
    let mut out = BytesMut::new();
    Codec::default().encode(&m, &mut out).unwrap();
    assert_eq!(&out[..], &legacy[..]);
}

/// Decrypting with the wrong scheme falls back to plain XML (0xdd00 cameras).
#[test]
fn plain_xml_accepted() {
    let mut codec = Codec::new(Encryption::None);
    let m = baichuan::login::start_video(0, baichuan::login::StreamKind::Main, 1);
    let mut out = BytesMut::new();
    codec.encode(&m, &mut out).unwrap();
    let got = Codec::default().decode(&mut out).unwrap().unwrap();
    assert_eq!(got.xml().unwrap().preview().unwrap().handle, 0);
    let _ = xml::XML_DECL;
}
