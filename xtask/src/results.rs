//! Turning what the tests printed into one summary: libtest blocks, KUnit's KTAP, checks. Every
//! count comes from a typed row (passed, failed, skipped, did not run); details say why.

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
    /// Expected, but it never ran (a KUnit suite missing from the log, a module that did not
    /// load, a test binary that never started): counted as failed.
    NotRun,
}

/// One row of the summary: a group of tests and how many ended which way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub not_run: u32,
}

impl Row {
    pub fn new(label: impl Into<String>) -> Self {
        Row {
            label: label.into(),
            ..Row::default()
        }
    }

    pub fn counts(label: impl Into<String>, passed: u32, failed: u32, skipped: u32) -> Self {
        Row {
            passed,
            failed,
            skipped,
            ..Row::new(label)
        }
    }

    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::NotRun => self.not_run += 1,
        }
    }

    /// What the closing line counts as failed: failed and did not run.
    pub fn failures(&self) -> u32 {
        self.failed + self.not_run
    }
}

/// Every count of the closing line comes from a typed [`Row`]; `details` only say why a row
/// failed and are never counted by themselves, so nothing is counted twice or dropped.
#[derive(Default)]
pub struct Summary {
    pub rows: Vec<Row>,
    pub details: Vec<String>,
}

/// `test result: ok. 3 passed; 0 failed; 1 ignored; ...` → (passed, failed, ignored).
pub fn parse_libtest(text: &str) -> Option<(u32, u32, u32)> {
    let mut found = None;
    for l in text.lines() {
        let Some(rest) = l.trim().strip_prefix("test result: ") else {
            continue;
        };
        let num = |word: &str| -> Option<u32> {
            rest.split(';').find_map(|part| {
                let part = part
                    .trim()
                    .trim_start_matches("ok. ")
                    .trim_start_matches("FAILED. ");
                part.strip_suffix(word).and_then(|n| n.trim().parse().ok())
            })
        };
        let (p, f, i) = (num("passed")?, num("failed")?, num("ignored")?);
        let (pp, ff, ii) = found.unwrap_or((0, 0, 0));
        found = Some((pp + p, ff + f, ii + i));
    }
    found
}

/// A KUnit suite the series adds and the cases it must report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KunitSuite {
    pub name: String,
    pub cases: Vec<String>,
}

/// The KUnit suites that `patches` (the text of each patch) add, with their cases, read from the
/// added lines of each file: `static struct kunit_case ARR[] = { KUNIT_CASE(a), ... };` and
/// `static struct kunit_suite S = { .name = "N", .test_cases = ARR, ... };`. The series' test
/// files are new files, so their added lines are the whole file.
pub fn kunit_suites_in_patches(patches: &[String]) -> Vec<KunitSuite> {
    // Added lines per file, over the whole series.
    let mut files: Vec<(String, Vec<String>)> = vec![];
    for text in patches {
        let mut current: Option<usize> = None;
        for l in text.lines() {
            if let Some(f) = l.strip_prefix("+++ b/") {
                current = Some(match files.iter().position(|(n, _)| n == f) {
                    Some(i) => i,
                    None => {
                        files.push((f.to_string(), vec![]));
                        files.len() - 1
                    }
                });
            } else if l.starts_with("diff --git ") || l.starts_with("+++ ") {
                current = None;
            } else if let (Some(i), Some(added)) = (current, l.strip_prefix('+')) {
                files[i].1.push(added.to_string());
            }
        }
    }
    let mut suites = vec![];
    for (_, lines) in &files {
        let mut arrays: Vec<(String, Vec<String>)> = vec![];
        // (suite name, array name) of the suites of this file.
        let mut defs: Vec<(String, String)> = vec![];
        enum In {
            Nothing,
            Cases,
            Suite(Option<String>, Option<String>),
        }
        let mut state = In::Nothing;
        for l in lines {
            let t = l.trim();
            if let In::Nothing = state {
                if let Some(rest) = t.split("struct kunit_case ").nth(1) {
                    if let Some(name) = rest.split('[').next().filter(|_| rest.contains("[]")) {
                        arrays.push((name.trim().to_string(), vec![]));
                        state = In::Cases;
                    }
                } else if t.contains("struct kunit_suite ") && t.ends_with('{') {
                    state = In::Suite(None, None);
                }
                continue;
            }
            let end = t.starts_with("};");
            match &mut state {
                In::Cases => {
                    // KUNIT_CASE(x), KUNIT_CASE_SLOW(x), KUNIT_CASE_PARAM(x, gen), ...
                    if let Some(rest) = t.strip_prefix("KUNIT_CASE") {
                        if let Some(args) = rest.split_once('(').map(|x| x.1) {
                            let name = args.split([',', ')']).next().unwrap_or("").trim();
                            if !name.is_empty() {
                                arrays.last_mut().unwrap().1.push(name.to_string());
                            }
                        }
                    }
                }
                In::Suite(name, array) => {
                    let field = |f: &str| {
                        t.strip_prefix(f)
                            .map(|v| {
                                v.trim()
                                    .trim_start_matches('=')
                                    .trim()
                                    .trim_end_matches(',')
                            })
                            .map(|v| v.trim().trim_matches('"').to_string())
                    };
                    if let Some(v) = field(".name") {
                        *name = Some(v);
                    } else if let Some(v) = field(".test_cases") {
                        *array = Some(v);
                    }
                    if end {
                        if let (Some(n), Some(a)) = (name.take(), array.take()) {
                            defs.push((n, a));
                        }
                    }
                }
                In::Nothing => {}
            }
            if end {
                state = In::Nothing;
            }
        }
        for (name, array) in defs {
            let cases = arrays
                .iter()
                .find(|(a, _)| *a == array)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            suites.push(KunitSuite { name, cases });
        }
    }
    suites
}

