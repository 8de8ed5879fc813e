//! `fdsame ps`: the DRM devices and their clients, the dma-bufs and their holders, of every
//! process (or of the ones named), grouped by identity with the crate's grouping API.
//!
//! What it does to other processes, and nothing more: lists `/proc/PID/fd`, reads the links
//! and `/proc/PID/fdinfo/N` and `/proc/PID/comm`, `statx`es a link's target with
//! `AT_STATX_DONT_SYNC` (a path, to find DRM device nodes: a stuck NFS or FUSE mount answers
//! from its cache), and obtains DRM and dma-buf descriptors with `pidfd_getfd` (no DRM ioctl
//! is issued on them: the grouping API is told they are foreign).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use fdsame::{Descriptors, Level};
use rustix::fs::{AtFlags, FileType, StatxFlags, CWD};
use serde_json::{json, Value};

use crate::resolve::{getfd, PTRACE_HINT};
use crate::{exit, Outcome};

/// Link prefixes of files that are never DRM device nodes or dma-bufs: not `statx`ed.
const PSEUDO: &[&str] = &[
    "pipe:[",
    "socket:[",
    "anon_inode:",
    "net:[",
    "mnt:[",
    "cgroup:[",
    "ipc:[",
    "pid:[",
    "time:[",
    "user:[",
    "uts:[",
];

/// A process looked at.
struct Proc {
    pid: i32,
    comm: String,
    /// Why it could not be inspected at all.
    failed: Option<String>,
}

/// A DRM or dma-buf descriptor of a process, obtained.
struct Entry {
    pid: i32,
    fd: i32,
    link: String,
    fdinfo: BTreeMap<String, String>,
    file: OwnedFd,
}

/// A descriptor that could not be inspected.
struct Missed {
    pid: i32,
    fd: i32,
    link: Option<String>,
    why: String,
}

fn read_comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

fn read_fdinfo(pid: i32, fd: i32) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn permission_hint(e: &io::Error, what: &str) -> String {
    if e.kind() == io::ErrorKind::PermissionDenied {
        format!(
            "{what}: {e}: reading another user's descriptors needs PTRACE_MODE_READ (the same \
             user, or CAP_SYS_PTRACE)"
        )
    } else {
        format!("{what}: {e}")
    }
}

/// What the link of a descriptor says it is. `None`: not a candidate.
enum Candidate {
    DmaBuf,
    Drm,
}

