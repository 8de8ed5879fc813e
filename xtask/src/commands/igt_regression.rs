//! `cargo xtask igt-regression`: the upstream IGT suite (Debian's packaged igt-gpu-tools in a
//! debootstrapped sid root) on the unpatched base kernel and on the patched one, compared test by
//! test. The series must introduce no new failure.
//!
//! * The sid root: `debootstrap --variant=minbase sid build/igt-sid` from the archive the
//!   system's apt already uses (read from its sources at run time), plus `igt-gpu-tools` and
//!   `igt-gpu-tools-tests` (the test binaries and `igt_runner`). Cached behind a stamp file;
//!   `--refresh` rebuilds it.
//! * The kernels: the unpatched one from a `git worktree` of branch `base`
//!   (`build/linux-source-<B>-unpatched`, objects in `build/kbuild-<B>-unpatched`), the patched
//!   one as `cargo xtask kernel` builds it. Both are built in a child process, under the
//!   machine-wide build lock, which is released before the (long) guest runs; the images are copied to
//!   `build/igt-regression/` so that a later rebuild does not change what is booted.
//! * The test list: `tests/igt/regression.txt`, expanded on the host (`--list-subtests` of each
//!   binary, run in the sid root) into exact `igt@binary@subtest` names.
//! * One boot per kernel: the guest mounts proc, sysfs, debugfs, /dev, a tmpfs /tmp and the run
//!   directory inside the sid root, chroots into it and runs `igt_runner` with a per-test timeout
//!   and an overall budget; `results.json` lands in `build/vm/igt-<kernel>/igt/`.
//! * The verdict: a test that passes, skips or warns unpatched but fails, crashes, times out or
//!   does not run patched is a regression, as is a kernel WARN/BUG (etc.) line seen only on the
//!   patched kernel. The table also goes to `build/igt-regression.md`.

use crate::flags;
use crate::igt::{self, IgtSummary};
use crate::kernel::{self, Flavor};
use crate::util::{self, Result};
use crate::vm;
use anyhow::{anyhow, Context};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The packages the sid root gets on top of minbase: the tools (igt_runner, igt_results) and
/// the test binaries (/usr/libexec/igt-gpu-tools).
const PACKAGES: &[&str] = &["igt-gpu-tools", "igt-gpu-tools-tests"];
/// Bump when the recipe of the sid root changes: a root with another stamp is rebuilt.
const RECIPE: &str = "igt-sid recipe 1";
/// Where the test binaries live in the sid root.
const TEST_ROOT: &str = "/usr/libexec/igt-gpu-tools";
/// The mount point (inside the sid root) of the guest's read-write run directory.
const OUT_MOUNT: &str = "/xtask-out";

/// The command's options, from its flags with their defaults filled in.
struct Opts {
    base: String,
    refresh: bool,
    list: PathBuf,
    budget: u32,
    per_test: u32,
    only: Option<String>,
    no_build: bool,
    build_kernels: bool,
}

impl Opts {
    fn from_flags(f: &flags::IgtRegression) -> Opts {
        Opts {
            base: f.base.base.clone(),
            refresh: f.refresh,
            list: f
                .list
                .clone()
                .unwrap_or_else(|| util::root().join("tests/igt/regression.txt")),
            budget: f.budget,
            per_test: f.per_test_timeout,
            only: f.only.map(|o| o.name().to_string()),
            no_build: f.no_build,
            build_kernels: f.build_kernels,
        }
    }
}

