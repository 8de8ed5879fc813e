//! Every command of `cargo xtask` and every flag, declared once with clap's derive: the help, the
//! errors (exit status 2) and the parsing come from these declarations. A flag or a `--` that a
//! command does not take is an error, never ignored.

use crate::kernel::Flavor;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Environment (test):
  IGT_BUILD=DIR  an IGT build (meson build directory) with the tests of tests/igt/: runs
                 core_file_same and dmabuf_same_object under igt_runner in the guest
  IGT_SRC=DIR    an IGT source tree whose build is DIR/build (IGT_BUILD wins when both are set);
                 neither set: IGT is not run. See tests/igt/README.md

Paths: kernel work tree build/linux-source-<B> (edit the series there, on any branch, commit,
then `cargo xtask export`), objects build/kbuild-<B>[-modules|-debug] (modules installed into
its modroot/), VM runs build/vm/<name>/.";

/// The project's harness: the kernel build, the VM, the static checks and the whole suite.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", after_help = AFTER_HELP)]
pub struct Xtask {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Fetch the pinned base, apply linux/<series>, configure, build (the modules flavour also
    /// builds and installs the modules)
    Kernel(Kernel),
    /// Static checks: checkpatch --strict per patch, kernel-doc -Wall, W=1 + sparse on the
    /// touched objects, htmldocs of the touched Documentation/ directories (new warnings vs the
    /// base), shellcheck of the guest scripts
    Check(Base),
    /// Fetch the pinned base and apply the series (no build): the work tree
    Tree(Base),
    /// Write the work tree's commits since `base` back to linux/<series>
    Export(Base),
    /// Boot the patched kernel and run CMD (as root, host root read-only)
    Vm(Guest),
    /// The whole suite: host tests and static checks once, then for the built-in AND the
    /// modular kernel (one of them with --flavor vm|modules, the debug kernel alone with
    /// --flavor debug): KUnit and the Rust tests in the guest (and IGT when IGT_BUILD or IGT_SRC
    /// is set); ends with one `total: N passed, N failed, N skipped` line, exits non-zero on any
    /// failure, test that did not run, module that did not load, kernel warning or missing
    /// device node
    #[command(after_help = AFTER_HELP)]
    Test(Kernel),
    /// Boot the patched kernel and show the CLI answering on real fds (test and demo first
    /// install the host packages of xtask/host-packages.txt that are missing, when run as root)
    Demo(Kernel),
    /// Run crates/fdsame-bench in the guest; report, JSON and SVG chart into docs/bench/ (ARGS go
    /// to the bench, e.g. -- --quick)
    Bench(Guest),
    /// Upstream IGT (Debian sid's packages, in a debootstrapped root under build/igt-sid) on the
    /// unpatched and the patched kernel, compared test by test; exits non-zero when the series
    /// introduces a failure. Not part of `test`: sid moves
    IgtRegression(IgtRegression),
    /// The consumers of userspace/*/consumer.toml (libdrm, Mesa, drm-rs, ...): each fetched at
    /// its pinned version (Debian source package or crates), patched and built on the host, then
    /// every before/after test in the guest on the series' kernel and on the base without it;
    /// prints one line per script (outputs in build/userspace/report/, figures in
    /// build/userspace/figures.txt) and ends with one `total: N passed, N failed, N skipped` line
    Userspace(Kernel),
    /// syzkaller on the two ioctls: builds syz-manager and syz-executor in a copy of
    /// SYZKALLER_SRC (a syzkaller checkout, never written to; without it the command cannot
    /// run), a Debian 12 guest root and the KASAN + KCOV kernel, fuzzes for --minutes on QEMU
    /// (TCG), reports executions, corpus, crashes and the line coverage of the new functions.
    /// Not part of `test`
    Fuzz(Fuzz),
}

/// The commands that only need the base's work tree (no flavour, no build).
#[derive(Args, Debug, Clone)]
pub struct Base {
    /// Kernel base: 7.3 (newest mainline Debian carries) or 6.12 (LTS)
    #[arg(long, value_name = "B", default_value = "7.3")]
    pub base: String,
}

/// The commands that build and boot a kernel.
#[derive(Args, Debug, Clone)]
pub struct Kernel {
    #[command(flatten)]
    pub base: Base,
    /// vm (default; alias builtin: everything under test built in), modules (DRM, vkms, vgem,
    /// vim2m, bochs, virtio_gpu and the KUnit tests as modules: linux/modules.config, loaded in
    /// the guest with modprobe) or debug (KASAN, lockdep, UBSAN, kmemleak, ...:
    /// linux/debug.config). `test` without it: both vm and modules
    #[arg(long, value_name = "F")]
    pub flavor: Option<Flavor>,
    /// Boot the kernel image(s) already built, no kernel build (quick experiments while another
    /// build runs)
    #[arg(long)]
    pub no_build: bool,
    /// The base without the series (objects in build/kbuild-<B>[-F]-unpatched): how programs
    /// behave on a kernel without the ioctls. Not for `test`, which tests the series
    #[arg(long)]
    pub unpatched: bool,
}

impl Kernel {
    pub fn base(&self) -> &str {
        &self.base.base
    }

