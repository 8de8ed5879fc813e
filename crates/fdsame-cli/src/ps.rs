//! `fdsame ps`: the DRM devices and their clients, the dma-bufs and their holders, of every
//! process (or of the ones named), grouped by identity with the crate's grouping API.
//!
//! What it does to other processes, and nothing more: lists `/proc/PID/fd`, reads the links
//! and `/proc/PID/fdinfo/N` and `/proc/PID/comm`, `statx`es a link's target with
//! `AT_STATX_DONT_SYNC` (a path, to find DRM device nodes: a stuck NFS or FUSE mount answers
//! from its cache), `statfs`es a link named like a dma-buf to confirm it by its file
//! system, and obtains DRM and dma-buf descriptors with `pidfd_getfd` (no ioctl is issued
//! on them here).
//!
//! Collecting ([`Collect`]) and reporting ([`report`]) are apart: the report is built once
//! as a serialisable value, and the text is rendered from it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, StatxFlags, CWD};
use rustix::io::Errno;

use crate::procfs::{pidfd, ptrace_hint};
use crate::resolve::{getfd, getfd_reason};
use crate::text::Name;
use crate::{exit, failure, Outcome};

mod report;

/// Link prefixes of files that are never DRM device nodes or dma-bufs: not `statx`ed.
const PSEUDO: &[&[u8]] = &[
    b"pipe:[",
    b"socket:[",
    b"anon_inode:",
    b"net:[",
    b"mnt:[",
    b"cgroup:[",
    b"ipc:[",
    b"pid:[",
    b"time:[",
    b"user:[",
    b"uts:[",
];

/// Descriptors kept free for fdsame's own work (listing a directory, reading a file) while
/// it holds the descriptors it takes.
const RESERVE: u64 = 64;

/// A process looked at.
pub struct Proc {
    pub pid: i32,
    pub comm: Name,
    /// Why it could not be inspected at all.
    pub failed: Option<String>,
    /// Its descriptors inspected: the link read and classified (and, for a DRM or dma-buf
    /// descriptor, obtained).
    pub fds_inspected: usize,
    /// Its descriptors listed but not inspected (in [`Collect::missed`]).
    pub fds_missed: usize,
}

impl Proc {
    /// Whether the process counts as inspected: listed, and not every one of its
    /// descriptors missed (a process without descriptors is inspected).
    pub fn inspected(&self) -> bool {
        self.failed.is_none() && (self.fds_inspected > 0 || self.fds_missed == 0)
    }
}

/// A DRM or dma-buf descriptor of a process, obtained.
pub struct Entry {
    pub pid: i32,
    pub fd: i32,
    pub link: Name,
    pub fdinfo: BTreeMap<String, String>,
    /// The dma-buf's `name:` in fdinfo, as bytes (user-set, any bytes).
    pub buf_name: Option<Name>,
    pub file: OwnedFd,
}

/// A descriptor that could not be inspected. The reason names no descriptor number, so
/// that one process's misses with one reason are one line.
pub struct Missed {
    pub pid: i32,
    pub fd: i32,
    pub link: Option<Name>,
    pub why: String,
}

/// What a link names, for `ps`.
#[derive(Debug, PartialEq, Eq)]
pub enum Candidate {
    DmaBuf,
    Drm,
}

/// Decides whether descriptor `fd` of `pid` (whose link reads `link`) is taken.
pub type Classifier = fn(i32, i32, &[u8]) -> Result<Option<Candidate>, String>;

/// What `ps` found.
pub struct Collect {
    pub procs: Vec<Proc>,
    pub entries: Vec<Entry>,
    pub missed: Vec<Missed>,
    /// How many descriptors may be taken (the descriptor limit, less a reserve).
    pub budget: usize,
    /// Whether the budget or the kernel's `EMFILE` stopped taking descriptors.
    pub limit_hit: bool,
    pub classify: Classifier,
}

fn read_comm(pid: i32) -> Name {
    let raw = std::fs::read(format!("/proc/{pid}/comm")).unwrap_or_default();
    Name(raw.strip_suffix(b"\n").unwrap_or(&raw).to_vec())
}

