//! What `cargo xtask fuzz` needs from syzkaller, built offline from Debian's packages: Go 1.27
//! and the Go modules (`linux/syzkaller/go-packages.txt`, unpacked with dpkg-deb, used through an
//! alternate go.mod outside the checkout), syz-manager, syz-db, syz-execprog and syz-executor
//! (g++), the guest root (`linux/syzkaller/create-image.sh`), the line tables of the objects
//! that hold the new functions, the manager's run and the line coverage of the new functions.

use crate::kernel;
use crate::util::{self, Result};
use anyhow::{anyhow, bail, Context};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The share of the new functions' lines (lines with a KCOV call site) a run must cover.
pub const COVERAGE_GOAL: f64 = 90.0;

/// syz-manager's HTTP interface (local only).
const HTTP: &str = "127.0.0.1:56741";

/// The new functions of the series, the object that holds each and the file it is defined in.
/// `dma_buf_same_object` and `dma_buf_compare` are static without KUnit (and may be inlined into
/// `dma_buf_ioctl`): lines are attributed by source position, never by symbol.
pub const FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "drm_file_same_ioctl",
        "drivers/gpu/drm/drm_ioctl.o",
        "drivers/gpu/drm/drm_ioctl.c",
    ),
    (
        "drm_file_compare",
        "drivers/gpu/drm/drm_file.o",
        "drivers/gpu/drm/drm_file.c",
    ),
    (
        "dma_buf_same_object",
        "drivers/dma-buf/dma-buf.o",
        "drivers/dma-buf/dma-buf.c",
    ),
    (
        "dma_buf_compare",
        "drivers/dma-buf/dma-buf.o",
        "drivers/dma-buf/dma-buf.c",
    ),
    (
        "same_storage_udmabuf",
        "drivers/dma-buf/udmabuf.o",
        "drivers/dma-buf/udmabuf.c",
    ),
    (
        "vb2_common_same_storage",
        "drivers/media/common/videobuf2/videobuf2-memops.o",
        "drivers/media/common/videobuf2/videobuf2-memops.c",
    ),
];

/// The project's descriptions (`linux/syzkaller/<name>` and `<name>.const`).
pub const DESCRIPTIONS: &[&str] = &[
    "dev_dri_file_same.txt",
    "dev_dma_buf_same_object.txt",
    "fdsame_guest.txt",
];

