//! Shared test helpers: locating the fixtures in ../shared (read, never copied), the
//! MANIFEST, hex helpers and a minimal pcapng/Ethernet/IPv4/TCP payload extractor.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// Root of the shared fixtures, if present.
pub fn root() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/baichuan");
    if p.join("MANIFEST.json").is_file() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared/fixtures/baichuan not found");
        None
    }
}

/// Reads a fixture file (panics if the fixtures exist but the file does not).
pub fn read(root: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Reads a `.hex` fixture (whitespace ignored).
pub fn read_hex(root: &std::path::Path, rel: &str) -> Vec<u8> {
    let t: String = String::from_utf8(read(root, rel))
        .unwrap()
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    hex::decode(t).unwrap()
}

/// MANIFEST.json entries.
pub fn manifest(root: &std::path::Path) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&read(root, "MANIFEST.json")).unwrap();
    v.as_array().unwrap().clone()
}

/// The MANIFEST entry for a file.
pub fn entry<'a>(m: &'a [Value], file: &str) -> &'a Value {
    m.iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in MANIFEST"))
}

/// Parses "0x1234" or a number.
pub fn num(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap(),
        other => panic!("not a number: {other}"),
    }
}

/// TCP payloads of every frame in a pcapng capture (Ethernet/IPv4/TCP), in order, with the
/// frame index.
pub fn pcapng_tcp_payloads(data: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut frame = 0;
    while i + 12 <= data.len() {
        let t = u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
        let len = u32::from_le_bytes(data[i + 4..i + 8].try_into().unwrap()) as usize;
        if len < 12 || i + len > data.len() {
            break;
        }
        if t == 6 {
            let b = &data[i..i + len];
            let cap = u32::from_le_bytes(b[20..24].try_into().unwrap()) as usize;
            let pkt = &b[28..28 + cap];
            // Ethernet (14) → IPv4 (IHL) → TCP (data offset)
            let ip = &pkt[14..];
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            let tcp = &ip[ihl..total.min(ip.len())];
            let doff = ((tcp[12] >> 4) as usize) * 4;
            out.push((frame, tcp[doff..].to_vec()));
            frame += 1;
        }
        i += len;
    }
    out
}
