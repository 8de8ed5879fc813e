//! Processes as a procfs instance names them: from a `/proc/PID` (or `/proc/PID/task/TID`)
//! directory of any procfs instance — the caller's, another pid namespace's reached through
//! `/proc/PID/root/proc`, one mounted elsewhere — to a pidfd of that very process, without
//! ever reading a pid number with the caller's namespace in mind.
//!
//! How: the directory's `status` gives `NStgid`, the thread group id in every pid namespace
//! from the procfs instance's down to the process's own (the last entry); its `ns/pid` is
//! the process's own pid namespace; `ioctl(NS_GET_PID_FROM_PIDNS)` on it (Linux 6.11)
//! translates the last entry into the caller's namespace. A thread's directory gives its
//! process (`NStgid` is the thread group's). The process is checked alive again after its
//! pidfd is open, so a pid reused meanwhile is never taken for it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// The `NStgid` line of a `status` text: the thread group id in each pid namespace, from the
/// procfs instance's to the process's own.
pub fn nstgid(status: &str) -> Option<Vec<i32>> {
    let v = fdsame::fdinfo::field(status, "NStgid")
        .or_else(|| fdsame::fdinfo::field(status, "Tgid"))?;
    let ids: Option<Vec<i32>> = v.split_whitespace().map(|x| x.parse().ok()).collect();
    ids.filter(|ids| !ids.is_empty())
}

/// Reads `name` under the directory `dir` (an `O_PATH` descriptor is enough).
fn read_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<String> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    io::read_to_string(std::fs::File::from(fd))
}

/// `NS_GET_PID_FROM_PIDNS` on the pid namespace `ns`: `pid` of that namespace as the caller's
/// namespace numbers it (`Ok(0)`: not visible there). `ENOTTY` before Linux 6.11.
fn pid_from_pidns(ns: BorrowedFd<'_>, pid: i32) -> io::Result<i32> {
    // SAFETY: NS_GET_PID_FROM_PIDNS takes the pid as the ioctl argument itself (no pointer)
    // and returns the translated pid.
    let r = unsafe {
        libc::ioctl(
            ns.as_raw_fd(),
            libc::NS_GET_PID_FROM_PIDNS as _,
            pid as libc::c_ulong,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Whether two descriptors of namespace files are one namespace (same nsfs inode).
fn same_ns(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(x), Ok(y)) => (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino),
        _ => false,
    }
}

/// A process named by a procfs directory: its pid in the caller's namespace, and a pidfd.
#[derive(Debug)]
pub struct Process {
    pub pid: i32,
    /// `None` when the process is this one.
    pub pidfd: Option<OwnedFd>,
}

/// Why a procfs directory could not be turned into a process.
fn gone(e: io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ESRCH) | Some(libc::ENOENT) => "the process has exited".to_owned(),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            format!(
                "its pid namespace cannot be read ({e}): {}",
                ptrace_hint("PTRACE_MODE_READ")
            )
        }
        _ => format!("cannot read the process: {e}"),
    }
}

/// Whether the procfs instance whose root is `root` belongs to this process's pid
/// namespace: this process seen through it (`self`) is in exactly one namespace from the
/// instance's down to its own. (An ancestor's instance shows more; a descendant's or a
/// sibling's has no `self` for it.)
pub fn instance_is_ours(root: BorrowedFd<'_>) -> bool {
    read_at(root, "self/status")
        .ok()
        .and_then(|s| nstgid(&s))
        .is_some_and(|ids| ids.len() == 1)
}

/// The pid, in this process's namespace, of the thread group whose ids `ids` the procfs
/// directory `dir` shows (from its instance's namespace down to its own).
fn translate(dir: BorrowedFd<'_>, ours: bool, ids: &[i32]) -> Result<i32, String> {
    if ours {
        return Ok(ids[0]);
    }
    let own = *ids.last().unwrap_or(&0);
    let ns = rustix::fs::openat(
        dir,
        "ns/pid",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| gone(e.into()))?;
    match pid_from_pidns(ns.as_fd(), own) {
        Ok(pid) if pid > 0 => Ok(pid),
        // ESRCH (or 0): no pid in fdsame's namespace. Exited, or running where fdsame's
        // pid namespace cannot see it: its directory tells which.
        Ok(_) => Err(not_visible()),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => match read_at(dir, "status") {
            Ok(_) => Err(not_visible()),
            Err(e) => Err(gone(e)),
        },
        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => same_ns_fallback(&ns, own),
        Err(e) => Err(gone(e)),
    }
}

/// A process that is running but has no pid in fdsame's pid namespace (an ancestor's or a
/// sibling's process, a kernel thread seen from a child namespace): pidfd_open cannot name
/// it, so its descriptors cannot be obtained.
pub fn not_visible() -> String {
    "the process is running, but not visible from fdsame's pid namespace (it is in an \
     ancestor or sibling pid namespace): fdsame cannot obtain its descriptors; run fdsame \
     in the process's pid namespace or an ancestor of it"
        .to_owned()
}

