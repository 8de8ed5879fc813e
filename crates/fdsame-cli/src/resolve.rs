//! From a command-line argument to a descriptor: the caller's own, another process's, or a
//! path looked up without being opened.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fdsame::{FdKind, DMA_BUF_MAGIC, DRM_MAJOR};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags, CWD};
use rustix::io::Errno;

use crate::caller_holds;
use crate::text::Name;

/// What an argument names.
#[derive(Debug)]
pub enum Resolved {
    /// Descriptor N of this process, inherited from the caller (`/proc/self/fd/N`,
    /// `/dev/fd/N`, `/dev/stdin`, `/proc/MYPID/fd/N`, any spelling, any procfs instance).
    Own(i32),
    /// Descriptor `fd` of another process: its pid in fdsame's pid namespace, and a pidfd
    /// taken from the procfs directory the argument named.
    Proc { pid: i32, fd: i32, pidfd: OwnedFd },
    /// A path to look up.
    Path(PathBuf),
}

/// How many symbolic links are followed by hand before the path is left to the kernel
/// (which answers `ELOOP` at 40).
const MAX_HOPS: usize = 40;

/// `path` split as the kernel walks it: the directory part and the last component, both
/// raw bytes (`Path::file_name` would take `fd/0/.` for `0`).
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    }
}

/// What `arg` names, found without opening anything but directories with `O_PATH` (closed
/// again before this returns) and without following the last component: a procfs
/// `PID/fd` or `PID/task/TID/fd` directory of any procfs instance, reached by any spelling,
/// with a last component the kernel takes as a descriptor number, names a descriptor; a
/// symbolic link is followed by hand (`/dev/stdin` → `/proc/self/fd/0`); anything else is a
/// path.
///
/// Errors: a descriptor name whose process cannot be found (exited, in a pid namespace
/// fdsame cannot see, its namespace unreadable).
pub fn classify(arg: &OsStr) -> Result<Resolved, String> {
    let mut path: Vec<u8> = arg.as_bytes().to_vec();
    for _ in 0..MAX_HOPS {
        let (dir, name) = split_last(&path);
        if name.is_empty() || name == b"." || name == b".." {
            break; // `x/`, `x/.`: a directory, never a descriptor link
        }
        let dir = Path::new(OsStr::from_bytes(dir));
        let name = OsStr::from_bytes(name);
        let Ok(dirfd) = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            break; // the lookup of the whole path will say why
        };
        if let Some(n) = fd_number(name) {
            if let Some(where_) = fd_dir_root(dirfd.as_fd()) {
                return descriptor_of(dirfd, where_, n);
            }
        }
        match symlink_target(dirfd.as_fd(), name) {
            Some(t) if t.first() == Some(&b'/') => path = t,
            Some(t) => path = [dir.as_os_str().as_bytes(), b"/", &t].concat(),
            None => break,
        }
    }
    Ok(Resolved::Path(PathBuf::from(arg)))
}

/// The target of `name` in `dir` when it is a symbolic link (not followed: no target is
/// touched).
fn symlink_target(dir: BorrowedFd<'_>, name: &OsStr) -> Option<Vec<u8>> {
    let st = rustix::fs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_DONT_SYNC,
        StatxFlags::TYPE,
    )
    .ok()?;
    if FileType::from_raw_mode(st.stx_mode.into()) != FileType::Symlink {
        return None;
    }
    Some(
        rustix::fs::readlinkat(dir, name, Vec::new())
            .ok()?
            .into_bytes(),
    )
}

/// Opens the directory `name` under `dir` with `O_PATH`.
fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, String> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "cannot open its process directory: {}",
            std::io::Error::from(e)
        )
    })
}

/// `(st_dev, st_ino)` of `name` under `dir`, not following it.
fn inode_at(dir: BorrowedFd<'_>, name: &str) -> Option<(u64, u64)> {
    let st = rustix::fs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH,
        StatxFlags::INO,
    )
    .ok()?;
    Some((
        rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
        st.stx_ino,
    ))
}

/// Descriptor `n` of the process whose procfs `fd` directory is `fd_dir`, found through
/// `where_`: the way up to its procfs instance's root and from there to the process
/// directory. fdsame holds at most two descriptors of its own at any time here (it must
/// work with only two free), and checks that the process directory it reopened is the one
/// of `fd_dir` (a pid reused meanwhile is another directory).
fn descriptor_of(fd_dir: OwnedFd, where_: FdDir, n: i32) -> Result<Resolved, String> {
    let gone = || "the process has exited".to_owned();
    let before = inode_at(fd_dir.as_fd(), "").ok_or_else(gone)?;
    let root = open_dir(fd_dir.as_fd(), OsStr::new(where_.up))?;
    drop(fd_dir);
    let ours = crate::procfs::instance_is_ours(root.as_fd());
    let pdir = open_dir(root.as_fd(), OsStr::from_bytes(&where_.rel))?;
    drop(root);
    if inode_at(pdir.as_fd(), "fd") != Some(before) {
        return Err(gone());
    }
    let p = crate::procfs::process_of_dir(pdir.as_fd(), ours)?;
    drop(pdir);
    Ok(match p.pidfd {
        None => Resolved::Own(n),
        Some(pidfd) => Resolved::Proc {
            pid: p.pid,
            fd: n,
            pidfd,
        },
    })
}

