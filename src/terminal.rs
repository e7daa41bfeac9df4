//! Printing untrusted strings to a terminal. Key ids, encryption-context values, S3EC metadata,
//! bucket and key names and error messages from servers are chosen by whoever wrote the object
//! or runs the server: printed raw, `ESC ] 0; ... BEL` retitles the operator's terminal,
//! `ESC [2K CR` erases the line being read, and a bidi override reorders it. Every
//! human-readable output passes such strings through [`escape_for_terminal`].

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal raw: C0 controls (ESC, BEL, CR, LF, TAB, ...), DEL, C1
/// controls (including the 8-bit CSI U+009B), and the invisible characters that reorder or
/// split text (bidi embeddings, overrides and isolates, line and paragraph separators).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `text` with every character a terminal would interpret written as a `\u{..}` escape (and a
/// backslash doubled, so an escape in the input cannot pass for one of ours). Borrowed when
/// nothing needed escaping.
pub fn escape_for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_for_terminal;

    #[test]
    fn terminal_controls_are_escaped_and_plain_text_is_not_copied() {
        let hostile = "arn:key\u{1b}]0;pwned\u{7}\u{1b}[2K\rok\u{7f}\u{9b}31m";
        let escaped = escape_for_terminal(hostile);
        assert_eq!(
            escaped,
            "arn:key\\u{1b}]0;pwned\\u{7}\\u{1b}[2K\\u{d}ok\\u{7f}\\u{9b}31m"
        );
        assert!(!escaped.chars().any(|c| c.is_control()));
        assert_eq!(escape_for_terminal("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(escape_for_terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape_for_terminal("a\\u{1b}"), "a\\\\u{1b}");
        assert!(matches!(
            escape_for_terminal("s3://bucket/ключ é"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