/// The Go toolchain and module set: `go` and the environment every go command runs with.
pub struct Go {
    pub bin: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Go {
    fn cmd(&self, syz: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(syz)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

/// A private apt configuration under `dir/apt` (the system's archive, trixie-backports and sid),
/// with an empty package status: the packages are unpacked, never installed.
fn apt_opts(dir: &Path) -> Result<Vec<String>> {
    let (main, _) = kernel::system_archives()?;
    let key = kernel::KEYRING;
    let list = format!(
        "deb [signed-by={key}] {main} trixie-backports main\ndeb [signed-by={key}] {main} sid main\n"
    );
    let mut opts = kernel::apt_config(&dir.join("apt"), &list)?;
    opts.push("-o=Dir::State::status=/dev/null".into());
    Ok(opts)
}

/// The pinned packages of `linux/syzkaller/go-packages.txt` (`name=version`).
fn go_packages() -> Result<Vec<String>> {
    let text = util::read(&util::root().join("linux/syzkaller/go-packages.txt"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Go 1.27 and the modules: the pinned packages downloaded with apt into `dir/debs`, unpacked into
/// `dir/go-root` (once per package list), and the alternate go.mod `dir/syz-go.mod`.
pub fn go_toolchain(dir: &Path) -> Result<Go> {
    let pkgs = go_packages()?;
    let root = dir.join("go-root");
    let stamp_file = dir.join("go-root.stamp");
    let stamp = pkgs.join("\n");
    if fs::read_to_string(&stamp_file).ok().as_deref() != Some(&stamp) {
        let debs = dir.join("debs");
        util::mkdir_p(&debs)?;
        let opts = apt_opts(dir)?;
        eprintln!(
            "xtask: fuzz: Go 1.27 and {} Go module packages (apt)",
            pkgs.len().saturating_sub(2)
        );
        util::run(Command::new("apt-get").args(&opts).args(["-q", "update"]))?;
        let (ok, text) = util::capture(
            Command::new("apt-get")
                .current_dir(&debs)
                .args(&opts)
                .args(["-q", "download"])
                .args(&pkgs),
        )?;
        if !ok {
            bail!("apt-get download failed:\n{}", util::last_lines(&text, 20));
        }
        if root.exists() {
            util::run(Command::new("rm").arg("-rf").arg(&root))?;
        }
        util::mkdir_p(&root)?;
        for p in &pkgs {
            let (name, version) = p.split_once('=').context("go-packages.txt: name=version")?;
            // apt writes ':' of an epoch as %3a in file names.
            let file = fs::read_dir(&debs)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|f| {
                    let n = f.file_name().unwrap().to_string_lossy().replace("%3a", ":");
                    n.starts_with(&format!("{name}_{version}_"))
                })
                .with_context(|| format!("{p} was not downloaded"))?;
            util::run(Command::new("dpkg-deb").arg("-x").arg(&file).arg(&root))?;
        }
        util::write(&stamp_file, &stamp)?;
    }
    let modfile = dir.join("syz-go.mod");
    let bin = root.join("usr/lib/go-1.27/bin/go");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = vec![
        ("PATH".into(), path),
        ("GOTOOLCHAIN".into(), "local".into()),
        ("GOPROXY".into(), "off".into()),
        ("GOSUMDB".into(), "off".into()),
        ("GOWORK".into(), "off".into()),
        ("CGO_ENABLED".into(), "0".into()),
        (
            "GOFLAGS".into(),
            format!("-modfile={} -mod=mod", modfile.display()),
        ),
        ("GOCACHE".into(), dir.join("go-cache").display().to_string()),
        ("GOPATH".into(), dir.join("gopath").display().to_string()),
    ];
    Ok(Go { bin, env })
}

/// The module path a go.mod declares.
fn module_line(gomod: &str) -> Option<String> {
    gomod.lines().find_map(|l| {
        l.trim()
            .strip_prefix("module ")
            .map(|m| m.trim().trim_matches('"').to_string())
    })
}

/// `(module, version)` of every require of a go.mod, block or single-line.
fn requires(gomod: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut in_block = false;
    for l in gomod.lines() {
        let l = l.split("//").next().unwrap().trim();
        if in_block {
            if l == ")" {
                in_block = false;
            } else if let [m, v, ..] = l.split_whitespace().collect::<Vec<_>>()[..] {
                out.push((m.to_string(), v.to_string()));
            }
        } else if l == "require (" {
            in_block = true;
        } else if let Some(rest) = l.strip_prefix("require ") {
            if let [m, v, ..] = rest.split_whitespace().collect::<Vec<_>>()[..] {
                out.push((m.to_string(), v.to_string()));
            }
        }
    }
    out
}

/// Where a module whose Debian package has no go.mod starts: the first path elements that name
/// a repository on the usual hosts (`github.com/o/r`, `golang.org/x/r`, `gopkg.in/r.v1`,
/// `gopkg.in/o/r.v1`, ...).
fn module_depth(rel: &str) -> Option<usize> {
    let parts: Vec<&str> = rel.split('/').collect();
    let d = match parts[0] {
        "github.com" | "gitlab.com" | "golang.org" | "go.yaml.in" | "gonum.org" | "honnef.co"
        | "code.google.com" => 3,
        "google.golang.org" | "go.uber.org" | "go.etcd.io" | "rsc.io" | "dario.cat" | "cel.dev"
        | "go.einride.tech" | "go.mongodb.org" => 2,
        "gopkg.in" => {
            if parts.get(1).is_some_and(|p| p.contains(".v")) {
                2
            } else {
                3
            }
        }
        "go.opencensus.io" => 1,
        _ => return None,
    };
    Some(d)
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    f(dir);
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut subdirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n != "testdata" && n != "vendor"
        })
        .collect();
    subdirs.sort();
    for d in subdirs {
        walk(&d, f);
    }
}

/// The alternate go.mod: syzkaller's module and go lines, a require at syzkaller's version for
/// each requirement Debian ships, a replace of every module under `usr/share/gocode/src` with its
/// directory (a minimal go.mod added where a package has none) and a replace with an empty module
/// (under `stubs`) for every module a go.mod there requires that Debian does not ship. Nothing
/// that syzkaller's commands used here import is stubbed but google.golang.org/appengine/v2,
/// which pkg/html asks only whether it runs on App Engine: a stub that says no.
pub fn write_modfile(syz: &Path, gocode: &Path, out: &Path, stubs: &Path) -> Result<()> {
    let mods = module_dirs(gocode)?;
    let smod = util::read(&syz.join("go.mod"))?;
    let go_line = smod
        .lines()
        .find(|l| l.starts_with("go "))
        .context("syzkaller's go.mod has no go line")?;
    let mut mentioned: BTreeSet<String> = requires(&smod).into_iter().map(|(m, _)| m).collect();
    for d in mods.values() {
        if let Ok(t) = fs::read_to_string(d.join("go.mod")) {
            mentioned.extend(requires(&t).into_iter().map(|(m, _)| m));
        }
    }
    let mut text = format!("module github.com/google/syzkaller\n\n{go_line}\n\nrequire (\n");
    for (m, v) in requires(&smod) {
        if mods.contains_key(&m) || m == APPENGINE {
            text.push_str(&format!("\t{m} {v}\n"));
        }
    }
    text.push_str(")\n\n");
    util::mkdir_p(stubs)?;
    for m in mentioned.iter().chain(mods.keys()).collect::<BTreeSet<_>>() {
        if m == "github.com/google/syzkaller" || !m.contains('.') {
            continue;
        }
        let target = match mods.get(m) {
            Some(d) => d.clone(),
            None => stub(stubs, m)?,
        };
        text.push_str(&format!("replace {m} => {}\n", target.display()));
    }
    util::write(out, &text)
}

/// The one module syz-manager imports that Debian does not package (`pkg/html` asks it only
/// whether it runs on App Engine).
const APPENGINE: &str = "google.golang.org/appengine/v2";

/// The modules under `gocode` (Debian's `usr/share/gocode/src`), by module path: each directory
/// with a go.mod, and each directory at a module path's depth that has none and lies in no other
/// module (a minimal go.mod is written there).
fn module_dirs(gocode: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut mods: BTreeMap<String, PathBuf> = BTreeMap::new();
    walk(gocode, &mut |d| {
        if let Ok(text) = fs::read_to_string(d.join("go.mod")) {
            if let Some(m) = module_line(&text) {
                mods.entry(m).or_insert_with(|| d.to_path_buf());
            }
        }
    });
    let mut missing = vec![];
    walk(gocode, &mut |d| {
        let Ok(rel) = d.strip_prefix(gocode) else {
            return;
        };
        let rel = rel.to_string_lossy().to_string();
        if rel.is_empty() || module_depth(&rel) != Some(rel.split('/').count()) {
            return;
        }
        let inside = mods
            .iter()
            .any(|(m, p)| rel.starts_with(&format!("{m}/")) && p == &gocode.join(m));
        if !mods.contains_key(&rel) && !inside && !d.join("go.mod").exists() {
            missing.push((rel, d.to_path_buf()));
        }
    });
    for (rel, d) in missing {
        util::write(&d.join("go.mod"), &format!("module {rel}\n"))?;
        mods.insert(rel, d);
    }
    Ok(mods)
}

/// An empty module `m` under `stubs` (for a module a go.mod requires but Debian does not ship);
/// App Engine's answers that it does not run there.
fn stub(stubs: &Path, m: &str) -> Result<PathBuf> {
    let d = stubs.join(m.replace('/', "_"));
    util::mkdir_p(&d)?;
    util::write(&d.join("go.mod"), &format!("module {m}\n"))?;
    if m == APPENGINE {
        util::write(
            &d.join("appengine.go"),
            "package appengine\n\n// IsAppEngine: never, outside App Engine.\nfunc IsAppEngine() bool { return false }\n",
        )?;
    }
    Ok(d)
}

/// A copy of the syzkaller checkout `src` (without `.git`) in `dir/syzkaller`, brought up to date
/// with rsync: the descriptions are added and everything is built there, so the user's checkout
/// is never written to.
pub fn working_copy(src: &Path, dir: &Path) -> Result<PathBuf> {
    let dst = dir.join("syzkaller");
    util::mkdir_p(&dst)?;
    if !util::which("rsync") {
        eprintln!("xtask: installing rsync on the host");
        util::run(Command::new("apt-get").args(["install", "-y", "-q", "rsync"]))?;
    }
    // bin/ and sys/'s generated files are the copy's own; the project's descriptions are
    // copied in again by build().
    util::run(
        Command::new("rsync")
            .args(["-a", "--delete", "--exclude=/.git", "--exclude=/bin"])
            .args(["--exclude=/sys/gen", "--exclude=/executor/defs.h"])
            .args(["--exclude=/executor/syscalls.h"])
            .arg(format!("{}/", src.display()))
            .arg(&dst),
    )?;
    let rev = util::output(
        Command::new("git")
            .current_dir(src)
            .args(["rev-parse", "HEAD"]),
    )
    .map(|s| s.trim().to_string())
    .unwrap_or_else(|_| "unknown".into());
    util::write(&dst.join(".git-revision"), &rev)?;
    Ok(dst)
}

/// syz-manager, syz-db, syz-execprog and syz-executor of the working copy `syz`, with the
/// project's descriptions copied into its sys/linux/ and compiled by syz-sysgen.
pub fn build(syz: &Path, dir: &Path, go: &Go) -> Result<()> {
    write_modfile(
        syz,
        &dir.join("go-root/usr/share/gocode/src"),
        &dir.join("syz-go.mod"),
        &dir.join("go-stubs"),
    )?;
    let descs = util::root().join("linux/syzkaller");
    for d in DESCRIPTIONS {
        for n in [d.to_string(), format!("{d}.const")] {
            util::copy(&descs.join(&n), &syz.join("sys/linux").join(&n))?;
        }
    }
    let rev = fs::read_to_string(syz.join(".git-revision")).unwrap_or_else(|_| "unknown".into());
    eprintln!("xtask: fuzz: building syzkaller in {}", syz.display());
    go_tools(syz, go, &rev)?;
    executor(syz, go, &rev)
}

/// syz-sysgen (run: it compiles sys/), syz-manager, syz-db and syz-execprog.
fn go_tools(syz: &Path, go: &Go, rev: &str) -> Result<()> {
    let ldflags = format!("-s -w -X github.com/google/syzkaller/prog.GitRevision={rev}");
    let gobuild = |out: &str, pkg: &str| -> Result<()> {
        let (ok, text) = util::capture(go.cmd(syz).args([
            "build",
            &format!("-ldflags={ldflags}"),
            "-o",
            out,
            pkg,
        ]))?;
        if !ok {
            bail!("go build {pkg} failed:\n{}", util::last_lines(&text, 30));
        }
        Ok(())
    };
    gobuild("bin/syz-sysgen", "./sys/syz-sysgen")?;
    let (ok, text) = util::capture(Command::new(syz.join("bin/syz-sysgen")).current_dir(syz))?;
    if !ok {
        bail!("syz-sysgen failed:\n{}", util::last_lines(&text, 30));
    }
    gobuild("bin/syz-manager", "./syz-manager")?;
    gobuild("bin/syz-db", "./tools/syz-db")?;
    gobuild("bin/linux_amd64/syz-execprog", "./tools/syz-execprog")
}

/// syz-executor with g++ and the flags syzkaller's own make helper prints, unless it is newer
/// than every file of executor/ (where syz-sysgen writes the generated headers).
fn executor(syz: &Path, go: &Go, rev: &str) -> Result<()> {
    let exe = syz.join("bin/linux_amd64/syz-executor");
    if newer_than_dir(&exe, &syz.join("executor")) {
        return Ok(());
    }
    let env = util::output(go.cmd(syz).args(["run", "./tools/syz-make"]))?;
    let cxxflags = env
        .split("\\n")
        .flat_map(str::lines)
        .find_map(|l| l.trim().strip_prefix("export ADDCXXFLAGS="))
        .context("syz-make printed no ADDCXXFLAGS")?
        .to_string();
    let mut gxx = Command::new("g++");
    gxx.current_dir(syz)
        .args(["-o", "bin/linux_amd64/syz-executor", "executor/executor.cc"])
        .args(cxxflags.split_whitespace())
        .args([
            "-DGOOS_linux=1",
            "-DGOARCH_amd64=1",
            "-DHOSTGOOS_linux=1",
            &format!("-DGIT_REVISION=\"{rev}\""),
        ]);
    let (ok, text) = util::capture(&mut gxx)?;
    if !ok {
        bail!(
            "building syz-executor failed:\n{}",
            util::last_lines(&text, 30)
        );
    }
    Ok(())
}

/// Whether `file` exists and is newer than every file of `dir` (syz-sysgen writes the executor's
/// generated headers there).
fn newer_than_dir(file: &Path, dir: &Path) -> bool {
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(t) = mtime(file) else {
        return false;
    };
    let mut newest = None;
    walk(dir, &mut |d| {
        for e in fs::read_dir(d).into_iter().flatten().flatten() {
            if let Some(m) = mtime(&e.path()) {
                newest = newest.max(Some(m));
            }
        }
    });
    newest.is_some_and(|n| n <= t)
}

/// The guest root (initramfs) and its ssh key.
pub struct Guest {
    pub initrd: PathBuf,
    pub key: PathBuf,
}

/// The guest root in `dir`, made by linux/syzkaller/create-image.sh again whenever the script
/// changed (`bookworm.stamp` holds the text it was made with).
pub fn guest_root(dir: &Path) -> Result<Guest> {
    let g = Guest {
        initrd: dir.join("bookworm.cpio"),
        key: dir.join("bookworm.id_rsa"),
    };
    let script = util::root().join("linux/syzkaller/create-image.sh");
    let stamp_file = dir.join("bookworm.stamp");
    let stamp = fs::read_to_string(&script).with_context(|| format!("{}", script.display()))?;
    let current = fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str());
    if current && g.initrd.exists() && g.key.exists() {
        return Ok(g);
    }
    if !util::which("debootstrap") {
        eprintln!("xtask: installing debootstrap on the host");
        util::run(Command::new("apt-get").args(["install", "-y", "-q", "debootstrap"]))?;
    }
    let archive = kernel::system_archives()?.0;
    eprintln!("xtask: fuzz: the guest root (debootstrap bookworm)");
    let (ok, text) = util::capture(Command::new("bash").arg(&script).arg(&archive).arg(dir))?;
    if !ok {
        bail!("create-image.sh failed:\n{}", util::last_lines(&text, 30));
    }
    util::write(&stamp_file, &stamp)?;
    Ok(g)
}

/// Line tables for the objects that hold the new functions, and only for them (a vmlinux with
/// DWARF everywhere costs a quarter of the KASAN build on 2 cores): each object is compiled again
/// with its own saved command plus `-g` (gcc's code does not depend on -g), then vmlinux is linked
/// again. syz-manager's coverage report then knows these files; kbuild sees the same command and a
/// newer object, and keeps it.
pub fn line_tables(tree: &Path, obj: &Path) -> Result<()> {
    let _lock = kernel::lock_builds()?;
    let mut redone = false;
    let objects: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.1).collect();
    for o in objects {
        let path = obj.join(o);
        let (_, sections) = util::capture(Command::new("readelf").arg("-S").arg(&path))?;
        if sections.contains(".debug_line") {
            continue;
        }
        let (dirname, base) = o.rsplit_once('/').unwrap();
        let cmd_file = obj.join(dirname).join(format!(".{base}.cmd"));
        let saved = util::read(&cmd_file)?;
        let cmd = saved
            .lines()
            .find_map(|l| l.split_once(":= ").map(|(_, c)| c))
            .with_context(|| format!("no saved command in {}", cmd_file.display()))?;
        if !cmd.contains(" -c -o ") {
            bail!("unexpected command in {}: {cmd}", cmd_file.display());
        }
        let cmd = cmd.replacen(" -c -o ", " -g -c -o ", 1);
        let (ok, text) = util::capture(util::sh(&cmd).current_dir(obj))?;
        if !ok {
            bail!("{o} with -g failed:\n{}", util::last_lines(&text, 20));
        }
        redone = true;
    }
    if redone || !obj.join("vmlinux").exists() {
        eprintln!("xtask: fuzz: linking vmlinux again with the line tables of the new functions");
        let (ok, text) = util::capture(kernel::make(tree, obj).args(["-j2", "bzImage"]))?;
        if !ok {
            bail!("relinking failed:\n{}", util::last_lines(&text, 30));
        }
    }
    Ok(())
}

/// What one fuzzing run needs.
pub struct Run<'a> {
    /// The working copy of syzkaller, built.
    pub syz: &'a Path,
    /// build/fuzz: the manager's configuration and work directory go there.
    pub dir: &'a Path,
    pub guest: &'a Guest,
    /// The bzImage, and the kernel's object and source trees.
    pub kernel: &'a Path,
    pub obj: &'a Path,
    pub src: &'a Path,
    /// How long the manager fuzzes, in minutes.
    pub minutes: u32,
    /// Go on from the last work directory's corpus.
    pub keep_corpus: bool,
    /// kmemleak on in the guest (syzkaller's leak checking); off otherwise.
    pub leak: bool,
}

