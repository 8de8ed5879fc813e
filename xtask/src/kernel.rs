//! Kernel bases: fetch a pinned Debian `linux-source-X.Y`, make a git work tree with the series
//! applied, configure it from `linux/vm.config` (plus a flavour fragment) and build it.

use crate::util::{self, Result};
use anyhow::{anyhow, bail, Context};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A pinned kernel base.
pub struct Base {
    /// Short name used on the command line and in paths: `7.3`, `6.12`.
    pub name: &'static str,
    pub package: &'static str,
    /// Exact Debian version; the harness never builds another one.
    pub version: &'static str,
    /// The suite that carries it, and whether it is on the security archive.
    pub suite: &'static str,
    pub security: bool,
    /// Directory under `linux/` with the series for this base.
    pub series: &'static str,
}

pub const BASES: &[Base] = &[
    Base {
        name: "7.3",
        package: "linux-source-7.3",
        version: "7.3.4-1~bpo13+1",
        suite: "trixie-backports",
        security: false,
        series: "patches",
    },
    Base {
        name: "6.12",
        package: "linux-source-6.12",
        version: "6.12.117-1~deb12u1",
        suite: "bookworm-security",
        security: true,
        series: "patches-6.12",
    },
];

pub fn base(name: &str) -> Result<&'static Base> {
    BASES.iter().find(|b| b.name == name).ok_or_else(|| {
        let names: Vec<_> = BASES.iter().map(|b| b.name).collect();
        anyhow!("unknown kernel base `{name}` (known: {})", names.join(", "))
    })
}

/// Kernel build flavour: the VM fragment alone (everything under test built in), with the modular
/// fragment on top (DRM, its drivers, V4L2 and the KUnit tests as modules, as distributions build
/// them), or with the debug fragment on top.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Flavor {
    #[value(alias = "builtin")]
    Vm,
    Modules,
    Debug,
    /// The static checks' object builds (not a kernel that boots): vm.config + check.config.
    Check,
    /// `cargo xtask fuzz`'s kernel: the debug flavour (KASAN, ...) with KCOV and the guest that
    /// syz-manager boots (linux/syzkaller/fuzz.config). Not a `--flavor` of the other commands.
    #[value(skip)]
    Fuzz,
}

impl Flavor {
    /// The name of the configuration in summaries: `guest[builtin] ...`, `kunit[modules] ...`.
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Vm => "builtin",
            Flavor::Modules => "modules",
            Flavor::Debug => "debug",
            Flavor::Check => "check",
            Flavor::Fuzz => "fuzz",
        }
    }
    pub fn suffix(self) -> &'static str {
        match self {
            Flavor::Vm => "",
            Flavor::Modules => "-modules",
            Flavor::Debug => "-debug",
            Flavor::Check => "-check",
            Flavor::Fuzz => "-fuzz",
        }
    }
    /// Kernel command-line words this flavour's guest needs. The debug kernel (KASAN, lockdep,
    /// ...) under TCG interprets the ACPI `_PRT` method (PCI interrupt routing) so slowly that
    /// ACPICA's loop timeout fires (`AE_AML_LOOP_TIMEOUT`): the virtio devices get no interrupt
    /// and the 9p root never mounts. `acpi=noirq` takes PCI interrupt routing from the BIOS's
    /// `$PIR` table instead; ACPI still describes the second CPU.
    pub fn boot_args(self) -> &'static str {
        match self {
            Flavor::Debug => "acpi=noirq",
            Flavor::Vm | Flavor::Modules | Flavor::Check | Flavor::Fuzz => "",
        }
    }
    /// Whether the objects under test are modules (built, installed and loaded by the harness).
    pub fn modular(self) -> bool {
        self == Flavor::Modules
    }
    fn fragments(self) -> Vec<PathBuf> {
        let l = util::root().join("linux");
        match self {
            Flavor::Vm => vec![l.join("vm.config")],
            Flavor::Modules => vec![l.join("vm.config"), l.join("modules.config")],
            Flavor::Debug => vec![l.join("vm.config"), l.join("debug.config")],
            Flavor::Check => vec![l.join("vm.config"), l.join("check.config")],
            Flavor::Fuzz => vec![
                l.join("vm.config"),
                l.join("debug.config"),
                l.join("syzkaller/fuzz.config"),
            ],
        }
    }
}

pub fn tree_dir(b: &Base) -> PathBuf {
    util::build_dir().join(format!("linux-source-{}", b.name))
}

pub fn obj_dir(b: &Base, f: Flavor) -> PathBuf {
    util::build_dir().join(format!("kbuild-{}{}", b.name, f.suffix()))
}

/// The objects of the base without the series (`--unpatched`): `build/kbuild-<B>[-F]-unpatched`.
pub fn unpatched_obj_dir(b: &Base, f: Flavor) -> PathBuf {
    util::build_dir().join(format!("kbuild-{}{}-unpatched", b.name, f.suffix()))
}

