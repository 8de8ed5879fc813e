//! `cargo xtask demo`: boot the patched kernel and show the CLI answering on real fds
//! (`xtask/demo.sh`).

use super::{kernel_image, modules_prelude, DRIVER_MODULES};
use crate::flags::Flags;
use crate::util::{self, Result};
use crate::{deps, kernel, vm};
use std::process::Command;
use std::time::Duration;

pub fn run(a: &Flags) -> Result<bool> {
    let b = kernel::base(a.base())?;
    deps::ensure("demo")?;
    let img = kernel_image(a, b, a.flavor())?;
    util::run(Command::new(env!("CARGO")).current_dir(util::root()).args([
        "build",
        "-q",
        "-p",
        "fdsame-cli",
        "-p",
        "rust-tests",
        "--bins",
    ]))?;
    let target = util::root().join("target/debug");
    let script = modules_prelude(b, a.flavor(), DRIVER_MODULES)
        + &util::read(&util::root().join("xtask/demo.sh"))?
            .replace("@FDSAME@", &target.join("fdsame").to_string_lossy())
            .replace("@HOLD@", &target.join("hold-dmabufs").to_string_lossy());
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: a.flavor().boot_args(),
            timeout: Duration::from_secs(600),
            memory_mb: 2048,
            name: "demo",
        },
        &script,
    )?;
    print!("{}", r.output);
    Ok(r.clean())
}