/// A descriptor number as procfs takes one (`name_to_int()` in fs/proc/base.c): decimal
/// digits without a leading zero (`0` itself is one), within `int`.
fn fd_number(name: &OsStr) -> Option<i32> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Where a procfs `fd` directory is: `up` from it to its instance's root, `rel` from that
/// root to its process (`PID`) or thread (`PID/task/TID`) directory.
struct FdDir {
    up: &'static str,
    rel: Vec<u8>,
}

/// When `dir` is a procfs `PID/fd` or `PID/task/TID/fd` directory (whatever path led to it,
/// whichever procfs instance it belongs to): where it is in its instance.
fn fd_dir_root(dir: BorrowedFd<'_>) -> Option<FdDir> {
    let fs = rustix::fs::fstatfs(dir).ok()?;
    if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
        return None;
    }
    let link = rustix::fs::readlinkat(
        CWD,
        format!("/proc/thread-self/fd/{}", dir.as_raw_fd()),
        Vec::new(),
    )
    .ok()?;
    let numeric = |x: &[u8]| !x.is_empty() && x.iter().all(u8::is_ascii_digit);
    let (parent, last) = split_last(link.as_bytes());
    let (above, id) = split_last(parent);
    if last != b"fd" || !numeric(id) {
        return None;
    }
    let (above2, task) = split_last(above);
    let (_, pid) = split_last(above2);
    Some(if task == b"task" && numeric(pid) {
        FdDir {
            up: "../../../..",
            rel: [pid, b"/task/", id].concat(),
        }
    } else {
        FdDir {
            up: "../..",
            rel: id.to_vec(),
        }
    })
}

/// A descriptor the CLI compares, and where it came from.
pub struct Obtained {
    pub fd: OwnedFd,
    pub how: &'static str,
    /// Another process's descriptor: no DRM ioctl is issued on it.
    pub foreign: bool,
    /// A path fdsame looked up (`O_PATH`) or opened (a DRM device node) itself: a new open,
    /// never the same file, DRM client or dma-buf as anything.
    pub new_open: bool,
    pub pid: Option<i32>,
    pub fd_number: Option<i32>,
    /// What `/proc/self/fd/N` of the obtained descriptor reads (`pipe:[…]`, a path…).
    pub target: Name,
    kind: FdKind,
    /// For a path looked up with `O_PATH`: what it is.
    file_type: Option<&'static str>,
}

/// A library error in words, without the descriptor numbers it carries (fdsame's own,
/// meaningless to the caller).
pub fn lib_error(e: &fdsame::Error) -> String {
    let mut msg = match (e.kind(), e.mechanism()) {
        (fdsame::ErrorKind::NotApplicable, Some(m)) => format!("{m} cannot compare these files"),
        (fdsame::ErrorKind::Unsupported, Some(m)) => {
            let how = match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => {
                    "is refused to this process (a seccomp filter, a container or an LSM \
                     forbids it)"
                }
                _ => "is not available on this kernel",
            };
            format!("{m}: {} {how}", e.operation())
        }
        (_, Some(m)) => format!("{m}: {} failed", e.operation()),
        (_, None) => format!("{} failed", e.operation()),
    };
    if let Some(d) = e.detail() {
        msg = format!("{msg}: {d}");
    }
    if let Some(errno) = e.raw_os_error() {
        msg = format!("{msg}: {}", std::io::Error::from_raw_os_error(errno));
    }
    msg
}

impl Obtained {
    fn new(fd: OwnedFd, how: &'static str, foreign: bool) -> Result<Obtained, String> {
        let kind =
            FdKind::of(&fd).map_err(|e| format!("cannot tell what it is: {}", lib_error(&e)))?;
        let target = rustix::fs::readlinkat(
            CWD,
            format!("/proc/thread-self/fd/{}", fd.as_raw_fd()),
            Vec::new(),
        )
        .map(|p| Name(p.into_bytes()))
        .unwrap_or(Name(vec![]));
        Ok(Obtained {
            fd,
            how,
            foreign,
            new_open: false,
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
                    self.how,
                    self.target.shown(),
                    self.kind
                )
            }
            (None, None, Some(n)) => {
                format!(
                    "descriptor {n} of the caller: {}, {}",
                    self.target.shown(),
                    self.kind
                )
            }
            _ => format!("{}, {}", self.kind, self.how),
        };
        what
    }
}