/// The object directory of the series' kernel, or of the base alone when `unpatched`.
pub fn obj_dir_of(b: &Base, f: Flavor, unpatched: bool) -> PathBuf {
    if unpatched {
        unpatched_obj_dir(b, f)
    } else {
        obj_dir(b, f)
    }
}

/// Where `make modules_install` puts the modules of a modular flavour (`INSTALL_MOD_PATH`): the
/// guest loads them with `modprobe -d` from there; of the series' kernel, or of the base alone
/// when `unpatched`.
pub fn mod_root_for(b: &Base, f: Flavor, unpatched: bool) -> PathBuf {
    mod_root_of(&obj_dir_of(b, f, unpatched))
}

pub fn series_dir(b: &Base) -> PathBuf {
    util::root().join("linux").join(b.series)
}

/// The patches to `git am`, in order (the cover letter, 0000-*, is not one).
pub fn series_patches(b: &Base) -> Result<Vec<PathBuf>> {
    let v: Vec<PathBuf> = util::sorted_files(&series_dir(b), "patch")?
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("0000-")
        })
        .collect();
    if v.is_empty() {
        return Err(anyhow!("no patches in {}", series_dir(b).display()));
    }
    Ok(v)
}

/// Private apt configuration: a sources list derived from the system's own
/// (same archive addresses, other suites), lists and cache under build/apt.
/// The system's apt configuration is never touched.
fn apt_opts() -> Result<Vec<String>> {
    let (main, security) = system_archives()?;
    let mut list = String::new();
    for b in BASES {
        let uri = if b.security { &security } else { &main };
        list.push_str(&format!(
            "deb [signed-by={KEYRING}] {uri} {} main\n",
            b.suite
        ));
    }
    // Tools newer than this Debian release ships, built from Debian's source packages (sparse).
    list.push_str(&format!("deb-src [signed-by={KEYRING}] {main} sid main\n"));
    apt_config(&util::build_dir().join("apt"), &list)
}

pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Private apt configuration for Debian source packages of the suites a consumer of the uAPI
/// pins (`cargo xtask userspace`): lists and cache under build/apt-src, apart from the kernel's
/// (whose `apt-get update` stays small).
pub fn source_apt_opts() -> Result<Vec<String>> {
    let (main, security) = system_archives()?;
    let mut list = String::new();
    for suite in ["trixie", "trixie-updates", "trixie-backports", "sid"] {
        list.push_str(&format!(
            "deb-src [signed-by={KEYRING}] {main} {suite} main\n"
        ));
    }
    list.push_str(&format!(
        "deb-src [signed-by={KEYRING}] {security} trixie-security main\n"
    ));
    let mut opts = apt_config(&util::build_dir().join("apt-src"), &list)?;
    // apt-get source writes into a directory of ours, which its _apt user cannot.
    opts.push("-o=APT::Sandbox::User=root".into());
    Ok(opts)
}

/// `apt-get update`, then `apt-get source --download-only SPEC` (`NAME=VERSION`) into `dir`,
/// with apt's options `opts` (a private configuration).
pub fn download_source(opts: &[String], spec: &str, dir: &Path) -> Result<()> {
    util::run(Command::new("apt-get").args(opts).args(["-q", "update"]))?;
    util::run(
        Command::new("apt-get")
            .args(opts)
            .args(["-q", "source", "--download-only", spec])
            .current_dir(dir),
    )
}

/// apt's options for a sources list `list` with its lists and cache under `dir`.
pub fn apt_config(dir: &Path, list: &str) -> Result<Vec<String>> {
    for d in ["lists/partial", "cache/archives/partial"] {
        util::mkdir_p(&dir.join(d))?;
    }
    let src = dir.join("sources.list");
    util::write(&src, list)?;
    Ok(vec![
        format!("-o=Dir::Etc::sourcelist={}", src.display()),
        "-o=Dir::Etc::sourceparts=-".into(),
        format!("-o=Dir::State::Lists={}", dir.join("lists").display()),
        format!("-o=Dir::Cache={}", dir.join("cache").display()),
        "-o=APT::Get::List-Cleanup=0".into(),
        "-o=Debug::NoLocking=1".into(),
    ])
}

/// The main and security archive URIs the system's apt uses (deb822 first, then the one-line
/// format); the security one defaults to the main one with `-security`.
pub fn system_archives() -> Result<(String, String)> {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let d822 = read("/etc/apt/sources.list.d/debian.sources");
    let one = read("/etc/apt/sources.list");
    let main = archive_from_deb822(&d822, is_main_suite)
        .or_else(|| archive_from_one_line(&one, is_main_suite))
        .context("no Debian archive found in the system's apt sources")?;
    let security = archive_from_deb822(&d822, is_security_suite)
        .or_else(|| archive_from_one_line(&one, is_security_suite))
        .unwrap_or_else(|| format!("{}-security", main.trim_end_matches('/')));
    Ok((main, security))
}

/// A suite without a dash (`bookworm`, not `bookworm-security`) marks the main archive.
fn is_main_suite(suites: &str) -> bool {
    suites.split_whitespace().any(|s| !s.contains('-'))
}

