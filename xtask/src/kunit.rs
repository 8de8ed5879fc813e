//! KUnit's results, read by the kernel's own parser (`tools/testing/kunit/kunit.py parse
//! --json`), and the suites the series must report (`linux/kunit-suites.txt`).
//!
//! Which cases a suite has comes from its KTAP plan (`1..N`, printed before the first case):
//! kunit.py reports a case missing from the plan, or cut short by a crash, as an error. Which
//! suites must report comes from the list: a suite that never started has no plan to miss.

use crate::results::Outcome;
use crate::util::{self, Result};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A suite the series adds and the module it is built as (modules flavour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub suite: String,
    pub module: String,
}

pub fn list_path() -> PathBuf {
    util::root().join("linux/kunit-suites.txt")
}

/// The suites of `linux/kunit-suites.txt`.
pub fn expected() -> Result<Vec<Expected>> {
    let path = list_path();
    let v = parse_list(&util::read(&path)?);
    if v.is_empty() {
        bail!("{} lists no KUnit suite: nothing to expect", path.display());
    }
    Ok(v)
}

fn parse_list(text: &str) -> Vec<Expected> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(Expected {
                suite: w.next()?.to_string(),
                module: w.next()?.to_string(),
            })
        })
        .collect()
}

/// kunit.py in the kernel work tree.
pub fn parser(tree: &Path) -> PathBuf {
    tree.join("tools/testing/kunit/kunit.py")
}

/// One suite as kunit.py reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<(String, Outcome)>,
    /// kunit.py's errors in this suite (a missing case, a missing result line, a crash).
    pub errors: u32,
}

/// kunit.py's JSON: a group has cases and groups (a suite, or a parameterised case).
#[derive(Deserialize)]
struct Group {
    name: String,
    sub_groups: Vec<Group>,
    test_cases: Vec<Case>,
    /// Counts; older kunit.py (6.12) writes none, and then they come from the cases.
    misc: Option<Counts>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    status: String,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Counts {
    failed: u32,
    crashed: u32,
    skipped: u32,
    errors: u32,
    tests: u32,
}

fn outcome(status: &str) -> Outcome {
    match status {
        "PASS" => Outcome::Passed,
        "SKIP" => Outcome::Skipped,
        // A case that crashed or that the plan announced and never reported.
        "ERROR" => Outcome::NotRun,
        _ => Outcome::Failed,
    }
}

impl Group {
    /// A parameterised case (a group inside a suite), as one case.
    /// kunit.py's counts, or the same counted from the cases where it gave none.
    fn counts(&self) -> Counts {
        if let Some(c) = self.misc {
            return c;
        }
        let mut c = Counts::default();
        for case in &self.test_cases {
            c.tests += 1;
            match outcome(&case.status) {
                Outcome::Passed => {}
                Outcome::Skipped => c.skipped += 1,
                Outcome::NotRun => c.crashed += 1,
                _ => c.failed += 1,
            }
        }
        c
    }

    fn as_case(&self) -> (String, Outcome) {
        let c = &self.counts();
        let o = if c.failed + c.crashed + c.errors > 0 {
            Outcome::Failed
        } else if c.skipped == c.tests {
            Outcome::Skipped
        } else {
            Outcome::Passed
        };
        (self.name.clone(), o)
    }

