//! Turning what the tests printed into one summary: libtest blocks, KUnit's KTAP, problems.

/// The value of the first `"key":"value"` string field in a JSON line (enough for cargo's
/// messages; escapes other than \" and \\ do not occur in paths and target names).
pub fn json_string_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = line.find(&pat)? + pat.len();
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

#[derive(Default)]
pub struct Summary {
    pub rows: Vec<(String, u32, u32, u32)>,
    pub problems: Vec<String>,
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

/// KUnit test cases of the given suites in a kernel log: (name, passed?, skipped?).
pub fn parse_kunit(dmesg: &str, suites: &[&str]) -> (Vec<(String, bool, bool)>, Vec<String>) {
    let mut cases = vec![];
    let mut seen = vec![];
    let mut suite = String::new();
    for raw in dmesg.lines() {
        // Drop the printk time stamp, "[    1.234567] ".
        let l = match raw.find("] ") {
            Some(i) if raw.starts_with('[') => &raw[i + 2..],
            _ => raw,
        };
        if let Some(name) = l.trim().strip_prefix("# Subtest: ") {
            suite = name.trim().to_string();
            if suites.contains(&suite.as_str()) {
                seen.push(suite.clone());
            }
            continue;
        }
        if !suites.contains(&suite.as_str()) || !l.starts_with("    ") || l.starts_with("     ") {
            continue;
        }
        let t = l.trim();
        let (ok, rest) = if let Some(r) = t.strip_prefix("ok ") {
            (true, r)
        } else if let Some(r) = t.strip_prefix("not ok ") {
            (false, r)
        } else {
            continue;
        };
        let rest = rest.split_once(' ').map_or("", |x| x.1);
        let skip = rest.contains("# SKIP");
        let name = rest.split(" #").next().unwrap_or(rest).trim();
        cases.push((format!("{suite}.{name}"), ok, skip));
    }
    (cases, seen)
}

impl Summary {
    pub fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    /// One libtest binary's output; `ok` is its exit status.
    pub fn add_libtest(&mut self, label: &str, text: &str, ok: bool) {
        match parse_libtest(text) {
            Some((p, f, i)) => {
                self.rows.push((label.to_string(), p, f, i));
                if !ok && f == 0 {
                    self.problem(format!(
                        "{label}: exited with failure but reported no failed test"
                    ));
                }
                for l in text
                    .lines()
                    .filter(|l| l.starts_with("test ") && l.ends_with("FAILED"))
                {
                    self.problem(format!("{label}: {l}"));
                }
            }
            None => {
                self.rows.push((label.to_string(), 0, 1, 0));
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                self.problem(format!(
                    "{label}: no libtest result (crashed?):\n{}",
                    tail.join("\n")
                ));
            }
        }
    }

    /// A block of the guest's output between XTASK-BEGIN/END markers.
    pub fn add_guest_block(&mut self, label: &str, output: &str) {
        let begin = format!("XTASK-BEGIN {label}\n");
        let end = format!("XTASK-END {label} ");
        let Some(b) = output.find(&begin) else {
            self.rows.push((label.to_string(), 0, 1, 0));
            self.problem(format!("{label}: never ran in the guest"));
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

    pub fn add_kunit(&mut self, dmesg: &str, suites: &[&str]) {
        let (cases, seen) = parse_kunit(dmesg, suites);
        for s in suites {
            if !seen.iter().any(|x| x == s) {
                self.problem(format!(
                    "KUnit suite {s} did not run (is it built in, kunit.enable=1?)"
                ));
            }
        }
        let (mut p, mut f, mut k) = (0, 0, 0);
        for (name, ok, skip) in &cases {
            println!(
                "  kunit {name} ... {}",
                if *skip {
                    "SKIP"
                } else if *ok {
                    "ok"
                } else {
                    "FAILED"
                }
            );
            match (ok, skip) {
                (_, true) => k += 1,
                (true, false) => p += 1,
                (false, false) => {
                    f += 1;
                    self.problem(format!("KUnit {name} failed"));
                }
            }
        }
        self.rows
            .push((format!("guest kunit ({})", suites.join(", ")), p, f, k));
    }

    /// Prints the table and the closing line; true when everything passed.
    pub fn report(&self) -> bool {
        println!();
        println!(
            "{:<58} {:>7} {:>7} {:>8}",
            "group", "passed", "failed", "skipped"
        );
        let (mut p, mut f, mut s) = (0, 0, 0);
        for (label, pp, ff, ss) in &self.rows {
            if pp + ff + ss == 0 {
                continue; // a test binary without tests (a crate's empty unit-test harness)
            }
            println!("{label:<58} {pp:>7} {ff:>7} {ss:>8}");
            p += pp;
            f += ff;
            s += ss;
        }
        for pr in &self.problems {
            println!("PROBLEM: {pr}");
        }
        // A problem that is not already a failed test (a kernel warning, a missing node) counts
        // as one failure, so the closing line never reads clean when the run was not.
        let extra = self
            .problems
            .iter()
            .filter(|p| !p.contains(" FAILED") && !p.starts_with("KUnit "))
            .count() as u32;
        let failed = f + extra;
        println!();
        println!("total: {p} passed, {failed} failed, {s} skipped");
        failed == 0 && p > 0
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
        let log = "[    1.0] KTAP version 1\n[    1.1]     # Subtest: drm_file_same\n[    1.2]     ok 1 drm_test_a\n[    1.3]     not ok 2 drm_test_b\n[    1.4]     ok 3 drm_test_c # SKIP no\n[    1.5] ok 1 drm_file_same\n[    1.6]     # Subtest: other\n[    1.7]     ok 1 x\n";
        let (cases, seen) = parse_kunit(log, &["drm_file_same"]);
        assert_eq!(seen, vec!["drm_file_same".to_string()]);
        assert_eq!(
            cases,
            vec![
                ("drm_file_same.drm_test_a".to_string(), true, false),
                ("drm_file_same.drm_test_b".to_string(), false, false),
                ("drm_file_same.drm_test_c".to_string(), true, true),
            ]
        );
    }

    #[test]
    fn json_field() {
        let l = r#"{"target":{"name":"vm"},"executable":"/a/b\"c"}"#;
        assert_eq!(json_string_field(l, "name").as_deref(), Some("vm"));
        assert_eq!(
            json_string_field(l, "executable").as_deref(),
            Some("/a/b\"c")
        );
        assert_eq!(json_string_field(l, "nope"), None);
    }
}