/// The line coverage of one new function: lines are 1-based lines of its source file, counted
/// when they hold a KCOV call site.
pub struct Coverage {
    pub function: String,
    pub covered: u32,
    pub lines: u32,
    /// The lines not covered.
    pub missed: Vec<u32>,
}

impl Coverage {
    /// Covered lines in percent (0 to 100).
    pub fn percent(&self) -> f64 {
        100.0 * f64::from(self.covered) / f64::from(self.lines.max(1))
    }
}

/// What a run reports.
pub struct Report {
    /// Minutes the manager ran, rounded down.
    pub minutes: u32,
    /// The manager's last "exec total", "corpus" (programs) and "coverage" (PCs of the whole
    /// kernel) figures; 0 when its log has none.
    pub executions: u64,
    pub corpus: u64,
    pub cover: u64,
    /// "title (crash directory)" of each crash syz-manager saved.
    pub crashes: Vec<String>,
    /// Calls of SYSCALLS that syz-manager disabled (it cannot make them work in the guest, or
    /// nothing makes their resources), with its reason: each is a part that did not run.
    pub disabled: Vec<String>,
    pub coverage: Vec<Coverage>,
    /// Why the run is incomplete: the manager ended early, or its coverage could not be read
    /// (then the coverage is the last one saved during the run, if any).
    pub incomplete: Option<String>,
    pub workdir: PathBuf,
}