/// Finds out, without opening or blocking, whether descriptor `fd` of `pid` is a DRM device
/// node or a dma-buf.
fn candidate(pid: i32, fd: i32, link: &str) -> Result<Option<Candidate>, String> {
    if link.starts_with("/dmabuf:") || link == "anon_inode:dmabuf" {
        return Ok(Some(Candidate::DmaBuf));
    }
    if PSEUDO.iter().any(|p| link.starts_with(p)) {
        return Ok(None);
    }
    // Follows the magic link to the open file's inode; AT_STATX_DONT_SYNC: cached attributes,
    // no round trip to a (possibly stuck) network or FUSE server.
    match rustix::fs::statx(
        CWD,
        format!("/proc/{pid}/fd/{fd}"),
        AtFlags::STATX_DONT_SYNC,
        StatxFlags::TYPE,
    ) {
        Ok(st) => Ok(
            (FileType::from_raw_mode(st.stx_mode.into()) == FileType::CharacterDevice
                && st.stx_rdev_major == fdsame::DRM_MAJOR)
                .then_some(Candidate::Drm),
        ),
        Err(rustix::io::Errno::NOENT) => Ok(None), // closed meanwhile
        Err(e) => Err(permission_hint(&io::Error::from(e), "statx")),
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
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

pub fn run(pids: &[i32], as_json: bool) -> Outcome {
    // One descriptor per DRM/dma-buf descriptor found: raise the soft limit to the hard one.
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    lim.current = lim.maximum;
    let _ = setrlimit(Resource::Nofile, lim);

    let explicit = !pids.is_empty();
    let pids = if explicit { pids.to_vec() } else { all_pids() };

    let mut procs: Vec<Proc> = vec![];
    let mut entries: Vec<Entry> = vec![];
    let mut missed: Vec<Missed> = vec![];
    for &pid in &pids {
        let comm = read_comm(pid);
        let dir = format!("/proc/{pid}/fd");
        let list = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            // Exited since /proc was listed.
            Err(e) if !explicit && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                procs.push(Proc {
                    pid,
                    comm,
                    failed: Some(format!("no process {pid}")),
                });
                continue;
            }
            Err(e) => {
                procs.push(Proc {
                    pid,
                    comm,
                    failed: Some(permission_hint(&e, &dir)),
                });
                continue;
            }
        };
        let mut fds: Vec<i32> = list
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        let mut pidfd: Option<Result<OwnedFd, String>> = None;
        for fd in fds {
            let link = match std::fs::read_link(format!("{dir}/{fd}")) {
                Ok(l) => l.to_string_lossy().into_owned(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    missed.push(Missed {
                        pid,
                        fd,
                        link: None,
                        why: permission_hint(&e, "readlink"),
                    });
                    continue;
                }
            };
            match candidate(pid, fd, &link) {
                Ok(None) => continue,
                Ok(Some(Candidate::Drm | Candidate::DmaBuf)) => {}
                Err(why) => {
                    missed.push(Missed {
                        pid,
                        fd,
                        link: Some(link),
                        why,
                    });
                    continue;
                }
            }
            let pidfd = pidfd.get_or_insert_with(|| crate::resolve::pidfd(pid));
            let got = match pidfd {
                Ok(p) => getfd(p.as_fd(), pid, fd),
                Err(e) => Err(e.clone()),
            };
            match got {
                Ok(file) => entries.push(Entry {
                    pid,
                    fd,
                    fdinfo: read_fdinfo(pid, fd),
                    link,
                    file,
                }),
                // Closed meanwhile.
                Err(why) if why.contains("has no descriptor") => {}
                Err(why) => missed.push(Missed {
                    pid,
                    fd,
                    link: Some(link),
                    why,
                }),
            }
        }
        procs.push(Proc {
            pid,
            comm,
            failed: None,
        });
    }

    let report = Report::build(&procs, &entries, &missed);
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            crate::warn(&e);
            return Outcome {
                out: String::new(),
                code: exit::UNKNOWN,
            };
        }
    };
    let out = if as_json {
        format!("{:#}\n", report.json)
    } else {
        report.text
    };
    let incomplete = procs.iter().any(|p| p.failed.is_some()) || !missed.is_empty();
    Outcome {
        out,
        code: if explicit && incomplete {
            exit::NO_FD
        } else {
            exit::SAME
        },
    }
}

struct Report {
    json: Value,
    text: String,
}

