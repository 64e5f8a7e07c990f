//! Inputs the fuzz targets (`fuzz/`) once failed on, kept so the fixes stay.

use baichuan::xml::{self, Layout};

/// `baichuan_xml`: whatever `xml::parse` accepts, `xml::write` must write back
/// as a document `xml::parse` accepts again.
#[test]
fn xml_written_from_a_lenient_parse_parses_again() {
    for input in [
        &include_bytes!("../data/xml-roundtrip-crash.bin")[..],
        &include_bytes!("../data/xml-roundtrip-crash-2.bin")[..],
    ] {
        // Refusing junk element names is fine; what is accepted must round-trip.
        let Ok(root) = xml::parse(input) else {
            continue;
        };
        for layout in [Layout::BC, Layout::BC_INDENTED, Layout::P2P] {
            let text = xml::write(&root, layout);
            if let Err(e) = xml::parse(text.as_bytes()) {
                panic!("{e}\n{text}");
            }
        }
    }
}

/// Junk element names are refused rather than written back malformed.
#[test]
fn junk_element_names_are_refused() {
    assert!(xml::parse(b"<body><to<p>1</to<p></body>").is_err());
    assert!(xml::parse(b"<body><top>1</top></body>").is_ok());
}
