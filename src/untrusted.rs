//! Text from outside is data, never terminal control.
//!
//! Anything read from a store, a share, a log, a sealed file or a vault
//! descriptor may have been written by someone hostile. Printed raw, a
//! control sequence in it can move the cursor, clear the screen, rewrite an
//! earlier line ("ok: every record is signed…" over a FAIL), change the
//! window title, or reorder text with Unicode bidirectional overrides. Every
//! such string goes through [`escape`] (or [`Shown`]) before it reaches a
//! terminal, a log print or a message; this module is the one place where
//! that rule lives, used by both binaries.
//!
//! What is escaped, as `\u{XX}`: every character of Unicode's general
//! categories Cc (C0 and C1 controls, DEL) and Cf (format characters: bidi
//! embeddings, overrides and isolates, zero-width joiners, soft hyphens…),
//! the line and paragraph separators U+2028/U+2029, and the backslash
//! itself (as `\\`), so that an escaped string reads back one way only.
//! Letters of every script (Estonian õ, ä, ö, ü, š, ž among them) pass as
//! they are.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal raw.
fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || is_format(c) || c == '\u{2028}' || c == '\u{2029}'
}

/// Unicode general category Cf (format characters), which Rust's standard
/// library does not expose: the bidi controls and invisible characters that
/// can reorder or hide text on screen.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}')
}

/// `s` with every control, format and separator character (and the
/// backslash) written as an escape; unchanged (borrowed) when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    if c == '\\' {
        out.push_str("\\\\");
    } else if needs_escape(c) {
        out.push_str(&format!("\\u{{{:x}}}", c as u32));
    } else {
        out.push(c);
    }
}

/// Bytes that should be UTF-8 text (a file name, a label): valid UTF-8 is
/// escaped as [`escape`] does, and each byte that is not valid UTF-8 is
/// written as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Untrusted text for `format!`: `format!("{}", Shown(name))` prints
/// `escape(name)`.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_letters_are_not() {
        assert_eq!(
            escape("Harju maakond, Tõnis Õun"),
            "Harju maakond, Tõnis Õun"
        );
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\rz\t"), "x\\u{a}y\\u{d}z\\u{9}");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m", "a C1 CSI");
        assert_eq!(escape("\u{7f}"), "\\u{7f}");
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape("a\u{2066}b\u{200b}c"), "a\\u{2066}b\\u{200b}c");
        assert_eq!(escape("line\u{2028}sep"), "line\\u{2028}sep");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        // An escaped string reads back one way: the literal text of an
        // escape is itself escaped.
        assert_ne!(escape("\\u{1b}"), escape("\x1b"));
    }

    #[test]
    fn invalid_utf8_is_shown_as_bytes() {
        assert_eq!(escape_bytes(b"ok\xff\x1b"), "ok\\xff\\u{1b}");
        assert_eq!(format!("[{}]", Shown("\x07bell")), "[\\u{7}bell]");
    }
}
