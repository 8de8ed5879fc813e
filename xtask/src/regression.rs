//! `cargo xtask igt-regression`: the upstream IGT suite (Debian's packaged igt-gpu-tools in a
//! debootstrapped sid root) on the unpatched base kernel and on the patched one.

use crate::util::Result;

pub fn cmd(_args: &[String]) -> Result<bool> {
    Err("igt-regression is not implemented yet".into())
}