fn is_security_suite(suites: &str) -> bool {
    suites.split_whitespace().any(|s| s.ends_with("-security"))
}

fn archive_from_deb822(text: &str, wanted: fn(&str) -> bool) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        let (uris, suites) = (field("URIs:")?, field("Suites:")?);
        if !wanted(&suites) {
            return None;
        }
        uris.split_whitespace().next().map(str::to_string)
    })
}

fn archive_from_one_line(text: &str, wanted: fn(&str) -> bool) -> Option<String> {
    text.lines().find_map(|l| {
        let w: Vec<&str> = l
            .split_whitespace()
            .filter(|w| !w.starts_with('['))
            .collect();
        (w.len() >= 3 && w[0] == "deb" && wanted(w[2])).then(|| w[1].to_string())
    })
}

/// Downloads the pinned package (verified by apt against the archive keyring) and returns its path.
pub fn fetch(b: &Base) -> Result<PathBuf> {
    let debs = util::build_dir().join("apt/debs");
    util::mkdir_p(&debs)?;
    let file = debs.join(format!(
        "{}_{}_all.deb",
        b.package,
        b.version.replace(':', "%3a")
    ));
    if file.exists() {
        return Ok(file);
    }
    let opts = apt_opts()?;
    eprintln!("xtask: fetching {} {} ({})", b.package, b.version, b.suite);
    util::run(Command::new("apt-get").args(&opts).args(["-q", "update"]))?;
    let madison = util::output(
        Command::new("apt-cache")
            .args(&opts)
            .args(["madison", b.package]),
    )?;
    let versions: Vec<&str> = madison
        .lines()
        .filter_map(|l| l.split('|').nth(1).map(str::trim))
        .collect();
    if !versions.contains(&b.version) {
        return Err(anyhow!(
            "{} {} has left the archive; the newest version found is {}. \
             Pin it in xtask/src/kernel.rs (and check the series still applies) to use it.",
            b.package,
            b.version,
            versions.first().unwrap_or(&"none")
        ));
    }
    util::run(
        Command::new("apt-get")
            .args(&opts)
            .args(["-q", "download", &format!("{}={}", b.package, b.version)])
            .current_dir(&debs),
    )?;
    if !file.exists() {
        return Err(anyhow!(
            "apt-get download did not produce {}",
            file.display()
        ));
    }
    let (_, sum) = util::capture(Command::new("sha256sum").arg(&file))?;
    eprintln!(
        "xtask: verified by apt; sha256 {}",
        sum.split_whitespace().next().unwrap_or("?")
    );
    Ok(file)
}

fn git(tree: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(tree);
    c.args([
        "-c",
        "user.name=Fdsame Developers",
        "-c",
        "user.email=fdsame-devel@example.invalid",
    ]);
    c
}

/// Makes sure the work tree exists, with the pristine base on branch `base`.
pub fn ensure_tree(b: &Base) -> Result<PathBuf> {
    let tree = tree_dir(b);
    if tree.join(".git").exists() {
        return Ok(tree);
    }
    let deb = fetch(b)?;
    let x = util::build_dir().join(format!("apt/x-{}", b.name));
    let _ = fs::remove_dir_all(&x);
    util::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&x))?;
    let tarball = x.join(format!("usr/src/{}.tar.xz", b.package));
    eprintln!("xtask: extracting {}", tarball.display());
    let _ = fs::remove_dir_all(&tree);
    util::run(
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(util::build_dir()),
    )?;
    let _ = fs::remove_dir_all(&x);
    if !tree.exists() {
        return Err(anyhow!(
            "{} did not unpack to {}",
            tarball.display(),
            tree.display()
        ));
    }
    // Debian's tarball ignores everything at the top level; drop that block so that git sees the tree.
    let gi = tree.join(".gitignore");
    let text = util::read(&gi)?;
    if let Some(i) = text.find("# Debian packaging") {
        let start = text[..i].rfind("\n#\n").map_or(i, |j| j + 1);
        let end = text[i..]
            .find("!/debian/\n")
            .map_or(text.len(), |j| i + j + "!/debian/\n".len());
        util::write(&gi, &format!("{}{}", &text[..start], &text[end..]))?;
    }
    util::run(git(&tree).args(["init", "-q", "-b", "base"]))?;
    util::run(git(&tree).args(["add", "-A"]))?;
    util::run(git(&tree).args([
        "commit",
        "-q",
        "-m",
        &format!("Linux base: {} {}", b.package, b.version),
    ]))?;
    Ok(tree)
}

/// Applies the series from `linux/` onto branch `series` when it changed since the last apply.
/// A work tree with uncommitted edits is never reset: those edits would be lost.
/// The work tree only if it already holds linux/<series> as applied or exported: never touches
/// it (`--no-build`: another build may be using the tree).
pub fn applied(b: &Base) -> Result<PathBuf> {
    let tree = tree_dir(b);
    let stamp = util::stamp(&series_patches(b)?)?;
    let recorded = fs::read_to_string(tree.join(".git/fdsame-series-stamp")).unwrap_or_default();
    if recorded != format!("{stamp}:{}", head(&tree)?) {
        bail!(
            "{} does not hold {} as it is now (--no-build neither applies nor resets it)",
            tree.display(),
            series_dir(b).display()
        );
    }
    Ok(tree)
}

