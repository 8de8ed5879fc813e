//! The consumers of the uAPI in real projects (`userspace/<name>/`), each described by its
//! `consumer.toml`: the project's source at a pinned version from a registry (a Debian source
//! package, or crates from the crate registry), the patches applied to it, a host build
//! (`build.sh`) and the before/after tests in the guest (`guest.sh`). See userspace/README.md.
//!
//! Layout under build/userspace/: `orig/<name>` the unpacked sources as published, `src/<name>`
//! the same with the patches (made anew when the manifest or a patch changes), `out/<name>` the
//! consumer's build (kept: builds are incremental), `debian/` and `crates/` what was downloaded.

use crate::results::{Outcome, Row, Summary};
use crate::util::{self, Result};
use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `userspace/<name>/consumer.toml`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// A Debian source package at a pinned version: `"libdrm 2.4.124-2"`, unpacked with
    /// `dpkg-source -x` (Debian's own patches applied).
    pub debian: Option<String>,
    /// Crates at pinned versions from the crate registry: `["drm 0.15.0", "drm-ffi 0.9.1"]`.
    #[serde(default)]
    pub crates: Vec<String>,
    /// The patches: one directory (of `git format-patch` files, relative to the consumer's
    /// directory) for a Debian source, one per crate for crates.
    pub patches: Option<Patches>,
    /// Consumers whose build this one uses (built first; `$UOUT/<name>`).
    #[serde(default)]
    pub after: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum Patches {
    One(String),
    PerCrate(BTreeMap<String, String>),
}

pub struct Consumer {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Every `userspace/*/consumer.toml`, each after the consumers it names in `after`.
pub fn consumers() -> Result<Vec<Consumer>> {
    let root = util::root().join("userspace");
    let mut found = Vec::new();
    let entries = fs::read_dir(&root).with_context(|| util::cannot("read directory", &root))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for dir in dirs {
        let toml = dir.join("consumer.toml");
        if !toml.exists() {
            continue;
        }
        let text = util::read(&toml)?;
        let manifest: Manifest =
            toml::from_str(&text).with_context(|| format!("in {}", toml.display()))?;
        if manifest.debian.is_some() != manifest.crates.is_empty() {
            bail!("{}: give one source: `debian` or `crates`", toml.display());
        }
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        found.push(Consumer {
            name,
            dir,
            manifest,
        });
    }
    order(found)
}

/// Orders consumers so that each comes after those of its `after` (an unknown name or a cycle is
/// an error).
fn order(mut left: Vec<Consumer>) -> Result<Vec<Consumer>> {
    let names: Vec<String> = left.iter().map(|c| c.name.clone()).collect();
    for c in &left {
        if let Some(u) = c.manifest.after.iter().find(|a| !names.contains(a)) {
            bail!(
                "userspace/{}/consumer.toml: `after` names {u}, which is not a consumer",
                c.name
            );
        }
    }
    let mut done: Vec<Consumer> = Vec::new();
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|c| {
                c.manifest
                    .after
                    .iter()
                    .all(|a| done.iter().any(|d| &d.name == a))
            })
            .ok_or_else(|| anyhow!("userspace: the `after` lists of {names:?} form a cycle"))?;
        done.push(left.remove(ready));
    }
    Ok(done)
}

/// build/userspace/<what>.
pub fn dir(what: &str) -> PathBuf {
    util::build_dir().join("userspace").join(what)
}

/// The environment of a consumer's build.sh and guest.sh: SRC and ORIG (a Debian source) or
/// SRC_<crate> and ORIG_<crate> (crates, `-` as `_`), OUT, UOUT and REPO.
pub type Env = Vec<(String, PathBuf)>;

