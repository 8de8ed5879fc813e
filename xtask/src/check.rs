//! Static checks of the series: checkpatch.pl --strict on every patch, kernel-doc on the touched
//! files, and sparse (C=2) plus W=1 on the touched objects, compared with the same objects built
//! from the unpatched base so that only new warnings count; and `make htmldocs` of the
//! Documentation/ directories the series touches, with and without it, plus a look at the HTML.

use crate::kernel::{self, Base};
use crate::results::Summary;
use crate::util::{self, Result};
use anyhow::anyhow;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files the series touches (from the patches themselves), split into C sources and headers.
fn touched(b: &Base) -> Result<BTreeSet<String>> {
    let mut set = BTreeSet::new();
    for p in kernel::series_patches(b)? {
        for l in util::read(&p)?.lines() {
            if let Some(f) = l.strip_prefix("+++ b/") {
                set.insert(f.to_string());
            }
        }
    }
    Ok(set)
}

/// `apply`: bring the work tree to linux/<series> first (else it must already be there:
/// [`kernel::applied`]).
pub fn run(b: &Base, apply: bool, s: &mut Summary) -> Result<()> {
    shellcheck(s)?;
    let tree = if apply {
        kernel::apply(b)?
    } else {
        kernel::applied(b)?
    };
    checkpatch(b, &tree, s)?;
    kerneldoc(b, &tree, s)?;
    compile_checks(b, &tree, s)?;
    htmldocs(b, &tree, s)?;
    Ok(())
}

/// The shell scripts of the harness: the guest's (`xtask/guest/*.sh`), CI's (`.ci/run`) and the
/// fuzzing guest root's (`linux/syzkaller/*.sh`).
pub fn shell_scripts() -> Result<Vec<PathBuf>> {
    let mut v = util::sorted_files(&util::root().join("xtask/guest"), "sh")?;
    v.push(util::root().join(".ci/run"));
    v.extend(util::sorted_files(
        &util::root().join("linux/syzkaller"),
        "sh",
    )?);
    Ok(v)
}

/// shellcheck on every shell script of the harness: one row, its findings as the detail.
fn shellcheck(s: &mut Summary) -> Result<()> {
    let scripts = shell_scripts()?;
    let mut c = Command::new("shellcheck");
    let (ok, text) = util::capture(c.arg("-x").args(&scripts))?;
    s.check(format!("check shellcheck ({} scripts)", scripts.len()), ok);
    if !ok {
        s.detail(format!("shellcheck:\n{}", util::first_lines(&text, 40)));
    }
    Ok(())
}

