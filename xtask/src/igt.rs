//! IGT (igt-gpu-tools) glue for xtask: read `igt_runner`'s `results.json` and produce the sh
//! script that runs the IGT tests in the guest.
//!
//! Self-contained, std only: `mod igt;` it into the xtask binary.
//!
//! `results.json` is written by IGT's `runner/resultgen.c` (json-c, `results_version` 10):
//!
//! ```text
//! { "__type__": "TestrunResult", "results_version": 10, "name": ..., "uname": ...,
//!   "cmdline": [...], "time_elapsed": {...},
//!   "tests":  { "igt@<binary>@<subtest>[@<dynamic>]": { "out": ..., "err": ..., "dmesg": ...,
//!                                                        "igt-version": ..., "result": "pass",
//!                                                        "time": {...} }, ... },
//!   "totals": { "": {<result>: n, ...}, "root": {...}, "igt@<binary>": {...} },
//!   "runtimes": { "igt@<binary>": { "time": {...} } } }
//! ```
//!
//! The summary is taken from the `"tests"` map (one entry per subtest and per dynamic subtest,
//! plus `igt@runner@aborted` when the run was aborted), not from `"totals"`, so every counted
//! result has a name attached.

use std::fmt::Write as _;

/// What one `igt_runner` run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgtSummary {
    /// Results `"pass"`.
    pub pass: u32,
    /// Results that mean the test is broken: `"fail"`, `"dmesg-fail"`, `"crash"`, `"timeout"`,
    /// `"incomplete"`, `"abort"`.
    pub fail: u32,
    /// Results `"skip"` (an `igt_require` was not met, e.g. a kernel without the ioctl).
    pub skip: u32,
    /// Everything else: `"warn"`, `"dmesg-warn"`, `"notrun"`, a missing result, any result this
    /// module does not know.
    pub other: u32,
    /// `(test name, result)` in the order of the file, e.g.
    /// `("igt@core_file_same@dup", "pass")`. A test without a `"result"` key has result `""`.
    pub tests: Vec<(String, String)>,
}

impl IgtSummary {
    /// True when something ran, nothing failed and nothing ended in an unclear state.
    pub fn ok(&self) -> bool {
        !self.tests.is_empty() && self.fail == 0 && self.other == 0
    }

    /// The tests whose result is neither `"pass"` nor `"skip"`.
    pub fn problems(&self) -> Vec<&(String, String)> {
        self.tests
            .iter()
            .filter(|(_, r)| r != "pass" && r != "skip")
            .collect()
    }

    fn count(&mut self, result: &str) {
        match result {
            "pass" => self.pass += 1,
            "skip" => self.skip += 1,
            "fail" | "dmesg-fail" | "crash" | "timeout" | "incomplete" | "abort" => self.fail += 1,
            _ => self.other += 1,
        }
    }
}

/// Parses igt_runner's `results.json`.
///
/// Errors when the text is not JSON, or when it has no `"tests"` object, or when a test entry is
/// not an object or has a `"result"` that is not a string.
pub fn parse_results_json(text: &str) -> Result<IgtSummary, String> {
    let root = json::parse(text)?;
    let root = root
        .as_object()
        .ok_or("results.json: top level is not an object")?;
    let tests = json::get(root, "tests").ok_or("results.json: no \"tests\" member")?;
    let tests = tests
        .as_object()
        .ok_or("results.json: \"tests\" is not an object")?;

    let mut summary = IgtSummary::default();
    for (name, entry) in tests {
        let entry = entry
            .as_object()
            .ok_or_else(|| format!("results.json: test {name:?} is not an object"))?;
        let result = match json::get(entry, "result") {
            None => String::new(),
            Some(json::Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("results.json: result of {name:?} is not a string")),
        };
        summary.count(&result);
        summary.tests.push((name.clone(), result));
    }
    Ok(summary)
}

/// Per-subtest timeout handed to `igt_runner --per-test-timeout`, in seconds.
pub const PER_TEST_TIMEOUT_SECS: u32 = 120;
/// `igt_runner --inactivity-timeout`: no output on stdout/stderr/dmesg for this long kills it.
pub const INACTIVITY_TIMEOUT_SECS: u32 = 60;
/// `igt_runner --overall-timeout`: no new test is started after this many seconds.
pub const OVERALL_TIMEOUT_SECS: u32 = 1200;

