//! Fuzz the BcUdp datagram decoder and the reassembler/sender fed from it.
#![no_main]

use baichuan::udp::{Reassembler, Sender, UdpPacket};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = UdpPacket::decode(data) {
        let _ = UdpPacket::decode(&p.to_bytes());
        match p {
            UdpPacket::Data(d) => {
                let mut r = Reassembler::new();
                let mut out = BytesMut::new();
                r.on_data(d.packet_id, d.payload.clone(), &mut out);
                r.on_data(0, d.payload, &mut out);
                let _ = r.ack(d.connection_id);
            }
            UdpPacket::Ack(a) => {
                let mut s = Sender::new(a.connection_id);
                let _ = s.send(&[0u8; 4000], 0);
                s.on_ack(&a);
                let _ = s.due(1_000);
            }
            UdpPacket::Discovery(_) => {}
        }
    }
});
