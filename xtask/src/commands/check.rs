//! `cargo xtask check`: the static checks of the series alone (the work is in [`crate::check`]).

use crate::flags;
use crate::util::Result;
use crate::{kernel, results};

pub fn run(a: &flags::Base) -> Result<bool> {
    let mut s = results::Summary::default();
    crate::check::run(kernel::base(&a.base)?, true, &mut s)?;
    Ok(s.report())
}
