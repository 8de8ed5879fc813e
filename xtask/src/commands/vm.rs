//! `cargo xtask vm -- CMD...`: boot the patched kernel and run CMD as root in the guest (the VM
//! itself is [`crate::vm`]).

use super::{kernel_image, modules_prelude, DRIVER_MODULES};
use crate::flags::Flags;
use crate::util::{self, shell_quote, Result};
use crate::{kernel, vm};
use std::time::Duration;

pub fn run(a: &Flags) -> Result<bool> {
    if a.rest.is_empty() {
        return Err("vm needs a command after --".into());
    }
    let b = kernel::base(a.base())?;
    let img = kernel_image(a, b, a.flavor())?;
    let cwd = util::current_dir()?;
    let words: Vec<String> = a.rest.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "{}cd {} || exit 125\n{}\n",
        modules_prelude(b, a.flavor(), DRIVER_MODULES),
        shell_quote(&cwd.to_string_lossy()),
        words.join(" ")
    );
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: a.flavor().boot_args(),
            timeout: Duration::from_secs(900),
            memory_mb: 2048,
            name: "adhoc",
        },
        &script,
    )?;
    print!("{}", r.output);
    Ok(r.clean())
}
