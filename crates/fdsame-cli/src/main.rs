//! `fdsame`: are these two file descriptors the same thing? The command-line front end of
//! the `fdsame` crate.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fdsame::{Answer, FdKind, Level, Mechanism, Sameness};
use serde_json::{json, Value};

/// Exit codes a script can rely on.
mod exit {
    /// Compared, and every asked level holds (`ps`: printed).
    pub const SAME: u8 = 0;
    /// Compared, and an asked level does not hold.
    pub const DIFFERENT: u8 = 1;
    /// Usage error (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// A file descriptor could not be opened or obtained (`ps`: a named process could not
    /// be inspected).
    pub const NO_FD: u8 = 3;
    /// The kernel could not answer: an asked level is unknown, or the forced mechanism is
    /// unavailable or failed.
    pub const UNKNOWN: u8 = 4;
}

const AFTER_HELP: &str = "\
ARGUMENTS A and B:
  A path (/dev/dri/card0, /dev/dri/renderD128, any file) is opened O_RDWR|O_CLOEXEC, or
  O_RDONLY when that fails: every path is a new open, so two paths are never the same file.
  /proc/PID/fd/N (PID may be `self`) is the very descriptor N of process PID, obtained with
  pidfd_open + pidfd_getfd: the same open file description, not a new open. That needs
  PTRACE_MODE_ATTACH_REALCREDS over PID (same user and no Yama restriction, or
  CAP_SYS_PTRACE). A path named `ps` must be written ./ps.

LEVELS (--level, repeatable; default: file):
  file            the same open file description (dup, fork, SCM_RIGHTS, pidfd_getfd)
  drm-client      the same DRM client (struct drm_file): GEM handles valid on both
  drm-device      the same DRM device, any node (card or render), any open
  dma-buf-object  the same dma-buf
  Levels that do not apply to the kinds of file are `different`.

MECHANISMS (--mechanism; default: the best this kernel has, in this order):
  drm-ioctl, dma-buf-ioctl, f-dupfd-query, kcmp, epoll, fstat, sysfs

EXIT STATUS:
  0  compared, and every asked level is the same (ps: printed)
  1  compared, and an asked level is different
  2  usage error (also: a --mechanism that cannot compare these kinds of file)
  3  a file descriptor could not be opened or obtained (ps: a named process could not be
     inspected)
  4  the kernel could not answer: an asked level is unknown, or the forced mechanism is
     unavailable on this kernel or failed

EXAMPLES:
  fdsame /dev/dri/card0 /dev/dri/renderD128 --level drm-device
      are these two nodes of one GPU?
  fdsame /proc/1234/fd/7 /proc/5678/fd/9 --level drm-client
      do these processes share a DRM client (GEM handles)?
  fdsame /proc/1234/fd/12 /proc/1234/fd/15 --level dma-buf-object --json
      the same dma-buf? JSON for scripts
  fdsame --mechanism kcmp /proc/self/fd/0 /proc/self/fd/1
      is stdin the same open file as stdout? by kcmp only
  fdsame ps 1234
      the DRM and dma-buf descriptors of process 1234, grouped
  fdsame ps --json
      the same for every process this user may inspect";

#[derive(Parser, Debug)]
#[command(
    name = "fdsame",
    version,
    about = "Are these two file descriptors the same thing? DRM and dma-buf aware.",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    /// First file: a path, or /proc/PID/fd/N.
    #[arg(required = true)]
    a: Option<String>,
    /// Second file: a path, or /proc/PID/fd/N.
    #[arg(required = true)]
    b: Option<String>,
    /// A level that must hold for exit status 0 (repeatable).
    #[arg(long = "level", short = 'l', value_parser = parse_level)]
    levels: Vec<Level>,
    /// Use this mechanism only.
    #[arg(long, short = 'm', value_parser = parse_mechanism)]
    mechanism: Option<Mechanism>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The DRM and dma-buf descriptors of processes, grouped by identity.
    Ps {
        /// Process ids (default: every process visible in /proc).
        pids: Vec<i32>,
    },
}

