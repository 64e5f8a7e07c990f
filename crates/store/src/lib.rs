//! Segment store (work in progress).