impl Report {
    fn build(procs: &[Proc], entries: &[Entry], missed: &[Missed]) -> Result<Report, String> {
        let comm: BTreeMap<i32, &str> = procs.iter().map(|p| (p.pid, p.comm.as_str())).collect();
        let set = Descriptors::new(entries.iter().map(|e| e.file.as_fd()))
            .map_err(|e| format!("cannot identify an obtained descriptor: {e}"))?
            .foreign(true);
        let n = set.len();
        let files = set.group(Level::File);
        let clients = set.group(Level::DrmClient);
        let devices = set.group(Level::DrmDevice);
        let objects = set.group(Level::DmaBufObject);
        let storage = set.group(Level::DmaBufStorage);
        let mut mechanisms: BTreeSet<fdsame::Mechanism> = BTreeSet::new();
        let mut errors: Vec<String> = vec![];
        for g in [&files, &clients, &devices, &objects, &storage] {
            mechanisms.extend(g.mechanisms.iter().copied());
            errors.extend(g.errors.iter().map(|e| e.to_string()));
        }
        let is_drm = |i: usize| set.kind(i).is_drm();
        let is_buf = |i: usize| set.kind(i).is_dma_buf();

        // Holders of a group: pid → fds, fds grouped by open file.
        let holders = |members: &[usize]| -> Vec<Value> {
            let mut by_pid: BTreeMap<i32, Vec<Vec<i32>>> = BTreeMap::new();
            let mut seen_file: BTreeMap<(i32, usize), usize> = BTreeMap::new();
            for &i in members {
                let e = &entries[i];
                let f = files.group_of(i).unwrap_or(i);
                let v = by_pid.entry(e.pid).or_default();
                match seen_file.get(&(e.pid, f)) {
                    Some(&k) => v[k].push(e.fd),
                    None => {
                        seen_file.insert((e.pid, f), v.len());
                        v.push(vec![e.fd]);
                    }
                }
            }
            by_pid
                .into_iter()
                .map(|(pid, fds)| {
                    json!({
                        "pid": pid,
                        "comm": comm.get(&pid).copied().unwrap_or(""),
                        "fds": fds.concat(),
                        "open_files": fds,
                    })
                })
                .collect()
        };
        let holders_text = |h: &[Value]| -> String {
            h.iter()
                .map(|p| {
                    let files: Vec<String> = p["open_files"]
                        .as_array()
                        .unwrap_or(&vec![])
                        .iter()
                        .map(|f| {
                            let fds: Vec<String> = f
                                .as_array()
                                .unwrap_or(&vec![])
                                .iter()
                                .map(|x| x.to_string())
                                .collect();
                            if fds.len() > 1 {
                                format!("{} [one open file]", fds.join("="))
                            } else {
                                fds.join("")
                            }
                        })
                        .collect();
                    let word = if files.len() > 1 || files.iter().any(|f| f.contains('=')) {
                        "fds"
                    } else {
                        "fd"
                    };
                    format!(
                        "pid {} ({}) {word} {}",
                        p["pid"],
                        p["comm"].as_str().unwrap_or(""),
                        files.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };

        // DRM devices, each with its clients.
        let mut drm_json = vec![];
        let mut text = String::new();
        let mut client_count = 0usize;
        let mut per_proc: BTreeMap<i32, (BTreeSet<usize>, BTreeSet<usize>)> = BTreeMap::new();
        for dev in devices.groups.iter().filter(|g| is_drm(g[0])) {
            let first = &entries[dev[0]];
            let mut nodes: BTreeSet<String> = BTreeSet::new();
            // The DRM driver (fdinfo `drm-driver`), else the bus driver of the sysfs device.
            let mut driver: Option<String> = None;
            let mut sysfs: Option<String> = None;
            for &i in dev {
                if let fdsame::FdKind::Drm { major, minor, .. } = set.kind(i) {
                    nodes.insert(format!("{} {major}:{minor}", entries[i].link));
                    if sysfs.is_none() {
                        sysfs =
                            std::fs::canonicalize(format!("/sys/dev/char/{major}:{minor}/device"))
                                .ok()
                                .map(|p| p.to_string_lossy().into_owned());
                    }
                    if driver.is_none() {
                        driver = entries[i].fdinfo.get("drm-driver").cloned().or_else(|| {
                            std::fs::read_link(format!(
                                "/sys/dev/char/{major}:{minor}/device/driver"
                            ))
                            .ok()
                            .and_then(|p| {
                                Some(format!("{} (sysfs)", p.file_name()?.to_string_lossy()))
                            })
                        });
                    }
                }
            }
            let name = sysfs
                .as_deref()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or(first.link.as_str())
                .to_owned();
            let mut cl_json = vec![];
            let mut cl_text = String::new();
            let mut cgroups: Vec<&Vec<usize>> = clients
                .groups
                .iter()
                .filter(|g| dev.contains(&g[0]))
                .collect();
            cgroups.sort();
            for (c, members) in cgroups.iter().enumerate() {
                client_count += 1;
                let g = clients.group_of(members[0]).unwrap();
                for &i in members.iter() {
                    per_proc.entry(entries[i].pid).or_default().0.insert(g);
                }
                let info = &entries[members[0]].fdinfo;
                let memory: BTreeMap<&String, &String> = info
                    .iter()
                    .filter(|(k, _)| {
                        [
                            "drm-total-",
                            "drm-resident-",
                            "drm-shared-",
                            "drm-active-",
                            "drm-purgeable-",
                        ]
                        .iter()
                        .any(|p| k.starts_with(p))
                    })
                    .collect();
                let h = holders(members);
                let id = info
                    .get("drm-client-id")
                    .and_then(|v| v.parse::<u64>().ok());
                let cname = info.get("drm-client-name").cloned();
                cl_json.push(json!({
                    "client_id": id,
                    "client_name": cname,
                    "holders": h,
                    "memory": memory,
                }));
                let mut label = format!("  client {}", c + 1);
                if let Some(id) = id {
                    let _ = write!(label, " (id {id}");
                    if let Some(n) = &cname {
                        let _ = write!(label, ", {n:?}");
                    }
                    label.push(')');
                }
                let _ = writeln!(cl_text, "{label}: {}", holders_text(&h));
                if let Some((k, v)) = memory.iter().find(|(k, _)| k.starts_with("drm-total-")) {
                    let _ = writeln!(cl_text, "    {k}: {v}");
                }
            }
            drm_json.push(json!({
                "name": name,
                "driver": driver,
                "sysfs": sysfs,
                "nodes": nodes,
                "clients": cl_json,
            }));
            let _ = writeln!(
                text,
                "DRM device {}: {name} (driver {}; nodes {})",
                drm_json.len(),
                driver.as_deref().unwrap_or("?"),
                nodes.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            text.push_str(&cl_text);
        }

        // dma-bufs, each with its exporter, size and holders.
        let mut buf_json = vec![];
        let mut total = 0u64;
        let mut shared = (0usize, 0u64);
        let obj_groups: Vec<&Vec<usize>> = objects.groups.iter().filter(|g| is_buf(g[0])).collect();
        let obj_index = |i: usize| obj_groups.iter().position(|g| g.contains(&i));
        if !obj_groups.is_empty() && !text.is_empty() {
            text.push('\n');
        }
        for (k, members) in obj_groups.iter().enumerate() {
            let first = members[0];
            let info = &entries[first].fdinfo;
            let size = set
                .dma_buf_size(first)
                .or_else(|| info.get("size").and_then(|s| s.parse().ok()))
                .unwrap_or(0);
            total += size;
            let h = holders(members);
            let pids: BTreeSet<i32> = members.iter().map(|&i| entries[i].pid).collect();
            for &i in members.iter() {
                per_proc.entry(entries[i].pid).or_default().1.insert(k);
            }
            if pids.len() > 1 {
                shared.0 += 1;
                shared.1 += size;
            }
            let sg = storage.group_of(first);
            let same_storage: Vec<usize> = sg
                .map(|g| {
                    storage.groups[g]
                        .iter()
                        .filter(|&&j| !members.contains(&j))
                        .filter_map(|&j| obj_index(j))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .map(|x| x + 1)
                        .collect()
                })
                .unwrap_or_default();
            let storage_unknown =
                sg.is_some_and(|g| storage.undecided.iter().any(|c| c.contains(&g)));
            let exporter = info.get("exp_name").cloned();
            let name = info.get("name").cloned();
            buf_json.push(json!({
                "number": k + 1,
                "inode": set.dma_buf_inode(first),
                "size": size,
                "exporter": exporter,
                "name": name,
                "processes": pids.len(),
                "holders": h,
                "same_storage_as": same_storage,
                "storage_compared": !storage_unknown,
            }));
            let mut line = format!("dma-buf {}: ", k + 1);
            if let Some(ino) = set.dma_buf_inode(first) {
                let _ = write!(line, "inode {ino}, ");
            }
            let _ = write!(
                line,
                "{}, exporter {}",
                human_size(size),
                exporter.as_deref().unwrap_or("?")
            );
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                let _ = write!(line, ", name {n:?}");
            }
            if pids.len() > 1 {
                let _ = write!(line, ", shared by {} processes", pids.len());
            }
            let _ = writeln!(text, "{line}: {}", holders_text(&h));
            if !same_storage.is_empty() {
                let list: Vec<String> = same_storage
                    .iter()
                    .map(|x| format!("dma-buf {x}"))
                    .collect();
                let _ = writeln!(text, "  same storage as {}", list.join(", "));
            }
        }

        // Per process, totals, what could not be inspected.
        let inspected: Vec<&Proc> = procs.iter().filter(|p| p.failed.is_none()).collect();
        let mut proc_json = vec![];
        let mut proc_text = String::new();
        for (pid, (cl, bufs)) in &per_proc {
            let bytes: u64 = bufs
                .iter()
                .map(|&k| buf_json[k]["size"].as_u64().unwrap_or(0))
                .sum();
            proc_json.push(json!({
                "pid": pid,
                "comm": comm.get(pid).copied().unwrap_or(""),
                "drm_clients": cl.len(),
                "dma_bufs": bufs.len(),
                "dma_buf_bytes": bytes,
            }));
            let _ = writeln!(
                proc_text,
                "  pid {pid} ({}): {} DRM clients, {} dma-bufs ({})",
                comm.get(pid).copied().unwrap_or(""),
                cl.len(),
                bufs.len(),
                human_size(bytes)
            );
        }
        let not_inspected: Vec<Value> = procs
            .iter()
            .filter_map(|p| {
                let why = p.failed.as_ref()?;
                Some(json!({ "pid": p.pid, "comm": p.comm, "fd": null, "link": null, "reason": why }))
            })
            .chain(missed.iter().map(|m| {
                json!({
                    "pid": m.pid,
                    "comm": comm.get(&m.pid).copied().unwrap_or(""),
                    "fd": m.fd,
                    "link": m.link,
                    "reason": m.why,
                })
            }))
            .collect();
        let totals = json!({
            "drm_devices": drm_json.len(),
            "drm_clients": client_count,
            "dma_bufs": buf_json.len(),
            "dma_buf_bytes": total,
            "shared_dma_bufs": shared.0,
            "shared_dma_buf_bytes": shared.1,
            "processes_inspected": inspected.len(),
            "processes_not_inspected": procs.len() - inspected.len(),
            "fds_not_inspected": missed.len(),
            "fds_inspected": n,
        });
        let mechs: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
        let json = json!({
            "drm_devices": drm_json,
            "dma_bufs": buf_json,
            "processes": proc_json,
            "totals": totals,
            "not_inspected": not_inspected,
            "mechanisms": mechs,
            "errors": errors,
        });

        if drm_json.is_empty() && buf_json.is_empty() {
            let _ = writeln!(
                text,
                "no DRM or dma-buf file descriptors found in {} inspected process{}",
                inspected.len(),
                if inspected.len() == 1 { "" } else { "es" }
            );
        } else {
            let _ = writeln!(text, "\nprocesses:");
            text.push_str(&proc_text);
        }
        let _ = writeln!(
            text,
            "totals: {} DRM devices, {} clients; {} dma-bufs, {} (each buffer counted once; {} shared, {}); {} processes inspected",
            drm_json.len(),
            client_count,
            buf_json.len(),
            human_size(total),
            shared.0,
            human_size(shared.1),
            inspected.len()
        );
        if !not_inspected.is_empty() {
            let _ = writeln!(
                text,
                "not inspected: {} processes, {} descriptors",
                procs.len() - inspected.len(),
                missed.len()
            );
            // One line per process and reason: "fds 0, 1, 2: readlink: Permission denied".
            let mut lines: Vec<((i64, String), Vec<String>)> = vec![];
            for v in &not_inspected {
                let key = (
                    v["pid"].as_i64().unwrap_or(0),
                    v["reason"].as_str().unwrap_or("").to_owned(),
                );
                let what = match (v["fd"].as_i64(), v["link"].as_str()) {
                    (Some(fd), Some(link)) => format!("{fd} ({link})"),
                    (Some(fd), None) => fd.to_string(),
                    _ => String::new(),
                };
                match lines.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, w)) => w.push(what),
                    None => lines.push((key, vec![what])),
                }
            }
            const SHOWN: usize = 20;
            for ((pid, reason), fds) in lines.iter().take(SHOWN) {
                let what = match fds.iter().filter(|f| !f.is_empty()).count() {
                    0 => "the process".to_owned(),
                    1 => format!("fd {}", fds[0]),
                    n if n > 8 => format!("{n} fds ({}, {}, ... {})", fds[0], fds[1], fds[n - 1]),
                    _ => format!("fds {}", fds.join(", ")),
                };
                let _ = writeln!(
                    text,
                    "  pid {pid} ({}) {what}: {reason}",
                    comm.get(&(*pid as i32)).copied().unwrap_or("")
                );
            }
            if lines.len() > SHOWN {
                let _ = writeln!(
                    text,
                    "  ... and {} more (--json lists all); {PTRACE_HINT}",
                    lines.len() - SHOWN
                );
            }
        }
        if !mechs.is_empty() {
            let _ = writeln!(text, "answered by: {}", mechs.join(", "));
        }
        for e in &errors {
            let _ = writeln!(text, "error: {e}");
        }
        Ok(Report { json, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(4096), "4.0 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }

    #[test]
    fn pseudo_links_are_not_candidates() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert!(matches!(candidate(me, 0, "pipe:[12]"), Ok(None)));
        assert!(matches!(
            candidate(me, 0, "/dmabuf:"),
            Ok(Some(Candidate::DmaBuf))
        ));
        assert!(matches!(
            candidate(me, 0, "anon_inode:dmabuf"),
            Ok(Some(Candidate::DmaBuf))
        ));
    }
}
