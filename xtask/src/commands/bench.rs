//! `cargo xtask bench [-- ARGS]`: crates/fdsame-bench in the guest; its report, JSON and chart
//! into docs/bench/.

use super::{kernel_image, modules_prelude, DRIVER_MODULES};
use crate::flags::Flags;
use crate::util::{self, shell_quote, Result};
use crate::{kernel, vm};
use std::process::Command;
use std::time::Duration;

pub fn run(a: &Flags) -> Result<bool> {
    let b = kernel::base(a.base())?;
    let img = kernel_image(a, b, a.flavor())?;
    util::run(Command::new(env!("CARGO")).current_dir(util::root()).args([
        "build",
        "-q",
        "--release",
        "-p",
        "fdsame-bench",
    ]))?;
    let exe = util::root().join("target/release/fdsame-bench");
    let out = util::build_dir().join("vm/bench");
    let args: Vec<String> = a.rest.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "{}ulimit -n 65536\n{} --out {} {}\n",
        modules_prelude(b, a.flavor(), DRIVER_MODULES),
        shell_quote(&exe.to_string_lossy()),
        shell_quote(&out.join("report").to_string_lossy()),
        args.join(" ")
    );
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: a.flavor().boot_args(),
            timeout: Duration::from_secs(900),
            memory_mb: 3072,
            name: "bench",
        },
        &script,
    )?;
    print!("{}", r.output);
    if !r.clean() {
        return Ok(false);
    }
    let docs = util::root().join("docs/bench");
    util::mkdir_p(&docs)?;
    for f in ["bench.md", "bench.json", "bench.svg"] {
        util::copy(&out.join("report").join(f), &docs.join(f))?;
    }
    eprintln!("xtask: report in {}", docs.display());
    Ok(true)
}