/// The POSIX sh script that runs IGT tests in the guest.
///
/// The guest runs it as root with `/dev/dri` present and the host root filesystem visible at
/// the same paths, so `igt_build_dir` is the meson build dir of an IGT checkout (it has
/// `runner/igt_runner` and `tests/<binary>`).
///
/// `tests` entries are a test binary (`core_file_same`, every subtest), or one subtest
/// (`core_file_same@dup`), with or without the `igt@` prefix. The script
/// * builds a private test root (`mktemp -d`) with a symlink to each binary and the
///   `test-list.txt` igt_runner insists on, so a build dir where only these binaries were built
///   works;
/// * writes the selection as a `--test-list` file (`igt@binary[@subtest]` lines);
/// * runs `igt_runner --overwrite --use-watchdog --per-test-timeout ... --inactivity-timeout ...
///   --overall-timeout ... --test-list <list> <root> <results_dir>`;
/// * exits with igt_runner's status, or 3 when `<results_dir>/results.json` was not written.
///   Test failures do not change the status: read `results.json` with [`parse_results_json`].
///
/// # Panics
///
/// When `tests` is empty or an entry has a character outside `[A-Za-z0-9_.,@-]`: test names are
/// programmer-supplied, and the script must not need shell quoting for them.
pub fn guest_script(igt_build_dir: &str, results_dir: &str, tests: &[&str]) -> String {
    assert!(!tests.is_empty(), "igt::guest_script: no tests given");

    let mut binaries: Vec<&str> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for &t in tests {
        let t = t.strip_prefix("igt@").unwrap_or(t);
        assert!(
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.,@-".contains(c))
                && !t.starts_with('@')
                && !t.ends_with('@'),
            "igt::guest_script: bad test name {t:?}"
        );
        let binary = t.split('@').next().unwrap_or(t);
        if !binaries.contains(&binary) {
            binaries.push(binary);
        }
        let line = format!("igt@{t}");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }

    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str("# Generated by xtask (xtask/src/igt.rs): runs IGT tests with igt_runner.\n");
    s.push_str("set -eu\n\n");
    let _ = writeln!(s, "IGT_BUILD={}", sh_quote(igt_build_dir));
    let _ = writeln!(s, "RESULTS={}", sh_quote(results_dir));
    s.push_str("RUNNER=\"$IGT_BUILD/runner/igt_runner\"\n");
    let _ = writeln!(s, "BINARIES='{}'", binaries.join(" "));
    s.push_str(
        r#"
# igt_runner prefers $IGT_TEST_ROOT over the test root it is given.
unset IGT_TEST_ROOT || true

if [ ! -x "$RUNNER" ]; then
	echo "igt: $RUNNER is missing (meson -Drunner=enabled, ninja runner/igt_runner)" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ]; then
	echo "igt: igt_runner must run as root" >&2
	exit 2
fi
[ -d /dev/dri ] || echo "igt: warning: no /dev/dri, the DRM tests will skip" >&2

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/igt-root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
trap 'exit 130' INT TERM

for b in $BINARIES; do
	bin="$IGT_BUILD/tests/$b"
	if [ ! -x "$bin" ]; then
		bin=$(find "$IGT_BUILD/tests" -type f -name "$b" -perm -u+x 2>/dev/null | head -n 1)
	fi
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		echo "igt: test binary $b not built in $IGT_BUILD/tests (ninja tests/$b)" >&2
		exit 2
	fi
	ln -s "$bin" "$ROOT/$b"
	echo "$b" >> "$ROOT/test-list.txt"
done

cat > "$ROOT/selected.testlist" <<'IGT_TESTLIST_EOF'
"#,
    );
    for line in &lines {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("IGT_TESTLIST_EOF\n\n");
    s.push_str("mkdir -p \"$(dirname \"$RESULTS\")\"\n");
    s.push_str("status=0\n");
    let _ = writeln!(
        s,
        "\"$RUNNER\" --overwrite --use-watchdog --per-test-timeout {PER_TEST_TIMEOUT_SECS} \
         --inactivity-timeout {INACTIVITY_TIMEOUT_SECS} --overall-timeout {OVERALL_TIMEOUT_SECS} \
         --test-list \"$ROOT/selected.testlist\" \"$ROOT\" \"$RESULTS\" || status=$?"
    );
    s.push_str(
        r#"
if [ ! -s "$RESULTS/results.json" ]; then
	echo "igt: igt_runner (status $status) wrote no $RESULTS/results.json" >&2
	exit 3
fi
echo "igt: results in $RESULTS/results.json (igt_runner status $status)"
exit "$status"
"#,
    );
    s
}