pub fn apply(b: &Base) -> Result<PathBuf> {
    let tree = ensure_tree(b)?;
    let patches = series_patches(b)?;
    let stamp = util::stamp(&patches)?;
    let stamp_file = tree.join(".git/fdsame-series-stamp");
    // The stamp names the series and the commit it was applied as (or exported from): the tree is
    // used as it is only while both still hold.
    let recorded = fs::read_to_string(&stamp_file).ok();
    if recorded == Some(format!("{stamp}:{}", head(&tree)?)) {
        return Ok(tree);
    }
    // Commits made in the tree since it was applied or exported are not in linux/patches yet:
    // re-applying would bury them in the reflog.
    if let Some((_, commit)) = recorded.as_deref().and_then(|r| r.trim().split_once(':')) {
        let now = head(&tree)?;
        if commit != now {
            return Err(anyhow!(
                "{} has commits that are not in {} (HEAD {now}, last applied or exported {commit}): \
                 run `cargo xtask export` to keep them, or `git reset --hard {commit}` there to drop them",
                tree.display(),
                series_dir(b).display()
            ));
        }
    }
    let dirty = util::output(git(&tree).args(["status", "--porcelain", "--untracked-files=no"]))?;
    if !dirty.trim().is_empty() {
        return Err(anyhow!(
            "{} has uncommitted edits; commit them and run `cargo xtask export` (or stash them) first",
            tree.display()
        ));
    }
    eprintln!(
        "xtask: applying {} patches from {}",
        patches.len(),
        series_dir(b).display()
    );
    util::run(git(&tree).args(["checkout", "-q", "-B", "series", "base"]))?;
    let mut am = git(&tree);
    am.args(["am", "-q", "--whitespace=error"]).args(&patches);
    if let Err(e) = util::run(&mut am) {
        let _ = util::run(git(&tree).args(["am", "--abort"]));
        return Err(anyhow!(
            "the series does not apply to {} {}: {e}",
            b.package,
            b.version
        ));
    }
    util::write(&stamp_file, &format!("{stamp}:{}", head(&tree)?))?;
    Ok(tree)
}

fn head(tree: &Path) -> Result<String> {
    Ok(util::output(git(tree).args(["rev-parse", "HEAD"]))?
        .trim()
        .to_string())
}

pub fn make(tree: &Path, obj: &Path) -> Command {
    let mut c = Command::new("make");
    c.current_dir(tree);
    c.arg(format!("O={}", obj.display()));
    c.args(["ARCH=x86_64", "LOCALVERSION="]);
    if util::which("ccache") {
        c.arg("CC=ccache gcc");
    }
    c
}

/// Checks that every line of the fragments survived olddefconfig.
fn verify_config(obj: &Path, fragments: &[PathBuf]) -> Result<()> {
    let config = util::read(&obj.join(".config"))?;
    let mut texts = vec![];
    for f in fragments {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        texts.push((name, util::read(f)?));
    }
    let missing = config_mismatches(&config, &texts)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "these config lines did not stick: {}",
            missing.join(", ")
        ))
    }
}

/// The fragment lines (`(file name, text)`, in merge order) that `.config` does not have. A later
/// fragment overrides an earlier one, as merge_config.sh does (vm.config's `CONFIG_DRM=y`,
/// modules.config's `CONFIG_DRM=m`): only the last fragment that sets a symbol is checked.
/// `CONFIG_X=n` and `# CONFIG_X is not set` both mean: not in `.config` as set.
fn config_mismatches(config: &str, fragments: &[(String, String)]) -> Result<Vec<String>> {
    // Symbol -> (value, fragment), in first-set order, last value wins.
    let mut wanted: Vec<(String, String, &str)> = vec![];
    for (name, text) in fragments {
        for l in text.lines() {
            let l = l.trim();
            let (k, v) = if let Some(k) = l
                .strip_prefix("# ")
                .and_then(|r| r.strip_suffix(" is not set"))
                .filter(|k| k.starts_with("CONFIG_"))
            {
                (k, "n")
            } else if l.is_empty() || l.starts_with('#') {
                continue;
            } else {
                l.split_once('=')
                    .with_context(|| format!("bad line in {name}: {l}"))?
            };
            match wanted.iter_mut().find(|(key, _, _)| key == k) {
                Some(w) => {
                    w.1 = v.to_string();
                    w.2 = name.as_str();
                }
                None => wanted.push((k.to_string(), v.to_string(), name.as_str())),
            }
        }
    }
    let mut missing = vec![];
    for (k, v, name) in wanted {
        let ok = if v == "n" {
            !config.lines().any(|c| c.starts_with(&format!("{k}=")))
        } else {
            config.lines().any(|c| c == format!("{k}={v}"))
        };
        if !ok {
            let now = config
                .lines()
                .find(|c| c.starts_with(&format!("{k}=")))
                .unwrap_or("not set");
            missing.push(format!("{k}={v} ({name}; .config has {now})"));
        }
    }
    Ok(missing)
}

