//! Inputs the fuzz targets (`fuzz/`) once failed on, kept so the fixes stay.

use baichuan::xml::{self, Layout};

/// `baichuan_xml`: whatever `xml::parse` accepts, `xml::write` must write back
/// as a document `xml::parse` accepts again.
#[test]
fn xml_written_from_a_lenient_parse_parses_again() {
    let input = include_bytes!("data/xml-roundtrip-crash.bin");
    let root = xml::parse(input).expect("the lenient parser accepts it");
    for layout in [Layout::BC, Layout::BC_INDENTED, Layout::P2P] {
        let text = xml::write(&root, layout);
        if let Err(e) = xml::parse(text.as_bytes()) {
            panic!("{e}\n{text}");
        }
    }
}