/// Quotes `s` for sh: `'...'`, with each `'` written as `'\''`.
fn sh_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    q
}

/// Just enough JSON (RFC 8259) for `results.json`: a recursive-descent parser into a tree.
mod json {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Value>),
        /// Members in file order; a duplicated key keeps both (see [`get`]).
        Object(Vec<(String, Value)>),
    }

    impl Value {
        pub fn as_object(&self) -> Option<&Vec<(String, Value)>> {
            match self {
                Value::Object(m) => Some(m),
                _ => None,
            }
        }
    }

    /// The value of the last member named `key` (json-c keeps the last one too).
    pub fn get<'a>(object: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
        object.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    const MAX_DEPTH: usize = 256;

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        p.skip_ws();
        let v = p.value(0)?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(p.err("trailing characters after the JSON value"));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn err(&self, what: &str) -> String {
            let line = 1 + self.s[..self.pos.min(self.s.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            format!("results.json: {what} at byte {} (line {line})", self.pos)
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.pos).copied()
        }

        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.pos += 1;
            }
        }

        fn expect(&mut self, b: u8) -> Result<(), String> {
            if self.peek() == Some(b) {
                self.pos += 1;
                Ok(())
            } else {
                Err(self.err(&format!("expected '{}'", b as char)))
            }
        }

        fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
            if self.s[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                Ok(v)
            } else {
                Err(self.err("unexpected character"))
            }
        }

        fn value(&mut self, depth: usize) -> Result<Value, String> {
            if depth > MAX_DEPTH {
                return Err(self.err("nesting too deep"));
            }
            match self.peek() {
                None => Err(self.err("unexpected end of input")),
                Some(b'{') => self.object(depth),
                Some(b'[') => self.array(depth),
                Some(b'"') => self.string().map(Value::String),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'n') => self.literal("null", Value::Null),
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(_) => Err(self.err("unexpected character")),
            }
        }

        fn object(&mut self, depth: usize) -> Result<Value, String> {
            self.expect(b'{')?;
            let mut members = Vec::new();
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Value::Object(members));
            }
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a member name"));
                }
                let key = self.string()?;
                self.skip_ws();
                self.expect(b':')?;
                self.skip_ws();
                let v = self.value(depth + 1)?;
                members.push((key, v));
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        return Ok(Value::Object(members));
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }

        fn array(&mut self, depth: usize) -> Result<Value, String> {
            self.expect(b'[')?;
            let mut items = Vec::new();
            self.skip_ws();
            if self.peek() == Some(b']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            loop {
                self.skip_ws();
                items.push(self.value(depth + 1)?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                    _ => return Err(self.err("expected ',' or ']'")),
                }
            }
        }

        fn number(&mut self) -> Result<Value, String> {
            let start = self.pos;
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            match self.peek() {
                Some(b'0') => self.pos += 1,
                Some(b'1'..=b'9') => self.digits(),
                _ => return Err(self.err("bad number")),
            }
            if self.peek() == Some(b'.') {
                self.pos += 1;
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("bad number"));
                }
                self.digits();
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.pos += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.pos += 1;
                }
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("bad number"));
                }
                self.digits();
            }
            // Only ASCII was consumed, so this is valid UTF-8.
            let text = std::str::from_utf8(&self.s[start..self.pos])
                .map_err(|_| self.err("bad number"))?;
            text.parse::<f64>()
                .map(Value::Number)
                .map_err(|_| self.err("bad number"))
        }

        fn digits(&mut self) {
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }

        fn hex4(&mut self) -> Result<u32, String> {
            let h = self
                .s
                .get(self.pos..self.pos + 4)
                .ok_or_else(|| self.err("short \\u escape"))?;
            let h = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
            let v = u32::from_str_radix(h, 16).map_err(|_| self.err("bad \\u escape"))?;
            self.pos += 4;
            Ok(v)
        }

        fn string(&mut self) -> Result<String, String> {
            self.expect(b'"')?;
            let mut out: Vec<u8> = Vec::new();
            loop {
                let b = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                self.pos += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                        self.pos += 1;
                        let c = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let cp = if (0xD800..0xDC00).contains(&hi)
                                    && self.s[self.pos..].starts_with(b"\\u")
                                {
                                    let save = self.pos;
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                    } else {
                                        // Lone high surrogate; the next escape stands alone.
                                        self.pos = save;
                                        0xFFFD
                                    }
                                } else {
                                    hi
                                };
                                // Lone surrogates become U+FFFD.
                                char::from_u32(cp).unwrap_or('\u{FFFD}')
                            }
                            _ => return Err(self.err("bad escape in string")),
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    0x00..=0x1F => return Err(self.err("control character in string")),
                    _ => out.push(b),
                }
            }
            // The input is a &str and escapes were encoded as UTF-8, so this cannot fail.
            String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `results.json`: igt_runner from igt-gpu-tools 2.2 (commit b3d809d53), run as
    /// `igt_runner --overwrite --use-watchdog --per-test-timeout 60 --inactivity-timeout 30
    /// --test-list sel2.testlist <root> /tmp/igt-sample-small` on a machine without
    /// /dev/dri, so both subtests skipped in drm_open_driver().
    const REAL_SKIP_RUN: &str = r#"{
  "__type__":"TestrunResult",
  "results_version":10,
  "name":"igt-sample-small",
  "uname":"Linux vm 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
  "cmdline":[
    "\/tmp\/igt-build\/runner\/igt_runner",
    "--overwrite",
    "--use-watchdog",
    "--per-test-timeout",
    "60",
    "--inactivity-timeout",
    "30",
    "--test-list",
    "\/tmp\/igt-root.MICUk3\/sel2.testlist",
    "\/tmp\/igt-root.MICUk3",
    "\/tmp\/igt-sample-small"
  ],
  "time_elapsed":{
    "__type__":"TimeAttribute",
    "start":1795686812.473115,
    "end":1795686812.512784
  },
  "tests":{
    "igt@core_file_same@self":{
      "out":"Using IGT_SRANDOM=1795686812 for randomisation\nTest requirement not met in function drm_open_driver, file ..\/igt-src\/lib\/drmtest.c:735:\nTest requirement: !(fd<0)\nNo known gpu found for chipset flags 0x4 (vgem)\nLast errno: 2, No such file or directory\nSubtest self: SKIP (0.000s)\n",
      "err":"Subtest self: SKIP (0.000s)\n",
      "igt-version":"IGT-Version: 2.2-NO-GIT (x86_64) (Linux: 6.18.44-fc-v657 x86_64)\n",
      "result":"skip",
      "time":{
        "__type__":"TimeAttribute",
        "start":0.0,
        "end":0.0
      },
      "dmesg":"<6> [838.452034] [IGT] core_file_same: executing\n<6> [838.457623] [IGT] core_file_same: exiting, ret=77\n"
    },
    "igt@dmabuf_same_object@dup":{
      "out":"Using IGT_SRANDOM=1795686812 for randomisation\nTest requirement not met in function drm_open_driver, file ..\/igt-src\/lib\/drmtest.c:735:\nTest requirement: !(fd<0)\nNo known gpu found for chipset flags 0x4 (vgem)\nLast errno: 2, No such file or directory\nSubtest dup: SKIP (0.000s)\n",
      "err":"Subtest dup: SKIP (0.000s)\n",
      "igt-version":"IGT-Version: 2.2-NO-GIT (x86_64) (Linux: 6.18.44-fc-v657 x86_64)\n",
      "result":"skip",
      "time":{
        "__type__":"TimeAttribute",
        "start":0.0,
        "end":0.0
      },
      "dmesg":"<6> [838.470138] [IGT] dmabuf_same_object: executing\n<6> [838.471270] [IGT] dmabuf_same_object: exiting, ret=77\n"
    }
  },
  "totals":{
    "":{
      "crash":0,
      "pass":0,
      "dmesg-fail":0,
      "dmesg-warn":0,
      "skip":2,
      "incomplete":0,
      "abort":0,
      "timeout":0,
      "notrun":0,
      "fail":0,
      "warn":0
    },
    "root":{
      "crash":0,
      "pass":0,
      "dmesg-fail":0,
      "dmesg-warn":0,
      "skip":2,
      "incomplete":0,
      "abort":0,
      "timeout":0,
      "notrun":0,
      "fail":0,
      "warn":0
    },
    "igt@core_file_same":{
      "crash":0,
      "pass":0,
      "dmesg-fail":0,
      "dmesg-warn":0,
      "skip":1,
      "incomplete":0,
      "abort":0,
      "timeout":0,
      "notrun":0,
      "fail":0,
      "warn":0
    },
    "igt@dmabuf_same_object":{
      "crash":0,
      "pass":0,
      "dmesg-fail":0,
      "dmesg-warn":0,
      "skip":1,
      "incomplete":0,
      "abort":0,
      "timeout":0,
      "notrun":0,
      "fail":0,
      "warn":0
    }
  },
  "runtimes":{
    "igt@core_file_same":{
      "time":{
        "__type__":"TimeAttribute",
        "start":0.0,
        "end":0.029999999999999999
      }
    },
    "igt@dmabuf_same_object":{
      "time":{
        "__type__":"TimeAttribute",
        "start":0.0,
        "end":0.0080000000000000002
      }
    }
  }
}
"#;

    /// Hand-made in the same shape, with every kind of result a guest run can produce.
    const MIXED_RUN: &str = r#"{"__type__":"TestrunResult","results_version":10,"name":"mixed",
