//! `cargo xtask bench [-- ARGS]`: crates/fdsame-bench in the guest; its report, JSON and chart
//! into docs/bench/.

use super::boot;
use crate::util::{self, Result};
use crate::{flags, vm};
use std::process::Command;

pub fn run(g: &flags::Guest) -> Result<bool> {
    let cargo = ["build", "-q", "--release", "-p", "fdsame-bench"];
    util::run(
        Command::new(env!("CARGO"))
            .current_dir(util::root())
            .args(cargo),
    )?;
    let exe = util::root().join("target/release/fdsame-bench");
    let out = util::build_dir().join("vm/bench/report");
    let mut words = vec![exe.to_string_lossy().into_owned(), "--out".into()];
    words.push(out.to_string_lossy().into_owned());
    words.extend(g.rest.iter().cloned());
    let r = boot(
        &g.kernel,
        "bench",
        3072,
        &["ulimit -n 65536".into(), vm::call(&words)],
    )?;
    print!("{}", r.output);
    if !r.clean() {
        return Ok(false);
    }
    let docs = util::root().join("docs/bench");
    util::mkdir_p(&docs)?;
    for f in ["bench.md", "bench.json", "bench.svg"] {
        util::copy(&out.join(f), &docs.join(f))?;
    }
    eprintln!("xtask: report in {}", docs.display());
    Ok(true)
}
