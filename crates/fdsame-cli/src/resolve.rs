//! From a command-line argument to a descriptor: the caller's own, another process's, or a
//! path looked up without being opened.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fdsame::{FdKind, DMA_BUF_MAGIC, DRM_MAJOR};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags, CWD};
use rustix::io::Errno;

use crate::caller_holds;

/// What an argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Descriptor N of this process, inherited from the caller (`/proc/self/fd/N`,
    /// `/dev/fd/N`, `/dev/stdin`, `/proc/MYPID/fd/N`, any spelling).
    Own(i32),
    /// Descriptor `fd` of another process.
    Proc { pid: i32, fd: i32 },
    /// A path to look up.
    Path(PathBuf),
}

/// How many symbolic links are followed by hand before the path is left to the kernel
/// (which answers `ELOOP` at 40).
const MAX_HOPS: usize = 40;

/// What `arg` names, found without opening anything but directories with `O_PATH` (closed
/// again before this returns) and without following the last component: a `/proc/*/fd`
/// directory reached by any spelling names a descriptor; a symbolic link is followed by
/// hand (`/dev/stdin` → `/proc/self/fd/0`); anything else is a path.
pub fn classify(arg: &OsStr) -> Resolved {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut path = PathBuf::from(arg);
    for _ in 0..MAX_HOPS {
        let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else {
            break;
        };
        if path.as_os_str().as_bytes().ends_with(b"/") {
            break; // `x/` names a directory, never a descriptor link
        }
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(dirfd) = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            break; // the lookup of the whole path will say why
        };
        if let Some(n) = fd_number(name) {
            if let Some(pid) = fd_dir_pid(dirfd.as_fd()) {
                return if pid == me {
                    Resolved::Own(n)
                } else {
                    Resolved::Proc { pid, fd: n }
                };
            }
        }
        // A symbolic link (not followed: no target is touched)? Then follow it by hand.
        let is_link = rustix::fs::statx(
            &dirfd,
            name,
            AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_DONT_SYNC,
            StatxFlags::TYPE,
        )
        .is_ok_and(|st| FileType::from_raw_mode(st.stx_mode.into()) == FileType::Symlink);
        if !is_link {
            break;
        }
        let Ok(target) = rustix::fs::readlinkat(&dirfd, name, Vec::new()) else {
            break;
        };
        let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
        path = if target.is_absolute() {
            target
        } else {
            dir.join(target)
        };
    }
    Resolved::Path(PathBuf::from(arg))
}

/// `"12"` → 12: a descriptor number (decimal digits, within `int`).
fn fd_number(name: &OsStr) -> Option<i32> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The process whose descriptor table `dir` is: a procfs `PID/fd` or `PID/task/TID/fd`
/// directory, whatever path led to it.
fn fd_dir_pid(dir: BorrowedFd<'_>) -> Option<i32> {
    let fs = rustix::fs::fstatfs(dir).ok()?;
    if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
        return None;
    }
    let link = rustix::fs::readlinkat(
        CWD,
        format!("/proc/self/fd/{}", dir.as_raw_fd()),
        Vec::new(),
    )
    .ok()?;
    let link = link.to_str().ok()?;
    let parts: Vec<&str> = link.rsplit('/').collect();
    // "…/PID/fd" or "…/PID/task/TID/fd", read from the end.
    match parts.as_slice() {
        ["fd", tid, "task", pid, ..] if tid.parse::<i32>().is_ok() => pid.parse().ok(),
        ["fd", pid, ..] => pid.parse().ok(),
        _ => None,
    }
}

/// A descriptor the CLI compares, and where it came from.
pub struct Obtained {
    pub fd: OwnedFd,
    pub how: &'static str,
    /// Another process's descriptor: no DRM ioctl is issued on it.
    pub foreign: bool,
    pub pid: Option<i32>,
    pub fd_number: Option<i32>,
    /// What `/proc/self/fd/N` of the obtained descriptor reads (`pipe:[…]`, a path…).
    pub target: String,
    kind: FdKind,
    /// For a path looked up with `O_PATH`: what it is.
    file_type: Option<&'static str>,
}

