//! Renders attacker-controlled bytes (comm, argv) so they cannot steer a terminal or hide in JSON.

use std::borrow::Cow;
use std::fmt::Write;

/// Text for a terminal: printable text kept; `\\`, `\n`, `\t`, `\r` as escapes; every other
/// C0/DEL/C1 control and every byte of invalid UTF-8 as `\xNN`; bidi controls and line
/// separators as `\u{...}`. The output is pure printable text: no escape sequence survives.
pub fn escape_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                // C0, DEL and C1: the bytes themselves (C1 is two bytes in UTF-8).
                c if c.is_control() => {
                    push_hex_bytes(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes())
                }
                c if reorders_text(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        push_hex_bytes(&mut out, chunk.invalid());
    }
    out
}

/// Characters that reorder or break the displayed line (Trojan Source, CVE-2021-42574).
fn reorders_text(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

fn push_hex_bytes(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
}

/// A JSON field value: valid UTF-8 kept as is (the serializer escapes controls), each invalid
/// byte written as the text `\xNN` so nothing is dropped or replaced silently. Valid UTF-8 (a
/// name nearly always is) is borrowed, not copied.
pub fn json_string(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        push_hex_bytes(&mut out, chunk.invalid());
    }
    Cow::Owned(out)
}

/// argv as a readable command line: each argument escaped with [`escape_text`], and
/// single-quoted when it is empty or holds anything but plainly safe characters.
pub fn shell_words<A: AsRef<[u8]>>(args: &[A]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let word = escape_text(arg.as_ref());
        if !word.is_empty() && word.chars().all(is_shell_safe) {
            out.push_str(&word);
        } else {
            out.push('\'');
            out.push_str(&word.replace('\'', "'\\''"));
            out.push('\'');
        }
    }
    out
}

fn is_shell_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-+=@%:,./".contains(c) || (!c.is_ascii() && !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(escape_text(b"nginx: worker"), "nginx: worker");
        assert_eq!(escape_text("café 日本 🦀".as_bytes()), "café 日本 🦀");
        assert_eq!(escape_text(b""), "");
    }

    #[test]
    fn terminal_escapes_never_pass_raw() {
        let evil = b"\x1b]0;pwned\x07\x1b[2J";
        let out = escape_text(evil);
        assert_eq!(out, "\\x1b]0;pwned\\x07\\x1b[2J");
        assert!(!out.bytes().any(|b| b < 0x20 || b == 0x7f));
    }

    #[test]
    fn common_controls_get_short_escapes() {
        assert_eq!(escape_text(b"a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape_text(b"back\\slash"), "back\\\\slash");
        assert_eq!(escape_text(b"\x00\x01\x1f\x7f"), "\\x00\\x01\\x1f\\x7f");
    }

    #[test]
    fn c1_controls_are_escaped_bytewise() {
        // U+009B is CSI on terminals that honour 8-bit controls.
        assert_eq!(escape_text("a\u{9b}31m".as_bytes()), "a\\xc2\\x9b31m");
        assert_eq!(
            escape_text("\u{80}\u{9f}".as_bytes()),
            "\\xc2\\x80\\xc2\\x9f"
        );
        assert_eq!(
            escape_text("\u{a0}".as_bytes()),
            "\u{a0}",
            "NBSP is not a control"
        );
    }

    #[test]
    fn invalid_utf8_bytes_are_hex() {
        assert_eq!(escape_text(b"ab\xffcd"), "ab\\xffcd");
        assert_eq!(escape_text(b"\xc3"), "\\xc3", "truncated sequence");
        assert_eq!(escape_text(b"\xc3\x28"), "\\xc3(");
        assert_eq!(escape_text(b"\xed\xa0\x80"), "\\xed\\xa0\\x80", "surrogate");
        assert_eq!(escape_text(b"\x9b"), "\\x9b", "raw 8-bit CSI");
    }

    #[test]
    fn bidi_overrides_are_visible() {
        let s = "evil\u{202e}gpj.exe";
        assert_eq!(escape_text(s.as_bytes()), "evil\\u{202e}gpj.exe");
        for c in [
            '\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{2028}',
        ] {
            let out = escape_text(c.to_string().as_bytes());
            assert_eq!(out, format!("\\u{{{:x}}}", c as u32));
        }
        assert_eq!(escape_text("\u{2065}".as_bytes()), "\u{2065}");
    }

    #[test]
    fn json_keeps_valid_text_and_marks_invalid_bytes() {
        assert_eq!(json_string(b"a\x1bb"), "a\x1bb");
        assert_eq!(json_string("日本".as_bytes()), "日本");
        assert_eq!(json_string(b"x\xff\xfey"), "x\\xff\\xfey");
        let json = serde_json::to_string(&json_string(b"\x1b[31m\xff")).unwrap();
        assert_eq!(json, r#""\u001b[31m\\xff""#);
    }

    #[test]
    fn shell_words_quotes_only_when_needed() {
        let argv: Vec<Vec<u8>> = vec![b"kill".to_vec(), b"-9".to_vec(), b"1234".to_vec()];
        assert_eq!(shell_words(&argv), "kill -9 1234");
        assert_eq!(
            shell_words(&["sh", "-c", "sleep 1; kill $PPID"]),
            "sh -c 'sleep 1; kill $PPID'"
        );
        assert_eq!(shell_words(&["echo", ""]), "echo ''");
        assert_eq!(shell_words(&["echo", "it's"]), "echo 'it'\\''s'");
        assert_eq!(
            shell_words(&["a*", "~", "x|y", "a\"b"]),
            "'a*' '~' 'x|y' 'a\"b'"
        );
        assert_eq!(
            shell_words(&["/usr/bin/python3", "--x=1,2", "user@host:/p"]),
            "/usr/bin/python3 --x=1,2 user@host:/p"
        );
        assert_eq!(shell_words(&["café"]), "café");
        let empty: [&str; 0] = [];
        assert_eq!(shell_words(&empty), "");
    }

    #[test]
    fn shell_words_escapes_inside_quotes() {
        let argv: Vec<&[u8]> = vec![b"printf", b"\x1b[2J\n", b"\xff"];
        assert_eq!(shell_words(&argv), "printf '\\x1b[2J\\n' '\\xff'");
        assert_eq!(shell_words(&["\u{202e}"]), "'\\u{202e}'");
    }
}