/// The syscalls the manager may generate: the new ioctls, what makes their resources (DRM card,
/// render and lease fds of vkms, vgem and bochs; dumb buffers and their PRIME exports; udmabufs
/// over sealed memfds; vim2m's exported planes; system-heap buffers), the removal and making
/// again of the configfs vkms device and of the second bochs-display (fdsame_guest.txt), and what
/// copies and closes fds.
pub const SYSCALLS: &[&str] = &[
    "ioctl$DRM_IOCTL_FILE_SAME",
    "ioctl$DRM_IOCTL_FILE_SAME_dri",
    "ioctl$DMA_BUF_IOCTL_SAME_OBJECT",
    "ioctl$DMA_BUF_IOCTL_SAME_OBJECT_buf",
    "syz_open_dev$dri",
    "openat$drirender128",
    "ioctl$DRM_IOCTL_SET_MASTER",
    "ioctl$DRM_IOCTL_DROP_MASTER",
    "ioctl$DRM_IOCTL_MODE_GETRESOURCES",
    "ioctl$DRM_IOCTL_MODE_CREATE_LEASE",
    "ioctl$DRM_IOCTL_MODE_CREATE_LEASE_dri",
    "openat$vkms_enabled",
    "write$vkms_enabled",
    "openat$pci_remove_bochs",
    "write$pci_remove_bochs",
    "openat$pci_rescan",
    "write$pci_rescan",
    "ioctl$DRM_IOCTL_MODE_CREATE_DUMB",
    "ioctl$DRM_IOCTL_MODE_DESTROY_DUMB",
    "ioctl$DRM_IOCTL_PRIME_HANDLE_TO_FD_dma_buf",
    "openat$dma_heap",
    "ioctl$DMA_HEAP_IOCTL_ALLOC",
    "ioctl$DMA_HEAP_IOCTL_ALLOC_dma_buf",
    "openat$udambuf",
    "ioctl$UDMABUF_CREATE",
    "ioctl$UDMABUF_CREATE_LIST",
    "memfd_create",
    "ftruncate",
    "fcntl$addseals",
    "syz_open_dev$vim2m",
    "ioctl$vim2m_VIDIOC_S_FMT",
    "ioctl$vim2m_VIDIOC_REQBUFS",
    "ioctl$vim2m_VIDIOC_CREATE_BUFS",
    "ioctl$vim2m_VIDIOC_EXPBUF",
    "dup",
    "dup2",
    "dup3",
    "fcntl$dupfd",
    "close",
];