"uname":"Linux guest 6.19.0 #1 SMP x86_64","cmdline":["igt_runner"],
"time_elapsed":{"__type__":"TimeAttribute","start":1.5e9,"end":1500000012.25},
"tests":{
 "igt@core_file_same@self":{"out":"Subtest self: SUCCESS (0.001s)\n","err":"","dmesg":"","result":"pass",
   "time":{"__type__":"TimeAttribute","start":0.0,"end":0.001}},
 "igt@core_file_same@dup":{"result":"fail","out":"Stack trace:\n  #0 ..\/lib\/igt_core.c:2070 __igt_fail_assert()\n",
   "err":"(core_file_same:312) CRITICAL: Failed assertion: file_same(fd, fd2) == 0x7\n\t\"quoted\" \u00e9\u20ac \ud83d\ude00 \\ done"},
 "igt@core_file_same@reopen":{"result":"dmesg-warn","dmesg":"<4> [12.5] WARNING: CPU: 0 PID: 312 at drivers\/gpu\/drm\/drm_file.c:1"},
 "igt@core_file_same@other-device":{"result":"skip"},
 "igt@dmabuf_same_object@dup":{"result":"crash"},
 "igt@dmabuf_same_object@dma-heap":{"result":"timeout"},
 "igt@dmabuf_same_object@udmabuf":{"result":"incomplete"},
 "igt@dmabuf_same_object@drm-fd":{"result":"dmesg-fail"},
 "igt@dmabuf_same_object@two-buffers":{"result":"notrun"},
 "igt@dmabuf_same_object@bad-pointer":{"result":"warn"},
 "igt@dmabuf_same_object@invalid-fd":{"result":"pass"},
 "igt@runner@aborted":{"out":"Kernel tainted (0x200 -- 512)\n","err":"","dmesg":"","result":"fail"}
},
"totals":{"root":{"pass":2,"fail":2,"skip":1,"crash":1,"timeout":1,"incomplete":1,"dmesg-fail":1,
 "dmesg-warn":1,"notrun":1,"warn":1,"abort":0}},