/// The files `patch` creates, each with the MAINTAINERS section that covers it (other than
/// THE REST), as `get_maintainer.pl --sections` of the series' tree says; `None` when the patch
/// creates no file or any new file falls to THE REST alone.
fn covered_new_files(tree: &Path, patch: &Path) -> Result<Option<String>> {
    let text = util::read(patch)?;
    let created: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("create mode "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    if created.is_empty() {
        return Ok(None);
    }
    let mut found = vec![];
    for f in created {
        let (_, out) = util::capture(
            Command::new("perl")
                .current_dir(tree)
                .args([
                    "scripts/get_maintainer.pl",
                    "--no-git",
                    "--no-git-fallback",
                    "--sections",
                    "-f",
                    f,
                ])
                .env("PERL_HASH_SEED", "0"),
        )?;
        let sections = maintainer_sections(&out);
        if sections.is_empty() {
            return Ok(None);
        }
        found.push(format!("{f} in {}", sections.join(", ")));
    }
    Ok(Some(found.join("; ")))
}

/// Section titles of `get_maintainer.pl --sections` output, THE REST left out: a title is a
/// line that is neither a `X:` field nor blank, followed by a field line.
fn maintainer_sections(out: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    let is_field =
        |l: &str| l.len() > 2 && l.as_bytes()[1] == b':' && l.as_bytes()[0].is_ascii_uppercase();
    lines
        .windows(2)
        .filter(|w| !w[0].trim().is_empty() && !is_field(w[0]) && is_field(w[1]))
        .map(|w| w[0].trim().to_string())
        .filter(|t| t != "THE REST")
        .collect()
}

fn checkpatch(b: &Base, tree: &Path, s: &mut Summary) -> Result<()> {
    for p in kernel::series_patches(b)? {
        let name = p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .take(4)
            .collect::<String>();
        let (_, out) = util::capture(
            Command::new(tree.join("scripts/checkpatch.pl"))
                .current_dir(tree)
                .args(["--strict", "--showfile", "--show-types", "--color=never"])
                .arg(&p),
        )?;
        // With --showfile a finding reads "FILE:LINE: LEVEL:TYPE: text"; without it "LEVEL:TYPE: text".
        let is_finding = |l: &str| {
            ["ERROR:", "WARNING:", "CHECK:"]
                .iter()
                .any(|k| l.starts_with(k) || l.contains(&format!(": {k}")))
        };
        let Some(total) = out.lines().find(|l| l.starts_with("total:")) else {
            return Err(anyhow!(
                "checkpatch.pl did not run on {}:\n{out}",
                p.display()
            ));
        };
        // Every finding fails: the series is meant to go out checkpatch --strict clean. The one
        // exception is FILE_PATH_CHANGES ("does MAINTAINERS need updating?") for a new file that
        // an existing MAINTAINERS entry already covers (checked below): checkpatch asks, it
        // cannot tell, and maintainers do not want a per-file entry under their directory entry.
        let covered = covered_new_files(tree, &p)?;
        let mut bad = 0;
        let mut accepted = 0;
        for l in out.lines().filter(|l| is_finding(l)) {
            if l.contains("WARNING:FILE_PATH_CHANGES:") && covered.is_some() {
                accepted += 1;
                continue;
            }
            bad += 1;
            s.detail(format!("checkpatch {name}: {l}"));
        }
        // checkpatch's own count, in case a finding is worded in a way the filter above misses.
        let clean = format!("total: 0 errors, {accepted} warnings, 0 checks");
        if bad == 0 && !total.starts_with(&clean) {
            bad += 1;
            s.detail(format!("checkpatch {name}: {total}"));
        }
        if let (Some(sections), true) = (&covered, accepted > 0) {
            println!("  checkpatch {name}: FILE_PATH_CHANGES answered by MAINTAINERS: {sections}");
        }
        println!("  checkpatch --strict {name}: {bad} errors/warnings/checks");
        s.check(format!("check checkpatch --strict {name}"), bad == 0);
    }
    Ok(())
}

/// Reports the warnings `patched` has and `unpatched` has not as problems; returns how many.
fn report_new(
    s: &mut Summary,
    kind: &str,
    patched: &BTreeSet<String>,
    unpatched: &BTreeSet<String>,
) -> usize {
    let mut n = 0;
    for w in patched.difference(unpatched) {
        s.detail(format!("new {kind} warning: {w}"));
        n += 1;
    }
    n
}

/// kernel-doc -Wall warnings for `files` in `tree`, without line numbers.
fn kerneldoc_warnings(tree: &Path, files: &[String]) -> Result<BTreeSet<String>> {
    let files: Vec<&String> = files.iter().filter(|f| tree.join(f).exists()).collect();
    if files.is_empty() {
        return Ok(BTreeSet::new());
    }
    let (ok, out) = util::capture(
        Command::new(tree.join("scripts/kernel-doc"))
            .current_dir(tree)
            .args(["-none", "-Wall"])
            .args(&files),
    )?;
    // 6.12's kernel-doc (Perl) writes "FILE:LINE: warning: ...", 7.x's (Python)
    // "Warning: FILE:LINE ...": match both, case-insensitively.
    let is_warning = |l: &str| {
        let l = l.to_ascii_lowercase();
        l.contains("warning") || l.contains("error")
    };
    if !ok && !out.lines().any(is_warning) {
        return Err(anyhow!(
            "kernel-doc did not run in {}:\n{out}",
            tree.display()
        ));
    }
    Ok(out
        .lines()
        .filter(|l| is_warning(l))
        .map(|l| without_line_numbers(l.trim()))
        .collect())
}

fn kerneldoc(b: &Base, tree: &Path, s: &mut Summary) -> Result<()> {
    let files: Vec<String> = touched(b)?
        .into_iter()
        .filter(|f| f.ends_with(".c") || f.ends_with(".h"))
        .collect();
    let patched = kerneldoc_warnings(tree, &files)?;
    let unpatched = kerneldoc_warnings(&kernel::unpatched_tree(b)?, &files)?;
    let new = report_new(s, "kernel-doc", &patched, &unpatched);
    println!(
        "  kernel-doc -Wall on {} touched files: {} new warnings ({} with the series, {} without)",
        files.len(),
        new,
        patched.len(),
        unpatched.len()
    );
    s.check("check kernel-doc -Wall, new warnings", new == 0);
    Ok(())
}

/// Warnings from compiling `objs` with sparse and W=1 in `obj` (the VM kernel's configuration
/// plus linux/check.config, which enables every driver the series touches).
fn compile_warnings(
    b: &Base,
    tree: &Path,
    obj: &Path,
    objs: &[String],
) -> Result<BTreeSet<String>> {
    let _lock = kernel::lock_builds()?;
    kernel::configure(b, tree, obj, kernel::Flavor::Check)?;
    let mut c = kernel::make(tree, obj);
    c.args(["-j3", "W=1", "C=2", "KCFLAGS=-fdiagnostics-color=never"])
        .arg(format!("CHECK={}", kernel::sparse()?.display()))
        .args(objs);
    let (ok, out) = util::capture(&mut c)?;
    if !ok {
        return Err(anyhow!(
            "W=1/sparse build of the touched objects failed:\n{out}"
        ));
    }
    // Prove sparse ran: make prints a CHECK line for every object it checks.
    for o in objs {
        let src = o.trim_end_matches(".o").to_string() + ".c";
        if !out
            .lines()
            .any(|l| l.trim_start().starts_with("CHECK") && l.contains(&src))
        {
            return Err(anyhow!(
                "sparse did not check {src} (is sparse installed?):\n{out}"
            ));
        }
    }
    // Normalise: drop line and column numbers so that moved code does not count as new.
    let tree_prefix = format!(
        "{}/",
        tree.file_name().unwrap_or_default().to_string_lossy()
    );
    Ok(out
        .lines()
        .filter(|l| l.contains("warning:") || l.contains("error:"))
        .map(|l| {
            // Paths name the tree (build/linux-source-7.3/ or ...-unpatched/): relative to it.
            let l = l.split_once(&tree_prefix).map_or(l, |(_, rest)| rest);
            without_line_numbers(l.trim())
        })
        .collect())
}

fn compile_checks(b: &Base, tree: &Path, s: &mut Summary) -> Result<()> {
    let objs: Vec<String> = touched(b)?
        .into_iter()
        .filter(|f| f.ends_with(".c"))
        .map(|f| f.trim_end_matches(".c").to_string() + ".o")
        .collect();
    let patched = compile_warnings(
        b,
        tree,
        &util::build_dir().join(format!("kbuild-{}-check", b.name)),
        &objs,
    )?;
    // The unpatched objects that exist there (new files have no base to compare with).
    let base_tree = kernel::unpatched_tree(b)?;
    let base_objs: Vec<String> = objs
        .iter()
        .filter(|o| base_tree.join(o.replace(".o", ".c")).exists())
        .cloned()
        .collect();
    let unpatched = compile_warnings(
        b,
        &base_tree,
        &util::build_dir().join(format!("kbuild-{}-check-base", b.name)),
        &base_objs,
    )?;
    let new = report_new(s, "W=1/sparse", &patched, &unpatched);
    println!(
        "  W=1 + sparse (C=2) on {} touched objects: {} new warnings ({} with the series, {} without)",
        objs.len(),
        new,
        patched.len(),
        unpatched.len()
    );
    s.check("check W=1 + sparse, new warnings", new == 0);
    Ok(())
}

/// A Sphinx of the pinned versions (`linux/sphinx-requirements.txt`) in `build/sphinx-venv`.
fn sphinx_venv() -> Result<std::path::PathBuf> {
    let req = util::root().join("linux/sphinx-requirements.txt");
    let venv = util::build_dir().join("sphinx-venv");
    let stamp_file = venv.join(".fdsame-stamp");
    let stamp = util::stamp(std::slice::from_ref(&req))?;
    if fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str()) {
        eprintln!("xtask: installing Sphinx into {}", venv.display());
        let _ = fs::remove_dir_all(&venv);
        util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        util::run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", "-r"])
                .arg(&req),
        )?;
        util::write(&stamp_file, &stamp)?;
    }
    Ok(venv)
}