impl Obtained {
    fn new(fd: OwnedFd, how: &'static str, foreign: bool) -> Result<Obtained, String> {
        let kind = FdKind::of(&fd).map_err(|e| e.to_string())?;
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Obtained {
            fd,
            how,
            foreign,
            pid: None,
            fd_number: None,
            target,
            kind,
            file_type: None,
        })
    }

    /// `drm`, `dma-buf`, `o-path`, `other`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            FdKind::Drm { .. } => "drm",
            FdKind::DmaBuf => "dma-buf",
            FdKind::Path => "o-path",
            _ => "other",
        }
    }

    pub fn kind_detail(&self) -> String {
        match self.file_type {
            Some(t) => format!("{t}, not opened (O_PATH)"),
            None => self.kind.to_string(),
        }
    }

    /// One line: what it is and how it was obtained.
    pub fn describe(&self) -> String {
        let what = match (self.file_type, self.pid, self.fd_number) {
            (Some(t), _, _) => format!("{t}; looked up with O_PATH, not opened"),
            (None, Some(pid), Some(n)) => {
                format!(
                    "descriptor {n} of process {pid} by {}: {}, {}",
                    self.how, self.target, self.kind
                )
            }
            (None, None, Some(n)) => {
                format!(
                    "descriptor {n} of the caller: {}, {}",
                    self.target, self.kind
                )
            }
            _ => format!("{}, {}", self.kind, self.how),
        };
        what
    }
}

pub const PTRACE_HINT: &str = "pidfd_getfd needs PTRACE_MODE_ATTACH_REALCREDS over the process: \
    the same user and no Yama ptrace restriction, or CAP_SYS_PTRACE";

/// Descriptor `fd` of process `pid`, the same open file description (`pidfd_getfd`).
pub fn getfd(pidfd: BorrowedFd<'_>, pid: i32, fd: i32) -> Result<OwnedFd, String> {
    rustix::process::pidfd_getfd(pidfd, fd, rustix::process::PidfdGetfdFlags::empty()).map_err(
        |e| {
            let err = std::io::Error::from(e);
            match e {
                Errno::PERM | Errno::ACCESS => {
                    format!("pidfd_getfd(pid {pid}, fd {fd}): {err}: {PTRACE_HINT}")
                }
                Errno::BADF => format!("process {pid} has no descriptor {fd}"),
                Errno::NOSYS => format!(
                    "pidfd_getfd(pid {pid}, fd {fd}): {err}: this kernel lacks pidfd_getfd (Linux 5.6), \
                     and opening /proc/{pid}/fd/{fd} would make a new open, not the same file"
                ),
                _ => format!("pidfd_getfd(pid {pid}, fd {fd}): {err}"),
            }
        },
    )
}

/// `pidfd_open(pid)`.
pub fn pidfd(pid: i32) -> Result<OwnedFd, String> {
    let p =
        rustix::process::Pid::from_raw(pid).ok_or_else(|| format!("{pid} is not a process id"))?;
    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|e| match e {
        Errno::SRCH => format!("no process {pid}"),
        _ => format!("pidfd_open({pid}): {}", std::io::Error::from(e)),
    })
}

fn file_type_name(ft: FileType) -> &'static str {
    match ft {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Symlink => "symbolic link",
        _ => "file",
    }
}

/// A path: looked up with `O_PATH` (nothing opened, nothing blocks); a DRM device node is then
/// opened through the `O_PATH` descriptor (the same inode, no second lookup).
fn open_path(arg: &OsStr, path: &Path) -> Result<Obtained, String> {
    let shown = path.display();
    let opath = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("cannot look up {shown}: {}", std::io::Error::from(e)))?;
    let st = rustix::fs::statx(
        &opath,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
        StatxFlags::TYPE,
    )
    .map_err(|e| format!("statx {shown}: {}", std::io::Error::from(e)))?;
    let ft = FileType::from_raw_mode(st.stx_mode.into());
    if ft == FileType::CharacterDevice && st.stx_rdev_major == DRM_MAJOR {
        let via = format!("/proc/self/fd/{}", opath.as_raw_fd());
        let base = OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let (fd, how) = match rustix::fs::open(via.as_str(), base | OFlags::RDWR, Mode::empty()) {
            Ok(fd) => (fd, "open O_RDWR|O_NONBLOCK"),
            Err(_) => (
                rustix::fs::open(via.as_str(), base | OFlags::RDONLY, Mode::empty())
                    .map_err(|e| format!("open {shown}: {}", std::io::Error::from(e)))?,
                "open O_RDONLY|O_NONBLOCK",
            ),
        };
        let _ = arg;
        return Obtained::new(fd, how, false);
    }
    if let Ok(fs) = rustix::fs::fstatfs(&opath) {
        #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every architecture
        if fs.f_type as i64 == DMA_BUF_MAGIC {
            return Err(format!(
                "{shown} is a dma-buf's inode, which cannot be opened by path: name a descriptor \
                 that holds the dma-buf (/proc/PID/fd/N)"
            ));
        }
    }
    let mut o = Obtained::new(opath, "O_PATH", false)?;
    o.file_type = Some(file_type_name(ft));
    Ok(o)
}

