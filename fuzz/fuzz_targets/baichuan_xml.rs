//! Fuzz the bounded XML parser and the typed views built on it.
#![no_main]

use baichuan::udp::P2p;
use baichuan::xml::{self, BcXml, Extension, Layout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = xml::parse(data) {
        // What we write, we can read back.
        let text = xml::write(&root, Layout::BC);
        assert!(xml::parse(text.as_bytes()).is_ok());
        for c in &root.children {
            let _ = P2p::from_element(c).to_xml();
        }
    }
    if let Ok(doc) = BcXml::parse(data) {
        let _ = (doc.encryption(), doc.login_user(), doc.device_info());
        let _ = (doc.stream_info_list(), doc.preview(), doc.battery());
    }
    let _ = Extension::parse(data);
});