/// Descriptor `fd` of process `pid`, the same open file description (`pidfd_getfd`). The
/// error is the errno; [`getfd_reason`] says it in words.
pub fn getfd(pidfd: BorrowedFd<'_>, fd: i32) -> Result<OwnedFd, Errno> {
    rustix::process::pidfd_getfd(pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
}

/// Why `pidfd_getfd` of a descriptor of `pid` failed, naming no descriptor number.
pub fn getfd_reason(e: Errno, pid: i32) -> String {
    let err = std::io::Error::from(e);
    match e {
        Errno::PERM | Errno::ACCESS => {
            format!(
                "pidfd_getfd: {err}: {}",
                crate::procfs::ptrace_hint("PTRACE_MODE_ATTACH_REALCREDS")
            )
        }
        Errno::MFILE | Errno::NFILE => format!(
            "pidfd_getfd: {err}: fdsame's own descriptor limit is reached (RLIMIT_NOFILE; \
             raise the hard limit, e.g. `ulimit -Hn`, as root)"
        ),
        Errno::NOSYS => format!(
            "pidfd_getfd: {err}: this kernel lacks pidfd_getfd (Linux 5.6), and opening \
             /proc/{pid}/fd/N would make a new open, not the same file"
        ),
        Errno::SRCH => format!(
            "pidfd_getfd: {err}: the process has exited (a zombie, not yet reaped by its \
             parent, has no descriptors left)"
        ),
        _ => format!("pidfd_getfd: {err}"),
    }
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
fn open_path(path: &Path) -> Result<Obtained, String> {
    let opath = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("cannot look it up: {}", std::io::Error::from(e)))?;
    let st = rustix::fs::statx(
        &opath,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
        StatxFlags::TYPE,
    )
    .map_err(|e| format!("statx: {}", std::io::Error::from(e)))?;
    let ft = FileType::from_raw_mode(st.stx_mode.into());
    if ft == FileType::CharacterDevice && st.stx_rdev_major == DRM_MAJOR {
        let via = format!("/proc/self/fd/{}", opath.as_raw_fd());
        let base = OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let (fd, how) = match rustix::fs::open(via.as_str(), base | OFlags::RDWR, Mode::empty()) {
            Ok(fd) => (fd, "open O_RDWR|O_NONBLOCK"),
            Err(_) => (
                rustix::fs::open(via.as_str(), base | OFlags::RDONLY, Mode::empty())
                    .map_err(|e| format!("cannot open it: {}", std::io::Error::from(e)))?,
                "open O_RDONLY|O_NONBLOCK",
            ),
        };
        let mut o = Obtained::new(fd, how, false)?;
        o.new_open = true;
        return Ok(o);
    }
    if let Ok(fs) = rustix::fs::fstatfs(&opath) {
        #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every architecture
        if fs.f_type as i64 == DMA_BUF_MAGIC {
            return Err(
                "a dma-buf's inode, which cannot be opened by path: name a descriptor \
                 that holds the dma-buf (/proc/PID/fd/N)"
                    .to_owned(),
            );
        }
    }
    let mut o = Obtained::new(opath, "O_PATH", false)?;
    o.file_type = Some(file_type_name(ft));
    o.new_open = true;
    Ok(o)
}

/// Obtains the descriptors of both arguments: the caller's own ones first (checked held, then
/// duplicated), before anything else is opened, so that a descriptor number fdsame uses itself
/// (the pidfds of [`classify`]) is never taken for the caller's. Errors name the argument.
pub fn obtain_pair(
    a: &OsStr,
    ra: Resolved,
    b: &OsStr,
    rb: Resolved,
) -> Result<(Obtained, Obtained), String> {
    let ours: Vec<i32> = [&ra, &rb]
        .iter()
        .filter_map(|r| match r {
            Resolved::Proc { pidfd, .. } => Some(pidfd.as_raw_fd()),
            _ => None,
        })
        .collect();
    for (arg, r) in [(a, &ra), (b, &rb)] {
        if let Resolved::Own(n) = r {
            if !caller_holds(*n) || ours.contains(n) {
                return Err(format!(
                    "{}: names descriptor {n} of the caller, which the caller does not hold \
                     (not open in fdsame when it started)",
                    crate::text::shown(arg)
                ));
            }
        }
    }
    let named = |arg: &OsStr, r: Result<Obtained, String>| {
        r.map_err(|e| format!("{}: {e}", crate::text::shown(arg)))
    };
    let mut oa = match &ra {
        Resolved::Own(n) => Some(named(a, own(*n))?),
        _ => None,
    };
    let mut ob = match &rb {
        Resolved::Own(n) => Some(named(b, own(*n))?),
        _ => None,
    };
    if oa.is_none() {
        oa = Some(named(a, other(ra))?);
    }
    if ob.is_none() {
        ob = Some(named(b, other(rb))?);
    }
    Ok((oa.unwrap(), ob.unwrap()))
}

/// The caller's descriptor `n`, duplicated.
fn own(n: i32) -> Result<Obtained, String> {
    // SAFETY: `n` is open (checked by the caller of this, before anything was opened) and
    // stays open: it is the caller's, never closed here.
    let fd = unsafe { BorrowedFd::borrow_raw(n) };
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3)
        .map_err(|e| format!("cannot duplicate it: {}", std::io::Error::from(e)))?;
    let mut o = Obtained::new(dup, "the caller's descriptor", false)?;
    o.fd_number = Some(n);
    Ok(o)
}