/// Fetches and unpacks the consumer's sources and applies its patches (anew when they changed);
/// returns the environment of its scripts.
pub fn prepare(c: &Consumer) -> Result<Env> {
    let orig = dir("orig").join(&c.name);
    let src = dir("src").join(&c.name);
    let stamp = stamp_of(c)?;
    let stamp_file = dir("src").join(format!("{}.stamp", c.name));
    let fresh = fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str());
    let mut env = Env::new();
    if let Some(pkg) = &c.manifest.debian {
        if !fresh {
            unpack_debian(pkg, &orig)?;
            copy_tree(&orig, &src)?;
            if let Some(Patches::One(p)) = &c.manifest.patches {
                apply_patches(&c.dir.join(p), &src)?;
            }
        }
        env.push(("SRC".into(), src.clone()));
        env.push(("ORIG".into(), orig.clone()));
    }
    for spec in &c.manifest.crates {
        let (krate, _) = split_spec(spec)?;
        let (o, s) = (orig.join(krate), src.join(krate));
        if !fresh {
            unpack_crate(spec, &o)?;
            copy_tree(&o, &s)?;
            if let Some(Patches::PerCrate(m)) = &c.manifest.patches {
                if let Some(p) = m.get(krate) {
                    git_am(&c.dir.join(p), &s)?;
                }
            }
        }
        let var = krate.replace('-', "_");
        env.push((format!("SRC_{var}"), s));
        env.push((format!("ORIG_{var}"), o));
    }
    if !fresh {
        util::write(&stamp_file, &stamp)?;
    }
    let out = dir("out");
    util::mkdir_p(&out.join(&c.name))?;
    env.push(("OUT".into(), out.join(&c.name)));
    env.push(("UOUT".into(), out));
    env.push(("REPO".into(), util::root()));
    Ok(env)
}

/// What decides whether the patched tree is still the one to use: the manifest and the patches.
fn stamp_of(c: &Consumer) -> Result<String> {
    let mut files = vec![c.dir.join("consumer.toml")];
    let dirs: Vec<&String> = match &c.manifest.patches {
        Some(Patches::One(p)) => vec![p],
        Some(Patches::PerCrate(m)) => m.values().collect(),
        None => vec![],
    };
    for d in dirs {
        files.extend(util::sorted_files(&c.dir.join(d), "patch")?);
    }
    util::stamp(&files)
}

/// `"name version"` → (name, version).
fn split_spec(spec: &str) -> Result<(&str, &str)> {
    spec.split_once(' ')
        .map(|(n, v)| (n.trim(), v.trim()))
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| anyhow!("`{spec}`: a pinned source is \"NAME VERSION\""))
}

/// Downloads the Debian source package `"NAME VERSION"` (apt checks it against the signed
/// indexes) and unpacks it into `dest` with dpkg-source.
fn unpack_debian(spec: &str, dest: &Path) -> Result<()> {
    let (name, version) = split_spec(spec)?;
    let debs = dir("debian");
    util::mkdir_p(&debs)?;
    let dsc = debs.join(format!(
        "{name}_{}.dsc",
        version.split_once(':').map_or(version, |v| v.1)
    ));
    if !dsc.exists() {
        let opts = crate::kernel::source_apt_opts()?;
        eprintln!("xtask: fetching the Debian source package {name} {version}");
        crate::kernel::download_source(&opts, &format!("{name}={version}"), &debs)
            .with_context(|| format!("{name} {version} is not in the archive (any more?)"))?;
    }
    let _ = fs::remove_dir_all(dest);
    util::mkdir_p(dest.parent().unwrap_or(Path::new("/")))?;
    util::run(
        Command::new("dpkg-source")
            .args(["--no-check", "-x"])
            .arg(&dsc)
            .arg(dest),
    )
}

/// Fetches the crate `"NAME VERSION"` from the crate registry through cargo (a scratch package
/// that depends on exactly that version) and copies its published source into `dest`.
fn unpack_crate(spec: &str, dest: &Path) -> Result<()> {
    let (name, version) = split_spec(spec)?;
    let scratch = dir("crates").join(format!("{name}-{version}"));
    util::mkdir_p(&scratch.join("src"))?;
    util::write(
        &scratch.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{name} = \"={version}\"\n\n[workspace]\n"
        ),
    )?;
    util::write(&scratch.join("src/lib.rs"), "")?;
    let meta = util::output(
        Command::new(env!("CARGO"))
            .args(["metadata", "-q", "--format-version", "1"])
            .current_dir(&scratch),
    )?;
    let manifest = manifest_path(&meta, name, version)?;
    let from = manifest.parent().unwrap_or(Path::new("/"));
    let _ = fs::remove_dir_all(dest);
    copy_tree(from, dest)
}

