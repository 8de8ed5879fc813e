//! `cargo xtask vm -- CMD...`: boot the patched kernel and run CMD as root in the guest (the VM
//! itself is [`crate::vm`]).

use super::boot;
use crate::util::{self, Result};
use crate::{flags, vm};
use anyhow::bail;

pub fn run(g: &flags::Guest) -> Result<bool> {
    if g.rest.is_empty() {
        bail!("vm needs a command after --");
    }
    let cwd = util::current_dir()?.to_string_lossy().into_owned();
    let calls = [
        format!("cd {} || exit 125", vm::call(&[cwd])),
        vm::call(&g.rest),
    ];
    let r = boot(&g.kernel, "adhoc", 2048, &calls)?;
    print!("{}", r.output);
    Ok(r.clean())
}