/// The manager's configuration: one QEMU VM under TCG (syz-manager then scales its timeouts by
/// 10), 2 vCPUs, the initramfs root, a second bochs device (two DRM devices of one driver).
pub fn manager_config(r: &Run, workdir: &Path) -> String {
    let image = r.dir.join("empty.img");
    let q = |p: &Path| serde_json::Value::String(p.display().to_string());
    let cfg = serde_json::json!({
        "name": "fdsame",
        "target": "linux/amd64",
        "http": HTTP,
        "workdir": q(workdir),
        "kernel_obj": q(r.obj),
        "kernel_src": q(r.src),
        "image": q(&image),
        "sshkey": q(&r.guest.key),
        "syzkaller": q(r.syz),
        "procs": 2,
        "sandbox": "none",
        "cover": true,
        "reproduce": true,
        "type": "qemu",
        "vm": {
            "count": 1,
            "cpu": 2,
            "mem": 3072,
            "kernel": q(r.kernel),
            "initrd": q(&r.guest.initrd),
            "network_device": "virtio-net-pci",
            "qemu_args": "-accel tcg,thread=multi -device bochs-display",
            "cmdline": if r.leak { "" } else { "kmemleak=off" },
        },
        "enable_syscalls": SYSCALLS,
    });
    serde_json::to_string_pretty(&cfg).unwrap()
}

