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

const HELP: &str = "\
cargo xtask COMMAND [OPTIONS]

Commands:
  kernel [--base B] [--flavor F]   fetch the pinned base, apply linux/<series>, configure, build
                                   (the modules flavour also builds and installs the modules)
  check [--base B]                 static checks: checkpatch --strict per patch, kernel-doc -Wall,
                                   W=1 + sparse on the touched objects (new warnings vs the base)
  tree [--base B]                  fetch the pinned base and apply the series (no build): the work tree
  export [--base B]                write the work tree's commits since `base` back to linux/<series>
  vm [--base B] [--flavor F] -- CMD...
                                   boot the patched kernel and run CMD (as root, host root read-only)
  test [--base B] [--flavor F]     the whole suite: host tests and static checks once, then for the
                                   built-in AND the modular kernel (two builds, two boots; one of
                                   them with --flavor vm|modules, the debug kernel alone with
                                   --flavor debug): KUnit and the Rust tests in the guest; ends with
                                   one `total: N passed, N failed, N skipped` line, exits non-zero
                                   on any failure, test that did not run, module that did not load,
                                   kernel warning or missing device node
  demo [--base B]                  boot the patched kernel and show the CLI answering on real fds
                                   (test and demo first install the host packages of
                                   xtask/host-packages.txt that are missing, when run as root)
  bench [--base B] [-- ARGS]       run crates/fdsame-bench in the guest; report, JSON and SVG chart
                                   into docs/bench/ (ARGS go to the bench, e.g. -- --quick)
  igt-regression [...]             upstream IGT (Debian sid packages) on the unpatched and the
                                   patched kernel, compared test by test (its own command: sid moves)
  help                             this text
";

const PATHS: &str = "\
Paths: kernel work tree build/linux-source-<B> (edit the series there, on any branch, commit, then
`cargo xtask export`), objects build/kbuild-<B>[-modules|-debug] (modules installed into its
modroot/), VM runs build/vm/<name>/.
";

/// The whole help: the commands, then every flag once.
fn help() -> String {
    let names: Vec<&str> = flags::COMMANDS.iter().map(|c| c.name).collect();
    format!(
        "{}\n\nOptions (igt-regression's own: cargo xtask igt-regression --help):\n{}\n{PATHS}",
        HELP.trim_end(),
        flags::options_help(
            &names
                .iter()
                .copied()
                .filter(|c| *c != "igt-regression")
                .collect::<Vec<_>>()
        )
    )
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
        if cmd == "igt-regression" {
            print!("{}", commands::igt_regression_usage());
        } else {
            print!("{}", help());
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