/// Another process's descriptor, or a path.
fn other(r: Resolved) -> Result<Obtained, String> {
    match r {
        Resolved::Own(_) => unreachable!("obtained first"),
        Resolved::Proc { pid, fd, pidfd } => {
            let got = getfd(pidfd.as_fd(), fd).map_err(|e| match e {
                Errno::BADF => format!("process {pid} has no descriptor {fd}"),
                e => getfd_reason(e, pid),
            })?;
            let mut o = Obtained::new(got, "pidfd_getfd", true)?;
            o.pid = Some(pid);
            o.fd_number = Some(fd);
            Ok(o)
        }
        Resolved::Path(p) => open_path(&p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> i32 {
        rustix::process::getpid().as_raw_nonzero().get()
    }

    /// What an argument names, in words, for comparisons.
    fn named(s: &str) -> String {
        match classify(OsStr::new(s)) {
            Ok(Resolved::Own(n)) => format!("own {n}"),
            Ok(Resolved::Proc { pid, fd, .. }) => format!("proc {pid} {fd}"),
            Ok(Resolved::Path(p)) => format!("path {}", p.display()),
            Err(e) => format!("error {e}"),
        }
    }

    #[test]
    fn names_of_own_descriptors() {
        for s in [
            "/proc/self/fd/0".to_owned(),
            "/dev/fd/0".to_owned(),
            "/proc/thread-self/fd/0".to_owned(),
            format!("/proc/{}/fd/0", me()),
            format!("/proc/{}/task/{}/fd/0", me(), me()),
            "/proc//self/./fd/0".to_owned(),
            "/dev/stdin".to_owned(),
        ] {
            assert_eq!(named(&s), "own 0", "{s}");
        }
        assert_eq!(named("/proc/self/fd/3"), "own 3");
    }

    /// A thread's directory names its process: a descriptor of the caller's own here.
    #[test]
    fn a_thread_id_names_its_process() {
        let (tid, done_tx, t) = crate::spawn_idle_thread();
        assert_eq!(named(&format!("/proc/{tid}/fd/1")), "own 1");
        assert_eq!(named(&format!("/proc/{}/task/{tid}/fd/1", me())), "own 1");
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }

    /// Exactly what the kernel resolves as a descriptor name: no leading zero, no trailing
    /// `.` or `/`, within `int`.
    #[test]
    fn names_the_kernel_rejects_are_paths() {
        for s in [
            "/proc/self/fd/00",
            "/proc/self/fd/01",
            "/proc/self/fd/0/.",
            "/proc/self/fd/0/",
            "/proc/self/fd/0/..",
            "/proc/self/fd/+0",
            "/proc/self/fd/ 0",
            "/proc/self/fdinfo/0",
            "/proc/-1/fd/0",
            "/dev/null",
            "",
            "/",
            "/proc/self/fd/",
            "/proc/self/fd/99999999999",
            "/proc/self/fd/4294967296",
        ] {
            assert_eq!(named(s), format!("path {s}"), "{s}");
        }
        assert_eq!(
            split_last(b"/proc/self/fd/0/."),
            (&b"/proc/self/fd/0"[..], &b"."[..])
        );
        assert_eq!(split_last(b"/x"), (&b"/"[..], &b"x"[..]));
        assert_eq!(split_last(b"x"), (&b"."[..], &b"x"[..]));
    }

    #[test]
    fn another_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert_eq!(named(&format!("/proc/{pid}/fd/2")), format!("proc {pid} 2"));
        let _ = child.kill();
        let _ = child.wait();
    }
}