/// Takes the machine-wide kernel build lock, held until the returned file is dropped: two makes
/// in one object directory corrupt it (and a series apply rewrites the tree under a build), and two
/// kernel builds on 2 cores help nobody.
pub fn lock_builds() -> Result<fs::File> {
    util::mkdir_p(&util::build_dir())?;
    let path = util::build_dir().join(".kernel-build.lock");
    let lock = fs::File::create(&path).with_context(|| util::cannot("create", &path))?;
    if lock.try_lock().is_err() {
        eprintln!("xtask: another kernel build is running; waiting for it");
        lock.lock().with_context(|| util::cannot("lock", &path))?;
    }
    Ok(lock)
}

/// Configures (when the fragments changed) and builds the kernel; returns the bzImage path.
pub fn build(b: &Base, flavor: Flavor) -> Result<PathBuf> {
    let _lock = lock_builds()?;
    let tree = apply(b)?;
    build_tree(b, &tree, &obj_dir(b, flavor), flavor)
}

/// The same configuration of the base without the series (the pristine worktree of
/// [`unpatched_tree`]): the kernel the consumers' fallbacks run on, as on a kernel without the
/// ioctls. Returns the bzImage path.
pub fn build_unpatched(b: &Base, flavor: Flavor) -> Result<PathBuf> {
    let _lock = lock_builds()?;
    let tree = unpatched_tree(b)?;
    build_tree(b, &tree, &unpatched_obj_dir(b, flavor), flavor)
}

/// Configures and builds any work tree of base `b` (the patched one, or for comparisons an
/// unpatched worktree) into `obj`. Callers hold [`lock_builds`] while it runs. A modular flavour
/// also builds the modules (modpost must pass) and installs them into `obj/modroot` (depmod).
pub fn build_tree(b: &Base, tree: &Path, obj: &Path, flavor: Flavor) -> Result<PathBuf> {
    configure(b, tree, obj, flavor)?;
    let (tree, obj) = (tree.to_path_buf(), obj.to_path_buf());
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() + 1);
    eprintln!(
        "xtask: building {} ({}) in {}",
        b.package,
        flavor.label(),
        obj.display()
    );
    let t0 = std::time::Instant::now();
    let log = obj.join("build.log");
    let mut c = make(&tree, &obj);
    c.arg(format!("-j{jobs}")).arg("bzImage");
    // One make for both: the modules compile while vmlinux links.
    if flavor.modular() {
        c.arg("modules");
    }
    let (ok, text) = util::capture(&mut c)?;
    util::write(&log, &text)?;
    if !ok {
        return Err(anyhow!(build_failure(&text, &log)));
    }
    let warnings = text.lines().filter(|l| l.contains("warning:")).count();
    let modpost_warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARNING: modpost:"))
        .collect();
    if flavor.modular() {
        install_modules(&tree, &obj, &mod_root_of(&obj))?;
        for w in &modpost_warnings {
            eprintln!("xtask: {w}");
        }
    }
    eprintln!(
        "xtask: kernel built in {:.0} s ({warnings} compiler warnings{}; log {})",
        t0.elapsed().as_secs_f64(),
        if flavor.modular() {
            format!(
                ", {} modpost warnings, modules in {}",
                modpost_warnings.len(),
                mod_root_of(&obj).display()
            )
        } else {
            String::new()
        },
        log.display()
    );
    Ok(obj.join("arch/x86/boot/bzImage"))
}

fn mod_root_of(obj: &Path) -> PathBuf {
    obj.join("modroot")
}

/// The error of a failed build: modpost's and the compiler's errors first (a modpost error, e.g.
/// `ERROR: modpost: "x" [drivers/y.ko] undefined!` or a missing `MODULE_IMPORT_NS`, can be far
/// from the end of the log), then the log's tail.
fn build_failure(text: &str, log: &Path) -> String {
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR:") || l.contains("error:"))
        .take(20)
        .collect();
    let mut msg = format!("kernel build failed (full log {})", log.display());
    if !errors.is_empty() {
        msg.push_str(&format!(
            ":\n{}\n--- the end of the log:",
            errors.join("\n")
        ));
    }
    msg.push_str(&format!("\n{}", util::last_lines(text, 40)));
    msg
}

/// `make modules_install` into `root` (a fresh copy: no module of an earlier configuration stays
/// behind), which runs depmod; checks that depmod wrote modules.dep.
fn install_modules(tree: &Path, obj: &Path, root: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(root);
    let mut c = make(tree, obj);
    c.arg("modules_install")
        .arg(format!("INSTALL_MOD_PATH={}", root.display()));
    let (ok, text) = util::capture(&mut c)?;
    util::write(&obj.join("modules_install.log"), &text)?;
    if !ok {
        return Err(anyhow!("make modules_install failed:\n{text}"));
    }
    let release = util::read(&obj.join("include/config/kernel.release"))?;
    let dep = root
        .join("lib/modules")
        .join(release.trim())
        .join("modules.dep");
    if !dep.exists() {
        return Err(anyhow!(
            "modules_install wrote no {} (is depmod, from kmod, installed?):\n{text}",
            dep.display()
        ));
    }
    Ok(())
}

