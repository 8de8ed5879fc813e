//! IGT (igt-gpu-tools) glue for xtask: read `igt_runner`'s `results.json` and produce the sh
//! script that runs the IGT tests in the guest.
//!
//! `results.json` is read with serde_json.
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

use crate::util::{self, Result};
use anyhow::{anyhow, bail, Context};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

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
    /// The `"igt-version"` of the first test that has one (`IGT-Version: 2.2-... (x86_64) ...`).
    pub version: Option<String>,
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

/// A JSON object's members in the order of the file (serde_json's own map is sorted by key),
/// a duplicated key kept twice.
struct InOrder<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for InOrder<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = InOrder<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<InOrder<T>, A::Error> {
                let mut members = Vec::new();
                while let Some(kv) = m.next_entry()? {
                    members.push(kv);
                }
                Ok(InOrder(members))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Parses igt_runner's `results.json`.
///
/// Errors when the text is not JSON, or when it has no `"tests"` object, or when a test entry is
/// not an object or has a `"result"` that is not a string.
pub fn parse_results_json(text: &str) -> Result<IgtSummary> {
    // The whole text must be JSON, whatever the members this module does not read hold.
    let root: Value = serde_json::from_str(text).context("results.json")?;
    if !root.is_object() {
        bail!("results.json: top level is not an object");
    }
    // The members in file order; a duplicated key: the last one counts, as json-c has it.
    let members: InOrder<Box<RawValue>> = serde_json::from_str(text).context("results.json")?;
    let tests = members
        .0
        .iter()
        .rev()
        .find(|(k, _)| k == "tests")
        .context("results.json: no \"tests\" member")?;
    let tests: InOrder<Value> =
        serde_json::from_str(tests.1.get()).context("results.json: \"tests\" is not an object")?;

    let mut summary = IgtSummary::default();
    for (name, entry) in tests.0 {
        let entry = entry
            .as_object()
            .ok_or_else(|| anyhow!("results.json: test {name:?} is not an object"))?;
        let result = match entry.get("result") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(anyhow!("results.json: result of {name:?} is not a string")),
        };
        if summary.version.is_none() {
            summary.version = entry
                .get("igt-version")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        summary.count(&result);
        summary.tests.push((name, result));
    }
    Ok(summary)
}

/// The guest's call of `xtask/guest/igt.sh`, which runs `tests` from the IGT build
/// `igt_build_dir` under igt_runner (with IGT's own per-test, inactivity and overall timeouts)
/// and writes `results_dir/results.json`; read it with [`parse_results_json`].
///
/// `tests` entries are a test binary (`core_file_same`, every subtest), or one subtest
/// (`core_file_same@dup`), with or without the `igt@` prefix.
///
/// # Panics
///
/// When `tests` is empty or an entry has a character outside `[A-Za-z0-9_.,@-]`: test names are
/// programmer-supplied, and the script takes them as igt_runner's test-list lines.
pub fn guest_call(igt_build_dir: &str, results_dir: &str, tests: &[&str]) -> String {
    assert!(!tests.is_empty(), "igt::guest_call: no tests given");
    for t in tests {
        let t = t.strip_prefix("igt@").unwrap_or(t);
        assert!(
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.,@-".contains(c))
                && !t.starts_with('@')
                && !t.ends_with('@'),
            "igt::guest_call: bad test name {t:?}"
        );
    }
    let script = util::root().join("xtask/guest/igt.sh");
    let mut words = vec![script.to_string_lossy().into_owned(), igt_build_dir.into()];
    words.push(results_dir.into());
    words.extend(tests.iter().map(|t| t.to_string()));
    format!("sh {}", crate::vm::call(&words))
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
    fn version_and_file_order() {
        let s = parse_results_json(REAL_SKIP_RUN).unwrap();
        assert_eq!(
            s.version.as_deref(),
            Some("IGT-Version: 2.2-NO-GIT (x86_64) (Linux: 6.18.44-fc-v657 x86_64)\n")
        );
        // Not sorted: the file's order, and a duplicated test counts twice; of two "tests"
        // members the last one counts.
        let s = parse_results_json(
            r#"{"tests":{"igt@b":{"result":"pass"}},"tests":{"igt@z":{"result":"pass"},"igt@a":{"result":"fail","igt-version":"v \u00e9"},"igt@z":{"result":"skip"}}}"#,
        )
        .unwrap();
        let names: Vec<&str> = s.tests.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["igt@z", "igt@a", "igt@z"]);
        assert_eq!((s.pass, s.fail, s.skip), (1, 1, 1));
        assert_eq!(s.version.as_deref(), Some("v é"));
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
        let deep = format!("{{\"tests\":{{\"a\":{}}}}}", "[".repeat(10_000));
        assert!(parse_results_json(&deep).is_err());
    }

    #[test]
    fn structural_errors() {
        assert!(parse_results_json("[]").is_err());
        assert!(parse_results_json("{\"totals\":{}}")
            .unwrap_err()
            .to_string()
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
    fn guest_call_quotes_its_words() {
        let s = guest_call("/tmp/it's here", "/r", &["core_file_same", "igt@x@y"]);
        assert!(
            s.starts_with("sh '") && s.contains("/xtask/guest/igt.sh' "),
            "{s}"
        );
        assert!(
            s.ends_with(" '/tmp/it'\\''s here' '/r' 'core_file_same' 'igt@x@y'"),
            "{s}"
        );
    }

    #[test]
    #[should_panic(expected = "bad test name")]
    fn guest_call_rejects_shell_metacharacters() {
        guest_call("/b", "/r", &["core_file_same; rm -rf /"]);
    }

    /// guest/igt.sh stops with status 2, naming it, when the IGT build has no igt_runner.
    #[test]
    fn igt_sh_refuses_a_build_without_runner() {
        let call = guest_call(
            "/nonexistent/igt-build",
            "/nonexistent/results",
            &["core_file_same"],
        );
        let out = std::process::Command::new("dash")
            .arg("-c")
            .arg(&call)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("/nonexistent/igt-build/runner/igt_runner is missing"),
            "{err}"
        );
    }
}
