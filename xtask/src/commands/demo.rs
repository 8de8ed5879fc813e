//! `cargo xtask demo`: boot the patched kernel and show the CLI answering on real fds
//! (`xtask/guest/demo.sh`).

use super::boot;
use crate::util::{self, Result};
use crate::{deps, flags, vm};
use std::process::Command;

pub fn run(a: &flags::Kernel) -> Result<bool> {
    deps::ensure("demo")?;
    let cargo = [
        "build",
        "-q",
        "-p",
        "fdsame-cli",
        "-p",
        "rust-tests",
        "--bins",
    ];
    util::run(
        Command::new(env!("CARGO"))
            .current_dir(util::root())
            .args(cargo),
    )?;
    let target = util::root().join("target/debug");
    let demo = util::root().join("xtask/guest/demo.sh");
    let words = [demo, target.join("fdsame"), target.join("hold-dmabufs")];
    let words: Vec<String> = words
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let call = format!("sh {}", vm::call(&words));
    let r = boot(a, "demo", 2048, &[call])?;
    print!("{}", r.output);
    Ok(r.clean())
}
