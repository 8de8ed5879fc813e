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

    /// The KUnit suites kunit.py read from one kernel's log, one row per suite
    /// (`kunit[CONFIG] SUITE`): every case counts once as it ended (a case its plan announced
    /// but that never reported, or that crashed, as did not run); a suite of `expected` that is
    /// not in the log counts as one test that did not run; kunit.py's errors with no failed
    /// case as one failure.
    pub fn add_kunit(&mut self, config: &str, suites: &[crate::kunit::Suite], expected: &[String]) {
        for name in expected
            .iter()
            .filter(|e| !suites.iter().any(|s| &s.name == *e))
        {
            let seen: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
            println!("  kunit[{config}] {name} ... DID NOT RUN");
            self.not_run(
                format!("kunit[{config}] {name}"),
                format!(
                    "KUnit suite {name} (linux/kunit-suites.txt) did not run in the {config} \
                     kernel (suites in its log: {seen:?}; built in, its module loaded, \
                     kunit.enable=1, or renamed in linux/patches?)"
                ),
            );
        }
        for s in suites {
            self.add_kunit_suite(config, s);
        }
    }

    fn add_kunit_suite(&mut self, config: &str, s: &crate::kunit::Suite) {
        let mut row = Row::new(format!("kunit[{config}] {}", s.name));
        for (case, outcome) in &s.cases {
            let word = match outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "SKIP",
                Outcome::NotRun => "DID NOT RUN (missing from its plan, or crashed)",
            };
            println!("  kunit[{config}] {}.{case} ... {word}", s.name);
            row.add(*outcome);
            if *outcome != Outcome::Passed && *outcome != Outcome::Skipped {
                self.detail(format!(
                    "KUnit[{config}] {}.{case}: {word} (its lines are in the kernel log)",
                    s.name
                ));
            }
        }
        if s.errors > 0 && row.failures() == 0 || s.cases.is_empty() {
            row.add(Outcome::Failed);
            self.detail(format!(
                "KUnit[{config}] {}: kunit.py found {} errors in its KTAP (or no case)",
                s.name, s.errors
            ));
        }
        self.rows.push(row);
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

    use crate::kunit::Suite;

    fn suite(name: &str, cases: &[(&str, Outcome)], errors: u32) -> Suite {
        Suite {
            name: name.into(),
            cases: cases.iter().map(|(c, o)| (c.to_string(), *o)).collect(),
            errors,
        }
    }

    fn expected() -> Vec<String> {
        vec!["drm_file_same".into(), "dma-buf-same".into()]
    }

    fn drm_ok() -> Suite {
        use Outcome::*;
        suite(
            "drm_file_same",
            &[("a", Passed), ("b", Passed), ("c", Passed)],
            0,
        )
    }

    fn dmabuf_ok() -> Suite {
        suite(
            "dma-buf-same",
            &[("x", Outcome::Passed), ("y", Outcome::Passed)],
            0,
        )
    }

    fn closing_line(s: &Summary) -> String {
        s.render().lines().last().unwrap_or("").to_string()
    }

    #[test]
    fn kunit_all_pass() {
        let mut s = Summary::default();
        s.add_kunit("builtin", &[drm_ok(), dmabuf_ok()], &expected());
        assert_eq!(closing_line(&s), "total: 5 passed, 0 failed, 0 skipped");
        assert!(s.ok());
        assert_eq!(s.rows[0].label, "kunit[builtin] drm_file_same");
    }

    #[test]
    fn kunit_missing_suite_fails_the_run() {
        let mut s = Summary::default();
        s.add_kunit("modules", &[drm_ok()], &expected());
        assert_eq!(closing_line(&s), "total: 3 passed, 1 failed, 0 skipped");
        assert_eq!(s.rows[0].not_run, 1);
        assert!(!s.ok());
        assert!(s.details[0].contains("dma-buf-same (linux/kunit-suites.txt) did not run"));
        // ... and an empty log fails too, it never reads clean.
        let mut s = Summary::default();
        s.add_kunit("modules", &[], &expected());
        assert_eq!(closing_line(&s), "total: 0 passed, 2 failed, 0 skipped");
        assert!(!s.ok());
    }

    #[test]
    fn kunit_failed_skipped_crashed_and_broken_suites() {
        use Outcome::*;
        let drm = suite(
            "drm_file_same",
            &[("a", Passed), ("b", Failed), ("", NotRun)],
            2,
        );
        let dmabuf = suite("dma-buf-same", &[("x", Skipped), ("y", Passed)], 0);
        let mut s = Summary::default();
        s.add_kunit("builtin", &[drm, dmabuf], &expected());
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
        assert!(s
            .details
            .iter()
            .any(|d| d.contains("drm_file_same.b: FAILED")));
        // kunit.py's errors with every case passed, and a suite with no case: failures.
        let mut s = Summary::default();
        let broken = suite("drm_file_same", &[("a", Passed)], 1);
        s.add_kunit(
            "builtin",
            &[broken, suite("dma-buf-same", &[], 0)],
            &expected(),
        );
        assert_eq!(closing_line(&s), "total: 1 passed, 2 failed, 0 skipped");
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
}
