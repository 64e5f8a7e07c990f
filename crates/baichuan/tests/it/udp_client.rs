//! The [`UdpClient`] state machine with injected time: discovery, handshake, heartbeats,
//! DATA/ACK with reordering and retransmission, duplicate sessions, disconnects, timeouts.

use std::net::SocketAddr;

use baichuan::udp::{
    self, AckPacket, CloseReason, DataPacket, DiscoveryPacket, P2p, UdpClient, UdpClientConfig,
    UdpEvent, UdpPacket, UdpState,
};
use bytes::Bytes;

const CID: i32 = 4242;
const DID: i32 = 80;

fn cfg() -> UdpClientConfig {
    UdpClientConfig {
        uid: "TESTUID".into(),
        client_port: 53500,
        cid: CID,
        tid: 77,
        discovery_targets: vec![
            "192.168.1.50:2018".parse().unwrap(),
            "192.168.1.50:2015".parse().unwrap(),
            "255.255.255.255:2015".parse().unwrap(),
        ],
    }
}

fn cam_addr() -> SocketAddr {
    "192.168.1.50:55000".parse().unwrap()
}

fn d2c(msg: P2p) -> Vec<u8> {
    UdpPacket::Discovery(DiscoveryPacket { tid: 77, msg })
        .to_bytes()
        .to_vec()
}

fn connected() -> UdpClient {
    let mut c = UdpClient::new(cfg(), 0);
    let out = c.poll(0);
    assert_eq!(out.len(), 3);
    for o in &out {
        let UdpPacket::Discovery(d) = UdpPacket::decode(&o.datagram).unwrap() else {
            panic!()
        };
        assert!(matches!(d.msg, P2p::C2dC { cid: CID, .. }));
    }
    assert!(c.poll(100).is_empty(), "no resend before 500 ms");
    assert_eq!(c.poll(500).len(), 3, "resend every 500 ms");
    let r = c
        .on_datagram(
            cam_addr(),
            &d2c(P2p::D2cCR {
                timer: None,
                rsp: 0,
                cid: CID,
                did: DID,
            }),
            600,
        )
        .unwrap();
    assert_eq!(
        r.events,
        vec![UdpEvent::Connected {
            did: DID,
            camera: cam_addr()
        }]
    );
    assert_eq!(r.send.len(), 1, "first heartbeat at once");
    assert_eq!(
        c.state(),
        UdpState::Connected {
            did: DID,
            camera: cam_addr()
        }
    );
    c
}

#[test]
fn discovery_timeout_and_refusal() {
    let mut c = UdpClient::new(cfg(), 0);
    c.poll(0);
    c.poll(udp::DISCOVERY_TIMEOUT_MS);
    assert_eq!(c.state(), UdpState::Closed(CloseReason::DiscoveryTimeout));

    let mut c = UdpClient::new(cfg(), 0);
    // A reply for another client is ignored.
    let r = c
        .on_datagram(
            cam_addr(),
            &d2c(P2p::D2cCR {
                timer: None,
                rsp: 0,
                cid: 1,
                did: DID,
            }),
            1,
        )
        .unwrap();
    assert!(r.events.is_empty());
    let r = c
        .on_datagram(
            cam_addr(),
            &d2c(P2p::D2cCR {
                timer: None,
                rsp: -3,
                cid: CID,
                did: DID,
            }),
            1,
        )
        .unwrap();
    assert_eq!(r.events, vec![UdpEvent::Closed(CloseReason::Refused(-3))]);
}

