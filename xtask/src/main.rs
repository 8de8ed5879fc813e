//! `cargo xtask`: the project's harness. See `cargo xtask help`.
//!
//! Laid out as rust-analyzer's xtask is: one module per command under `commands/`, one flag
//! parser for all of them (`flags.rs`), and the libraries they share: the kernel work tree and
//! its build (`kernel.rs`), the VM (`vm.rs`), the static checks (`check.rs`), the summary
//! (`results.rs`), IGT glue (`igt.rs`), the host packages (`deps.rs`), small helpers (`util.rs`).

mod check;
mod commands;
mod deps;
mod flags;
mod igt;
mod kernel;
mod results;
mod util;
mod vm;

use std::process::ExitCode;
use util::Result;

/// What each command does, in the order of the help (its synopsis comes from crate::flags).
const COMMAND_HELP: &[(&str, &str)] = &[
    (
        "kernel",
        "fetch the pinned base, apply linux/<series>, configure, build (the modules flavour also \
         builds and installs the modules)",
    ),
    (
        "check",
        "static checks: checkpatch --strict per patch, kernel-doc -Wall, W=1 + sparse on the \
         touched objects, htmldocs of the touched Documentation/ directories (new warnings vs \
         the base)",
    ),
    (
        "tree",
        "fetch the pinned base and apply the series (no build): the work tree",
    ),
    (
        "export",
        "write the work tree's commits since `base` back to linux/<series>",
    ),
    (
        "vm",
        "boot the patched kernel and run CMD (as root, host root read-only)",
    ),
    (
        "test",
        "the whole suite: host tests and static checks once, then for the built-in AND the \
         modular kernel (two builds, two boots; one of them with --flavor vm|modules, the debug \
         kernel alone with --flavor debug): KUnit and the Rust tests in the guest (and IGT when \
         IGT_BUILD or IGT_SRC is set); ends with one `total: N passed, N failed, N skipped` line, \
         exits non-zero on any failure, test that did not run, module that did not load, kernel \
         warning or missing device node",
    ),
    (
        "demo",
        "boot the patched kernel and show the CLI answering on real fds (test and demo first \
         install the host packages of xtask/host-packages.txt that are missing, when run as root)",
    ),
    (
        "bench",
        "run crates/fdsame-bench in the guest; report, JSON and SVG chart into docs/bench/ (ARGS \
         go to the bench, e.g. -- --quick)",
    ),
    (
        "igt-regression",
        "upstream IGT (Debian sid packages) on the unpatched and the patched kernel, compared test \
         by test (its own command: sid moves; cargo xtask igt-regression --help)",
    ),
    ("help", "this text (COMMAND --help: that command's own)"),
];

/// The environment variables `test` reads.
const TEST_ENV: &str = "\
Environment (test):
  IGT_BUILD=DIR        an IGT build (meson build directory) with the tests of tests/igt/: runs
                       core_file_same and dmabuf_same_object under igt_runner in the guest
  IGT_SRC=DIR          an IGT source tree whose build is DIR/build (IGT_BUILD wins when both are
                       set); neither set: IGT is not run. See tests/igt/README.md
";

const PATHS: &str = "\
Paths: kernel work tree build/linux-source-<B> (edit the series there, on any branch, commit, then
`cargo xtask export`), objects build/kbuild-<B>[-modules|-debug] (modules installed into its
modroot/), VM runs build/vm/<name>/.
";

/// One command's entry: its synopsis, then its description wrapped under it (beside it when the
/// synopsis is short).
fn command_entry(name: &str, what: &str) -> String {
    let syn = if name == "igt-regression" {
        "igt-regression [...]".to_string()
    } else {
        flags::synopsis(name)
    };
    let mut lines = flags::wrap(what, 64).into_iter();
    let mut out = String::new();
    if syn.len() < 31 {
        out.push_str(&format!(
            "  {syn:<33}{}\n",
            lines.next().unwrap_or_default()
        ));
    } else {
        out.push_str(&format!("  {syn}\n"));
    }
    for l in lines {
        out.push_str(&format!("  {:<33}{l}\n", ""));
    }
    out
}

/// The whole help: the commands with the flags each takes, then every flag once.
fn help() -> String {
    let mut cmds = String::new();
    for (name, what) in COMMAND_HELP {
        cmds.push_str(&command_entry(name, what));
    }
    let names: Vec<&str> = flags::COMMANDS
        .iter()
        .map(|c| c.name)
        .filter(|c| *c != "igt-regression")
        .collect();
    format!(
        "cargo xtask COMMAND [OPTIONS]\n\nCommands:\n{cmds}\n\
         Options (igt-regression's own: cargo xtask igt-regression --help):\n{}\n{TEST_ENV}\n{PATHS}",
        flags::options_help(&names)
    )
}

