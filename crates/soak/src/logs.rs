//! Counting warnings, errors and panics in the logs of the processes of a run (tracing's
//! default format, with or without colours).

use std::collections::BTreeMap;
use std::path::Path;

/// What one or more logs contained.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogCounts {
    pub lines: u64,
    pub warn: u64,
    pub error: u64,
    pub panics: u64,
    /// Distinct ERROR/WARN/panic messages (level, target and text, numbers replaced by
    /// `#`) and how often each came.
    pub distinct: BTreeMap<String, u64>,
}

impl LogCounts {
    /// Adds one log's text.
    pub fn add_text(&mut self, text: &str) {
        for raw in text.lines() {
            self.lines += 1;
            let line = strip_ansi(raw);
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            // "TIME LEVEL target: message", or "LEVEL target: message" without a time.
            let level = if matches!(first, "ERROR" | "WARN") {
                first
            } else if first.starts_with(|c: char| c.is_ascii_digit()) {
                words.next().unwrap_or("")
            } else {
                ""
            };
            let kind = if line.contains("panicked at") {
                self.panics += 1;
                "PANIC"
            } else if level == "ERROR" {
                self.error += 1;
                "ERROR"
            } else if level == "WARN" {
                self.warn += 1;
                "WARN"
            } else {
                continue;
            };
            let at = line.find(level).map_or(0, |i| i + level.len());
            let msg: String = line[at..]
                .trim()
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .take(160)
                .collect();
            *self.distinct.entry(format!("{kind} {msg}")).or_default() += 1;
        }
    }

    /// Adds the log file at `path` (missing: nothing).
    pub fn add_file(&mut self, path: &Path) {
        if let Ok(bytes) = std::fs::read(path) {
            self.add_text(&String::from_utf8_lossy(&bytes));
        }
    }
}

/// `text` without ANSI colour sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_levels_with_and_without_colours_and_panics() {
        let mut c = LogCounts::default();
        c.add_text(concat!(
            "2026-11-21T10:00:00.000001Z  INFO hub::server: hub listening addr=127.0.0.1:1\n",
            "\u{1b}[2m2026-11-21T10:00:01.000002Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m \u{1b}[2mhub::x\u{1b}[0m: slow viewer 12\n",
            "2026-11-21T10:00:02.000003Z ERROR agent::upload: upload failed: 500\n",
            "2026-11-21T10:00:03.000003Z  WARN hub::x: slow viewer 13\n",
            "thread 'main' panicked at src/x.rs:1:2:\n",
            "a WARN in the middle of an info message is not a warning\n",
        ));
        assert_eq!((c.lines, c.warn, c.error, c.panics), (6, 2, 1, 1));
        assert_eq!(c.distinct["WARN hub::x: slow viewer ##"], 2);
        assert_eq!(c.distinct["ERROR agent::upload: upload failed: ###"], 1);
        assert_eq!(c.distinct.len(), 3);
    }
}
