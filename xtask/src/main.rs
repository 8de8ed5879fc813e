//! `cargo xtask`: the project's harness. See `cargo xtask help`.
//!
//! Laid out as rust-analyzer's xtask is: one module per command under `commands/`, every flag
//! declared once (`flags.rs`, clap's derive), and the libraries they share: the kernel work tree
//! and its build (`kernel.rs`), the VM (`vm.rs`) and its guest scripts (`guest/*.sh`, checked by
//! shellcheck), the static checks (`check.rs`), KUnit through the kernel's own parser
//! (`kunit.rs`), the summary (`results.rs`), IGT glue (`igt.rs`), the host packages (`deps.rs`),
//! running processes and small helpers (`util.rs`), syzkaller built offline and run (`syzkaller.rs`).

mod check;
mod commands;
mod deps;
mod flags;
mod igt;
mod kernel;
mod kunit;
mod results;
mod syzkaller;
mod userspace;
mod util;
mod vm;

use clap::Parser;
use std::process::ExitCode;
use util::Result;

/// The process exit status of a command's result: 0 all passed, 1 a test failed, 2 could not run
/// (clap exits 2 on a bad command line too).
fn exit_status(r: &Result<bool>) -> u8 {
    match r {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    }
}

fn main() -> ExitCode {
    let x = flags::Xtask::parse();
    let r = commands::run(&x.cmd);
    if let Err(e) = &r {
        eprintln!("xtask: error: {e:#}");
    }
    ExitCode::from(exit_status(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel log that lacks a suite, and one with a failing case: the closing line counts them
    /// and the process exits 1.
    #[test]
    fn kunit_failures_reach_the_exit_status() {
        let suites = ["drm_file_same".to_string(), "dma-buf-same".to_string()];
        let drm = "[ 1.0] KTAP version 1\n[ 1.0] 1..1\n[ 1.0]     KTAP version 1\n[ 1.0]     # Subtest: drm_file_same\n[ 1.0]     1..2\n[ 1.1]     ok 1 a\n[ 1.2]     ok 2 b\n[ 1.3] ok 1 drm_file_same\n";
        let dmabuf = |r: &str| {
            format!("[ 2.0] KTAP version 1\n[ 2.0] 1..1\n[ 2.0]     KTAP version 1\n[ 2.0]     # Subtest: dma-buf-same\n[ 2.0]     1..1\n[ 2.1]     {r} 1 x\n[ 2.2] {r} 1 dma-buf-same\n")
        };
        for (log, closing, status) in [
            (drm.to_string(), "total: 2 passed, 1 failed, 0 skipped", 1),
            (
                format!("{drm}{}", dmabuf("not ok")),
                "total: 2 passed, 1 failed, 0 skipped",
                1,
            ),
            (
                format!("{drm}{}", dmabuf("ok")),
                "total: 3 passed, 0 failed, 0 skipped",
                0,
            ),
        ] {
            let mut s = results::Summary::default();
            let tree = kernel::tree_dir(kernel::base("7.3").unwrap());
            if !kunit::parser(&tree).exists() {
                eprintln!("no kernel tree with kunit.py: skipped");
                return;
            }
            s.add_kunit("modules", &kunit::parse(&tree, &log).unwrap(), &suites);
            assert_eq!(s.render().lines().last(), Some(closing));
            assert_eq!(exit_status(&Ok(s.ok())), status);
        }
        assert_eq!(exit_status(&Err(anyhow::anyhow!("x"))), 2);
    }
}