#[test]
fn data_ack_reorder_retransmit() {
    let mut c = connected();
    // Outgoing BC bytes are cut at 1330 and retransmitted until acked.
    let out = c.send(&[7u8; 2000], 1000).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.to == cam_addr()));
    let resend = |c: &mut UdpClient, t| -> Vec<u32> {
        c.poll(t)
            .iter()
            .filter_map(|o| match UdpPacket::decode(&o.datagram).unwrap() {
                UdpPacket::Data(d) => Some(d.packet_id),
                _ => None,
            })
            .collect()
    };
    assert_eq!(resend(&mut c, 1100), Vec::<u32>::new());
    assert_eq!(resend(&mut c, 1500), vec![0, 1]);
    let ack = UdpPacket::Ack(AckPacket {
        connection_id: CID,
        unknown: 0,
        group_id: 0,
        packet_id: 0,
        maybe_latency: 0,
        truth_table: Bytes::new(),
    });
    c.on_datagram(cam_addr(), &ack.to_bytes(), 1600).unwrap();
    assert_eq!(resend(&mut c, 2000), vec![1]);

    // Incoming DATA out of order, with a duplicate: delivered in order once.
    let data = |id: u32, b: &'static [u8]| {
        UdpPacket::Data(DataPacket {
            connection_id: CID,
            unknown: 0,
            packet_id: id,
            payload: Bytes::from_static(b),
        })
        .to_bytes()
    };
    let r = c.on_datagram(cam_addr(), &data(1, b"world"), 2100).unwrap();
    assert!(r.events.is_empty());
    let acks = |c: &mut UdpClient, t| -> Vec<AckPacket> {
        c.poll(t)
            .iter()
            .filter_map(|o| match UdpPacket::decode(&o.datagram).unwrap() {
                UdpPacket::Ack(a) => Some(a),
                _ => None,
            })
            .collect()
    };
    let a = acks(&mut c, 2110);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].packet_id, &a[0].truth_table[..]),
        (u32::MAX, &[0u8, 1][..])
    );
    let r = c
        .on_datagram(cam_addr(), &data(0, b"hello "), 2120)
        .unwrap();
    assert_eq!(
        r.events,
        vec![UdpEvent::Data(Bytes::from_static(b"hello world"))]
    );
    let r = c
        .on_datagram(cam_addr(), &data(0, b"hello "), 2121)
        .unwrap();
    assert!(r.events.is_empty());
    let a = acks(&mut c, 2140);
    assert_eq!(
        (a[0].connection_id, a[0].packet_id, a[0].truth_table.len()),
        (DID, 1, 0)
    );
    assert!(
        acks(&mut c, 2141).is_empty(),
        "no new data, no new ACK before the interval"
    );
}

#[test]
fn heartbeats_duplicates_disconnect_silence() {
    let mut c = connected();
    let hb = |c: &mut UdpClient, t| {
        c.poll(t)
            .iter()
            .filter(|o| {
                matches!(
                    UdpPacket::decode(&o.datagram),
                    Ok(UdpPacket::Discovery(DiscoveryPacket {
                        msg: P2p::C2dHb { .. },
                        ..
                    }))
                )
            })
            .count()
    };
    assert_eq!(hb(&mut c, 1000), 0);
    assert_eq!(hb(&mut c, 1600), 1);
    // A duplicate session from a retransmitted C2D_C is released.
    let r = c
        .on_datagram(
            cam_addr(),
            &d2c(P2p::D2cCR {
                timer: None,
                rsp: 0,
                cid: CID,
                did: 81,
            }),
            1700,
        )
        .unwrap();
    let UdpPacket::Discovery(d) = UdpPacket::decode(&r.send[0].datagram).unwrap() else {
        panic!()
    };
    assert_eq!(d.msg, P2p::C2dDisc { cid: CID, did: 81 });
    // Its D2C_DISC does not end our session …
    let r = c
        .on_datagram(cam_addr(), &d2c(P2p::D2cDisc { cid: CID, did: 81 }), 1800)
        .unwrap();
    assert!(r.events.is_empty());
    // … ours does.
    let r = c
        .on_datagram(cam_addr(), &d2c(P2p::D2cDisc { cid: CID, did: DID }), 1900)
        .unwrap();
    assert_eq!(
        r.events,
        vec![UdpEvent::Closed(CloseReason::CameraDisconnected)]
    );

    let mut c = connected();
    c.poll(600 + udp::SILENCE_TIMEOUT_MS);
    assert_eq!(c.state(), UdpState::Closed(CloseReason::Silence));

    let mut c = connected();
    let out = c.close();
    let UdpPacket::Discovery(d) = UdpPacket::decode(&out[0].datagram).unwrap() else {
        panic!()
    };
    assert_eq!(d.msg, P2p::C2dDisc { cid: CID, did: DID });
    assert!(c.send(b"x", 0).is_err());
}