    /// The one flavour of the commands that boot one kernel: `--flavor`, or vm.
    pub fn flavor(&self) -> Flavor {
        self.flavor.unwrap_or(Flavor::Vm)
    }
}

/// A kernel command that runs words in the guest (`vm -- CMD...`, `bench -- ARGS`).
#[derive(Args, Debug, Clone)]
pub struct Guest {
    #[command(flatten)]
    pub kernel: Kernel,
    /// The words after `--`
    #[arg(last = true, value_name = "ARGS")]
    pub rest: Vec<String>,
}

/// `--only` of igt-regression.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Unpatched,
    Patched,
}

impl Only {
    pub fn name(self) -> &'static str {
        match self {
            Only::Unpatched => "unpatched",
            Only::Patched => "patched",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct IgtRegression {
    #[command(flatten)]
    pub base: Base,
    /// Rebuild the sid root (debootstrap + apt) even when it is cached
    #[arg(long)]
    pub refresh: bool,
    /// Test list (default tests/igt/regression.txt)
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
    /// igt_runner's overall time budget per kernel, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub budget: u32,
    /// igt_runner's per-test timeout, in seconds
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub per_test_timeout: u32,
    /// Run one kernel only, no comparison (to grow or trim the list)
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Boot the kernel images already built
    #[arg(long)]
    pub no_build: bool,
    /// The child process that builds both kernels under the build lock (internal)
    #[arg(long, hide = true)]
    pub build_kernels: bool,
}

#[derive(Args, Debug, Clone)]
pub struct Fuzz {
    #[command(flatten)]
    pub base: Base,
    /// How long syz-manager fuzzes, in minutes (at least 1)
    #[arg(long, value_name = "M", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub minutes: u32,
    /// Boot the fuzz kernel already built (build/kbuild-<B>-fuzz): no configuration or build,
    /// only the relink that adds the line tables of the new functions
    #[arg(long)]
    pub no_build: bool,
    /// A leak-checking run: kmemleak on, so syzkaller scans for leaks after every 2 × procs
    /// programs (about a tenth of the execution rate) and reproduces only leaks (default: kmemleak
    /// off in the guest, every crash reproduced)
    #[arg(long)]
    pub leak: bool,
    /// Go on from the last run's corpus (default: a new work directory seeded with
    /// linux/syzkaller/seeds; the last one is kept as workdir.prev)
    #[arg(long)]
    pub keep_corpus: bool,
    /// No build and no run: the line coverage of the new functions in a saved /rawcover of
    /// syz-manager (one PC a line; e.g. a running manager's, or build/fuzz/workdir/rawcover.txt)
    #[arg(long, value_name = "FILE")]
    pub rawcover: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(v: &[&str]) -> Result<Cmd, clap::Error> {
        Xtask::try_parse_from(std::iter::once("xtask").chain(v.iter().copied())).map(|x| x.cmd)
    }

    /// clap's own consistency checks of the declarations (ids, conflicts, `last`).
    #[test]
    fn declarations_are_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn kernel_commands() {
        let Ok(Cmd::Test(k)) = parse(&["test"]) else {
            panic!()
        };
        assert_eq!((k.base(), k.flavor, k.no_build), ("7.3", None, false));
        let Ok(Cmd::Vm(g)) = parse(&[
            "vm",
            "--base",
            "6.12",
            "--flavor",
            "modules",
            "--no-build",
            "--",
            "ls",
            "--base",
        ]) else {
            panic!()
        };
        assert_eq!(g.kernel.base(), "6.12");
        assert_eq!(g.kernel.flavor, Some(Flavor::Modules));
        assert!(g.kernel.no_build);
        assert_eq!(g.rest, ["ls", "--base"]);
        let Ok(Cmd::Demo(k)) = parse(&["demo", "--flavor", "builtin"]) else {
            panic!()
        };
        assert_eq!(k.flavor(), Flavor::Vm);
    }

    #[test]
    fn igt_regression_flags() {
        let Ok(Cmd::IgtRegression(f)) = parse(&[
            "igt-regression",
            "--refresh",
            "--list",
            "l.txt",
            "--budget",
            "60",
            "--per-test-timeout",
            "7",
            "--only",
            "unpatched",
        ]) else {
            panic!()
        };
        assert!(f.refresh);
        assert_eq!(f.list, Some(PathBuf::from("l.txt")));
        assert_eq!((f.budget, f.per_test_timeout), (60, 7));
        assert_eq!(f.only, Some(Only::Unpatched));
    }

    #[test]
    fn fuzz_flags() {
        let Ok(Cmd::Fuzz(f)) = parse(&["fuzz"]) else {
            panic!()
        };
        assert_eq!((f.minutes, f.no_build, f.keep_corpus), (60, false, false));
        let Ok(Cmd::Fuzz(f)) = parse(&["fuzz", "--minutes", "5", "--no-build", "--keep-corpus"])
        else {
            panic!()
        };
        assert_eq!((f.minutes, f.no_build, f.keep_corpus), (5, true, true));
        let Ok(Cmd::Fuzz(f)) = parse(&["fuzz", "--rawcover", "r.txt"]) else {
            panic!()
        };
        assert_eq!(f.rawcover, Some(PathBuf::from("r.txt")));
        assert!(parse(&["fuzz", "--flavor", "debug"]).is_err());
        assert!(parse(&["fuzz", "--minutes", "soon"]).is_err());
    }

    /// A flag a command does not take, a missing value, a bad value: errors (exit status 2).
    #[test]
    fn bad_command_lines_are_errors() {
        for bad in [
            &["test", "--nope"][..],
            &["test", "--refresh"],
            &["igt-regression", "--flavor", "vm"],
            &["igt-regression", "--", "x"],
            &["vm", "--base"],
            &["test", "--flavor", "tiny"],
            &["igt-regression", "--budget", "soon"],
            &["igt-regression", "--only", "both"],
            &["frobnicate"],
            &["check", "--", "x"],
            &["export", "--flavor", "debug"],
            &["tree", "--no-build"],
            &["demo", "--", "x"],
            &["test", "--", "x"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
        }
    }

    /// The help names every command and each command's help its flags only.
    #[test]
    fn help_lists_commands_and_their_flags() {
        let mut c = Xtask::command();
        let h = c.render_long_help().to_string();
        for cmd in [
            "kernel",
            "check",
            "tree",
            "export",
            "vm",
            "test",
            "demo",
            "bench",
            "userspace",
        ] {
            assert!(h.contains(cmd), "{cmd}");
        }
        assert!(h.contains("igt-regression") && h.contains("IGT_SRC=DIR"));
        let help = |name: &str| {
            let mut c = Xtask::command();
            c.find_subcommand_mut(name)
                .unwrap()
                .render_long_help()
                .to_string()
        };
        let t = help("test");
        assert!(t.contains("--flavor <F>") && t.contains("IGT_BUILD=DIR"));
        assert!(!t.contains("--refresh"));
        let i = help("igt-regression");
        assert!(i.contains("--per-test-timeout <S>") && !i.contains("--build-kernels"));
        assert!(!help("export").contains("--flavor"));
    }
}
