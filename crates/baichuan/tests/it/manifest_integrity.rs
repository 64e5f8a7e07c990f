//! Every file MANIFEST.json lists exists with the stated size and sha256; the messages.md
//! INDEX agrees with the files; the P2P XML literals decode to typed values.

use crate::common::{manifest, num, read, root};
use baichuan::udp::{P2p, Timer};
use sha2::{Digest, Sha256};

#[test]
fn sizes_and_hashes() {
    let Some(root) = root() else { return };
    let m = manifest(&root);
    assert_eq!(m.len(), 252);
    for e in &m {
        let file = e["file"].as_str().unwrap();
        let b = read(&root, file);
        assert_eq!(b.len() as u64, num(&e["size"]), "{file}");
        assert_eq!(
            hex::encode(Sha256::digest(&b)),
            e["sha256"].as_str().unwrap(),
            "{file}"
        );
    }
}

#[test]
fn messages_md_index() {
    let Some(root) = root() else { return };
    let dir = "literals/neolink_docs/messages_md_xml";
    let idx = String::from_utf8(read(&root, &format!("{dir}/INDEX.tsv"))).unwrap();
    let mut rows = 0;
    for line in idx.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            read(&root, &format!("{dir}/{}", f[0])).len().to_string(),
            f[1],
            "{}",
            f[0]
        );
        rows += 1;
    }
    assert!(rows >= 100);
}

fn p2p(root: &std::path::Path, f: &str) -> P2p {
    let x = baichuan::xml::parse(&read(root, &format!("literals/p2p_xml/{f}"))).unwrap();
    P2p::from_element(&x.children[0])
}

#[test]
fn p2p_literals_typed() {
    let Some(root) = root() else { return };
    assert_eq!(
        p2p(&root, "udp_md_01_C2D_C.xml"),
        P2p::C2dC {
            uid: "95270000YGAKNWKJ".into(),
            cli_port: 24862,
            cid: 849_013,
            mtu: 1350,
            debug: 0,
            p: "MAC".into()
        }
    );
    assert!(matches!(
        p2p(&root, "udp_md_02_D2C_C_R.xml"),
        P2p::D2cCR {
            timer: Some(Timer {
                def: 3000,
                hb: 10000,
                hbt: 60000
            }),
            rsp: 0,
            cid: 849_013,
            did: 192
        }
    ));
    assert_eq!(
        p2p(&root, "discovery_rs_04_D2C_CFM.xml"),
        P2p::D2cCfm {
            sid: 495_151_439,
            conn: "map".into(),
            rsp: 0,
            cid: 254_000,
            did: 735,
            time_r: 55607
        }
    );
    assert_eq!(
        p2p(&root, "discovery_rs_03_C2D_A.xml"),
        P2p::C2dA {
            sid: 495_151_439,
            conn: "map".into(),
            cid: 254_000,
            did: 735,
            mtu: 1350
        }
    );
    assert_eq!(
        p2p(&root, "discovery_rs_02_D2C_T.xml"),
        P2p::D2cT {
            sid: 495_151_439,
            conn: "map".into(),
            cid: 254_000,
            did: 735
        }
    );
    assert!(matches!(
        p2p(&root, "udp_md_00_C2D_S.xml"),
        P2p::C2dS { port: 57268 }
    ));
    assert!(matches!(
        p2p(&root, "udp_md_05_C2D_DISC.xml"),
        P2p::C2dDisc { .. }
    ));
    // P2P server messages stay generic.
    assert!(matches!(
        p2p(&root, "discovery_rs_00_C2M_Q.xml"),
        P2p::Other(_)
    ));
}