/// The process of the procfs directory `dir` (`PID` or `PID/task/TID`); `ours`: its procfs
/// instance is this process's pid namespace's ([`instance_is_ours`]).
pub fn process_of_dir(dir: BorrowedFd<'_>, ours: bool) -> Result<Process, String> {
    let status = read_at(dir, "status").map_err(gone)?;
    let ids = nstgid(&status).ok_or("its status has no thread group id")?;
    let pid = translate(dir, ours, &ids)?;
    if pid <= 0 {
        return Err(not_visible());
    }
    let me = rustix::process::getpid().as_raw_nonzero().get();
    if pid == me {
        return Ok(Process { pid, pidfd: None });
    }
    let pidfd = pidfd(pid)?;
    // Still alive after the pidfd was opened: `pid` was not reused meanwhile.
    read_at(dir, "status").map_err(gone)?;
    Ok(Process {
        pid,
        pidfd: Some(pidfd),
    })
}

/// Before Linux 6.11: the pid is known only when the process is in the caller's namespace.
fn same_ns_fallback(ns: &OwnedFd, own: i32) -> Result<i32, String> {
    let mine = rustix::fs::open(
        "/proc/thread-self/ns/pid",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot read fdsame's pid namespace: {}", io::Error::from(e)))?;
    if same_ns(ns.as_fd(), mine.as_fd()) {
        Ok(own)
    } else {
        Err(
            "the process is in another pid namespace, and this kernel cannot translate its \
             pid (NS_GET_PID_FROM_PIDNS, Linux 6.11)"
                .to_owned(),
        )
    }
}

/// `pidfd_open(pid)`.
pub fn pidfd(pid: i32) -> Result<OwnedFd, String> {
    let p =
        rustix::process::Pid::from_raw(pid).ok_or_else(|| format!("{pid} is not a process id"))?;
    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|e| match e {
        Errno::SRCH => format!("no process {pid}"),
        _ => format!("pidfd_open({pid}): {}", io::Error::from(e)),
    })
}

/// Whether this process has `CAP_SYS_PTRACE` in its effective set.
pub fn has_cap_sys_ptrace() -> bool {
    const CAP_SYS_PTRACE: u32 = 19;
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    fdsame::fdinfo::field(&status, "CapEff")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// What a refused `pidfd_getfd`, `/proc/PID/fd` or `ns/pid` means, for this process: without
/// `CAP_SYS_PTRACE`, the rule; with it, what else refuses.
/// `mode`: `PTRACE_MODE_READ` (listing and reading `/proc/PID/fd`, `ns/pid`) or
/// `PTRACE_MODE_ATTACH` (`pidfd_getfd`).
pub fn ptrace_hint(mode: &str) -> String {
    if has_cap_sys_ptrace() {
        "refused although fdsame has CAP_SYS_PTRACE: a security module (Yama ptrace_scope 3, \
         SELinux, AppArmor) or a user namespace its capabilities do not cover refuses it"
            .to_owned()
    } else {
        format!(
            "that needs {mode} access to the process: the same user (and, for attaching, no \
             Yama ptrace restriction), or CAP_SYS_PTRACE"
        )
    }
}

/// Whether `/proc` is the procfs of this process's pid namespace: its `self` is this pid.
/// Inside a pid namespace that kept its parent's `/proc`, it is not.
pub fn proc_is_ours() -> bool {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse::<i32>().ok())
        == Some(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_group_ids_from_status() {
        let s = "Name:\tx\nTgid:\t40\nNgid:\t0\nPid:\t41\nNStgid:\t40\t1\nNSpid:\t41\t2\n";
        assert_eq!(nstgid(s), Some(vec![40, 1]));
        assert_eq!(nstgid("Tgid:\t7\n"), Some(vec![7]));
        assert_eq!(nstgid("Pid:\t7\n"), None);
        assert_eq!(nstgid("NStgid:\t\n"), None);
    }

    /// Root (CAP_SYS_PTRACE) is never told it lacks CAP_SYS_PTRACE.
    #[test]
    fn the_ptrace_hint_knows_what_this_process_has() {
        let hint = ptrace_hint("PTRACE_MODE_READ");
        if has_cap_sys_ptrace() {
            assert!(
                hint.contains("although fdsame has CAP_SYS_PTRACE"),
                "{hint}"
            );
            assert!(!hint.contains("or CAP_SYS_PTRACE"), "{hint}");
        } else {
            assert!(hint.contains("PTRACE_MODE_READ"), "{hint}");
            assert!(hint.contains("or CAP_SYS_PTRACE"), "{hint}");
        }
    }

    #[test]
    fn own_directory_is_this_process() {
        let dir = rustix::fs::open(
            "/proc/self",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let root =
            rustix::fs::open("/proc", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert!(instance_is_ours(root.as_fd()));
        let p = process_of_dir(dir.as_fd(), true).unwrap();
        assert_eq!(p.pid, rustix::process::getpid().as_raw_nonzero().get());
        assert!(p.pidfd.is_none());
    }
}
