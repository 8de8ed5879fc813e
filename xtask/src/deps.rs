//! The host packages the harness needs: one list, `xtask/host-packages.txt` (read by `.ci/run`
//! too). `cargo xtask test` and `demo` check it first with one `dpkg-query` and, only when
//! something is missing, install it (as root) or say what to install (otherwise).

use crate::util::{self, Result};
use anyhow::anyhow;
use std::process::Command;

/// The list's text; [`packages`] parses it.
const LIST: &str = include_str!("../host-packages.txt");

/// What `cargo xtask userspace` needs besides: the consumers' builds (userspace/host-packages.txt).
const USERSPACE_LIST: &str = include_str!("../../userspace/host-packages.txt");

/// The packages of `host-packages.txt`: one a line, `#` starts a comment.
pub fn packages() -> Vec<&'static str> {
    parse_list(LIST)
}

/// The packages `cargo xtask userspace` needs: the harness's and the consumers' builds'.
pub fn userspace_packages() -> Vec<&'static str> {
    let mut v = packages();
    v.extend(parse_list(USERSPACE_LIST));
    v
}

fn parse_list(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The packages of `wanted` that `dpkg-query -W` output does not show installed (`ii`).
fn missing_from<'a>(wanted: &[&'a str], dpkg_query: &str) -> Vec<&'a str> {
    let installed: Vec<&str> = dpkg_query
        .lines()
        .filter_map(|l| {
            let (status, name) = l.split_once(' ')?;
            (status.trim() == "ii").then_some(name.trim())
        })
        .collect();
    wanted
        .iter()
        .filter(|p| !installed.contains(p))
        .copied()
        .collect()
}

/// The packages of the list that are not installed. None when there is no dpkg-query (not a
/// Debian system: nothing can be told).
pub fn missing(wanted: &[&'static str]) -> Option<Vec<&'static str>> {
    // One call for all of them; an unknown package makes it exit 1 with the others listed.
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev} ${Package}\n"])
        .args(wanted)
        .output()
        .ok()?;
    Some(missing_from(wanted, &String::from_utf8_lossy(&out.stdout)))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Makes sure the host packages of the list are installed before `cmd` runs: nothing happens
/// when they all are; as root the missing ones are installed with apt-get; otherwise an error
/// names them and the command to install them.
pub fn ensure(cmd: &str) -> Result<()> {
    ensure_these(cmd, &packages())
}

/// [`ensure`] for the packages of `wanted`.
pub fn ensure_these(cmd: &str, wanted: &[&'static str]) -> Result<()> {
    let Some(missing) = missing(wanted) else {
        eprintln!(
            "xtask: warning: no dpkg-query, so the host packages of xtask/host-packages.txt \
             cannot be checked (the harness is made for Debian 12)"
        );
        return Ok(());
    };
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(anyhow!(
            "cargo xtask {cmd} needs host packages that are not installed: {}\n\
             install them as root (or run cargo xtask {cmd} as root, which installs them):\n  \
             apt-get update && {install}",
            missing.join(" ")
        ));
    }
    eprintln!(
        "xtask: installing missing host packages: {}",
        missing.join(" ")
    );
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    util::run(&mut apt(&["update", "-q"]))?;
    util::run(apt(&["install", "-y", "-q", "--no-install-recommends"]).args(&missing))?;
    match self::missing(wanted) {
        Some(still) if !still.is_empty() => Err(anyhow!(
            "still not installed after `{install}`: {}",
            still.join(" ")
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list() {
        let p = packages();
        for must in [
            "qemu-system-x86",
            "busybox-static",
            "ccache",
            "strace",
            "gcc-multilib",
        ] {
            assert!(p.contains(&must), "{must} is not in host-packages.txt");
        }
        assert!(p.iter().all(|x| !x.contains(' ') && !x.contains('#')));
        assert_eq!(parse_list("# c\n a # why\n\nb\n"), ["a", "b"]);
    }

    #[test]
    fn missing_packages_from_dpkg_query() {
        let out = "ii  qemu-system-x86\nrc  strace\nun  ccache\nii  gcc\n";
        assert_eq!(
            missing_from(&["qemu-system-x86", "strace", "ccache", "gcc", "kmod"], out),
            ["strace", "ccache", "kmod"]
        );
        assert!(missing_from(&["gcc"], "ii  gcc\n").is_empty());
    }
}