/// Obtains the descriptors of both arguments: the caller's own ones first (checked held, then
/// duplicated), before anything else is opened, so that a descriptor number fdsame uses itself
/// is never taken for the caller's.
pub fn obtain_pair(
    a: &OsString,
    ra: Resolved,
    b: &OsString,
    rb: Resolved,
) -> Result<(Obtained, Obtained), String> {
    for (arg, r) in [(a, &ra), (b, &rb)] {
        if let Resolved::Own(n) = r {
            if !caller_holds(*n) {
                return Err(format!(
                    "{}: names descriptor {n} of the caller, which the caller does not hold \
                     (not open in fdsame when it started)",
                    arg.to_string_lossy()
                ));
            }
        }
    }
    let own = |n: i32| -> Result<Obtained, String> {
        // SAFETY: `n` is open (checked above, before anything was opened) and stays open: it
        // is the caller's, never closed here.
        let fd = unsafe { BorrowedFd::borrow_raw(n) };
        let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| {
            format!(
                "cannot duplicate descriptor {n}: {}",
                std::io::Error::from(e)
            )
        })?;
        let mut o = Obtained::new(dup, "the caller's descriptor", false)?;
        o.fd_number = Some(n);
        Ok(o)
    };
    let mut oa = match &ra {
        Resolved::Own(n) => Some(own(*n)?),
        _ => None,
    };
    let mut ob = match &rb {
        Resolved::Own(n) => Some(own(*n)?),
        _ => None,
    };
    let other = |arg: &OsString, r: &Resolved| -> Result<Obtained, String> {
        match r {
            Resolved::Own(_) => unreachable!(),
            Resolved::Proc { pid, fd } => {
                let pidfd = pidfd(*pid)?;
                let got = getfd(pidfd.as_fd(), *pid, *fd)?;
                let mut o = Obtained::new(got, "pidfd_getfd", true)?;
                o.pid = Some(*pid);
                o.fd_number = Some(*fd);
                Ok(o)
            }
            Resolved::Path(p) => open_path(arg, p),
        }
    };
    if oa.is_none() {
        oa = Some(other(a, &ra)?);
    }
    if ob.is_none() {
        ob = Some(other(b, &rb)?);
    }
    Ok((oa.unwrap(), ob.unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> i32 {
        rustix::process::getpid().as_raw_nonzero().get()
    }

    #[test]
    fn names_of_own_descriptors() {
        for s in [
            "/proc/self/fd/0".to_owned(),
            "/dev/fd/0".to_owned(),
            "/proc/thread-self/fd/0".to_owned(),
            format!("/proc/{}/fd/0", me()),
            "/proc//self/./fd/0".to_owned(),
            "/dev/stdin".to_owned(),
        ] {
            assert_eq!(classify(OsStr::new(&s)), Resolved::Own(0), "{s}");
        }
        assert_eq!(classify(OsStr::new("/proc/self/fd/3")), Resolved::Own(3));
    }

    #[test]
    fn other_names() {
        assert_eq!(
            classify(OsStr::new("/proc/1/fd/2")),
            Resolved::Proc { pid: 1, fd: 2 }
        );
        for s in [
            "/proc/-1/fd/0",
            "/proc/self/fdinfo/0",
            "/dev/null",
            "",
            "/",
            "/proc/self/fd/",
            "/proc/self/fd/99999999999",
        ] {
            assert_eq!(classify(OsStr::new(s)), Resolved::Path(s.into()), "{s}");
        }
    }
}