/// The help of one command (`cargo xtask COMMAND --help`): its synopsis, what it does, its flags.
fn command_help(cmd: &str) -> String {
    let what = COMMAND_HELP
        .iter()
        .find(|(n, _)| *n == cmd)
        .map(|(_, w)| *w)
        .unwrap_or_default();
    let mut out = format!(
        "cargo xtask {}\n\n{}\n\nOptions:\n{}",
        flags::synopsis(cmd),
        flags::wrap(what, 98).join("\n"),
        flags::options_help(&[cmd])
    );
    if cmd == "test" {
        out.push('\n');
        out.push_str(TEST_ENV);
    }
    out
}

/// The process exit status of a command's result: 0 all passed, 1 a test failed, 2 could not run
/// (a bad command line included).
fn exit_status(r: &Result<bool>) -> u8 {
    match r {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    }
}

/// Parses the command line and runs the command (or prints the help).
fn run(args: &[String]) -> Result<bool> {
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let cmd = match cmd {
        "--help" | "-h" => "help",
        c => c,
    };
    let f = flags::parse(cmd, rest).map_err(|e| format!("{e}\n\n{}", help()))?;
    if cmd == "help" || f.help {
        match cmd {
            "igt-regression" => print!("{}", commands::igt_regression_usage()),
            "help" => print!("{}", help()),
            c => print!("{}", command_help(c)),
        }
        return Ok(true);
    }
    commands::run(cmd, &f)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = run(&args);
    if let Err(e) = &r {
        eprintln!("xtask: error: {e}");
    }
    ExitCode::from(exit_status(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad command line is an error that main prints and exits 2 with; it runs nothing.
    #[test]
    fn bad_command_lines_exit_2() {
        let run = |v: &[&str]| run(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for bad in [
            &["frobnicate"][..],
            &["test", "--refresh"],
            &["vm", "--flavor"],
            &["igt-regression", "--budget", "x"],
        ] {
            let r = run(bad);
            assert_eq!(exit_status(&r), 2, "{bad:?}");
            assert!(r.unwrap_err().contains("cargo xtask COMMAND [OPTIONS]"));
        }
        assert_eq!(exit_status(&run(&["help"])), 0);
        assert_eq!(exit_status(&run(&["igt-regression", "-h"])), 0);
        assert_eq!(exit_status(&run(&["demo", "--help"])), 0);
    }

    /// The help names every command with the flags it takes, and the environment of `test`.
    #[test]
    fn help_shows_each_commands_flags() {
        let h = help();
        for c in flags::COMMANDS
            .iter()
            .filter(|c| c.name != "igt-regression")
        {
            assert!(h.contains(&flags::synopsis(c.name)), "{}", c.name);
            assert!(COMMAND_HELP.iter().any(|(n, _)| *n == c.name), "{}", c.name);
        }
        assert!(h.contains("demo [--base B] [--flavor F] [--no-build]"));
        assert!(h.contains("IGT_BUILD=DIR") && h.contains("IGT_SRC=DIR"));
        let t = command_help("test");
        assert!(t.contains("--flavor F") && t.contains("IGT_SRC=DIR"));
        let e = command_help("export");
        assert!(e.contains("export [--base B]") && !e.contains("--flavor"));
    }

    /// A kernel log that lacks a suite, and one with a failing case: the closing line counts them
    /// and the process exits 1.
    #[test]
    fn kunit_failures_reach_the_exit_status() {
        let suites = [
            results::KunitSuite {
                name: "drm_file_same".into(),
                cases: vec!["a".into(), "b".into()],
            },
            results::KunitSuite {
                name: "dma-buf-same".into(),
                cases: vec!["x".into()],
            },
        ];
        let drm = "[ 1.0]     # Subtest: drm_file_same\n[ 1.1]     ok 1 a\n[ 1.2]     ok 2 b\n[ 1.3] ok 1 drm_file_same\n";
        let dmabuf_fails = "[ 2.0]     # Subtest: dma-buf-same\n[ 2.1]     not ok 1 x\n[ 2.2] not ok 2 dma-buf-same\n";
        let dmabuf_ok =
            "[ 2.0]     # Subtest: dma-buf-same\n[ 2.1]     ok 1 x\n[ 2.2] ok 2 dma-buf-same\n";
        for (log, closing, status) in [
            (drm.to_string(), "total: 2 passed, 1 failed, 0 skipped", 1),
            (
                format!("{drm}{dmabuf_fails}"),
                "total: 2 passed, 1 failed, 0 skipped",
                1,
            ),
            (
                format!("{drm}{dmabuf_ok}"),
                "total: 3 passed, 0 failed, 0 skipped",
                0,
            ),
        ] {
            let mut s = results::Summary::default();
            s.add_kunit("modules", &log, &suites);
            assert_eq!(s.render().lines().last(), Some(closing));
            assert_eq!(exit_status(&Ok(s.ok())), status);
        }
        assert_eq!(exit_status(&Err("x".into())), 2);
    }
}
