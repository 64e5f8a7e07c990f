//! BcMedia groups from the shared fixtures: the streaming decoder emits exactly the packets
//! MANIFEST.json lists (at the stated offsets, with nothing left over), whatever the chunking,
//! and the encoder reproduces the byte stream.

use crate::common::{manifest, num, read, root};
use baichuan::media::{FrameKind, MediaDecoder, MediaPacket, VideoCodec};
use bytes::BytesMut;
use serde_json::Value;

fn check_packet(group: &str, p: &MediaPacket, e: &Value) {
    let kind = e["kind"].as_str().unwrap();
    match p {
        MediaPacket::InfoV1(i) | MediaPacket::InfoV2(i) => {
            let want = if matches!(p, MediaPacket::InfoV1(_)) {
                "InfoV1"
            } else {
                "InfoV2"
            };
            assert_eq!(kind, want, "{group}");
            assert_eq!(num(&e["header_size"]), 32);
            assert_eq!(i.width as u64, num(&e["width"]));
            assert_eq!(i.height as u64, num(&e["height"]));
            assert_eq!(i.unknown as u64, num(&e["unknown"]));
            assert_eq!(i.fps as u64, num(&e["fps"]));
            let arr = |k: &str| -> Vec<u8> {
                e[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| num(v) as u8)
                    .collect()
            };
            assert_eq!(&i.start[..], &arr("start")[..]);
            assert_eq!(&i.end[..], &arr("end")[..]);
            assert_eq!(
                hex::encode(i.reserved.to_le_bytes()),
                e["reserved"].as_str().unwrap()
            );
        }
        MediaPacket::Video(v) => {
            let want = if v.kind == FrameKind::I {
                "IFrame"
            } else {
                "PFrame"
            };
            assert_eq!(kind, want, "{group}");
            let magic = [
                v.channel_digit,
                if v.kind == FrameKind::I { b'0' } else { b'1' },
                b'd',
                b'c',
            ];
            assert_eq!(&magic, e["magic"].as_str().unwrap().as_bytes());
            let codec = match v.codec {
                VideoCodec::H264 => "H264",
                VideoCodec::H265 => "H265",
            };
            assert_eq!(codec, e["codec"].as_str().unwrap());
            assert_eq!(v.data.len() as u64, num(&e["payload_size"]), "{group}");
            assert_eq!(
                v.extra_header.len() as u64,
                num(&e["additional_header_size"])
            );
            assert_eq!(v.microseconds as u64, num(&e["microseconds"]));
            assert_eq!(v.unknown as u64, num(&e["unknown"]));
            match &e["posix_time"] {
                Value::Null => assert_eq!(v.posix_time(), None),
                t => assert_eq!(v.posix_time().map(u64::from), Some(num(t))),
            }
            assert_eq!(
                hex::encode(&v.extra_header),
                e["extra_header"].as_str().unwrap()
            );
            assert_eq!((8 - v.data.len() % 8) % 8, num(&e["padding"]) as usize);
            assert_eq!(&v.data[..4], &[0, 0, 0, 1], "Annex-B start code");
        }
        MediaPacket::Aac(d) => {
            assert_eq!(kind, "AAC");
            assert_eq!(d.len() as u64, num(&e["size"]));
            assert_eq!(num(&e["size_b"]), num(&e["size"]));
            assert_eq!(&d[..4], &[0xff, 0xf1, 0x60, 0x40], "ADTS header");
        }
        MediaPacket::Adpcm(a) => {
            assert_eq!(kind, "ADPCM");
            assert_eq!(a.data.len() as u64 + 4, num(&e["size"]));
            assert_eq!(a.data.len() as u64, num(&e["data_len"]));
            assert_eq!(a.block_field as u64, num(&e["half_block"]));
            assert_eq!(num(&e["sub_magic"]), 0x100);
        }
    }
}

fn packet_len(p: &MediaPacket) -> usize {
    let mut b = BytesMut::new();
    p.encode(&mut b);
    b.len()
}

/// Decodes a stream fed in chunks of `chunk` bytes (0 = the fixture files as they are).
fn decode_stream(files: &[Vec<u8>], chunk: usize) -> (Vec<MediaPacket>, usize) {
    let all: Vec<u8> = files.concat();
    let pieces: Vec<&[u8]> = if chunk == 0 {
        files.iter().map(|f| &f[..]).collect()
    } else {
        all.chunks(chunk).collect()
    };
    let mut dec = MediaDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        while let Some(pkt) = dec.decode(&mut buf).expect("no garbage in fixtures") {
            out.push(pkt);
        }
    }
    (out, buf.len())
}

#[test]
fn manifest_media_groups() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    let mut groups = 0;
    for e in &m {
        let exp = &e["expected"];
        let Some(want) = exp["group_packets"].as_array() else {
            continue;
        };
        let group = exp["group"].as_str().unwrap();
        let files: Vec<Vec<u8>> = exp["group_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| read(&root, &format!("neolink/bcmedia/{}", f.as_str().unwrap())))
            .collect();
        let total: usize = files.iter().map(Vec::len).sum();
        assert_eq!(total as u64, num(&exp["group_bytes"]), "{group}");
        for chunk in [0, 1, 7, 1000, 65536] {
            let (pkts, rest) = decode_stream(&files, chunk);
            assert_eq!(pkts.len(), want.len(), "{group} chunk {chunk}");
            assert_eq!(rest as u64, num(&exp["group_remainder"]), "{group}");
            let mut offset = 0usize;
            for (p, w) in pkts.iter().zip(want) {
                check_packet(group, p, w);
                assert_eq!(offset as u64, num(&w["offset"]), "{group} offset");
                offset += packet_len(p);
            }
            assert_eq!(offset, total, "{group}: lengths add up");
        }
        // The encoder reproduces every packet byte for byte except the padding, which
        // cameras fill with leftovers and we fill with zeros.
        let (pkts, _) = decode_stream(&files, 0);
        let all = files.concat();
        let mut offset = 0;
        for (p, w) in pkts.iter().zip(want) {
            let mut out = BytesMut::new();
            p.encode(&mut out);
            let pad = w.get("padding").map(num).unwrap_or(0) as usize;
            let body = out.len() - pad;
            assert!(
                out[..body] == all[offset..offset + body],
                "{group}: re-encoding"
            );
            assert!(out[body..].iter().all(|&b| b == 0));
            let mut again = out.clone();
            assert_eq!(
                MediaDecoder::new().decode(&mut again).unwrap().as_ref(),
                Some(p)
            );
            offset += out.len();
        }
        groups += 1;
    }
    assert_eq!(groups, 7);
}

/// Garbage before, between and after packets is skipped and the packets still come out.
#[test]
fn resync_after_garbage() {
    let Some(root) = root() else { return };
    let a = read(&root, "neolink/bcmedia/adpcm_0.raw");
    let info = read(&root, "neolink/bcmedia/info_v1.raw");
    let mut stream = b"garbage!00dcXXXX".to_vec();
    stream.extend_from_slice(&a);
    stream.extend_from_slice(b"\x01\x02\x03");
    stream.extend_from_slice(&info);
    let mut dec = MediaDecoder::new();
    let mut buf = BytesMut::from(&stream[..]);
    let mut pkts = Vec::new();
    let mut errors = 0;
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(p)) => pkts.push(p),
            Ok(None) => break,
            Err(_) => errors += 1,
        }
    }
    assert_eq!(pkts.len(), 3);
    assert!(matches!(pkts[2], MediaPacket::InfoV1(_)));
    assert!(errors >= 2);
    assert_eq!(dec.skipped_total(), 16 + 3);
}
