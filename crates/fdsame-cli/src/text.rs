//! Names from the system (paths, link targets, process names) in text and in JSON: a name
//! may hold any byte but `/`-less NUL, newlines included, and need not be UTF-8.
//!
//! - Text: one line per item whatever the name holds: printable characters as they are,
//!   `\` as `\\`, control characters as `\n`, `\t`, `\u{7f}`, and bytes that are not UTF-8 as
//!   `\xNN`. Reversible.
//! - JSON: a string when the name is UTF-8; otherwise `{"hex": "...", "lossy": "..."}`, the
//!   bytes in lower-case hex (reversible) and a lossy rendering for people.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// `name` escaped for one line of text.
///
/// ```text
/// "a\nb" → a\nb    "\xff" → \xff    "tab\t" → tab\t    "x\\y" → x\\y
/// ```
pub fn shown(name: &OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A name as the JSON output carries it (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name(pub Vec<u8>);

impl Name {
    pub fn new(name: impl AsRef<OsStr>) -> Name {
        Name(name.as_ref().as_bytes().to_vec())
    }

    /// For text output.
    pub fn shown(&self) -> String {
        shown(OsStr::from_bytes(&self.0))
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("hex", &hex)?;
                m.serialize_entry("lossy", &String::from_utf8_lossy(&self.0))?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_one_line_and_reversible() {
        let cases: [(&[u8], &str); 6] = [
            (b"/tmp/plain", "/tmp/plain"),
            (b"a\nb", "a\\nb"),
            (b"tab\there", "tab\\there"),
            (b"back\\slash", "back\\\\slash"),
            (b"bad\xffbyte", "bad\\xffbyte"),
            ("é".as_bytes(), "é"),
        ];
        for (raw, want) in cases {
            let got = shown(OsStr::from_bytes(raw));
            assert_eq!(got, want);
            assert!(!got.contains('\n'));
        }
    }

    #[test]
    fn json_is_a_string_or_hex() {
        let v = serde_json::to_value(Name(b"/tmp/x\ny".to_vec())).unwrap();
        assert_eq!(v, serde_json::json!("/tmp/x\ny"));
        let v = serde_json::to_value(Name(b"/tmp/\xff".to_vec())).unwrap();
        assert_eq!(v["hex"], "2f746d702fff");
        assert_eq!(v["lossy"], "/tmp/\u{fffd}");
    }
}