    fn into_suite(self) -> Suite {
        let errors = self.counts().errors;
        let mut cases: Vec<(String, Outcome)> = self
            .test_cases
            .iter()
            .map(|c| (c.name.clone(), outcome(&c.status)))
            .collect();
        cases.extend(self.sub_groups.iter().map(Group::as_case));
        Suite {
            name: self.name,
            cases,
            errors,
        }
    }
}

/// The KTAP documents of a kernel log: a built-in kernel prints one for all its suites, each
/// module prints its own as it loads (kunit.py reads one document per call).
fn documents(dmesg: &str) -> Vec<String> {
    let mut docs: Vec<String> = vec![];
    for line in dmesg.lines() {
        let text = line
            .strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .map_or(line, |x| x.1);
        if text.starts_with("KTAP version") || text.starts_with("TAP version") {
            docs.push(String::new());
        }
        if let Some(d) = docs.last_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    docs
}

/// Runs kunit.py on one KTAP document; its top group's groups are the suites.
fn parse_document(kunit_py: &Path, doc: &str, json: &Path) -> Result<Vec<Suite>> {
    let mut child = Command::new("python3")
        .arg(kunit_py)
        // No --summary: 6.12's kunit.py does not know it (stdout is not read anyway).
        .arg("parse")
        .arg(format!("--json={}", json.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", kunit_py.display()))?;
    std::io::Write::write_all(&mut child.stdin.take().expect("piped"), doc.as_bytes())
        .context("cannot write the kernel log to kunit.py")?;
    // kunit.py exits 1 when a test failed (the JSON says which); anything else is its own error.
    let status = child.wait().context("kunit.py")?;
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("{} parse failed: {status}", kunit_py.display());
    }
    let top: Group = serde_json::from_str(&util::read(json)?)
        .with_context(|| format!("kunit.py's JSON ({})", json.display()))?;
    Ok(top.sub_groups.into_iter().map(Group::into_suite).collect())
}

/// Every KUnit suite in a kernel log, as the kernel tree `tree`'s kunit.py reads it.
pub fn parse(tree: &Path, dmesg: &str) -> Result<Vec<Suite>> {
    let kunit_py = parser(tree);
    if !kunit_py.exists() {
        bail!(
            "{} is missing: cannot read KUnit's results",
            kunit_py.display()
        );
    }
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let json = std::env::temp_dir().join(format!("xtask-kunit-{}-{n}.json", std::process::id()));
    let mut suites = vec![];
    for doc in documents(dmesg) {
        suites.extend(parse_document(&kunit_py, &doc, &json)?);
    }
    let _ = std::fs::remove_file(&json);
    Ok(suites)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 6.12's kunit.py writes no counts (`misc`): they come from the cases, and a case the plan
    /// announced and never reported (kunit.py's `ERROR` placeholder) is not run.
    #[test]
    fn json_without_counts_as_older_kunit_py_writes_it() {
        let json = r#"{"name": "s", "sub_groups": [], "test_cases": [
            {"name": "a", "status": "PASS"}, {"name": "", "status": "ERROR"}]}"#;
        let g: Group = serde_json::from_str(json).unwrap();
        let s = g.into_suite();
        assert_eq!(
            s.cases,
            vec![("a".into(), Outcome::Passed), ("".into(), Outcome::NotRun)]
        );
        assert_eq!(s.errors, 0);
    }

    #[test]
    fn the_list_names_suites_and_modules() {
        let l = parse_list("# c\n\na_suite a_mod # why\nlonely\n");
        assert_eq!(
            l,
            [Expected {
                suite: "a_suite".into(),
                module: "a_mod".into()
            }]
        );
        assert!(!expected().unwrap().is_empty());
    }

    #[test]
    fn one_document_per_ktap_version_line() {
        let log = "[ 0.1] boot\n[ 1.0] KTAP version 1\n[ 1.0] 1..1\n[ 1.1]     KTAP version 1\n\
                   [ 2.0] KTAP version 1\n[ 2.0] 1..1\n";
        let d = documents(log);
        assert_eq!(d.len(), 2);
        assert!(d[0].contains("    KTAP version 1") && d[1].starts_with("[ 2.0]"));
    }

    /// A crash in the middle of a suite: the case that crashed and the ones its plan announced
    /// but never reported are not counted as passed.
    #[test]
    fn a_crash_leaves_the_planned_cases_not_run() {
        let tree = crate::kernel::tree_dir(crate::kernel::base("7.3").unwrap());
        if !parser(&tree).exists() {
            eprintln!("no kernel tree with kunit.py: skipped");
            return;
        }
        let log = "[ 1.0] KTAP version 1\n[ 1.0] 1..1\n[ 1.0]     KTAP version 1\n\
                   [ 1.0]     # Subtest: s\n[ 1.0]     1..3\n[ 1.0]     ok 1 a\n\
                   [ 1.1]     not ok 2 b\n[ 1.2] BUG: kernel NULL pointer dereference\n";
        let s = parse(&tree, log).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "s");
        assert_eq!(
            s[0].cases[..2],
            [("a".into(), Outcome::Passed), ("b".into(), Outcome::Failed)]
        );
        assert_eq!(s[0].cases.len(), 3, "{:?}", s[0].cases);
        assert_eq!(s[0].cases[2].1, Outcome::NotRun);
        assert!(s[0].errors > 0);
    }

    /// A modular kernel prints one KTAP document per module: both suites are read.
    #[test]
    fn each_module_document_is_read() {
        let tree = crate::kernel::tree_dir(crate::kernel::base("7.3").unwrap());
        if !parser(&tree).exists() {
            eprintln!("no kernel tree with kunit.py: skipped");
            return;
        }
        let doc = |t: &str, s: &str, r: &str| {
            format!("[ {t}] KTAP version 1\n[ {t}] 1..1\n[ {t}]     KTAP version 1\n[ {t}]     # Subtest: {s}\n[ {t}]     1..1\n[ {t}]     {r} 1 c\n[ {t}] {r} 1 {s}\n")
        };
        let log = format!(
            "{}[ 1.5] vkms: loaded\n{}",
            doc("1.0", "a", "ok"),
            doc("2.0", "b", "not ok")
        );
        let s = parse(&tree, &log).unwrap();
        let got: Vec<(&str, Outcome)> = s.iter().map(|x| (x.name.as_str(), x.cases[0].1)).collect();
        assert_eq!(got, [("a", Outcome::Passed), ("b", Outcome::Failed)]);
    }
}
