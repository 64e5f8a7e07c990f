//! A bounded ISO BMFF box reader over byte slices, for parsing untrusted files: every size is
//! checked against the bytes actually present, nothing is allocated from a size field.

/// One box found in a buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BoxRef<'a> {
    pub kind: [u8; 4],
    /// Where the box starts in the buffer it was read from (0 for [`read_box`]; the
    /// position among its siblings for [`children`]).
    pub start: usize,
    /// The box contents after the header.
    pub body: &'a [u8],
    /// Header plus body.
    pub total_len: usize,
}

/// What is at the start of a buffer.
#[derive(Debug)]
pub(crate) enum Head<'a> {
    /// A complete box.
    Box(BoxRef<'a>),
    /// A box header (or part of one) whose box runs past the end of the buffer.
    Incomplete,
    /// Not a box: size smaller than its header, or `size == 0` ("to end of file"), which we
    /// never write and cannot verify.
    Invalid,
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// A box header at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// `size` is the whole box, header included (at least `header_len`).
    Ok {
        kind: [u8; 4],
        header_len: usize,
        size: u64,
    },
    /// Fewer than 8 bytes, or a `largesize` box with fewer than 16.
    Incomplete,
    /// Size smaller than the header, or `size == 0` ("to end of file"), which we never write
    /// and cannot verify.
    Invalid,
}

/// Reads the box header at the start of `data`.
pub(crate) fn read_header(data: &[u8]) -> Header {
    let (Some(size32), Some(kind)) = (u32_at(data, 0), data.get(4..8)) else {
        return Header::Incomplete;
    };
    let kind: [u8; 4] = kind.try_into().unwrap_or_default();
    let (size, header_len) = match size32 {
        0 => return Header::Invalid,
        1 => match u64_at(data, 8) {
            Some(large) => (large, 16),
            None => return Header::Incomplete,
        },
        n => (u64::from(n), 8),
    };
    if size < header_len as u64 {
        return Header::Invalid;
    }
    Header::Ok {
        kind,
        header_len,
        size,
    }
}

/// Reads the box at the start of `data`.
pub(crate) fn read_box(data: &[u8]) -> Head<'_> {
    let (kind, header_len, size) = match read_header(data) {
        Header::Ok {
            kind,
            header_len,
            size,
        } => (kind, header_len, size),
        Header::Incomplete => return Head::Incomplete,
        Header::Invalid => return Head::Invalid,
    };
    match usize::try_from(size) {
        Ok(total_len) if total_len <= data.len() => Head::Box(BoxRef {
            kind,
            start: 0,
            body: &data[header_len..total_len],
            total_len,
        }),
        _ => Head::Incomplete,
    }
}

/// Iterates over the complete child boxes in `body`, stopping at the first torn or invalid one.
pub(crate) fn children(body: &[u8]) -> impl Iterator<Item = BoxRef<'_>> {
    let mut rest = body;
    let mut pos = 0;
    std::iter::from_fn(move || match read_box(rest) {
        Head::Box(mut b) => {
            rest = &rest[b.total_len..];
            b.start = pos;
            pos += b.total_len;
            Some(b)
        }
        Head::Incomplete | Head::Invalid => None,
    })
}

impl BoxRef<'_> {
    /// Where the body starts in the buffer the box was read from.
    pub fn body_start(&self) -> usize {
        self.start + (self.total_len - self.body.len())
    }
}

/// The first child of `body` of the given kind.
pub(crate) fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<BoxRef<'a>> {
    children(body).find(|b| &b.kind == kind)
}

/// Follows a path of child kinds from `body`.
pub(crate) fn descend<'a>(body: &'a [u8], path: &[&[u8; 4]]) -> Option<BoxRef<'a>> {
    let (first, rest) = path.split_first()?;
    let mut cur = child(body, first)?;
    for kind in rest {
        cur = child(cur.body, kind)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(
            matches!(read_box(b"\0\0\0\x08free"), Head::Box(b) if b.total_len == 8 && b.body.is_empty())
        );
        assert!(matches!(read_box(b"\0\0\0\x09free"), Head::Incomplete));
        assert!(matches!(read_box(b"\0\0\0\x07free"), Head::Invalid));
        assert!(matches!(read_box(b"\0\0\0\x00mdat"), Head::Invalid));
        assert!(
            matches!(read_box(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x11x"), Head::Box(b) if b.total_len == 17 && b.body == b"x")
        );
        assert!(matches!(
            read_box(b"\0\0\0\x01mdat\0\0\0\0"),
            Head::Incomplete
        ));
        assert!(matches!(
            read_box(b"\0\0\0\x01mdat\xff\xff\xff\xff\xff\xff\xff\xff"),
            Head::Incomplete
        ));
        assert!(matches!(read_box(b"\0\0"), Head::Incomplete));
        let two = b"\0\0\0\x09abcdx\0\0\0\x08efgh\0\0\0\x09ijkl";
        let kinds: Vec<[u8; 4]> = children(two).map(|b| b.kind).collect();
        assert_eq!(kinds, vec![*b"abcd", *b"efgh"]);
        let starts: Vec<(usize, usize)> =
            children(two).map(|b| (b.start, b.body_start())).collect();
        assert_eq!(starts, vec![(0, 8), (9, 17)]);
        assert_eq!(child(two, b"efgh").unwrap().total_len, 8);
        assert!(descend(two, &[b"abcd", b"zzzz"]).is_none());
        assert_eq!(u16_at(b"\x01\x02", 0), Some(0x102));
        assert_eq!(u32_at(b"\x01\x02", 0), None);
        assert_eq!(u64_at(b"\x01\x02", usize::MAX), None);
    }
}