pub fn run(f: &flags::IgtRegression) -> Result<bool> {
    let o = Opts::from_flags(f);
    let b = kernel::base(&o.base)?;
    if o.build_kernels {
        build_kernels(b)?;
        return Ok(true);
    }
    let t0 = Instant::now();
    let mut timings: Vec<(String, f64)> = vec![];

    // 1. The sid root with IGT.
    let t = Instant::now();
    let sid = ensure_root(o.refresh)?;
    timings.push((
        "sid root (debootstrap + apt, or cached)".into(),
        t.elapsed().as_secs_f64(),
    ));
    eprintln!(
        "xtask: {} with igt-gpu-tools {}",
        sid.dir.display(),
        sid.igt_version
    );

    // 2. The test list, expanded into exact names.
    let list = parse_list(&util::read(&o.list)?)?;
    let tests = expand_list(&list, &mut |bin| list_subtests(&sid.dir, bin))?;
    if tests.is_empty() {
        return Err(anyhow!("{} selects no test", o.list.display()));
    }
    eprintln!(
        "xtask: {} selects {} tests ({} excluded entries)",
        o.list.display(),
        tests.len(),
        list.excluded.len()
    );

    // 3. The kernels (in a child process: it takes and then drops the build lock).
    let images = util::build_dir().join("igt-regression");
    if !o.no_build {
        let secs = build_in_child(&o.base)?;
        timings.push(("kernels (unpatched + patched)".into(), secs));
    }

    // 4. One boot per kernel.
    let kinds: Vec<&str> = match &o.only {
        Some(k) => vec![k.as_str()],
        None => vec!["unpatched", "patched"],
    };
    let mut runs: BTreeMap<&str, GuestRun> = BTreeMap::new();
    for kind in &kinds {
        let img = images.join(format!("bzImage-{kind}"));
        if !img.exists() {
            return Err(anyhow!(
                "{} is missing (run without --no-build)",
                img.display()
            ));
        }
        let t = Instant::now();
        let r = run_guest(kind, &img, &sid, &tests, &o)?;
        timings.push((format!("guest, {kind} kernel"), t.elapsed().as_secs_f64()));
        runs.insert(kind, r);
    }
    timings.push(("total".into(), t0.elapsed().as_secs_f64()));

    let mut md = header(&sid, b, &timings);
    match &o.only {
        Some(k) => one_kernel(md, k, &runs[k.as_str()]),
        None => compared(&mut md, &runs, &list.excluded),
    }
}

/// Both kernels, built by a child process (it takes and then drops the build lock); seconds.
fn build_in_child(base: &str) -> Result<f64> {
    let t = Instant::now();
    let exe = std::env::current_exe().context("cannot find the xtask executable")?;
    let args = ["igt-regression", "--build-kernels", "--base", base];
    util::run(Command::new(exe).args(args))?;
    Ok(t.elapsed().as_secs_f64())
}

/// The table's header: IGT's version, the base, the time of each step.
fn header(sid: &SidRoot, b: &kernel::Base, timings: &[(String, f64)]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "igt-gpu-tools {} (Debian sid), base {} {}",
        sid.igt_version, b.package, b.version
    );
    let _ = writeln!(md);
    for (what, secs) in timings {
        let _ = writeln!(md, "* {what}: {}", minutes(*secs));
    }
    let _ = writeln!(md);

    md
}

/// `--only`: one kernel's results, no comparison.
fn one_kernel(mut md: String, k: &str, r: &GuestRun) -> Result<bool> {
    let _ = writeln!(md, "| test | {k} |\n| --- | --- |");
    for (name, res) in &r.summary.tests {
        let _ = writeln!(
            md,
            "| {} | {res} |",
            name.strip_prefix("igt@").unwrap_or(name)
        );
    }
    let _ = writeln!(
        md,
        "\n{k}: {} pass, {} fail, {} skip, {} other; kernel log problems: {}",
        r.summary.pass,
        r.summary.fail,
        r.summary.skip,
        r.summary.other,
        r.problems.len()
    );
    for p in &r.problems {
        let _ = writeln!(md, "    {p}");
    }
    print!("{md}");
    util::write(&util::build_dir().join("igt-regression.md"), &md)?;
    Ok(r.summary.ok())
}

