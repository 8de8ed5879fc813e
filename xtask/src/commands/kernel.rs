//! `cargo xtask kernel`, `tree` and `export`: the kernel work tree and its build (the work is
//! in [`crate::kernel`]).

use super::kernel_image;
use crate::flags;
use crate::kernel;
use crate::util::Result;

/// `kernel`: fetch, apply, configure and build; prints the bzImage's path.
pub fn kernel(a: &flags::Kernel) -> Result<bool> {
    let b = kernel::base(a.base())?;
    let img = kernel_image(a, b, a.flavor())?;
    println!("{}", img.display());
    Ok(true)
}

/// `tree`: fetch the base and apply the series, no build; prints the work tree's path.
pub fn tree(a: &flags::Base) -> Result<bool> {
    let tree = kernel::apply(kernel::base(&a.base)?)?;
    println!("{}", tree.display());
    Ok(true)
}

/// `export`: the work tree's commits since `base` back into linux/<series>.
pub fn export(a: &flags::Base) -> Result<bool> {
    kernel::export(kernel::base(&a.base)?).map(|_| true)
}