fn parse_level(s: &str) -> Result<Level, String> {
    let norm = s.replace('_', "-");
    Level::ALL
        .into_iter()
        .find(|l| {
            l.name() == norm
                || (norm == "client" && *l == Level::DrmClient)
                || (norm == "device" && *l == Level::DrmDevice)
                || (norm == "object" && *l == Level::DmaBufObject)
        })
        .ok_or_else(|| {
            let names: Vec<_> = Level::ALL.iter().map(|l| l.name()).collect();
            format!("unknown level {s:?}; one of: {}", names.join(", "))
        })
}

fn parse_mechanism(s: &str) -> Result<Mechanism, String> {
    s.parse::<Mechanism>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Ps { ref pids }) => ps(pids, cli.json),
        None => {
            let (Some(a), Some(b)) = (&cli.a, &cli.b) else {
                eprintln!("fdsame: two files to compare, or a subcommand; see --help");
                return ExitCode::from(exit::USAGE);
            };
            let levels = if cli.levels.is_empty() {
                vec![Level::File]
            } else {
                cli.levels.clone()
            };
            compare_cmd(a, b, &levels, cli.mechanism, cli.json)
        }
    };
    ExitCode::from(code)
}

/// Where a descriptor came from.
struct Obtained {
    fd: OwnedFd,
    how: &'static str,
}

/// `/proc/PID/fd/N` → (PID, N); `self` is this process.
fn parse_proc_fd(s: &str) -> Option<(i32, i32)> {
    let rest = s.strip_prefix("/proc/")?;
    let mut parts = rest.trim_end_matches('/').split('/');
    let pid = match parts.next()? {
        "self" => rustix::process::getpid().as_raw_nonzero().get(),
        p => p.parse().ok()?,
    };
    if parts.next()? != "fd" {
        return None;
    }
    let fd = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((pid, fd))
}

const PTRACE_HINT: &str = "pidfd_getfd needs PTRACE_MODE_ATTACH_REALCREDS over the process: \
    the same user and no Yama ptrace restriction, or CAP_SYS_PTRACE";

/// Descriptor `fd` of process `pid`, the same open file description (pidfd_getfd).
fn getfd(pid: i32, fd: i32) -> Result<OwnedFd, String> {
    let p = rustix::process::Pid::from_raw(pid).ok_or_else(|| format!("bad pid {pid}"))?;
    let pidfd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
        .map_err(|e| format!("pidfd_open({pid}): {}", io::Error::from(e)))?;
    rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty()).map_err(|e| {
        let err = io::Error::from(e);
        match e {
            rustix::io::Errno::PERM | rustix::io::Errno::ACCESS => {
                format!("pidfd_getfd(pid {pid}, fd {fd}): {err}: {PTRACE_HINT}")
            }
            rustix::io::Errno::NOSYS => format!(
                "pidfd_getfd(pid {pid}, fd {fd}): {err}: this kernel lacks pidfd_getfd (Linux 5.6), \
                 and opening /proc/{pid}/fd/{fd} would make a new open, not the same file"
            ),
            _ => format!("pidfd_getfd(pid {pid}, fd {fd}): {err}"),
        }
    })
}

fn obtain(arg: &str) -> Result<Obtained, String> {
    if let Some((pid, fd)) = parse_proc_fd(arg) {
        return getfd(pid, fd).map(|fd| Obtained {
            fd,
            how: "pidfd_getfd",
        });
    }
    use rustix::fs::{open, Mode, OFlags};
    let base = OFlags::CLOEXEC | OFlags::NOCTTY;
    match open(arg, base | OFlags::RDWR, Mode::empty()) {
        Ok(fd) => Ok(Obtained {
            fd,
            how: "open O_RDWR",
        }),
        Err(_) => open(arg, base | OFlags::RDONLY, Mode::empty())
            .map(|fd| Obtained {
                fd,
                how: "open O_RDONLY",
            })
            .map_err(|e| format!("open {arg}: {}", io::Error::from(e))),
    }
}