/// Both kernels, compared test by test: a regression or a new kernel-log problem fails.
fn compared(
    md: &mut String,
    runs: &BTreeMap<&str, GuestRun>,
    excluded: &[(String, String)],
) -> Result<bool> {
    let (u, p) = (&runs["unpatched"], &runs["patched"]);
    let cmp = compare(&u.summary, &p.summary);
    let new_problems = new_kernel_problems(&u.problems, &p.problems);
    md.push_str(&render(
        &cmp,
        &u.summary,
        &p.summary,
        &new_problems,
        excluded,
    ));
    print!("{md}");
    util::write(&util::build_dir().join("igt-regression.md"), md)?;
    eprintln!(
        "xtask: table written to {}",
        util::build_dir().join("igt-regression.md").display()
    );
    let failed = cmp.regressions().len() + new_problems.len();
    let passed = cmp.rows.len() - cmp.regressions().len();
    println!("igt-regression: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

fn minutes(secs: f64) -> String {
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else {
        format!("{}:{:02} min", (secs / 60.0) as u64, (secs as u64) % 60)
    }
}

// ---------------------------------------------------------------------------------------------
// The sid root.

struct SidRoot {
    dir: PathBuf,
    igt_version: String,
}

fn sid_dir() -> PathBuf {
    util::build_dir().join("igt-sid")
}

fn chroot(dir: &Path) -> Command {
    let mut c = Command::new("chroot");
    c.arg(dir);
    c.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive");
    c
}

fn installed_version(dir: &Path, package: &str) -> Result<String> {
    let v = util::output(chroot(dir).args(["dpkg-query", "-W", "-f=${Version}", package]))?;
    if v.trim().is_empty() {
        return Err(anyhow!("{package} is not installed in {}", dir.display()));
    }
    Ok(v.trim().to_string())
}

/// Builds the sid root when it is missing, its stamp is stale, or `refresh` is set.
fn ensure_root(refresh: bool) -> Result<SidRoot> {
    let dir = sid_dir();
    let stamp = dir.join(".xtask-igt-stamp");
    if !refresh {
        if let Ok(text) = fs::read_to_string(&stamp) {
            if text.lines().next() == Some(RECIPE) {
                let igt_version = installed_version(&dir, "igt-gpu-tools")?;
                util::mkdir_p(&dir.join(OUT_MOUNT.trim_start_matches('/')))?;
                return Ok(SidRoot { dir, igt_version });
            }
        }
    }
    let tmp = debootstrap_sid()?;
    install_igt(&tmp)?;
    let igt_version = installed_version(&tmp, "igt-gpu-tools")?;
    let tests_version = installed_version(&tmp, "igt-gpu-tools-tests")?;
    // Leave no archive address behind: the sources and the downloaded lists name it.
    util::run(chroot(&tmp).args(["apt-get", "clean"]))?;
    util::run(&mut util::sh(&format!(
        "rm -rf {0}/var/lib/apt/lists/* {0}/etc/apt/sources.list {0}/etc/apt/sources.list.d/*",
        tmp.display()
    )))?;
    util::mkdir_p(&tmp.join(OUT_MOUNT.trim_start_matches('/')))?;
    util::write(
        &tmp.join(".xtask-igt-stamp"),
        &format!("{RECIPE}\nigt-gpu-tools {igt_version}\nigt-gpu-tools-tests {tests_version}\n"),
    )?;
    if dir.exists() {
        util::run(Command::new("rm").arg("-rf").arg(&dir))?;
    }
    util::rename(&tmp, &dir)?;
    Ok(SidRoot { dir, igt_version })
}

/// `debootstrap --variant=minbase sid` into a temporary directory, returned (debootstrap is
/// installed on the host first when missing).
fn debootstrap_sid() -> Result<PathBuf> {
    if !util::which("debootstrap") {
        eprintln!("xtask: installing debootstrap on the host");
        util::run(Command::new("apt-get").args(["install", "-y", "-q", "debootstrap"]))?;
    }
    let archive = kernel::system_archives()?.0;
    let tmp = util::build_dir().join("igt-sid.tmp");
    if tmp.exists() {
        util::run(Command::new("rm").arg("-rf").arg(&tmp))?;
    }
    eprintln!(
        "xtask: debootstrap --variant=minbase sid into {}",
        tmp.display()
    );
    let key = "/usr/share/keyrings/debian-archive-keyring.gpg";
    let (ok, text) = util::capture(
        Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--keyring={key}"), "sid"])
            .arg(&tmp)
            .arg(&archive),
    )?;
    if !ok {
        return Err(anyhow!(
            "debootstrap failed:\n{}",
            util::last_lines(&text, 30)
        ));
    }
    Ok(tmp)
}

/// IGT's packages in the sid root `tmp`, with no service started.
fn install_igt(tmp: &Path) -> Result<()> {
    // No service may start in the chroot; the archive may be a frozen snapshot whose Release
    // has expired (the host's apt is configured the same way).
    util::write(&tmp.join("usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n")?;
    util::run(
        Command::new("chmod")
            .arg("755")
            .arg(tmp.join("usr/sbin/policy-rc.d")),
    )?;
    let apt = ["-q", "-y", "-o", "Acquire::Check-Valid-Until=false"];
    util::run(chroot(tmp).arg("apt-get").args(apt).arg("update"))?;
    eprintln!(
        "xtask: apt-get install {} in the sid root",
        PACKAGES.join(" ")
    );
    let (ok, text) = util::capture(
        chroot(tmp)
            .arg("apt-get")
            .args(apt)
            .args(["install", "--no-install-recommends"])
            .args(PACKAGES),
    )?;
    if !ok {
        return Err(anyhow!(
            "apt-get install in the sid root failed:\n{}",
            util::last_lines(&text, 30)
        ));
    }
    Ok(())
}

/// `binary --list-subtests`, run in the sid root on the host. None when the binary is missing.
fn list_subtests(sid: &Path, bin: &str) -> Result<Option<Vec<String>>> {
    if !sid
        .join(TEST_ROOT.trim_start_matches('/'))
        .join(bin)
        .is_file()
    {
        return Ok(None);
    }
    let (_, text) = util::capture(
        chroot(sid)
            .arg(format!("{TEST_ROOT}/{bin}"))
            .arg("--list-subtests"),
    )?;
    Ok(Some(
        text.lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))
            })
            .map(str::to_string)
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// The test list.

#[derive(Debug, Default, PartialEq)]
struct TestList {
    /// `binary` or `binary@subtest-glob` (`*` matches any run of characters).
    include: Vec<String>,
    /// `(selector, reason)` from `!selector reason` lines.
    excluded: Vec<(String, String)>,
}

fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('@')
        && !s.ends_with('@')
        && s.matches('@').count() <= 1
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,@*".contains(c))
        && !s.split('@').next().unwrap_or("").contains('*')
}

/// Parses the list: `#` starts a comment, a line is a selector, `!selector reason...` excludes.
fn parse_list(text: &str) -> Result<TestList> {
    let mut l = TestList::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (sel, reason) = match line.strip_prefix('!') {
            Some(rest) => {
                let rest = rest.trim_start();
                let (s, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                (s, Some(r.trim()))
            }
            None => (line, None),
        };
        let sel = sel.strip_prefix("igt@").unwrap_or(sel);
        if !valid_selector(sel) {
            return Err(anyhow!("test list line {}: bad selector `{sel}`", n + 1));
        }
        match reason {
            Some("") => return Err(anyhow!("test list line {}: `!{sel}` needs a reason", n + 1)),
            Some(r) => l.excluded.push((sel.to_string(), r.to_string())),
            None if line.split_whitespace().count() > 1 => {
                return Err(anyhow!("test list line {}: one selector per line", n + 1))
            }
            None => l.include.push(sel.to_string()),
        }
    }
    Ok(l)
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == s[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

/// Does the selector (`binary` or `binary@glob`) match `binary@subtest` (or a subtest-less
/// `binary`)?
fn selects(selector: &str, bin: &str, sub: Option<&str>) -> bool {
    match selector.split_once('@') {
        None => selector == bin,
        Some((b, pat)) => b == bin && sub.is_some_and(|s| glob(pat, s)),
    }
}

/// Expands the selectors into exact `igt@binary[@subtest]` names, in list order, without
/// duplicates, minus the excluded ones. `subtests(bin)` gives a binary's subtests (an empty list
/// for a binary without subtests) or None when the binary does not exist.
fn expand_list(
    l: &TestList,
    subtests: &mut dyn FnMut(&str) -> Result<Option<Vec<String>>>,
) -> Result<Vec<String>> {
    let mut cache: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    let mut out: Vec<String> = vec![];
    for sel in &l.include {
        let bin = sel.split('@').next().unwrap_or(sel);
        if !cache.contains_key(bin) {
            cache.insert(bin.to_string(), subtests(bin)?);
        }
        let Some(subs) = &cache[bin] else {
            return Err(anyhow!(
                "test list: no IGT test binary `{bin}` in the installed igt-gpu-tools-tests"
            ));
        };
        let excluded = |s: Option<&str>| l.excluded.iter().any(|(x, _)| selects(x, bin, s));
        let before = out.len();
        if subs.is_empty() {
            if !sel.contains('@') && !excluded(None) {
                out.push(format!("igt@{bin}"));
            }
        } else {
            for s in subs {
                let name = format!("igt@{bin}@{s}");
                if selects(sel, bin, Some(s)) && !excluded(Some(s)) && !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        if out.len() == before
            && !l
                .excluded
                .iter()
                .any(|(x, _)| x.split('@').next() == Some(bin))
        {
            eprintln!(
                "xtask: warning: test list entry `{sel}` selects nothing (renamed in this IGT?)"
            );
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The kernels and the guest.

/// Runs in a child process (so that nothing of the build outlives it): builds the patched kernel
/// and the unpatched one (each under the build lock), and copies both images.
fn build_kernels(b: &'static kernel::Base) -> Result<()> {
    let patched = kernel::build(b, Flavor::Vm)?;
    let unpatched = kernel::build_unpatched(b, Flavor::Vm)?;
    let out = util::build_dir().join("igt-regression");
    util::mkdir_p(&out)?;
    util::copy(&patched, &out.join("bzImage-patched"))?;
    util::copy(&unpatched, &out.join("bzImage-unpatched"))?;
    Ok(())
}

struct GuestRun {
    summary: IgtSummary,
    /// The kernel-log problem lines (vm::kernel_problems).
    problems: Vec<String>,
}

/// The guest's call of `xtask/guest/igt-regression.sh`: igt_runner in the sid root.
fn guest_call(sid: &Path, out: &Path, o: &Opts) -> String {
    let hard = o.budget + o.per_test + 120;
    let script = util::root().join("xtask/guest/igt-regression.sh");
    let words = [
        script.to_string_lossy().into_owned(),
        sid.to_string_lossy().into_owned(),
        out.to_string_lossy().into_owned(),
        OUT_MOUNT.into(),
        TEST_ROOT.into(),
        hard.to_string(),
        o.per_test.to_string(),
        o.budget.to_string(),
    ];
    format!("sh {}", vm::call(&words))
}

fn run_guest(
    kind: &str,
    img: &Path,
    sid: &SidRoot,
    tests: &[String],
    o: &Opts,
) -> Result<GuestRun> {
    let name = format!("igt-{kind}");
    // vm::run recreates the run directory; the test list goes in through the script.
    let dir = util::build_dir().join("vm").join(&name);
    let list: String = tests.iter().map(|t| format!("{t}\n")).collect();
    let script = format!(
        "mkdir -p {d} && cat > {d}/selected.testlist <<'XTASK_EOF'\n{list}XTASK_EOF\n{}",
        guest_call(&sid.dir, &dir, o),
        d = dir.display()
    );
    eprintln!(
        "xtask: booting the {kind} kernel: {} tests, budget {} s",
        tests.len(),
        o.budget
    );
    let r = vm::run(
        &vm::VmOpts {
            kernel: img,
            // Keep the serial console quiet (vkms' "vblank timer overrun" under TCG would slow
            // the guest down) and the log buffer large enough for the whole run.
            cmdline: "loglevel=3 log_buf_len=16M",
            timeout: Duration::from_secs(u64::from(o.budget + o.per_test) + 420),
            memory_mb: 3072,
            name: &name,
        },
        &script,
    )?;
    eprintln!(
        "xtask: {kind} guest ran {} (status {:?}, log {})",
        minutes(r.seconds),
        r.status,
        r.dir.display()
    );
    let results = r.dir.join("igt/results.json");
    let summary = match fs::read_to_string(&results) {
        Ok(text) => igt::parse_results_json(&text)?,
        Err(_) => {
            return Err(anyhow!(
                "{kind}: no {} written; the guest said:\n{}",
                results.display(),
                util::last_lines(&r.output, 30)
            ));
        }
    };
    let problems = vm::kernel_problems(&r.dmesg);
    Ok(GuestRun { summary, problems })
}

// ---------------------------------------------------------------------------------------------
// The comparison.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Pass,
    Skip,
    /// warn, dmesg-warn, or a result this code does not know.
    Warn,
    /// fail, dmesg-fail, crash, timeout, incomplete, abort.
    Fail,
    /// notrun, no result, or absent from the run.
    NotRun,
}

fn class(result: Option<&str>) -> Class {
    match result {
        None | Some("") | Some("notrun") => Class::NotRun,
        Some("pass") => Class::Pass,
        Some("skip") => Class::Skip,
        Some("fail" | "dmesg-fail" | "crash" | "timeout" | "incomplete" | "abort") => Class::Fail,
        Some(_) => Class::Warn,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not a failure on the patched kernel (or not run on either).
    Ok,
    /// Fails on both kernels.
    PreExisting,
    /// Fails unpatched, does not patched.
    Fixed,
    /// Fails (or did not run) patched where it did not fail unpatched.
    Regression,
}

fn verdict(unpatched: Class, patched: Class) -> Verdict {
    match (unpatched, patched) {
        (Class::Fail, Class::Fail) => Verdict::PreExisting,
        (_, Class::Fail) => Verdict::Regression,
        (Class::Pass | Class::Skip | Class::Warn, Class::NotRun) => Verdict::Regression,
        (Class::Fail, Class::Pass | Class::Skip | Class::Warn) => Verdict::Fixed,
        _ => Verdict::Ok,
    }
}

struct Row {
    name: String,
    unpatched: Option<String>,
    patched: Option<String>,
    verdict: Verdict,
}

struct Comparison {
    rows: Vec<Row>,
}

impl Comparison {
    fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .collect()
    }
    fn with(&self, v: Verdict) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.verdict == v).collect()
    }
}

/// One row per test name seen in either run, sorted by name.
fn compare(unpatched: &IgtSummary, patched: &IgtSummary) -> Comparison {
    let u: BTreeMap<&str, &str> = unpatched
        .tests
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    let p: BTreeMap<&str, &str> = patched
        .tests
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    let names: BTreeSet<&str> = u.keys().chain(p.keys()).copied().collect();
    let rows = names
        .into_iter()
        .map(|n| {
            let (ur, pr) = (u.get(n).copied(), p.get(n).copied());
            Row {
                name: n.to_string(),
                unpatched: ur.map(str::to_string),
                patched: pr.map(str::to_string),
                verdict: verdict(class(ur), class(pr)),
            }
        })
        .collect();
    Comparison { rows }
}

/// A kernel-log line with what differs between two boots of the same kernel (timestamps,
/// CPU/PID numbers, addresses and offsets) blanked out.
fn normalize_problem(line: &str) -> String {
    let line = match (line.trim_start().starts_with('['), line.find(']')) {
        (true, Some(i)) => &line[i + 1..],
        _ => line,
    };
    let mut out = String::new();
    let mut in_num = false;
    for w in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in w.chars() {
            if c.is_ascii_digit() || (in_num && (c.is_ascii_hexdigit() || c == 'x')) {
                if !in_num {
                    out.push('#');
                    in_num = true;
                }
            } else {
                in_num = false;
                out.push(c);
            }
        }
        in_num = false;
    }
    out
}

/// The patched kernel's problem lines whose normalized form the unpatched log does not have.
fn new_kernel_problems(unpatched: &[String], patched: &[String]) -> Vec<String> {
    let seen: BTreeSet<String> = unpatched.iter().map(|l| normalize_problem(l)).collect();
    let mut out: Vec<String> = vec![];
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for l in patched {
        let n = normalize_problem(l);
        if !seen.contains(&n) && reported.insert(n) {
            out.push(l.trim().to_string());
        }
    }
    out
}

fn counts(s: &IgtSummary) -> String {
    format!(
        "{} pass, {} fail, {} skip, {} other",
        s.pass, s.fail, s.skip, s.other
    )
}

fn render(
    cmp: &Comparison,
    u: &IgtSummary,
    p: &IgtSummary,
    new_problems: &[String],
    excluded: &[(String, String)],
) -> String {
    let mut s = String::new();
    s.push_str("| test | unpatched | patched | |\n| --- | --- | --- | --- |\n");
    for r in &cmp.rows {
        let note = match r.verdict {
            Verdict::Ok => "",
            Verdict::PreExisting => "pre-existing",
            Verdict::Fixed => "fixed",
            Verdict::Regression => "**REGRESSION**",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {note} |",
            r.name.strip_prefix("igt@").unwrap_or(&r.name),
            r.unpatched.as_deref().unwrap_or("(not run)"),
            r.patched.as_deref().unwrap_or("(not run)"),
        );
    }
    let _ = writeln!(s, "\n* unpatched: {}", counts(u));
    let _ = writeln!(s, "* patched: {}", counts(p));
    let list = |rows: Vec<&Row>| -> String {
        if rows.is_empty() {
            "none".into()
        } else {
            rows.iter()
                .map(|r| r.name.strip_prefix("igt@").unwrap_or(&r.name).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(s, "* regressions: {}", list(cmp.regressions()));
    let _ = writeln!(
        s,
        "* pre-existing failures (fail on both): {}",
        list(cmp.with(Verdict::PreExisting))
    );
    let _ = writeln!(
        s,
        "* fixed by the series: {}",
        list(cmp.with(Verdict::Fixed))
    );
    if new_problems.is_empty() {
        let _ = writeln!(s, "* kernel log problems only on the patched kernel: none");
    } else {
        let _ = writeln!(
            s,
            "* kernel log problems only on the patched kernel ({}):",
            new_problems.len()
        );
        for l in new_problems {
            let _ = writeln!(s, "  * `{l}`");
        }
    }
    if !excluded.is_empty() {
        let _ = writeln!(s, "\nExcluded by tests/igt/regression.txt:\n");
        for (sel, why) in excluded {
            let _ = writeln!(s, "* `{sel}`: {why}");
        }
    }
    let verdict = if cmp.regressions().is_empty() && new_problems.is_empty() {
        "no new failure"
    } else {
        "REGRESSIONS"
    };
    let _ = writeln!(s, "\nVerdict: {verdict}.");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(tests: &[(&str, &str)]) -> IgtSummary {
        let json = format!(
            "{{\"tests\":{{{}}}}}",
            tests
                .iter()
                .map(|(n, r)| format!("\"{n}\":{{\"result\":\"{r}\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        igt::parse_results_json(&json).unwrap()
    }

    #[test]
    fn list_parsing() {
        let l = parse_list(
            "# header\ncore_auth\n\nkms_flip@basic-*   # trailing comment\n\
             !kms_flip@basic-flip-vs-dpms  times out under TCG (120 s)\nigt@vgem_basic\n",
        )
        .unwrap();
        assert_eq!(l.include, ["core_auth", "kms_flip@basic-*", "vgem_basic"]);
        assert_eq!(
            l.excluded,
            [(
                "kms_flip@basic-flip-vs-dpms".to_string(),
                "times out under TCG (120 s)".to_string()
            )]
        );
        assert!(
            parse_list("!kms_flip@x\n").is_err(),
            "an exclusion needs a reason"
        );
        assert!(parse_list("kms_*\n").is_err(), "no glob in the binary");
        assert!(parse_list("a b\n").is_err());
        assert!(parse_list("a@b@c\n").is_err());
        assert!(parse_list("rm;x\n").is_err());
    }

    #[test]
    fn globbing() {
        assert!(glob("basic-*", "basic-plain-flip"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(selects("kms_flip", "kms_flip", Some("x")));
        assert!(!selects("kms_flip@y", "kms_flip", Some("x")));
        assert!(!selects("kms_flip@*", "kms_flip", None));
    }

    #[test]
    fn list_expansion() {
        let l = parse_list(
            "core_auth\nkms_flip@basic-*\nkms_flip@basic-plain-flip\nsyncobj_basic\n\
             !kms_flip@basic-flip-vs-dpms slow\n",
        )
        .unwrap();
        let mut subs = |b: &str| -> Result<Option<Vec<String>>> {
            Ok(match b {
                "core_auth" => Some(vec!["a".into(), "b".into()]),
                "kms_flip" => Some(vec![
                    "basic-plain-flip".into(),
                    "basic-flip-vs-dpms".into(),
                    "nonblocking".into(),
                ]),
                "syncobj_basic" => Some(vec![]),
                _ => None,
            })
        };
        assert_eq!(
            expand_list(&l, &mut subs).unwrap(),
            [
                "igt@core_auth@a",
                "igt@core_auth@b",
                "igt@kms_flip@basic-plain-flip",
                "igt@syncobj_basic"
            ]
        );
        let bad = parse_list("no_such_test\n").unwrap();
        assert!(expand_list(&bad, &mut subs).is_err());
    }

    #[test]
    fn classes_and_verdicts() {
        assert_eq!(class(Some("dmesg-fail")), Class::Fail);
        assert_eq!(class(Some("timeout")), Class::Fail);
        assert_eq!(class(Some("dmesg-warn")), Class::Warn);
        assert_eq!(class(Some("notrun")), Class::NotRun);
        assert_eq!(class(None), Class::NotRun);
        assert_eq!(verdict(Class::Pass, Class::Fail), Verdict::Regression);
        assert_eq!(verdict(Class::Skip, Class::Fail), Verdict::Regression);
        assert_eq!(verdict(Class::NotRun, Class::Fail), Verdict::Regression);
        assert_eq!(verdict(Class::Pass, Class::NotRun), Verdict::Regression);
        assert_eq!(verdict(Class::Fail, Class::Fail), Verdict::PreExisting);
        assert_eq!(verdict(Class::Fail, Class::Pass), Verdict::Fixed);
        assert_eq!(verdict(Class::Pass, Class::Skip), Verdict::Ok);
        assert_eq!(verdict(Class::Pass, Class::Warn), Verdict::Ok);
        assert_eq!(verdict(Class::NotRun, Class::NotRun), Verdict::Ok);
    }

    #[test]
    fn comparison_table() {
        let u = summary(&[
            ("igt@core_auth@basic-auth", "pass"),
            ("igt@kms_flip@a", "fail"),
            ("igt@kms_flip@b", "pass"),
            ("igt@kms_lease@c", "skip"),
            ("igt@vgem_basic@d", "fail"),
        ]);
        let p = summary(&[
            ("igt@core_auth@basic-auth", "pass"),
            ("igt@kms_flip@a", "fail"),
            ("igt@kms_flip@b", "timeout"),
            ("igt@kms_lease@c", "skip"),
            ("igt@vgem_basic@d", "pass"),
            ("igt@runner@aborted", "fail"),
        ]);
        let c = compare(&u, &p);
        assert_eq!(c.rows.len(), 6);
        let regs: Vec<&str> = c.regressions().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(regs, ["igt@kms_flip@b", "igt@runner@aborted"]);
        assert_eq!(c.with(Verdict::PreExisting)[0].name, "igt@kms_flip@a");
        assert_eq!(c.with(Verdict::Fixed)[0].name, "igt@vgem_basic@d");
        let md = render(&c, &u, &p, &[], &[("kms_x".into(), "slow".into())]);
        assert!(md.contains("| kms_flip@b | pass | timeout | **REGRESSION** |"));
        assert!(md.contains("| runner@aborted | (not run) | fail | **REGRESSION** |"));
        assert!(md.contains("| kms_flip@a | fail | fail | pre-existing |"));
        assert!(md.contains("* `kms_x`: slow"));
        assert!(md.contains("Verdict: REGRESSIONS."));
        let same = compare(&u, &u);
        assert!(same.regressions().is_empty());
        assert!(render(&same, &u, &u, &[], &[]).contains("Verdict: no new failure."));
    }

    #[test]
    fn kernel_problems_only_on_patched() {
        let u = vec![
            "[   12.345678] WARNING: CPU: 1 PID: 233 at drivers/gpu/drm/vkms/vkms_crtc.c:139 vkms_atomic_crtc_destroy_state+0x31/0x40".to_string(),
            "[   12.400000] Call Trace:".to_string(),
        ];
        let p = vec![
            "[   99.1] WARNING: CPU: 0 PID: 4711 at drivers/gpu/drm/vkms/vkms_crtc.c:139 vkms_atomic_crtc_destroy_state+0x35/0x44".to_string(),
            "[  100.0] Call Trace:".to_string(),
            "[  101.0] BUG: kernel NULL pointer dereference, address: 0000000000000008".to_string(),
            "[  102.0] BUG: kernel NULL pointer dereference, address: 0000000000000010".to_string(),
        ];
        assert_eq!(
            new_kernel_problems(&u, &p),
            ["[  101.0] BUG: kernel NULL pointer dereference, address: 0000000000000008"]
        );
        assert!(new_kernel_problems(&p, &u).is_empty());
    }
}