/// fdinfo of a descriptor of `pid`, parsed; and the dma-buf's `name:` line as bytes.
fn read_fdinfo(pid: i32, fd: i32) -> (BTreeMap<String, String>, Option<Name>) {
    let raw = std::fs::read(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let name = raw
        .split(|&c| c == b'\n')
        .find_map(|l| l.strip_prefix(b"name:"))
        .map(|v| Name(v.trim_ascii().to_vec()));
    (fdsame::fdinfo::parse(&String::from_utf8_lossy(&raw)), name)
}

/// Why reading something of another process failed, naming no descriptor number.
fn io_reason(e: &io::Error, what: &str) -> String {
    if e.kind() == io::ErrorKind::PermissionDenied {
        format!("{what}: {e}: {}", ptrace_hint("PTRACE_MODE_READ"))
    } else {
        format!("{what}: {e}")
    }
}

/// Whether the file behind `/proc/PID/fd/N` is on the dma-buf file system (or, before
/// Linux 5.3, the anonymous inode `anon_inode:dmabuf`).
fn dma_buf_by_magic(path: &str, link: &[u8]) -> Result<bool, String> {
    match rustix::fs::statfs(path) {
        #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every architecture
        Ok(fs) => Ok(fs.f_type as i64 == fdsame::DMA_BUF_MAGIC
            || (fs.f_type as i64 == fdsame::ANON_INODE_FS_MAGIC && link == b"anon_inode:dmabuf")),
        Err(Errno::NOENT) => Ok(false), // closed meanwhile
        Err(e) => Err(io_reason(&e.into(), "statfs")),
    }
}

/// Finds out whether descriptor `fd` of `pid` is a DRM device node or a dma-buf: a DRM node
/// by `statx` of its target (`AT_STATX_DONT_SYNC`: cached attributes, no round trip to a
/// stuck network or FUSE server); a dma-buf by the file system of its target, for links
/// that read like one (`/dmabuf:NAME`, `anon_inode:dmabuf`): a regular file named
/// `/dmabuf:x` is not one.
pub fn candidate(pid: i32, fd: i32, link: &[u8]) -> Result<Option<Candidate>, String> {
    let path = format!("/proc/{pid}/fd/{fd}");
    if link.starts_with(b"/dmabuf:") || link == b"anon_inode:dmabuf" {
        return Ok(dma_buf_by_magic(&path, link)?.then_some(Candidate::DmaBuf));
    }
    if PSEUDO.iter().any(|p| link.starts_with(p)) {
        return Ok(None);
    }
    match rustix::fs::statx(CWD, &path, AtFlags::STATX_DONT_SYNC, StatxFlags::TYPE) {
        Ok(st) => Ok(
            (FileType::from_raw_mode(st.stx_mode.into()) == FileType::CharacterDevice
                && st.stx_rdev_major == fdsame::DRM_MAJOR)
                .then_some(Candidate::Drm),
        ),
        Err(Errno::NOENT) => Ok(None), // closed meanwhile
        Err(e) => Err(io_reason(&e.into(), "statx")),
    }
}

/// Raises the soft descriptor limit as far as allowed: to `fs.nr_open` when this process
/// may raise the hard limit (`CAP_SYS_RESOURCE`), else to the hard limit. Returns the soft
/// limit then in force.
fn raise_nofile_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if let Some(n) = nr_open.filter(|&n| lim.maximum.is_some_and(|m| n > m)) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(n),
                maximum: Some(n),
            },
        );
    }
    let lim = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Every numeric entry of /proc, but this process.
fn all_pids() -> Vec<i32> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|p| *p != me);
    v.sort_unstable();
    v
}

/// The processes to inspect: a thread id names its process (`Tgid` in its status), and a
/// process named twice is inspected once, in the order first named.
pub fn targets(pids: &[i32]) -> Vec<i32> {
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    for &p in pids {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        let tgid = fdsame::fdinfo::field(&status, "Tgid")
            .and_then(|t| t.parse::<i32>().ok())
            .filter(|&t| t > 0)
            .unwrap_or(p);
        if seen.insert(tgid) {
            out.push(tgid);
        }
    }
    out
}

impl Collect {
    pub fn new(budget: usize, classify: Classifier) -> Collect {
        Collect {
            procs: vec![],
            entries: vec![],
            missed: vec![],
            budget,
            limit_hit: false,
            classify,
        }
    }

    /// Inspects one process: every descriptor its classifier takes.
    pub fn process(&mut self, pid: i32, explicit: bool) {
        let comm = read_comm(pid);
        let dir = format!("/proc/{pid}/fd");
        let missed_before = self.missed.len();
        let mut fds_inspected = 0;
        let failed = match std::fs::read_dir(&dir) {
            Ok(list) => {
                let mut fds: Vec<i32> = list
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect();
                fds.sort_unstable();
                fds_inspected = self.descriptors(pid, &fds);
                None
            }
            // Exited since /proc was listed.
            Err(e) if !explicit && e.kind() == io::ErrorKind::NotFound => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(format!("no process {pid}")),
            Err(e) => Some(io_reason(&e, "listing its descriptors")),
        };
        self.procs.push(Proc {
            pid,
            comm,
            failed,
            fds_inspected,
            fds_missed: self.missed.len() - missed_before,
        });
    }