/// Replaces every run of digits that follows a ':' by 'N', so that a warning that only moved
/// (line numbers) is the same warning.
fn without_line_numbers(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut after_colon = false;
    let mut in_number = false;
    for c in l.chars() {
        if c.is_ascii_digit() && (after_colon || in_number) {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
        after_colon = c == ':';
    }
    out
}

/// `make htmldocs` warnings for `dirs` (SPHINXDIRS) of `tree`, paths relative to the tree and
/// without line numbers. Cached in `out` by `key`: Sphinx only reports the warnings of the files
/// it re-reads, so a result is either reused whole or made again from an empty output directory.
fn htmldocs_warnings(tree: &Path, out: &Path, dirs: &str, key: &str) -> Result<BTreeSet<String>> {
    let cache = out.join(".fdsame-htmldocs-warnings");
    if let Some(rest) = fs::read_to_string(&cache)
        .ok()
        .as_deref()
        .and_then(|c| c.strip_prefix(&format!("{key}\n")))
    {
        return Ok(rest.lines().map(str::to_string).collect());
    }
    let venv = sphinx_venv()?;
    let _ = fs::remove_dir_all(out);
    util::mkdir_p(out)?;
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(tree)
        .arg(format!("O={}", out.display()))
        .arg(format!("SPHINXDIRS={dirs}"))
        .arg("htmldocs")
        .env("PATH", path);
    let (ok, log) = util::capture(&mut c)?;
    if !ok {
        return Err(anyhow!(
            "make htmldocs failed in {}:\n{log}",
            tree.display()
        ));
    }
    let prefix = format!("{}/", tree.display());
    let warnings: BTreeSet<String> = log
        .lines()
        .filter(|l| {
            ["WARNING", "ERROR", "SEVERE", "CRITICAL"]
                .iter()
                .any(|k| l.contains(k))
        })
        .map(|l| without_line_numbers(&l.replace(&prefix, "")))
        .collect();
    let list: Vec<&str> = warnings.iter().map(String::as_str).collect();
    util::write(&cache, &format!("{key}\n{}", list.join("\n")))?;
    Ok(warnings)
}

/// Section titles the series adds to `rst` (a title line followed by an underline).
fn added_titles(b: &Base, rst: &str) -> Result<Vec<String>> {
    let mut titles = Vec::new();
    for p in kernel::series_patches(b)? {
        let text = util::read(&p)?;
        let mut in_file = false;
        let mut prev: Option<&str> = None;
        for l in text.lines() {
            if let Some(f) = l.strip_prefix("+++ b/") {
                in_file = f == rst;
                prev = None;
                continue;
            }
            let added = l.strip_prefix('+').filter(|_| in_file);
            if let (Some(line), Some(title)) = (added, prev) {
                let underline = line.len() >= 3
                    && line.len() >= title.len()
                    && line.chars().all(|c| "=-~^*".contains(c));
                if underline && !title.trim().is_empty() {
                    titles.push(title.trim().to_string());
                }
            }
            prev = added;
        }
    }
    Ok(titles)
}

fn htmldocs(b: &Base, tree: &Path, s: &mut Summary) -> Result<()> {
    let files = touched(b)?;
    let rsts: Vec<String> = files
        .iter()
        .filter(|f| f.starts_with("Documentation/") && f.ends_with(".rst"))
        .cloned()
        .collect();
    let mut dirs: Vec<&str> = rsts.iter().filter_map(|f| f.split('/').nth(1)).collect();
    dirs.dedup();
    if dirs.is_empty() {
        return Ok(());
    }
    let dirs = dirs.join(" ");
    let req = util::root().join("linux/sphinx-requirements.txt");
    // Only the files the series touches can differ from the base: key the result by them.
    let mut inputs = vec![req.clone()];
    inputs.extend(files.iter().map(|f| tree.join(f)).filter(|f| f.exists()));
    let out = util::build_dir().join(format!("docs-{}", b.name));
    let patched = htmldocs_warnings(tree, &out, &dirs, &util::stamp(&inputs)?)?;
    let unpatched = htmldocs_warnings(
        &kernel::unpatched_tree(b)?,
        &util::build_dir().join(format!("docs-{}-base", b.name)),
        &dirs,
        &format!("base {}", util::stamp(&[req])?),
    )?;
    let new = report_new(s, "htmldocs", &patched, &unpatched);
    // The new sections must be in the HTML, not only free of warnings.
    let (mut found, mut missing) = (0, 0);
    for rst in &rsts {
        let html = out.join("Documentation/output").join(
            rst.trim_start_matches("Documentation/")
                .trim_end_matches(".rst")
                .to_string()
                + ".html",
        );
        let text = fs::read_to_string(&html).unwrap_or_default();
        for t in added_titles(b, rst)? {
            if text.contains(&t) {
                found += 1;
            } else {
                missing += 1;
                s.detail(format!("htmldocs: \"{t}\" is not in {}", html.display()));
            }
        }
    }
    println!(
        "  htmldocs (SPHINXDIRS={dirs}): {} new warnings ({} with the series, {} without), added sections in the HTML: {found} found, {missing} missing",
        new,
        patched.len(),
        unpatched.len()
    );
    let bad = new > 0 || missing > 0;
    s.check("check htmldocs, new warnings", !bad);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn maintainer_sections_leave_out_the_rest() {
        let out = "DMA BUFFER SHARING FRAMEWORK\nM:\tA <a@b>\nL:\tl@x\nF:\tdrivers/dma-buf/\n\nTHE REST\nM:\tL T <l@t>\nL:\tlinux-kernel@vger.kernel.org\n";
        assert_eq!(
            super::maintainer_sections(out),
            vec!["DMA BUFFER SHARING FRAMEWORK".to_string()]
        );
        assert!(super::maintainer_sections("THE REST\nM:\tL T <l@t>\n").is_empty());
    }

    use super::*;

    #[test]
    fn only_warnings_the_base_lacks_are_new() {
        let set = |v: &[&str]| v.iter().map(|w| w.to_string()).collect::<BTreeSet<_>>();
        let mut s = Summary::default();
        let n = report_new(
            &mut s,
            "kernel-doc",
            &set(&["a", "b", "c"]),
            &set(&["a", "x"]),
        );
        assert_eq!(n, 2);
        assert_eq!(
            s.details,
            ["new kernel-doc warning: b", "new kernel-doc warning: c"]
        );
        assert_eq!(report_new(&mut s, "x", &set(&["a"]), &set(&["a", "b"])), 0);
    }

    #[test]
    fn line_numbers_are_dropped() {
        assert_eq!(
            without_line_numbers("Documentation/gpu/a.rst:220: WARNING: x 2 y:33 drm.h:744 z"),
            "Documentation/gpu/a.rst:N: WARNING: x 2 y:N drm.h:N z"
        );
    }

    /// The harness's shell scripts are clean for shellcheck (the row of `cargo xtask check`).
    #[test]
    fn shell_scripts_pass_shellcheck() {
        let mut s = Summary::default();
        shellcheck(&mut s).unwrap();
        assert!(s.ok(), "{:?}", s.details);
    }
}