/// The pristine base as a second work tree (a git worktree of branch `base`), for comparisons.
pub fn unpatched_tree(b: &Base) -> Result<PathBuf> {
    let tree = ensure_tree(b)?;
    let wt = util::build_dir().join(format!("linux-source-{}-unpatched", b.name));
    if !wt.join("Makefile").exists() {
        util::run(
            git(&tree)
                .args(["worktree", "add", "-f", "--quiet"])
                .arg(&wt)
                .arg("base"),
        )?;
    }
    Ok(wt)
}

/// Configures `obj` from tinyconfig and the flavour's fragments, when they changed.
pub fn configure(b: &Base, tree: &Path, obj: &Path, flavor: Flavor) -> Result<()> {
    let (tree, obj) = (tree.to_path_buf(), obj.to_path_buf());
    util::mkdir_p(&obj)?;
    let fragments = flavor.fragments();
    let stamp = util::stamp(&fragments)?;
    let stamp_file = obj.join(".fdsame-config-stamp");
    if fs::read_to_string(&stamp_file).ok().as_deref() != Some(&stamp)
        || !obj.join(".config").exists()
    {
        eprintln!(
            "xtask: configuring {} (tinyconfig + {})",
            obj.display(),
            fragments.len()
        );
        util::run(make(&tree, &obj).arg("-s").arg("tinyconfig"))?;
        let mut merge = Command::new(tree.join("scripts/kconfig/merge_config.sh"));
        merge
            .current_dir(&tree)
            .arg("-m")
            .arg("-O")
            .arg(&obj)
            .arg(obj.join(".config"));
        merge.args(&fragments).env("ARCH", "x86_64");
        let (ok, text) = util::capture(&mut merge)?;
        if !ok {
            return Err(anyhow!("merge_config.sh failed:\n{text}"));
        }
        util::run(make(&tree, &obj).arg("-s").arg("olddefconfig"))?;
        // The pristine base (a comparison build) may lack symbols that the series adds.
        if tree == tree_dir(b) {
            verify_config(&obj, &fragments)?;
        }
        util::write(&stamp_file, &stamp)?;
    }
    Ok(())
}

/// Exports the work tree's commits since `base` back into `linux/<series>/`, with the cover letter
/// (prose from `linux/cover-letter.txt`: first line the subject, then the body; shortlog and
/// diffstat from git) and `get_maintainer.pl`'s answer for each patch in `linux/<series>/MAINTAINERS.txt`.
/// `cargo xtask export`: the work tree's commits since `base` back to linux/<series>, with the
/// cover letter (mainline series only) and MAINTAINERS.txt; records the tree as exported.
pub fn export(b: &Base) -> Result<()> {
    let (tree, dir) = export_guard(b)?;
    let cover = format_patches(b, &tree, &dir)?;
    let who = maintainers(&tree, &dir)?;
    if let Some(cover) = cover {
        address_cover(&cover, &who)?;
    }
    // The work tree now matches the series: record it so that `apply` does not reset it.
    let patches = series_patches(b)?;
    let stamp = format!("{}:{}", util::stamp(&patches)?, head(&tree)?);
    util::write(&tree.join(".git/fdsame-series-stamp"), &stamp)?;
    eprintln!(
        "xtask: exported {} patches to {}",
        patches.len(),
        dir.display()
    );
    Ok(())
}

/// The work tree and the series directory, if exporting loses nothing: no uncommitted edit, and
/// the patches still those the tree was applied from (or last exported as).
fn export_guard(b: &Base) -> Result<(PathBuf, PathBuf)> {
    let tree = tree_dir(b);
    let dirty = util::output(git(&tree).args(["status", "--porcelain", "--untracked-files=no"]))?;
    if !dirty.trim().is_empty() {
        return Err(anyhow!(
            "{} has uncommitted edits: commit them into the right patch first",
            tree.display()
        ));
    }
    let dir = series_dir(b);
    // The patches must still be the ones the tree was applied from (or last exported as): after a
    // pull or a hand edit they are newer than the tree, and exporting would overwrite them.
    let stamp_file = tree.join(".git/fdsame-series-stamp");
    if let Some((recorded, _)) = fs::read_to_string(&stamp_file)
        .ok()
        .as_deref()
        .and_then(|r| r.trim().split_once(':'))
    {
        let now = util::stamp(&series_patches(b).unwrap_or_default())?;
        if recorded != now {
            return Err(anyhow!(
                "{} changed since {} was applied from it, and exporting would overwrite that: run \
                 `cargo xtask tree` to apply it first (or delete {} to export anyway)",
                dir.display(),
                tree.display(),
                stamp_file.display()
            ));
        }
    }
    Ok((tree, dir))
}