"runtimes":{}}"#;

    #[test]
    fn real_run_all_skipped() {
        let s = parse_results_json(REAL_SKIP_RUN).unwrap();
        assert_eq!((s.pass, s.fail, s.skip, s.other), (0, 0, 2, 0));
        assert_eq!(
            s.tests,
            vec![
                ("igt@core_file_same@self".to_string(), "skip".to_string()),
                ("igt@dmabuf_same_object@dup".to_string(), "skip".to_string()),
            ]
        );
        assert!(s.ok());
        assert!(s.problems().is_empty());
    }

    #[test]
    fn mixed_results_are_classified() {
        let s = parse_results_json(MIXED_RUN).unwrap();
        assert_eq!(s.tests.len(), 12);
        assert_eq!(s.pass, 2);
        assert_eq!(s.skip, 1);
        // fail, crash, timeout, incomplete, dmesg-fail, runner@aborted (fail)
        assert_eq!(s.fail, 6);
        // dmesg-warn, notrun, warn
        assert_eq!(s.other, 3);
        assert_eq!(
            s.tests[0],
            ("igt@core_file_same@self".into(), "pass".into())
        );
        assert_eq!(s.tests[11], ("igt@runner@aborted".into(), "fail".into()));
        assert!(!s.ok());
        assert_eq!(s.problems().len(), 9);
    }

    #[test]
    fn string_escapes() {
        let v = json::parse(
            r#"["a\/b", "\"q\" \\ \b\f\n\r\t", "\u00e9\u20ac", "\ud83d\ude00", "\ud800x"]"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json::Value::Array(vec![
                json::Value::String("a/b".into()),
                json::Value::String("\"q\" \\ \u{8}\u{c}\n\r\t".into()),
                json::Value::String("é€".into()),
                json::Value::String("😀".into()),
                json::Value::String("\u{FFFD}x".into()),
            ])
        );
        // Raw UTF-8 passes through.
        assert_eq!(
            json::parse("\"é😀\"").unwrap(),
            json::Value::String("é😀".into())
        );
    }

    #[test]
    fn numbers_and_literals() {
        let v = json::parse(
            "[0, -1, 0.053999999999999999, 1795686812.473115, 1e-5, 2E+3, true, false, null]",
        )
        .unwrap();
        assert_eq!(
            v,
            json::Value::Array(vec![
                json::Value::Number(0.0),
                json::Value::Number(-1.0),
                json::Value::Number(0.054),
                json::Value::Number(1795686812.473115),
                json::Value::Number(1e-5),
                json::Value::Number(2000.0),
                json::Value::Bool(true),
                json::Value::Bool(false),
                json::Value::Null,
            ])
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            "",
            "{",
            "{\"tests\":{}",
            "{\"tests\":{}} x",
            "{\"tests\":{\"a\":{\"result\":\"pass\"},}}",
            "{\"tests\":[1,]}",
            "{'tests':{}}",
            "{\"tests\":{\"a\":{\"result\":\"pa\nss\"}}}",
            "{\"tests\":{\"a\":{\"result\":\"\\x\"}}}",
            "{\"tests\":{\"a\":{\"result\":\"\\u12\"}}}",
            "{\"n\":01}",
            "{\"n\":1.}",
            "{\"n\":-}",
            "{\"n\":tru}",
        ] {
            assert!(parse_results_json(bad).is_err(), "accepted {bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert!(json::parse(&deep).is_err());
    }

    #[test]
    fn structural_errors() {
        assert!(parse_results_json("[]").is_err());
        assert!(parse_results_json("{\"totals\":{}}")
            .unwrap_err()
            .contains("no \"tests\""));
        assert!(parse_results_json("{\"tests\":[]}").is_err());
        assert!(parse_results_json("{\"tests\":{\"igt@a@b\":3}}").is_err());
        assert!(parse_results_json("{\"tests\":{\"igt@a@b\":{\"result\":1}}}").is_err());
        // No result at all: counted as other, result "".
        let s = parse_results_json("{\"tests\":{\"igt@a@b\":{}}}").unwrap();
        assert_eq!((s.other, s.tests[0].1.as_str()), (1, ""));
        // Empty run: parses, but is not ok.
        let s = parse_results_json("{\"tests\":{}}").unwrap();
        assert!(s.tests.is_empty() && !s.ok());
    }

    #[test]
    fn guest_script_shape() {
        let s = guest_script(
            "/tmp/igt-build",
            "/work/main/target/igt/results",
            &[
                "core_file_same",
                "igt@dmabuf_same_object@dup",
                "dmabuf_same_object@udmabuf",
            ],
        );
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("IGT_BUILD='/tmp/igt-build'\n"));
        assert!(s.contains("RESULTS='/work/main/target/igt/results'\n"));
        assert!(s.contains("BINARIES='core_file_same dmabuf_same_object'\n"));
        assert!(s.contains(
            "<<'IGT_TESTLIST_EOF'\nigt@core_file_same\nigt@dmabuf_same_object@dup\nigt@dmabuf_same_object@udmabuf\nIGT_TESTLIST_EOF\n"
        ));
        assert!(s.contains(
            "\"$RUNNER\" --overwrite --use-watchdog --per-test-timeout 120 --inactivity-timeout 60 \
             --overall-timeout 1200 --test-list \"$ROOT/selected.testlist\" \"$ROOT\" \"$RESULTS\""
        ));
    }

    #[test]
    fn guest_script_quotes_paths() {
        let s = guest_script("/tmp/it's here", "/r", &["core_file_same"]);
        assert!(s.contains("IGT_BUILD='/tmp/it'\\''s here'\n"));
    }

    #[test]
    #[should_panic(expected = "bad test name")]
    fn guest_script_rejects_shell_metacharacters() {
        guest_script("/b", "/r", &["core_file_same; rm -rf /"]);
    }

    #[test]
    fn guest_script_is_valid_sh() {
        // `sh -n` parses without running; skip quietly where there is no sh.
        let script = guest_script(
            "/nonexistent/igt-build",
            "/nonexistent/results",
            &["core_file_same"],
        );
        let dir = std::env::temp_dir().join(format!("xtask-igt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run-igt.sh");
        std::fs::write(&path, &script).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output();
        std::fs::remove_dir_all(&dir).ok();
        if let Ok(out) = out {
            assert!(
                out.status.success(),
                "sh -n: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