fn kind_name(k: FdKind) -> &'static str {
    match k {
        FdKind::Drm { .. } => "drm",
        FdKind::DmaBuf => "dma-buf",
        FdKind::Path => "o-path",
        _ => "other",
    }
}

fn levels_json(s: &Sameness) -> Value {
    let mut m = serde_json::Map::new();
    for l in Level::ALL {
        m.insert(l.name().to_owned(), json!(s.level(l).name()));
    }
    Value::Object(m)
}

fn compare_cmd(a: &str, b: &str, levels: &[Level], mech: Option<Mechanism>, as_json: bool) -> u8 {
    let fail = |code: u8, msg: String| {
        if as_json {
            println!("{}", json!({ "error": msg, "exit": code }));
        }
        eprintln!("fdsame: {msg}");
        code
    };
    let oa = match obtain(a) {
        Ok(o) => o,
        Err(e) => return fail(exit::NO_FD, e),
    };
    let ob = match obtain(b) {
        Ok(o) => o,
        Err(e) => return fail(exit::NO_FD, e),
    };
    let r = match mech {
        Some(m) => fdsame::compare_with(&oa.fd, &ob.fd, m),
        None => fdsame::compare(&oa.fd, &ob.fd),
    };
    let s = match r {
        Ok(s) => s,
        Err(e) => {
            let code = match fdsame::Error::from_io(&e).map(|e| e.kind()) {
                Some(fdsame::ErrorKind::NotApplicable) => exit::USAGE,
                _ => exit::UNKNOWN,
            };
            return fail(code, e.to_string());
        }
    };
    let answers: Vec<Answer> = levels.iter().map(|l| s.level(*l)).collect();
    let code = if answers.contains(&Answer::Different) {
        exit::DIFFERENT
    } else if answers.contains(&Answer::Unknown) {
        exit::UNKNOWN
    } else {
        exit::SAME
    };
    if as_json {
        let side = |arg: &str, o: &Obtained, k: FdKind| json!({ "arg": arg, "obtained_by": o.how, "kind": kind_name(k), "kind_detail": k.to_string() });
        let v = json!({
            "a": side(a, &oa, s.kinds[0]),
            "b": side(b, &ob, s.kinds[1]),
            "levels": levels_json(&s),
            "mechanism": s.mechanism.map(|m| m.name()),
            "device_mechanism": s.device_mechanism.map(|m| m.name()),
            "asked": levels.iter().map(|l| l.name()).collect::<Vec<_>>(),
            "holds": code == exit::SAME,
            "exit": code,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        println!("A: {a} ({}, {})", s.kinds[0], oa.how);
        println!("B: {b} ({}, {})", s.kinds[1], ob.how);
        for l in Level::ALL {
            let mark = if levels.contains(&l) { "*" } else { " " };
            println!("{mark} {:<15} {}", l.name(), s.level(l));
        }
        match s.mechanism {
            Some(m) => println!("answered by: {m}"),
            None => println!("answered by: nothing could tell the file level on this kernel"),
        }
        if let Some(m) = s.device_mechanism {
            println!("drm-device level by: {m}");
        }
        let verdict = match code {
            exit::SAME => "same",
            exit::DIFFERENT => "not the same",
            _ => "unknown: the kernel cannot tell",
        };
        let asked: Vec<_> = levels.iter().map(|l| l.name()).collect();
        println!("verdict ({}): {verdict}", asked.join(", "));
    }
    code
}

/// One DRM or dma-buf descriptor of a process.
struct Entry {
    pid: i32,
    fd: i32,
    path: String,
    kind: FdKind,
    file: OwnedFd,
}

impl Entry {
    fn json(&self) -> Value {
        json!({ "pid": self.pid, "fd": self.fd, "path": self.path })
    }
    fn label(&self) -> String {
        format!("{}:{} ({})", self.pid, self.fd, self.path)
    }
}

/// Partitions `items` by the equivalence `same` (union-find on every pair); `unknown`
/// counts the pairs whose answer was unknown.
fn partition(
    items: &[usize],
    mut same: impl FnMut(usize, usize) -> Answer,
    unknown: &mut usize,
) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..items.len()).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        p[x] = r;
        r
    }
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            if find(&mut parent, i) == find(&mut parent, j) {
                continue;
            }
            match same(items[i], items[j]) {
                Answer::Same => {
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    parent[rj] = ri;
                }
                Answer::Unknown => *unknown += 1,
                Answer::Different => {}
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(*item);
    }
    groups.into_values().collect()
}