    fn miss(&mut self, pid: i32, fd: i32, link: Option<Name>, why: String) {
        self.missed.push(Missed { pid, fd, link, why });
    }

    fn limit_reason(&self) -> String {
        format!(
            "fdsame's own descriptor limit is reached ({} taken; RLIMIT_NOFILE: raise the hard \
             limit, e.g. `ulimit -Hn`, as root)",
            self.entries.len()
        )
    }

    /// The descriptors `fds` of `pid`: classified by their links, taken with pidfd_getfd.
    /// Returns how many were inspected (see [`Proc::fds_inspected`]).
    fn descriptors(&mut self, pid: i32, fds: &[i32]) -> usize {
        let mut pidfd_of: Option<Result<OwnedFd, String>> = None;
        let (mut plain, taken_before) = (0, self.entries.len());
        for &fd in fds {
            let link = match std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) {
                Ok(l) => Name(l.into_os_string().as_bytes().to_vec()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.miss(pid, fd, None, io_reason(&e, "readlink"));
                    continue;
                }
            };
            match (self.classify)(pid, fd, &link.0) {
                Ok(None) => {
                    plain += 1;
                    continue;
                }
                Ok(Some(_)) => {}
                Err(why) => {
                    self.miss(pid, fd, Some(link), why);
                    continue;
                }
            }
            if self.limit_hit || self.entries.len() >= self.budget {
                self.limit_hit = true;
                let why = self.limit_reason();
                self.miss(pid, fd, Some(link), why);
                continue;
            }
            let p = pidfd_of.get_or_insert_with(|| pidfd(pid));
            let got = match p {
                Ok(p) => getfd(p.as_fd(), fd).map_err(|e| (e, getfd_reason(e, pid))),
                Err(e) => Err((Errno::SRCH, e.clone())),
            };
            self.taken(pid, fd, link, got);
        }
        plain + self.entries.len() - taken_before
    }

    fn taken(&mut self, pid: i32, fd: i32, link: Name, got: Result<OwnedFd, (Errno, String)>) {
        match got {
            Ok(file) => {
                let (fdinfo, buf_name) = read_fdinfo(pid, fd);
                self.entries.push(Entry {
                    pid,
                    fd,
                    link,
                    fdinfo,
                    buf_name,
                    file,
                });
            }
            Err((Errno::BADF, _)) => {} // closed meanwhile
            Err((Errno::MFILE | Errno::NFILE, _)) => {
                self.limit_hit = true;
                let why = self.limit_reason();
                self.miss(pid, fd, Some(link), why);
            }
            Err((_, why)) => self.miss(pid, fd, Some(link), why),
        }
    }

    /// The exit status: 3 when a named process (or a descriptor of one) was not inspected,
    /// or when fdsame's own descriptor limit stopped it; 0 otherwise.
    pub fn exit_code(&self, explicit: bool) -> u8 {
        let incomplete = self.procs.iter().any(|p| !p.inspected()) || !self.missed.is_empty();
        if self.limit_hit || (explicit && incomplete) {
            exit::NO_FD
        } else {
            exit::SAME
        }
    }
}