/// The Cargo.toml of package `name` `version` in `cargo metadata` output.
fn manifest_path(meta: &str, name: &str, version: &str) -> Result<PathBuf> {
    #[derive(Deserialize)]
    struct Meta {
        packages: Vec<Pkg>,
    }
    #[derive(Deserialize)]
    struct Pkg {
        name: String,
        version: String,
        manifest_path: PathBuf,
    }
    let m: Meta = serde_json::from_str(meta).context("cargo metadata's output")?;
    m.packages
        .into_iter()
        .find(|p| p.name == name && p.version == version)
        .map(|p| p.manifest_path)
        .ok_or_else(|| anyhow!("cargo metadata lists no {name} {version}"))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(to);
    util::mkdir_p(to.parent().unwrap_or(Path::new("/")))?;
    util::run(Command::new("cp").arg("-a").arg(from).arg(to))
}

/// Applies the `git format-patch` files of `patches` to the (non-git) tree `tree` in order,
/// exactly (no fuzz).
fn apply_patches(patches: &Path, tree: &Path) -> Result<()> {
    for p in util::sorted_files(patches, "patch")? {
        let (ok, text) = util::capture(
            Command::new("patch")
                .args([
                    "-p1",
                    "--batch",
                    "--forward",
                    "--fuzz=0",
                    "--no-backup-if-mismatch",
                    "-i",
                ])
                .arg(&p)
                .current_dir(tree),
        )?;
        if !ok {
            bail!(
                "{} does not apply to {}:\n{text}",
                p.display(),
                tree.display()
            );
        }
    }
    Ok(())
}

/// Makes `tree` a git repository of the published source and applies the `git format-patch`
/// files of `patches` with `git am` (the commits as the project would take them).
fn git_am(patches: &Path, tree: &Path) -> Result<()> {
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.arg("-C").arg(tree).args([
            "-c",
            "user.name=Fdsame Developers",
            "-c",
            "user.email=fdsame-devel@example.invalid",
        ]);
        c.args(args);
        c
    };
    util::run(&mut git(&["init", "-q"]))?;
    util::run(&mut git(&["add", "-A", "-f"]))?;
    util::run(&mut git(&["commit", "-q", "-m", "as published"]))?;
    let files = util::sorted_files(patches, "patch")?;
    if files.is_empty() {
        bail!("no patches in {}", patches.display());
    }
    let mut am = git(&["am", "-q", "--3way"]);
    am.args(&files);
    util::run(&mut am).with_context(|| format!("{} do not apply", patches.display()))
}

/// Runs the consumer's build.sh on the host; returns its exit status and output.
pub fn build(c: &Consumer, env: &Env) -> Result<(bool, String)> {
    let script = c.dir.join("build.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .current_dir(util::root())
        .envs(env.iter().map(|(k, v)| (k, v)));
    let (ok, text) = util::capture(&mut cmd)?;
    let log = dir("out").join(format!("{}.build.log", c.name));
    util::write(&log, &text)?;
    Ok((ok, text))
}

/// The guest's call of the consumer's guest.sh on kernel `kernel` (series or base), between
/// `XTASK-BEGIN userspace/<name>` and `XTASK-END userspace/<name> STATUS`.
pub fn guest_call(c: &Consumer, env: &Env, kernel: &str) -> String {
    let mut words = vec![
        "run_group".to_string(),
        format!("userspace/{}", c.name),
        "env".into(),
        format!("FDSAME_KERNEL={kernel}"),
    ];
    words.extend(env.iter().map(|(k, v)| format!("{k}={}", v.display())));
    words.push("bash".into());
    words.push(c.dir.join("guest.sh").to_string_lossy().into_owned());
    crate::vm::call(&words)
}

/// What one script printed: `XTASK-RESULT ok|fail|skip NAME[: why]` lines and `XTASK-FIGURE`
/// lines.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub results: Vec<(Outcome, String)>,
    pub figures: Vec<String>,
}

pub fn parse_report(text: &str) -> Report {
    let mut r = Report::default();
    for l in text.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(f) = l.strip_prefix("XTASK-FIGURE ") {
            r.figures.push(f.to_string());
        } else if let Some(rest) = l.strip_prefix("XTASK-RESULT ") {
            let (word, what) = rest.split_once(' ').unwrap_or((rest, ""));
            let outcome = match word {
                "ok" => Outcome::Passed,
                "fail" => Outcome::Failed,
                "skip" => Outcome::Skipped,
                _ => Outcome::Failed,
            };
            r.results.push((outcome, what.to_string()));
        }
    }
    r
}