fn ps(pids: &[i32], as_json: bool) -> u8 {
    // One descriptor per DRM/dma-buf descriptor of every process: raise the soft limit.
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    lim.current = lim.maximum;
    let _ = setrlimit(Resource::Nofile, lim);

    let me = rustix::process::getpid().as_raw_nonzero().get();
    let explicit = !pids.is_empty();
    let pids: Vec<i32> = if explicit {
        pids.to_vec()
    } else {
        let mut v: Vec<i32> = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.retain(|p| *p != me);
        v.sort_unstable();
        v
    };

    let mut entries: Vec<Entry> = vec![];
    let mut skipped: Vec<(i32, String)> = vec![];
    for &pid in &pids {
        let dir = format!("/proc/{pid}/fd");
        let list = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            // Exited since /proc was listed.
            Err(e) if !explicit && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                    format!(": reading {dir} needs PTRACE_MODE_READ (same user, or CAP_SYS_PTRACE)")
                } else {
                    String::new()
                };
                skipped.push((pid, format!("{dir}: {e}{hint}")));
                continue;
            }
        };
        let mut fds: Vec<i32> = list
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        for fd in fds {
            let link = format!("{dir}/{fd}");
            let Ok(target) = std::fs::read_link(&link) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let is_buf = target.starts_with("/dmabuf:") || target == "anon_inode:dmabuf";
            let is_drm = !is_buf
                && rustix::fs::stat(link.as_str()).is_ok_and(|st| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode)
                        == rustix::fs::FileType::CharacterDevice
                        && rustix::fs::major(st.st_rdev) == fdsame::DRM_MAJOR
                });
            if !(is_buf || is_drm) {
                continue;
            }
            match getfd(pid, fd) {
                Ok(file) => {
                    let kind = FdKind::of(file.as_fd()).unwrap_or(FdKind::Other);
                    if kind.is_drm() || kind.is_dma_buf() {
                        entries.push(Entry {
                            pid,
                            fd,
                            path: target,
                            kind,
                            file,
                        });
                    }
                }
                Err(e) => {
                    skipped.push((pid, e));
                    break;
                }
            }
        }
    }

    let cmp = |x: &Entry, y: &Entry| fdsame::compare(&x.file, &y.file);
    let mut errors: Vec<String> = vec![];
    let mut unknown = 0usize;
    let level = |i: usize, j: usize, l: Level, errors: &mut Vec<String>| match cmp(
        &entries[i],
        &entries[j],
    ) {
        Ok(s) => s.level(l),
        Err(e) => {
            errors.push(format!(
                "{} vs {}: {e}",
                entries[i].label(),
                entries[j].label()
            ));
            Answer::Unknown
        }
    };
    let drm: Vec<usize> = (0..entries.len())
        .filter(|i| entries[*i].kind.is_drm())
        .collect();
    let bufs: Vec<usize> = (0..entries.len())
        .filter(|i| entries[*i].kind.is_dma_buf())
        .collect();
    let mut mechanisms = std::collections::BTreeSet::new();
    for w in drm.windows(2).chain(bufs.windows(2)) {
        if let Ok(s) = cmp(&entries[w[0]], &entries[w[1]]) {
            mechanisms.extend(s.mechanism.map(|m| m.name()));
            mechanisms.extend(s.device_mechanism.map(|m| m.name()));
        }
    }

    // devices ⊇ clients ⊇ files
    let mut devices = vec![];
    for dev in partition(
        &drm,
        |i, j| level(i, j, Level::DrmDevice, &mut errors),
        &mut unknown,
    ) {
        let mut clients = vec![];
        for client in partition(
            &dev,
            |i, j| level(i, j, Level::DrmClient, &mut errors),
            &mut unknown,
        ) {
            let files = partition(
                &client,
                |i, j| level(i, j, Level::File, &mut errors),
                &mut unknown,
            );
            clients.push(files);
        }
        devices.push(clients);
    }
    let objects = partition(
        &bufs,
        |i, j| level(i, j, Level::DmaBufObject, &mut errors),
        &mut unknown,
    );

    if as_json {
        let e = |i: &usize| entries[*i].json();
        let v = json!({
            "drm_devices": devices.iter().map(|clients| json!({
                "clients": clients.iter().map(|files| json!({
                    "files": files.iter().map(|f| f.iter().map(e).collect::<Vec<_>>()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "dma_bufs": objects.iter().map(|o| json!({ "fds": o.iter().map(e).collect::<Vec<_>>() })).collect::<Vec<_>>(),
            "unknown_comparisons": unknown,
            "mechanisms": mechanisms,
            "errors": errors,
            "skipped": skipped.iter().map(|(pid, why)| json!({ "pid": pid, "reason": why })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        if drm.is_empty() && bufs.is_empty() {
            println!("no DRM or dma-buf file descriptors found");
        }
        for (d, clients) in devices.iter().enumerate() {
            println!("DRM device #{}", d + 1);
            for (c, files) in clients.iter().enumerate() {
                println!("  client #{} (GEM handles shared)", c + 1);
                for files in files {
                    let labels: Vec<_> = files.iter().map(|i| entries[*i].label()).collect();
                    let note = if files.len() > 1 {
                        "  [one open file]"
                    } else {
                        ""
                    };
                    println!("    {}{note}", labels.join(", "));
                }
            }
        }
        for (o, fds) in objects.iter().enumerate() {
            let labels: Vec<_> = fds.iter().map(|i| entries[*i].label()).collect();
            println!("dma-buf #{}: {}", o + 1, labels.join(", "));
        }
        if !mechanisms.is_empty() {
            println!(
                "mechanisms: {}",
                mechanisms.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        if unknown > 0 {
            println!("note: {unknown} comparisons were unknown on this kernel; such fds are listed apart");
        }
        for e in &errors {
            eprintln!("fdsame: {e}");
        }
        if explicit || skipped.len() <= 5 {
            for (pid, why) in &skipped {
                eprintln!("fdsame: skipped pid {pid}: {why}");
            }
        } else {
            eprintln!(
                "fdsame: skipped {} processes that could not be inspected (first: pid {}: {}); {PTRACE_HINT}",
                skipped.len(),
                skipped[0].0,
                skipped[0].1
            );
        }
    }
    if explicit && !skipped.is_empty() {
        exit::NO_FD
    } else {
        exit::SAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_paths() {
        assert_eq!(parse_proc_fd("/proc/12/fd/3"), Some((12, 3)));
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert_eq!(parse_proc_fd("/proc/self/fd/0"), Some((me, 0)));
        assert_eq!(parse_proc_fd("/proc/12/fdinfo/3"), None);
        assert_eq!(parse_proc_fd("/proc/12/fd/3/x"), None);
        assert_eq!(parse_proc_fd("/dev/dri/card0"), None);
    }

    #[test]
    fn levels_parse() {
        assert_eq!(parse_level("drm-device"), Ok(Level::DrmDevice));
        assert_eq!(parse_level("dma_buf_object"), Ok(Level::DmaBufObject));
        assert!(parse_level("nope").unwrap_err().contains("drm-client"));
    }

    #[test]
    fn partition_groups() {
        let items = [0, 1, 2, 3];
        let mut unknown = 0;
        let g = partition(&items, |i, j| Answer::from(i % 2 == j % 2), &mut unknown);
        assert_eq!(g, vec![vec![0, 2], vec![1, 3]]);
        let g = partition(&items, |_, _| Answer::Unknown, &mut unknown);
        assert_eq!(g.len(), 4);
        assert_eq!(unknown, 6);
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