pub fn run(pids: &[i32], as_json: bool) -> Outcome {
    if !crate::procfs::proc_is_ours() {
        let msg = "/proc is not the procfs of fdsame's pid namespace (its `self` is another \
                   process): process ids would name other processes. Mount this namespace's \
                   procfs (unshare --pid --fork --mount-proc), or run fdsame where /proc is it";
        return failure(exit::NO_FD, msg.to_owned(), as_json);
    }
    let limit = raise_nofile_limit();
    let explicit = !pids.is_empty();
    let pids = if explicit { targets(pids) } else { all_pids() };
    let budget = limit.saturating_sub(RESERVE).min(usize::MAX as u64) as usize;
    let mut c = Collect::new(budget, candidate);
    for &pid in &pids {
        c.process(pid, explicit);
    }
    let code = c.exit_code(explicit);
    let r = match report::Report::build(&c, code) {
        Ok(r) => r,
        Err(e) => return failure(exit::UNKNOWN, e, as_json),
    };
    let out = if as_json {
        serde_json::to_string_pretty(&r).map_or_else(|e| e.to_string(), |t| t + "\n")
    } else {
        report::render_text(&r)
    };
    Outcome {
        out,
        code,
        unwritten: report::problems_text(&r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> i32 {
        rustix::process::getpid().as_raw_nonzero().get()
    }

    #[test]
    fn pseudo_links_are_not_candidates() {
        assert_eq!(candidate(me(), 0, b"pipe:[12]"), Ok(None));
    }

    /// A regular file named like a dma-buf is not one: the file system decides.
    #[test]
    fn a_file_named_like_a_dma_buf_is_not_one() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        assert_eq!(candidate(me(), fd, b"/dmabuf:x"), Ok(None));
        assert_eq!(candidate(me(), fd, b"anon_inode:dmabuf"), Ok(None));
    }

    #[test]
    fn threads_name_their_process_and_pids_count_once() {
        let (tid, done_tx, t) = crate::spawn_idle_thread();
        assert_ne!(tid, me());
        assert_eq!(targets(&[tid, me(), tid]), vec![me()]);
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }

    fn unreadable(_: i32, _: i32, _: &[u8]) -> Result<Option<Candidate>, String> {
        Err("statx: Permission denied".to_owned())
    }

    /// A process none of whose descriptors could be inspected is not inspected; the fd
    /// totals count descriptors of one kind: all that were listed, inspected or not.
    #[test]
    fn a_process_whose_descriptors_all_failed_is_not_inspected() {
        let _held = rustix::pipe::pipe().unwrap();
        let mut c = Collect::new(1000, unreadable);
        c.process(me(), true);
        assert!(!c.procs[0].inspected());
        let r = report::Report::build(&c, c.exit_code(true)).unwrap();
        let t = &r.totals;
        assert_eq!((t.processes_inspected, t.processes_not_inspected), (0, 1));
        assert_eq!(t.fds_inspected, 0);
        assert_eq!(t.fds_not_inspected, c.missed.len());
        assert!(t.fds_not_inspected >= 2);
        assert_eq!(c.exit_code(true), exit::NO_FD);
        let text = report::render_text(&r);
        assert!(text.contains("0 processes inspected"), "{text}");
        assert!(text.contains("not inspected: 1 process,"), "{text}");
        // Every descriptor counted: plain ones too, not only DRM and dma-buf ones.
        let mut c = Collect::new(1000, pipes_only);
        c.process(me(), true);
        let listed = std::fs::read_dir("/proc/self/fd").unwrap().count();
        let r = report::Report::build(&c, 0).unwrap();
        let t = &r.totals;
        assert!(t.fds_inspected > c.entries.len(), "{}", t.fds_inspected);
        assert!(t.fds_inspected + t.fds_not_inspected <= listed + 2);
        assert_eq!(t.processes_inspected, 1);
        let text = report::render_text(&r);
        assert!(text.contains("1 process inspected"), "{text}");
    }

    fn pipes_only(_: i32, _: i32, link: &[u8]) -> Result<Option<Candidate>, String> {
        Ok(link.starts_with(b"pipe:[").then_some(Candidate::DmaBuf))
    }

    /// Past its descriptor budget, ps takes no more, says why once per process (not per
    /// descriptor, no ptrace hint) and exits 3.
    #[test]
    fn past_the_descriptor_limit_what_was_not_taken_is_said_once() {
        let held: Vec<_> = (0..150).map(|_| rustix::pipe::pipe().unwrap()).collect();
        let mut c = Collect::new(40, pipes_only);
        c.process(me(), true);
        assert_eq!(c.entries.len(), 40);
        assert!(c.limit_hit);
        assert!(c.missed.len() >= 2 * 150 - 40, "{}", c.missed.len());
        let reasons: BTreeSet<&str> = c.missed.iter().map(|m| m.why.as_str()).collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        let why = reasons.first().unwrap();
        assert!(why.contains("descriptor limit"), "{why}");
        assert!(!why.contains("PTRACE"), "{why}");
        assert_eq!(c.exit_code(false), exit::NO_FD);
        let r = report::Report::build(&c, c.exit_code(true)).unwrap();
        assert_eq!(r.not_inspected.len(), 1);
        assert_eq!(r.not_inspected[0].count, c.missed.len());
        let text = report::render_text(&r);
        let lines = text
            .lines()
            .filter(|l| l.contains("descriptor limit"))
            .count();
        assert_eq!(lines, 1, "{text}");
        drop(held);
    }
}