/// Adds one script's report to the summary as the row `label`: every result counts; a script
/// that failed without a failed result, or reported nothing, fails too. Returns the figures.
pub fn add_report(s: &mut Summary, label: &str, text: &str, ok: bool) -> Vec<String> {
    let r = parse_report(text);
    let mut row = Row::new(label);
    for (o, what) in &r.results {
        row.add(*o);
        match o {
            Outcome::Failed => s.detail(format!("{label}: failed: {what}")),
            Outcome::Skipped => s.detail(format!("{label}: skipped: {what}")),
            _ => {}
        }
    }
    if r.results.is_empty() {
        row.add(Outcome::NotRun);
        s.detail(format!(
            "{label}: reported no result:\n{}",
            util::last_lines(text, 15)
        ));
    } else if !ok && row.failed == 0 {
        row.failed += 1;
        s.detail(format!(
            "{label}: exited with failure after its results:\n{}",
            util::last_lines(text, 15)
        ));
    }
    s.row(row);
    r.figures
}

/// The text of the guest block of `userspace/<name>` and whether it exited 0; None when the
/// block never started.
pub fn guest_block<'a>(output: &'a str, name: &str) -> Option<(&'a str, bool)> {
    let begin = format!("XTASK-BEGIN userspace/{name}\n");
    let end = format!("XTASK-END userspace/{name} ");
    let body = &output[output.find(&begin)? + begin.len()..];
    Some(match body.find(&end) {
        Some(e) => {
            let status = body[e + end.len()..].lines().next().unwrap_or("").trim();
            (&body[..e], status == "0")
        }
        None => (body, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(name: &str, after: &[&str]) -> Consumer {
        Consumer {
            name: name.into(),
            dir: PathBuf::new(),
            manifest: Manifest {
                after: after.iter().map(|s| s.to_string()).collect(),
                ..Manifest::default()
            },
        }
    }

    #[test]
    fn consumers_come_after_what_they_use() {
        let v = order(vec![consumer("mesa", &["libdrm"]), consumer("libdrm", &[])]).unwrap();
        let names: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["libdrm", "mesa"]);
        assert!(order(vec![consumer("a", &["b"]), consumer("b", &["a"])]).is_err());
        assert!(order(vec![consumer("a", &["nope"])]).is_err());
    }

    #[test]
    fn manifests() {
        let m: Manifest =
            toml::from_str("debian = \"libdrm 2.4.124-2\"\npatches = \"2.4.124\"\nafter = []\n")
                .unwrap();
        assert!(matches!(m.patches, Some(Patches::One(ref p)) if p == "2.4.124"));
        let m: Manifest = toml::from_str(
            "crates = [\"drm 0.15.0\"]\npatches = { drm = \"drm\", \"drm-ffi\" = \"drm-ffi\" }\n",
        )
        .unwrap();
        assert!(matches!(m.patches, Some(Patches::PerCrate(ref p)) if p["drm-ffi"] == "drm-ffi"));
        assert!(toml::from_str::<Manifest>("debain = \"x 1\"\n").is_err());
        assert_eq!(split_spec("drm 0.15.0").unwrap(), ("drm", "0.15.0"));
        assert!(split_spec("drm").is_err());
    }

    #[test]
    fn reports_count_every_result() {
        let out = "x\nXTASK-RESULT ok a\r\nXTASK-RESULT fail b: wrong\nXTASK-RESULT skip c: no \
                   amdgpu\nXTASK-FIGURE 49 pairs right\n";
        let mut s = Summary::default();
        let figs = add_report(&mut s, "u", out, false);
        assert_eq!(figs, ["49 pairs right"]);
        assert_eq!(
            (s.rows[0].passed, s.rows[0].failed, s.rows[0].skipped),
            (1, 1, 1)
        );
        // Nothing reported, or a failure exit after passes only: failures.
        let mut s = Summary::default();
        add_report(&mut s, "u", "crashed\n", true);
        assert_eq!(s.rows[0].failures(), 1);
        let mut s = Summary::default();
        add_report(&mut s, "u", "XTASK-RESULT ok a\n", false);
        assert_eq!(s.rows[0].failures(), 1);
    }

    #[test]
    fn guest_blocks() {
        let out = "XTASK-BEGIN userspace/a\nXTASK-RESULT ok x\nXTASK-END userspace/a 0\n\
                   XTASK-BEGIN userspace/b\nXTASK-RESULT ok y\n";
        assert_eq!(guest_block(out, "a"), Some(("XTASK-RESULT ok x\n", true)));
        assert_eq!(guest_block(out, "b"), Some(("XTASK-RESULT ok y\n", false)));
        assert_eq!(guest_block(out, "c"), None);
    }
}