/// One HTTP/1.0 GET to the manager; the body.
fn http_get(path: &str) -> Result<String> {
    let mut s = std::net::TcpStream::connect(HTTP).with_context(|| format!("connect {HTTP}"))?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {HTTP}\r\n\r\n")?;
    let mut buf = vec![];
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("GET {path}: no HTTP header"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}

/// The value of `name` in the manager's last status line
/// (`... corpus=6 coverage=1091 exec total=243 (62/min) ...`).
fn stat(log: &str, name: &str) -> u64 {
    log.lines()
        .rev()
        .filter(|l| l.contains("exec total="))
        .find_map(|l| {
            let i = l.find(&format!(" {name}="))?;
            let rest = &l[i + name.len() + 2..];
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            n.parse().ok()
        })
        .unwrap_or(0)
}

/// The calls of SYSCALLS in the manager log's "disabled the following syscalls" and
/// "transitively disabled ..." lists: "call: reason".
fn disabled_calls(log: &str) -> Vec<String> {
    let mut out = vec![];
    let mut in_list = false;
    for l in log.lines() {
        if l.starts_with("disabled the following syscalls")
            || l.starts_with("transitively disabled the following syscalls")
        {
            in_list = true;
            continue;
        }
        if l.trim().is_empty() {
            in_list = false;
            continue;
        }
        if !in_list {
            continue;
        }
        let (call, why) = l.split_once(':').unwrap_or((l, ""));
        if SYSCALLS.contains(&call.trim()) {
            out.push(format!("{}:{}", call.trim(), why.trim_end()));
        }
    }
    out
}

/// The crash directories of the work directory: the first line (title) of each description.
fn crashes(workdir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(workdir.join("crashes")) else {
        return vec![];
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| {
            let title = fs::read_to_string(e.path().join("description")).unwrap_or_default();
            format!(
                "{} ({})",
                title.lines().next().unwrap_or("?"),
                e.path().display()
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs syz-manager for `r.minutes`, then reads its figures and coverage and stops it. A manager
/// that ends early, or whose coverage cannot be read, still gives its crashes and figures (and
/// the coverage saved during the run), with the reason in `incomplete`.
pub fn fuzz(r: &Run) -> Result<Report> {
    let workdir = fresh_workdir(r)?;
    let saved = workdir.join("rawcover.txt");
    // With --keep-corpus the last run's coverage is there: never count it as this run's.
    if saved.exists() {
        fs::remove_file(&saved).with_context(|| util::cannot("remove", &saved))?;
    }
    let log_path = workdir.join("manager.log");
    let mut manager = start_manager(r, &workdir, &log_path)?;
    let t0 = Instant::now();
    let exited = watch(&mut manager.0, r.minutes, &workdir, &log_path)?;
    let elapsed = t0.elapsed().as_secs() / 60;
    let mut incomplete = exited.map(|st| format!("syz-manager exited after {elapsed} min: {st}"));
    if incomplete.is_none() {
        match http_get("/rawcover") {
            Ok(text) => util::write(&saved, &text)?,
            Err(e) => incomplete = Some(format!("syz-manager's /rawcover: {e:#}")),
        }
    }
    drop(manager);
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let pcs = parse_rawcover(&fs::read_to_string(&saved).unwrap_or_default());
    Ok(Report {
        minutes: u32::try_from(elapsed).unwrap_or(u32::MAX),
        executions: stat(&text, "exec total"),
        corpus: stat(&text, "corpus"),
        cover: stat(&text, "coverage"),
        crashes: crashes(&workdir),
        disabled: disabled_calls(&text),
        coverage: line_coverage(r.obj, r.src, &pcs)?,
        incomplete,
        workdir,
    })
}

/// The manager's work directory: the last run's moved to `workdir.prev` unless the corpus is
/// kept; a new one seeded with `linux/syzkaller/seeds`.
fn fresh_workdir(r: &Run) -> Result<PathBuf> {
    let workdir = r.dir.join("workdir");
    if !r.keep_corpus && workdir.exists() {
        let prev = r.dir.join("workdir.prev");
        if prev.exists() {
            fs::remove_dir_all(&prev).with_context(|| util::cannot("remove", &prev))?;
        }
        util::rename(&workdir, &prev)?;
    }
    util::mkdir_p(&workdir)?;
    let corpus_db = workdir.join("corpus.db");
    if !corpus_db.exists() {
        util::run(
            Command::new(r.syz.join("bin/syz-db"))
                .arg("pack")
                .arg(util::root().join("linux/syzkaller/seeds"))
                .arg(&corpus_db),
        )?;
    }
    Ok(workdir)
}

/// A running syz-manager, stopped when dropped (an error or a panic in xtask never leaves it
/// running); it gets SIGINT should xtask itself die.
struct Manager(Child);

impl Drop for Manager {
    fn drop(&mut self) {
        stop_manager(&mut self.0);
    }
}

/// Writes the manager's configuration and starts it, its output into `log_path`.
fn start_manager(r: &Run, workdir: &Path, log_path: &Path) -> Result<Manager> {
    util::write(&r.dir.join("empty.img"), "")?;
    let cfg = r.dir.join("manager.cfg");
    util::write(&cfg, &manager_config(r, workdir))?;
    let log = fs::File::create(log_path).with_context(|| util::cannot("create", log_path))?;
    eprintln!(
        "xtask: fuzz: syz-manager for {} min (http://{HTTP}, log {})",
        r.minutes,
        log_path.display()
    );
    let mut cmd = Command::new(r.syz.join("bin/syz-manager"));
    cmd.arg("-config")
        .arg(&cfg)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null());
    // SAFETY: prctl(PR_SET_PDEATHSIG) is a single system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::INT))
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn().map(Manager).context("cannot start syz-manager")
}

/// Lets the manager run for `minutes`, printing its figures every minute and saving the
/// corpus's coverage every 10 (kept should the manager end badly). Returns its exit status when
/// it ended before.
fn watch(
    child: &mut Child,
    minutes: u32,
    workdir: &Path,
    log_path: &Path,
) -> Result<Option<std::process::ExitStatus>> {
    let t0 = Instant::now();
    let total = Duration::from_secs(u64::from(minutes) * 60);
    let mut next_save = Duration::from_secs(600);
    while t0.elapsed() < total {
        std::thread::sleep(Duration::from_secs(60).min(total.saturating_sub(t0.elapsed())));
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        let text = fs::read_to_string(log_path).unwrap_or_default();
        eprintln!(
            "xtask: fuzz: {:>3} min: executed {}, corpus {}, coverage {}, crashes {}",
            t0.elapsed().as_secs() / 60,
            stat(&text, "exec total"),
            stat(&text, "corpus"),
            stat(&text, "coverage"),
            crashes(workdir).len()
        );
        if t0.elapsed() >= next_save {
            next_save += Duration::from_secs(600);
            if let Ok(text) = http_get("/rawcover") {
                util::write(&workdir.join("rawcover.txt"), &text)?;
            }
        }
    }
    Ok(None)
}

/// SIGINT (the manager saves its corpus and stops the VM), then a kill after 120 s; nothing when
/// it has already exited.
fn stop_manager(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let t = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_secs(1));
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The PCs of syz-manager's /rawcover: one hexadecimal number a line.
pub fn parse_rawcover(text: &str) -> BTreeSet<u64> {
    text.lines()
        .filter_map(|l| u64::from_str_radix(l.trim().trim_start_matches("0x"), 16).ok())
        .collect()
}

/// The lines (first, last) of each new function's definition in its source file: from the line
/// that names it followed by `(` at the start of a definition to the closing `}` in column 0.
fn function_lines(src: &str, name: &str) -> Option<(u32, u32)> {
    let lines: Vec<&str> = src.lines().collect();
    let start = lines.iter().position(|l| {
        !l.starts_with(' ')
            && !l.starts_with('\t')
            && !l.trim_end().ends_with(';')
            && l.contains(&format!("{name}("))
    })?;
    let end = lines[start..].iter().position(|l| *l == "}")? + start;
    Some((start as u32 + 1, end as u32 + 1))
}

/// The addresses of vmlinux's symbols (nm); None for a name that several symbols share.
struct Symbols(BTreeMap<String, Option<u64>>);

impl Symbols {
    fn of(vmlinux: &Path) -> Result<Symbols> {
        let text = util::output(Command::new("nm").arg(vmlinux))?;
        let mut map: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for l in text.lines() {
            let mut w = l.split_whitespace();
            let (Some(a), Some(_), Some(n)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let Ok(a) = u64::from_str_radix(a, 16) else {
                continue;
            };
            map.entry(n.to_string())
                .and_modify(|v| {
                    if *v != Some(a) {
                        *v = None;
                    }
                })
                .or_insert(Some(a));
        }
        Ok(Symbols(map))
    }
}

/// What one line of `objdump -dr -l` says.
enum DumpLine<'a> {
    /// "0000000000000123 <drm_file_compare>:": a function starts at this offset.
    Function(&'a str, u64),
    /// "/path/to/file.c:123": what follows comes from this line of `file` (0: another file).
    Line(u32),
    /// "  12f: R_X86_64_PLT32  __sanitizer_cov_trace_pc-0x4": a KCOV call's operand offset.
    CovCall(u64),
    Other,
}

fn dump_line<'a>(l: &'a str, file: &str) -> DumpLine<'a> {
    if let Some((addr, name)) = l.strip_suffix(">:").and_then(|r| r.split_once(" <")) {
        return DumpLine::Function(name, u64::from_str_radix(addr.trim(), 16).unwrap_or(0));
    }
    if let Some((path, n)) = l.rsplit_once(':') {
        if path.ends_with(file) && !path.contains(' ') {
            let n = n.split_whitespace().next().and_then(|x| x.parse().ok());
            return DumpLine::Line(n.unwrap_or(0));
        }
        if path.starts_with('/') && !path.contains(' ') {
            return DumpLine::Line(0);
        }
    }
    if l.contains("R_X86_64_PLT32") && l.contains("__sanitizer_cov_trace_pc-") {
        let off = l.trim().split(':').next().unwrap_or("").trim();
        if let Ok(off) = u64::from_str_radix(off, 16) {
            return DumpLine::CovCall(off);
        }
    }
    DumpLine::Other
}

/// The KCOV call sites of the lines `first..=last` of `file` in an object's disassembly, by
/// line: the vmlinux address each call returns to (what KCOV reports). The object's functions
/// sit at the same offsets in vmlinux. An error when the function that holds a call site has a
/// name several symbols of vmlinux share (its address would be a guess).
fn call_sites(
    dump: &str,
    file: &str,
    lines: (u32, u32),
    syms: &Symbols,
) -> Result<BTreeMap<u32, Vec<u64>>> {
    let (mut func, mut func_off, mut line) = ("", 0u64, 0u32);
    let mut sites: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for l in dump.lines() {
        match dump_line(l, file) {
            DumpLine::Function(name, off) => (func, func_off) = (name, off),
            DumpLine::Line(n) => line = n,
            DumpLine::CovCall(off) if (lines.0..=lines.1).contains(&line) => {
                match syms.0.get(func) {
                    // The relocation is the call's 4-byte operand; KCOV reports the next insn.
                    Some(Some(base)) => sites
                        .entry(line)
                        .or_default()
                        .push(base + (off + 4 - func_off)),
                    Some(None) => bail!("{func}: several symbols of vmlinux have this name"),
                    None => {}
                }
            }
            _ => {}
        }
    }
    Ok(sites)
}

/// Which of `sites`' lines the corpus covers. KCOV reports the call's return address;
/// syzkaller may report the call itself, and the executor may keep only the low 32 bits.
fn score(function: &str, sites: &BTreeMap<u32, Vec<u64>>, pcs: &BTreeSet<u64>) -> Coverage {
    let low: BTreeSet<u64> = pcs.iter().map(|p| p & 0xffff_ffff).collect();
    let hit = |a: u64| {
        [a, a - 5]
            .iter()
            .any(|x| pcs.contains(x) || low.contains(&(x & 0xffff_ffff)))
    };
    let mut c = Coverage {
        function: function.to_string(),
        covered: 0,
        lines: sites.len() as u32,
        missed: vec![],
    };
    for (line, addrs) in sites {
        if addrs.iter().any(|a| hit(*a)) {
            c.covered += 1;
        } else {
            c.missed.push(*line);
        }
    }
    c
}

/// The line coverage of the new functions: the lines that hold a KCOV call site
/// (`__sanitizer_cov_trace_pc`, the points KCOV reports; from the object's relocations and its
/// line table), and of those the ones whose call site's return address syz-manager's corpus
/// covers.
pub fn line_coverage(obj: &Path, src: &Path, pcs: &BTreeSet<u64>) -> Result<Vec<Coverage>> {
    let syms = Symbols::of(&obj.join("vmlinux"))?;
    let mut out = vec![];
    for (func, o, file) in FUNCTIONS {
        let text = util::read(&src.join(file))?;
        let lines =
            function_lines(&text, func).with_context(|| format!("{func} not found in {file}"))?;
        let dump = util::output(
            Command::new("objdump")
                .args(["-dr", "--no-show-raw-insn", "-l"])
                .arg(obj.join(o)),
        )?;
        let sites = call_sites(&dump, file, lines, &syms)?;
        if sites.is_empty() {
            bail!("no KCOV call sites of {func} found in {o} (no line table?)");
        }
        out.push(score(func, &sites, pcs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_requires() {
        let m = "module x\n\ngo 1.26.0\n\nrequire (\n\ta.b/c v1.0.0\n\td.e/f v0.1.0 // indirect\n)\n\nrequire g.h/i v2.0.0\n";
        assert_eq!(module_line(m).as_deref(), Some("x"));
        assert_eq!(
            requires(m),
            [
                ("a.b/c".to_string(), "v1.0.0".to_string()),
                ("d.e/f".to_string(), "v0.1.0".to_string()),
                ("g.h/i".to_string(), "v2.0.0".to_string())
            ]
        );
        assert_eq!(module_depth("github.com/a/b"), Some(3));
        assert_eq!(module_depth("gopkg.in/yaml.v3"), Some(2));
        assert_eq!(module_depth("gopkg.in/alecthomas/kingpin.v2"), Some(3));
        assert_eq!(module_depth("example.com/x"), None);
    }

    #[test]
    fn console_stats() {
        let log = "2026/12/07 14:38:34 candidates=14 corpus=0 coverage=0 exec total=41 (15/min) pending=0 reproducing=0 \n2026/12/07 14:39:44 candidates=0 corpus=6 coverage=1091 exec total=243 (62/min) pending=0 reproducing=0 \n2026/12/07 14:39:45 VM 0: crash: x\n";
        assert_eq!(stat(log, "exec total"), 243);
        assert_eq!(stat(log, "corpus"), 6);
        assert_eq!(stat(log, "coverage"), 1091);
        assert_eq!(stat(log, "nothing"), 0);
    }

    #[test]
    fn kcov_call_sites() {
        let dump = "\
0000000000000100 <drm_file_compare>:
/src/drivers/gpu/drm/drm_file.c:10
 104:\tcall   109 <drm_file_compare+0x9>
\t\t\t105: R_X86_64_PLT32\t__sanitizer_cov_trace_pc-0x4
/src/include/linux/fs.h:3
 110:\tcall   115 <drm_file_compare+0x15>
\t\t\t111: R_X86_64_PLT32\t__sanitizer_cov_trace_pc-0x4
/src/drivers/gpu/drm/drm_file.c:12
 120:\tcall   125 <drm_file_compare+0x25>
\t\t\t121: R_X86_64_PLT32\t__sanitizer_cov_trace_pc-0x4
/src/drivers/gpu/drm/drm_file.c:40
 130:\tcall   135 <drm_file_compare+0x35>
\t\t\t131: R_X86_64_PLT32\t__sanitizer_cov_trace_pc-0x4
";
        let syms = Symbols(BTreeMap::from([(
            "drm_file_compare".to_string(),
            Some(0xffff_ffff_8100_1000),
        )]));
        let sites = call_sites(dump, "drivers/gpu/drm/drm_file.c", (10, 20), &syms).unwrap();
        // The header's line and line 40 (outside the function) are not counted.
        assert_eq!(
            sites,
            BTreeMap::from([
                (10, vec![0xffff_ffff_8100_1009]),
                (12, vec![0xffff_ffff_8100_1025])
            ])
        );
        // Line 10 reported as the call's return address, line 12 not at all.
        let c = score("f", &sites, &BTreeSet::from([0xffff_ffff_8100_1009]));
        assert_eq!((c.covered, c.lines, c.missed), (1, 2, vec![12]));
        // The call itself, with only the low 32 bits kept.
        let c = score("f", &sites, &BTreeSet::from([0x8100_1020]));
        assert_eq!((c.covered, c.missed), (1, vec![10]));
        // A name several symbols share gives no address.
        let ambiguous = Symbols(BTreeMap::from([("drm_file_compare".to_string(), None)]));
        assert!(call_sites(dump, "drivers/gpu/drm/drm_file.c", (10, 20), &ambiguous).is_err());
    }

    #[test]
    fn disabled_calls_of_ours() {
        let log = "x\ndisabled the following syscalls:\nopenat$pci_remove_bochs                     : failed to open /fdsame/bochs_remove\nopenat$other : y\n\ntransitively disabled the following syscalls (missing resource [creating syscalls]):\nclose$binfmt : fd_binfmt [openat$binfmt]\nioctl$DRM_IOCTL_FILE_SAME_dri : fd_dri [x]\n\nopenat$vkms_enabled : not a list line\n";
        let d = disabled_calls(log);
        assert_eq!(d.len(), 2);
        assert!(d[0].starts_with("openat$pci_remove_bochs: failed to open"));
        assert!(d[1].starts_with("ioctl$DRM_IOCTL_FILE_SAME_dri: fd_dri"));
        assert!(disabled_calls("disabled the following syscalls:\n\n").is_empty());
    }

    #[test]
    fn definitions() {
        let src = "static int f(void);\n\nstatic int f(void)\n{\n\treturn g(1);\n}\n";
        assert_eq!(function_lines(src, "f"), Some((3, 6)));
        assert_eq!(function_lines(src, "g"), None);
    }
}