/// `git format-patch base..HEAD` into `dir` (its old patches removed); the cover letter filled
/// in from linux/cover-letter.txt, whose path is returned.
fn format_patches(b: &Base, tree: &Path, dir: &Path) -> Result<Option<PathBuf>> {
    util::mkdir_p(dir)?;
    for p in util::sorted_files(dir, "patch").unwrap_or_default() {
        util::remove_file(&p)?;
    }
    // The cover letter is the mainline series'; a backport variant goes out as plain patches.
    let cover_src = util::root().join("linux/cover-letter.txt");
    let cover_src = if b.series == "patches" {
        cover_src
    } else {
        util::root().join("linux/no-cover-letter")
    };
    let mut fp = git(tree);
    // A fixed abbreviation (12, as Documentation/process/submitting-patches.rst asks for) keeps
    // the index lines the same whatever git's object-count estimate is on this machine.
    fp.args([
        "-c",
        "core.abbrev=12",
        "format-patch",
        "-q",
        "--no-signature",
        "--rfc",
        "--zero-commit",
    ]);
    if cover_src.exists() {
        fp.arg("--cover-letter");
    }
    util::run(fp.arg("-o").arg(dir).arg("base..HEAD"))?;
    if !cover_src.exists() {
        return Ok(None);
    }
    let cover = dir.join("0000-cover-letter.patch");
    fill_cover_letter(tree, &cover, &cover_src)?;
    Ok(Some(cover))
}

/// The cover letter's subject and blurb from `src`, dated by the series' last patch.
fn fill_cover_letter(tree: &Path, cover: &Path, src: &Path) -> Result<()> {
    let prose = util::read(src)?;
    let (subject, body) = prose
        .split_once('\n')
        .context("linux/cover-letter.txt: subject line, then body")?;
    let mut text = util::read(cover)?
        .replace("*** SUBJECT HERE ***", subject.trim())
        .replace("*** BLURB HERE ***", body.trim_matches('\n'));
    // git dates the cover letter "now"; date it by the series' last patch instead (its author
    // date, which `git am` keeps), so that exporting an unchanged tree changes nothing.
    let date = util::output(git(tree).args(["log", "-1", "--format=%aD", "HEAD"]))?;
    if let Some(i) = text.find("\nDate: ") {
        let end = text[i + 1..].find('\n').map_or(text.len(), |e| i + 1 + e);
        text.replace_range(i + 1..end, &format!("Date: {}", date.trim()));
    }
    util::write(cover, &text)
}

/// Who to send each patch to: MAINTAINERS.txt in `dir`, returned.
fn maintainers(tree: &Path, dir: &Path) -> Result<String> {
    let mut who = String::from(
        "# scripts/get_maintainer.pl output for each patch (regenerated by `cargo xtask export`)\n",
    );
    for p in util::sorted_files(dir, "patch")? {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("0000-") {
            continue;
        }
        let (_, out) = util::capture(
            Command::new(tree.join("scripts/get_maintainer.pl"))
                .current_dir(tree)
                // Its order among equal entries follows Perl's per-run hash order: pin it.
                .env("PERL_HASH_SEED", "0")
                .env("PERL_PERTURB_KEYS", "0")
                .arg("--no-git-fallback")
                .arg(&p),
        )?;
        who.push_str(&format!("\n## {name}\n{out}"));
        // Lists the patch's own `Cc:` trailers name (linux-api for uAPI, ...), which
        // get_maintainer.pl does not know about.
        for cc in cc_trailers(&util::read(&p)?) {
            who.push_str(&format!("{cc} (Cc: trailer of the patch)\n"));
        }
    }
    util::write(&dir.join("MAINTAINERS.txt"), &who)?;
    Ok(who)
}

/// The cover letter goes to everyone any patch goes to: maintainers as To, the rest as Cc.
fn address_cover(cover: &Path, who: &str) -> Result<()> {
    let (mut to, mut cc) = (Vec::<String>::new(), Vec::<String>::new());
    for l in who
        .lines()
        .filter(|l| l.contains('@') && !l.starts_with('#'))
    {
        let addr = l.split(" (").next().unwrap_or(l).trim().to_string();
        if to.contains(&addr) || cc.contains(&addr) {
            continue;
        }
        if l.contains("(maintainer:") {
            to.push(addr);
        } else {
            cc.push(addr);
        }
    }
    let text = util::read(cover)?;
    if let Some(i) = text.find("\nSubject: ") {
        let headers = format!("\nTo: {}\nCc: {}", to.join(",\n    "), cc.join(",\n    "));
        util::write(cover, &format!("{}{}{}", &text[..i], headers, &text[i..]))?;
    }
    Ok(())
}

/// The addresses of the `Cc:` trailers of a `git format-patch` file's commit message (before
/// its `---` line).
fn cc_trailers(patch: &str) -> Vec<String> {
    patch
        .lines()
        .take_while(|l| *l != "---")
        .filter_map(|l| l.strip_prefix("Cc: "))
        .map(|a| a.trim().to_string())
        .collect()
}

/// Sparse new enough for the kernel's checker test (`__typeof_unqual__`): bookworm's 0.6.4 is not.
/// Built once from Debian's pinned source package into build/tools.
pub const SPARSE_VERSION: &str = "0.6.5~rc1-2";