/// One KUnit test case as the kernel log reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KunitCase {
    pub suite: String,
    pub name: String,
    pub outcome: Outcome,
    /// The suite's indented lines since the previous result (a failure's expectations).
    pub log: Vec<String>,
}

/// KUnit test cases of the given suites in a kernel log, and the suites that started.
pub fn parse_kunit(dmesg: &str, suites: &[&str]) -> (Vec<KunitCase>, Vec<String>) {
    let mut cases = vec![];
    let mut seen = vec![];
    let mut suite = String::new();
    let mut log: Vec<String> = vec![];
    for raw in dmesg.lines() {
        // Drop the printk time stamp, "[    1.234567] ".
        let l = match raw.find("] ") {
            Some(i) if raw.starts_with('[') => &raw[i + 2..],
            _ => raw,
        };
        if let Some(name) = l.trim().strip_prefix("# Subtest: ") {
            suite = name.trim().to_string();
            log.clear();
            if suites.contains(&suite.as_str()) {
                seen.push(suite.clone());
            }
            continue;
        }
        // The suite's own result line (not indented) ends it.
        if l.starts_with("ok ") || l.starts_with("not ok ") {
            suite.clear();
            continue;
        }
        if !suites.contains(&suite.as_str()) || !l.starts_with("    ") {
            continue;
        }
        let t = l.trim();
        // A case's result is indented exactly once (deeper: a parameter's result, or a log line).
        let result = if l.starts_with("     ") {
            None
        } else {
            t.strip_prefix("ok ")
                .map(|r| (true, r))
                .or_else(|| t.strip_prefix("not ok ").map(|r| (false, r)))
        };
        let Some((ok, rest)) = result else {
            if log.len() < 12 && !t.starts_with("KTAP version") && !t.starts_with("1..") {
                log.push(t.to_string());
            }
            continue;
        };
        let rest = rest.split_once(' ').map_or("", |x| x.1);
        let outcome = if rest.contains("# SKIP") {
            Outcome::Skipped
        } else if ok {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        let name = rest.split(" #").next().unwrap_or(rest).trim();
        cases.push(KunitCase {
            suite: suite.clone(),
            name: name.to_string(),
            outcome,
            log: std::mem::take(&mut log),
        });
    }
    (cases, seen)
}

impl Summary {
    pub fn row(&mut self, r: Row) {
        self.rows.push(r);
    }

    pub fn counts(&mut self, label: impl Into<String>, passed: u32, failed: u32, skipped: u32) {
        self.rows.push(Row::counts(label, passed, failed, skipped));
    }

    /// A row of one test that passed or failed.
    pub fn check(&mut self, label: impl Into<String>, ok: bool) {
        self.counts(label, u32::from(ok), u32::from(!ok), 0);
    }

    /// A row of one failed test, and why.
    pub fn fail(&mut self, label: impl Into<String>, why: impl Into<String>) {
        self.check(label, false);
        self.detail(why);
    }

    /// A row of one test that never ran (counted as failed), and why.
    pub fn not_run(&mut self, label: impl Into<String>, why: impl Into<String>) {
        let mut r = Row::new(label);
        r.add(Outcome::NotRun);
        self.rows.push(r);
        self.detail(why);
    }

    /// Why a row failed. Never counted by itself: the row counts.
    pub fn detail(&mut self, text: impl Into<String>) {
        self.details.push(text.into());
    }

    /// One libtest binary's output; `ok` is its exit status.
    pub fn add_libtest(&mut self, label: &str, text: &str, ok: bool) {
        match parse_libtest(text) {
            Some((p, f, i)) => {
                let mut row = Row::counts(label, p, f, i);
                if !ok && f == 0 {
                    // Exited with failure after the tests (a panic in a destructor, a signal):
                    // that is a failure of its own.
                    row.failed += 1;
                    self.detail(format!(
                        "{label}: exited with failure but reported no failed test"
                    ));
                }
                self.rows.push(row);
                for l in text
                    .lines()
                    .filter(|l| l.starts_with("test ") && l.ends_with("FAILED"))
                {
                    self.detail(format!("{label}: {l}"));
                }
            }
            None => {
                self.fail(
                    label,
                    format!(
                        "{label}: no libtest result (crashed?):\n{}",
                        crate::util::last_lines(text, 15)
                    ),
                );
            }
        }
    }

    /// A block of the guest's output between XTASK-BEGIN/END markers.
    pub fn add_guest_block(&mut self, label: &str, output: &str) {
        let begin = format!("XTASK-BEGIN {label}\n");
        let end = format!("XTASK-END {label} ");
        let Some(b) = output.find(&begin) else {
            self.not_run(label, format!("{label}: never ran in the guest"));
            return;
        };
        let body = &output[b + begin.len()..];
        let (text, status) = match body.find(&end) {
            Some(e) => (
                &body[..e],
                body[e + end.len()..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            ),
            None => (body, "none".to_string()),
        };
        print!(
            "{}",
            text.lines()
                .filter(|l| l.starts_with("test ") || l.contains("panicked"))
                .fold(String::new(), |a, l| a + "  " + l + "\n")
        );
        self.add_libtest(label, text, status == "0");
    }

    /// The KUnit suites `expected` in a kernel log, one row per suite (`kunit[CONFIG] SUITE`).
    /// Every expected case counts once: passed, failed, skipped, or did not run (a suite that
    /// never started, a case missing from its report). Cases the list does not name count as
    /// they ended.
    pub fn add_kunit(&mut self, config: &str, dmesg: &str, expected: &[KunitSuite]) {
        let names: Vec<&str> = expected.iter().map(|s| s.name.as_str()).collect();
        let (cases, seen) = parse_kunit(dmesg, &names);
        for s in expected {
            let mut row = Row::new(format!("kunit[{config}] {}", s.name));
            if !seen.contains(&s.name) {
                self.detail(format!(
                    "KUnit suite {} did not run in the {config} kernel ({} cases expected; \
                     is it built in or its module loaded, kunit.enable=1?)",
                    s.name,
                    s.cases.len()
                ));
            }
            let ran: Vec<&KunitCase> = cases.iter().filter(|c| c.suite == s.name).collect();
            let print = |name: &str, outcome: Outcome| {
                let word = match outcome {
                    Outcome::Passed => "ok",
                    Outcome::Failed => "FAILED",
                    Outcome::Skipped => "SKIP",
                    Outcome::NotRun => "DID NOT RUN",
                };
                println!("  kunit[{config}] {}.{name} ... {word}", s.name);
            };
            for case in &s.cases {
                match ran.iter().find(|c| &c.name == case) {
                    Some(c) => {
                        print(case, c.outcome);
                        row.add(c.outcome);
                        if c.outcome == Outcome::Failed {
                            self.details.push(format!(
                                "KUnit[{config}] {}.{case} failed:\n{}",
                                s.name,
                                c.log.join("\n")
                            ));
                        }
                    }
                    None => {
                        print(case, Outcome::NotRun);
                        row.add(Outcome::NotRun);
                        if seen.contains(&s.name) {
                            self.details
                                .push(format!("KUnit[{config}] {}.{case} did not run", s.name));
                        }
                    }
                }
            }
            for c in ran.iter().filter(|c| !s.cases.contains(&c.name)) {
                print(&c.name, c.outcome);
                row.add(c.outcome);
                if c.outcome == Outcome::Failed {
                    self.details.push(format!(
                        "KUnit[{config}] {}.{} failed:\n{}",
                        s.name,
                        c.name,
                        c.log.join("\n")
                    ));
                }
            }
            // A suite with no known case that never ran still is one thing that did not run.
            if row.passed + row.failed + row.skipped + row.not_run == 0 {
                row.add(Outcome::NotRun);
            }
            self.rows.push(row);
        }
    }

    /// (passed, failed, skipped) over all rows; did-not-run counts as failed.
    pub fn totals(&self) -> (u32, u32, u32) {
        self.rows.iter().fold((0, 0, 0), |(p, f, s), r| {
            (p + r.passed, f + r.failures(), s + r.skipped)
        })
    }

    /// True when something passed and nothing failed or went missing.
    pub fn ok(&self) -> bool {
        let (p, f, _) = self.totals();
        f == 0 && p > 0
    }

    /// The table, the details and the closing line.
    pub fn render(&self) -> String {
        let mut out = String::from("\n");
        out.push_str(&format!(
            "{:<62} {:>7} {:>7} {:>8} {:>8}\n",
            "group", "passed", "failed", "skipped", "not run"
        ));
        for r in &self.rows {
            if r.passed + r.failed + r.skipped + r.not_run == 0 {
                continue; // a test binary without tests (a crate's empty unit-test harness)
            }
            out.push_str(&format!(
                "{:<62} {:>7} {:>7} {:>8} {:>8}\n",
                r.label, r.passed, r.failed, r.skipped, r.not_run
            ));
        }
        for d in &self.details {
            out.push_str(&format!("PROBLEM: {d}\n"));
        }
        let (p, f, s) = self.totals();
        out.push_str(&format!("\ntotal: {p} passed, {f} failed, {s} skipped\n"));
        out
    }

    /// Prints the table and the closing line; true when everything passed.
    pub fn report(&self) -> bool {
        print!("{}", self.render());
        self.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_counts() {
        let t = "running 2 tests\ntest a ... ok\ntest b ... FAILED\n\ntest result: FAILED. 1 passed; 1 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
        assert_eq!(parse_libtest(t), Some((1, 1, 3)));
        assert_eq!(parse_libtest("nothing"), None);
    }

    #[test]
    fn kunit_cases() {
        let log = "[    1.0] KTAP version 1\n[    1.1]     # Subtest: drm_file_same\n[    1.2]     ok 1 drm_test_a\n[    1.25]     # drm_test_b: EXPECTATION FAILED at x.c:3\n[    1.3]     not ok 2 drm_test_b\n[    1.4]     ok 3 drm_test_c # SKIP no\n[    1.5] ok 1 drm_file_same\n[    1.55]     ok 9 stray\n[    1.6]     # Subtest: other\n[    1.7]     ok 1 x\n";
        let (cases, seen) = parse_kunit(log, &["drm_file_same"]);
        assert_eq!(seen, vec!["drm_file_same".to_string()]);
        let got: Vec<(&str, &str, Outcome)> = cases
            .iter()
            .map(|c| (c.suite.as_str(), c.name.as_str(), c.outcome))
            .collect();
        assert_eq!(
            got,
            vec![
                ("drm_file_same", "drm_test_a", Outcome::Passed),
                ("drm_file_same", "drm_test_b", Outcome::Failed),
                ("drm_file_same", "drm_test_c", Outcome::Skipped),
            ]
        );
        assert_eq!(cases[1].log, ["# drm_test_b: EXPECTATION FAILED at x.c:3"]);
    }

    fn suites() -> Vec<KunitSuite> {
        vec![
            KunitSuite {
                name: "drm_file_same".into(),
                cases: vec!["a".into(), "b".into(), "c".into()],
            },
            KunitSuite {
                name: "dma-buf-same".into(),
                cases: vec!["x".into(), "y".into()],
            },
        ]
    }

    const DRM_OK: &str = "[    1.1]     # Subtest: drm_file_same\n[    1.2]     ok 1 a\n[    1.3]     ok 2 b\n[    1.4]     ok 3 c\n[    1.5] ok 1 drm_file_same\n";
    const DMABUF_OK: &str = "[    2.1]     # Subtest: dma-buf-same\n[    2.2]     ok 1 x\n[    2.3]     ok 2 y\n[    2.4] ok 2 dma-buf-same\n";

    fn closing_line(s: &Summary) -> String {
        s.render().lines().last().unwrap_or("").to_string()
    }

    #[test]
    fn kunit_all_pass() {
        let mut s = Summary::default();
        s.add_kunit("builtin", &format!("{DRM_OK}{DMABUF_OK}"), &suites());
        assert_eq!(closing_line(&s), "total: 5 passed, 0 failed, 0 skipped");
        assert!(s.ok());
        assert_eq!(s.rows[0].label, "kunit[builtin] drm_file_same");
    }

    #[test]
    fn kunit_missing_suite_fails_the_run() {
        let mut s = Summary::default();
        s.add_kunit("modules", DRM_OK, &suites());
        // Every case of the suite that never ran counts as failed (did not run).
        assert_eq!(closing_line(&s), "total: 3 passed, 2 failed, 0 skipped");
        assert_eq!(s.rows[1].not_run, 2);
        assert!(!s.ok());
        assert!(s.details[0].contains("dma-buf-same did not run"));
        // ... and an empty log fails too, it never reads clean.
        let mut s = Summary::default();
        s.add_kunit("modules", "", &suites());
        assert_eq!(closing_line(&s), "total: 0 passed, 5 failed, 0 skipped");
        assert!(!s.ok());
    }

    #[test]
    fn kunit_failed_skipped_and_missing_cases() {
        let log = "[    1.1]     # Subtest: drm_file_same\n[    1.2]     ok 1 a\n[    1.25]     # b: EXPECTATION FAILED at t.c:9\n[    1.3]     not ok 2 b\n[    1.5] not ok 1 drm_file_same\n";
        let skip = "[    2.1]     # Subtest: dma-buf-same\n[    2.2]     ok 1 x # SKIP no udmabuf\n[    2.3]     ok 2 y\n[    2.4] ok 2 dma-buf-same\n";
        let mut s = Summary::default();
        s.add_kunit("builtin", &format!("{log}{skip}"), &suites());
        // a passed, b failed, c missing from the report (did not run); x skipped (not passed).
        assert_eq!(
            s.rows[0],
            Row {
                label: "kunit[builtin] drm_file_same".into(),
                passed: 1,
                failed: 1,
                skipped: 0,
                not_run: 1
            }
        );
        assert_eq!(closing_line(&s), "total: 2 passed, 2 failed, 1 skipped");
        assert!(!s.ok());
        assert!(s
            .details
            .iter()
            .any(|d| d.contains("drm_file_same.b failed")
                && d.contains("EXPECTATION FAILED at t.c:9")));
        assert!(s
            .details
            .iter()
            .any(|d| d.contains("drm_file_same.c did not run")));
    }

    #[test]
    fn a_failure_and_its_details_count_once() {
        let mut s = Summary::default();
        s.fail("check checkpatch --strict 0001", "first finding");
        s.detail("second finding of the same check");
        s.check("check kernel-doc", true);
        assert_eq!(closing_line(&s), "total: 1 passed, 1 failed, 0 skipped");
        assert!(!s.ok());
        // A test binary that exits with failure without a failed test is one failure.
        let mut s = Summary::default();
        s.add_libtest(
            "host x",
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
            false,
        );
        assert_eq!(closing_line(&s), "total: 2 passed, 1 failed, 0 skipped");
        // Nothing at all is not a pass.
        assert!(!Summary::default().ok());
    }

    #[test]
    fn guest_block_that_never_ran_is_a_failure() {
        let mut s = Summary::default();
        s.add_guest_block("guest[modules] rust-tests::a", "XTASK-BEGIN other\n");
        assert_eq!(s.rows[0].not_run, 1);
        assert_eq!(closing_line(&s), "total: 0 passed, 1 failed, 0 skipped");
    }

    #[test]
    fn kunit_suites_from_patches() {
        let patch = "diff --git a/t/Makefile b/t/Makefile\n--- a/t/Makefile\n+++ b/t/Makefile\n+\tx_test.o \\\n\
                     diff --git a/t/x_test.c b/t/x_test.c\n--- /dev/null\n+++ b/t/x_test.c\n\
                     +static struct kunit_case x_cases[] = {\n+\tKUNIT_CASE(test_a),\n+\tKUNIT_CASE_SLOW(test_b),\n\
                     +\tKUNIT_CASE_PARAM(test_c, gen_params),\n+\t{}\n+};\n+\n\
                     +static struct kunit_suite x_suite = {\n+\t.name = \"x-suite\",\n+\t.init = x_init,\n\
                     +\t.test_cases = x_cases,\n+};\n+kunit_test_suite(x_suite);\n";
        assert_eq!(
            kunit_suites_in_patches(&[patch.to_string()]),
            vec![KunitSuite {
                name: "x-suite".into(),
                cases: vec!["test_a".into(), "test_b".into(), "test_c".into()],
            }]
        );
    }

    /// The mainline series' suites: what `cargo xtask test` expects in the kernel log. Update the
    /// numbers when a patch of linux/patches adds or drops a case.
    #[test]
    fn kunit_suites_of_the_series() {
        let dir = crate::util::root().join("linux/patches");
        let texts: Vec<String> = crate::util::sorted_files(&dir, "patch")
            .unwrap()
            .iter()
            .map(|p| crate::util::read(p).unwrap())
            .collect();
        let got: Vec<(String, usize)> = kunit_suites_in_patches(&texts)
            .into_iter()
            .map(|s| (s.name, s.cases.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("drm_file_same".to_string(), 12),
                ("dma-buf-same".to_string(), 7)
            ]
        );
    }
}
