//! Outside names (object keys, paths) shown to people: the one place the
//! characters a terminal or a log would act on are escaped, exactly as
//! Python's `cdn_manager.escape` escapes them, so a message reads the same
//! whichever side raised it.

/// C0, DEL, C1 and the Unicode bidi controls (U+202A–U+202E, U+2066–U+2069):
/// the characters Python's `escape.shown` escapes (lone surrogates cannot
/// occur in a Rust string). In a file name they would reach every terminal
/// and log that lists the folder.
pub fn is_control(c: char) -> bool {
    matches!(c as u32, 0..=0x1f | 0x7f..=0x9f | 0x202a..=0x202e | 0x2066..=0x2069)
}

/// `text` with backslashes and control characters escaped exactly as
/// Python's `escape.shown` does (`\\`, `\n`, `\x1b`, `\u202e`), for messages.
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_control(c) && (c as u32) <= 0xff => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_control(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_matches_pythons_escape() {
        assert_eq!(
            shown("a\\b\n\r\t\x1b\u{9b}\u{202e}é"),
            "a\\\\b\\n\\r\\t\\x1b\\x9b\\u202eé"
        );
    }
}