pub fn sparse() -> Result<PathBuf> {
    let dir = util::build_dir().join("tools/sparse");
    let bin = dir.join("sparse");
    if bin.exists() {
        return Ok(bin);
    }
    let src = util::build_dir().join("tools/sparse-src");
    let _ = fs::remove_dir_all(&src);
    util::mkdir_p(&src)?;
    download_source(&apt_opts()?, &format!("sparse={SPARSE_VERSION}"), &src).with_context(
        || format!("sparse {SPARSE_VERSION} may have left sid: pin the version it has now"),
    )?;
    util::run(&mut util::sh(&format!(
        "cd {} && tar xf sparse_*.orig.tar.* && cd sparse-*/ && make -s -j2 sparse && mkdir -p {} && cp sparse {}",
        src.display(),
        dir.display(),
        bin.display()
    )))?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cc_trailers_of_the_message_only() {
        let p = "Subject: x\n\nBody.\n\nCc: linux-api@vger.kernel.org\nSigned-off-by: A <a@b>\n---\n+Cc: not@this\n";
        assert_eq!(
            super::cc_trailers(p),
            vec!["linux-api@vger.kernel.org".to_string()]
        );
    }

    use super::*;

    #[test]
    fn a_later_fragment_overrides_an_earlier_one() {
        let frag = |name: &str, text: &str| (name.to_string(), text.to_string());
        let vm = frag(
            "vm.config",
            "# comment\nCONFIG_DRM=y\nCONFIG_DRM_VKMS=y\nCONFIG_UDMABUF=y\nCONFIG_INET=n\n",
        );
        let modules = frag("modules.config", "CONFIG_DRM=m\nCONFIG_DRM_VKMS=m\n");
        let config =
            "CONFIG_DRM=m\nCONFIG_DRM_VKMS=m\nCONFIG_UDMABUF=y\n# CONFIG_INET is not set\n";
        // modules.config's =m is what is checked, not vm.config's =y.
        assert_eq!(
            config_mismatches(config, &[vm.clone(), modules.clone()]).unwrap(),
            Vec::<String>::new()
        );
        // vm.config alone wants =y: both lines fail, naming the fragment and the .config value.
        assert_eq!(
            config_mismatches(config, std::slice::from_ref(&vm)).unwrap(),
            [
                "CONFIG_DRM=y (vm.config; .config has CONFIG_DRM=m)",
                "CONFIG_DRM_VKMS=y (vm.config; .config has CONFIG_DRM_VKMS=m)"
            ]
        );
        // The order of the fragments decides: vm.config last sets =y again.
        assert_eq!(config_mismatches(config, &[modules, vm]).unwrap().len(), 2);
        // A symbol the later fragment turns off must be off; "is not set" means =n.
        let off = frag("off.config", "# CONFIG_UDMABUF is not set\n");
        let on = frag("on.config", "CONFIG_UDMABUF=y\n");
        assert_eq!(
            config_mismatches(config, &[on.clone(), off.clone()]).unwrap(),
            ["CONFIG_UDMABUF=n (off.config; .config has CONFIG_UDMABUF=y)"]
        );
        assert!(config_mismatches(config, &[off, on]).unwrap().is_empty());
        assert!(config_mismatches(config, &[frag("bad", "CONFIG_X")]).is_err());
    }

    #[test]
    fn modpost_errors_lead_the_build_failure() {
        let log = "  CC      a.o\nERROR: modpost: \"drm_x\" [drivers/gpu/drm/tests/t.ko] undefined!\nmake[2]: *** [Makefile:1] Error 1\n";
        let msg = build_failure(log, Path::new("/b/build.log"));
        assert!(msg.starts_with(
            "kernel build failed (full log /b/build.log):\nERROR: modpost: \"drm_x\" [drivers/gpu/drm/tests/t.ko] undefined!\n"
        ));
    }

    #[test]
    fn archive_from_the_system_sources() {
        let d822 = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm bookworm-updates\n\n\
                    Types: deb\nURIs: http://a.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            archive_from_deb822(d822, is_main_suite).as_deref(),
            Some("http://a.example/debian")
        );
        let sec_first = "URIs: http://s.example/x\nSuites: bookworm-security\n\nURIs: http://m.example/y\nSuites: bookworm\n";
        assert_eq!(
            archive_from_deb822(sec_first, is_main_suite).as_deref(),
            Some("http://m.example/y")
        );
        let one = "# c\ndeb-src http://x.example/d bookworm main\ndeb [arch=amd64] http://m.example/d bookworm main\n";
        assert_eq!(
            archive_from_one_line(one, is_main_suite).as_deref(),
            Some("http://m.example/d")
        );
        assert_eq!(
            archive_from_one_line(
                "deb http://s.example/d bookworm-security main\n",
                is_main_suite
            ),
            None
        );
        assert_eq!(
            archive_from_deb822(d822, is_security_suite).as_deref(),
            Some("http://a.example/debian-security")
        );
    }
}
