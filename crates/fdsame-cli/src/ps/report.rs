//! The `ps` report: built once from what was collected, as a serialisable value (the JSON
//! output, schema in `--help`), and rendered as text from that value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::fd::AsFd;

use fdsame::{Descriptors, Groups, Level, Mechanism};
use serde::Serialize;

use super::{Collect, Entry};
use crate::text::Name;
use crate::JSON_VERSION;

/// Processes of a DRM client or a dma-buf, with their descriptors grouped by open file.
#[derive(Serialize)]
pub struct Holder {
    pub pid: i32,
    pub comm: Name,
    pub fds: Vec<i32>,
    pub open_files: Vec<Vec<i32>>,
}

#[derive(Serialize)]
pub struct Client {
    pub client_id: Option<u64>,
    pub client_name: Option<String>,
    pub holders: Vec<Holder>,
    pub memory: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct DrmDevice {
    pub name: Name,
    pub driver: Option<String>,
    pub sysfs: Option<Name>,
    pub nodes: Vec<Name>,
    pub clients: Vec<Client>,
}

#[derive(Serialize)]
pub struct DmaBuf {
    pub number: usize,
    pub inode: Option<u64>,
    pub size: u64,
    pub exporter: Option<String>,
    pub name: Option<Name>,
    pub processes: usize,
    pub holders: Vec<Holder>,
    pub same_storage_as: Vec<usize>,
    pub storage_compared: bool,
}

#[derive(Serialize)]
pub struct ProcessRow {
    pub pid: i32,
    pub comm: Name,
    pub drm_clients: usize,
    pub dma_bufs: usize,
    pub dma_buf_bytes: u64,
}

#[derive(Serialize, Default)]
pub struct Totals {
    pub drm_devices: usize,
    pub drm_clients: usize,
    pub dma_bufs: usize,
    pub dma_buf_bytes: u64,
    pub shared_dma_bufs: usize,
    pub shared_dma_buf_bytes: u64,
    pub processes_inspected: usize,
    pub processes_not_inspected: usize,
    pub fds_inspected: usize,
    pub fds_not_inspected: usize,
}

/// A process, or `count` descriptors of it, that could not be inspected, for one reason.
#[derive(Serialize)]
pub struct NotInspected {
    pub pid: i32,
    pub comm: Name,
    /// Empty: the whole process.
    pub fds: Vec<i32>,
    pub links: Vec<Name>,
    pub count: usize,
    pub reason: String,
}

#[derive(Serialize)]
pub struct Report {
    pub version: u32,
    pub drm_devices: Vec<DrmDevice>,
    pub dma_bufs: Vec<DmaBuf>,
    pub processes: Vec<ProcessRow>,
    pub totals: Totals,
    pub not_inspected: Vec<NotInspected>,
    pub mechanisms: Vec<Mechanism>,
    pub errors: Vec<String>,
    pub exit: u8,
}

/// The groupings of every level, once.
struct Grouped<'e> {
    entries: &'e [Entry],
    comm: BTreeMap<i32, &'e Name>,
    set: Descriptors<'static, std::os::fd::BorrowedFd<'e>>,
    files: Groups,
    clients: Groups,
    devices: Groups,
    objects: Groups,
    storage: Groups,
}

impl<'e> Grouped<'e> {
    fn comm(&self, pid: i32) -> Name {
        self.comm.get(&pid).map_or(Name(vec![]), |n| (*n).clone())
    }

    /// Holders of a group: pid → fds, fds grouped by open file.
    fn holders(&self, members: &[usize]) -> Vec<Holder> {
        let mut by_pid: BTreeMap<i32, Vec<Vec<i32>>> = BTreeMap::new();
        let mut seen_file: BTreeMap<(i32, usize), usize> = BTreeMap::new();
        for &i in members {
            let e = &self.entries[i];
            let f = self.files.group_of(i).unwrap_or(i);
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
            .map(|(pid, open_files)| Holder {
                pid,
                comm: self.comm(pid),
                fds: open_files.concat(),
                open_files,
            })
            .collect()
    }
}

const MEMORY_KEYS: [&str; 5] = [
    "drm-total-",
    "drm-resident-",
    "drm-shared-",
    "drm-active-",
    "drm-purgeable-",
];

/// The sysfs device and the driver of a DRM device's nodes.
fn device_identity(
    g: &Grouped<'_>,
    dev: &[usize],
) -> (BTreeSet<Name>, Option<String>, Option<Name>) {
    let mut nodes = BTreeSet::new();
    let (mut driver, mut sysfs) = (None, None);
    for &i in dev {
        let fdsame::FdKind::Drm { major, minor, .. } = g.set.kind(i) else {
            continue;
        };
        let link = &g.entries[i].link.0;
        nodes.insert(Name(
            [link.as_slice(), format!(" {major}:{minor}").as_bytes()].concat(),
        ));
        let node = format!("/sys/dev/char/{major}:{minor}/device");
        if sysfs.is_none() {
            sysfs = std::fs::canonicalize(&node)
                .ok()
                .map(|p| Name::new(p.as_os_str()));
        }
        if driver.is_none() {
            driver = g.entries[i].fdinfo.get("drm-driver").cloned().or_else(|| {
                let p = std::fs::read_link(format!("{node}/driver")).ok()?;
                Some(format!("{} (sysfs)", p.file_name()?.to_string_lossy()))
            });
        }
    }
    (nodes, driver, sysfs)
}

fn client(g: &Grouped<'_>, members: &[usize]) -> Client {
    let info = &g.entries[members[0]].fdinfo;
    let memory = info
        .iter()
        .filter(|(k, _)| MEMORY_KEYS.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Client {
        client_id: info.get("drm-client-id").and_then(|v| v.parse().ok()),
        client_name: info.get("drm-client-name").cloned(),
        holders: g.holders(members),
        memory,
    }
}

fn drm_devices(g: &Grouped<'_>) -> Vec<DrmDevice> {
    let mut out = vec![];
    for dev in g
        .devices
        .groups
        .iter()
        .filter(|d| g.set.kind(d[0]).is_drm())
    {
        let (nodes, driver, sysfs) = device_identity(g, dev);
        let name = match &sysfs {
            Some(p) => Name(p.0.rsplit(|&c| c == b'/').next().unwrap_or(&p.0).to_vec()),
            None => g.entries[dev[0]].link.clone(),
        };
        let mut cgroups: Vec<&Vec<usize>> = g
            .clients
            .groups
            .iter()
            .filter(|c| dev.contains(&c[0]))
            .collect();
        cgroups.sort();
        out.push(DrmDevice {
            name,
            driver,
            sysfs,
            nodes: nodes.into_iter().collect(),
            clients: cgroups.iter().map(|m| client(g, m)).collect(),
        });
    }
    out
}

fn dma_bufs(g: &Grouped<'_>) -> Vec<DmaBuf> {
    let objs: Vec<&Vec<usize>> = g
        .objects
        .groups
        .iter()
        .filter(|o| g.set.kind(o[0]).is_dma_buf())
        .collect();
    let number_of = |i: usize| objs.iter().position(|o| o.contains(&i)).map(|k| k + 1);
    let mut out = vec![];
    for (k, members) in objs.iter().enumerate() {
        let first = members[0];
        let e = &g.entries[first];
        let size = g.set.dma_buf_size(first);
        let size = size
            .or_else(|| e.fdinfo.get("size")?.parse().ok())
            .unwrap_or(0);
        let sg = g.storage.group_of(first);
        let same_storage_as: BTreeSet<usize> = sg
            .map(|s| {
                g.storage.groups[s]
                    .iter()
                    .filter(|j| !members.contains(j))
                    .filter_map(|&j| number_of(j))
                    .collect()
            })
            .unwrap_or_default();
        let pids: BTreeSet<i32> = members.iter().map(|&i| g.entries[i].pid).collect();
        out.push(DmaBuf {
            number: k + 1,
            inode: g.set.dma_buf_inode(first),
            size,
            exporter: e.fdinfo.get("exp_name").cloned(),
            name: e.buf_name.clone(),
            processes: pids.len(),
            holders: g.holders(members),
            same_storage_as: same_storage_as.into_iter().collect(),
            storage_compared: !sg
                .is_some_and(|s| g.storage.undecided.iter().any(|c| c.contains(&s))),
        });
    }
    out
}

/// Per process: its clients and dma-bufs (a shared buffer counted once per process).
fn processes(g: &Grouped<'_>, devices: &[DrmDevice], bufs: &[DmaBuf]) -> Vec<ProcessRow> {
    let mut per: BTreeMap<i32, (usize, usize, u64)> = BTreeMap::new();
    for c in devices.iter().flat_map(|d| &d.clients) {
        for h in &c.holders {
            per.entry(h.pid).or_default().0 += 1;
        }
    }
    for b in bufs {
        for h in &b.holders {
            let row = per.entry(h.pid).or_default();
            row.1 += 1;
            row.2 += b.size;
        }
    }
    per.into_iter()
        .map(|(pid, (drm_clients, dma_bufs, dma_buf_bytes))| ProcessRow {
            pid,
            comm: g.comm(pid),
            drm_clients,
            dma_bufs,
            dma_buf_bytes,
        })
        .collect()
}

/// What could not be inspected: whole processes, then descriptors, one entry per process
/// and reason.
fn not_inspected(c: &Collect) -> Vec<NotInspected> {
    let comm: BTreeMap<i32, &Name> = c.procs.iter().map(|p| (p.pid, &p.comm)).collect();
    let mut out: Vec<NotInspected> = c
        .procs
        .iter()
        .filter_map(|p| {
            Some(NotInspected {
                pid: p.pid,
                comm: p.comm.clone(),
                fds: vec![],
                links: vec![],
                count: 1,
                reason: p.failed.clone()?,
            })
        })
        .collect();
    let mut by: BTreeMap<(i32, &str), NotInspected> = BTreeMap::new();
    for m in &c.missed {
        let row = by
            .entry((m.pid, m.why.as_str()))
            .or_insert_with(|| NotInspected {
                pid: m.pid,
                comm: comm.get(&m.pid).map_or(Name(vec![]), |n| (*n).clone()),
                fds: vec![],
                links: vec![],
                count: 0,
                reason: m.why.clone(),
            });
        row.fds.push(m.fd);
        row.links.extend(m.link.clone());
        row.count += 1;
    }
    out.extend(by.into_values());
    out
}

impl Report {
    /// Groups what was collected at every level and builds the report.
    pub fn build(c: &Collect, exit: u8) -> Result<Report, String> {
        let set = Descriptors::new(c.entries.iter().map(|e| e.file.as_fd())).map_err(|e| {
            format!(
                "cannot identify an obtained descriptor: {}",
                crate::resolve::lib_error(&e)
            )
        })?;
        let g = Grouped {
            entries: &c.entries,
            comm: c.procs.iter().map(|p| (p.pid, &p.comm)).collect(),
            files: set.group(Level::File),
            clients: set.group(Level::DrmClient),
            devices: set.group(Level::DrmDevice),
            objects: set.group(Level::DmaBufObject),
            storage: set.group(Level::DmaBufStorage),
            set,
        };
        let all = [&g.files, &g.clients, &g.devices, &g.objects, &g.storage];
        let mechanisms: BTreeSet<Mechanism> = all
            .iter()
            .flat_map(|x| x.mechanisms.iter().copied())
            .collect();
        let errors = all
            .iter()
            .flat_map(|x| x.errors.iter().map(crate::resolve::lib_error))
            .collect();
        let drm_devices = drm_devices(&g);
        let dma_bufs = dma_bufs(&g);
        let processes = processes(&g, &drm_devices, &dma_bufs);
        let totals = totals(c, &drm_devices, &dma_bufs);
        Ok(Report {
            version: JSON_VERSION,
            processes,
            totals,
            not_inspected: not_inspected(c),
            mechanisms: mechanisms.into_iter().collect(),
            errors,
            exit,
            drm_devices,
            dma_bufs,
        })
    }
}

fn totals(c: &Collect, devices: &[DrmDevice], bufs: &[DmaBuf]) -> Totals {
    let shared: Vec<&DmaBuf> = bufs.iter().filter(|b| b.processes > 1).collect();
    let failed = c.procs.iter().filter(|p| !p.inspected()).count();
    Totals {
        drm_devices: devices.len(),
        drm_clients: devices.iter().map(|d| d.clients.len()).sum(),
        dma_bufs: bufs.len(),
        dma_buf_bytes: bufs.iter().map(|b| b.size).sum(),
        shared_dma_bufs: shared.len(),
        shared_dma_buf_bytes: shared.iter().map(|b| b.size).sum(),
        processes_inspected: c.procs.len() - failed,
        processes_not_inspected: failed,
        fds_inspected: c.procs.iter().map(|p| p.fds_inspected).sum(),
        fds_not_inspected: c.missed.len(),
    }
}

// ---------------------------------------------------------------------------------------
// Text

/// `1 process`, `2 processes`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `pid 12 (comm)`, or `pid 12` when the name is unknown (the process is gone).
pub fn pid_comm(pid: i32, comm: &Name) -> String {
    if comm.0.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid} ({})", comm.shown())
    }
}

pub fn human_size(bytes: u64) -> String {
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

/// `pid 12 (comm) fds 3=4 [one open file], 7`.
fn holders_text(h: &[Holder]) -> String {
    let one = |p: &Holder| {
        let files: Vec<String> = p
            .open_files
            .iter()
            .map(|f| {
                let fds: Vec<String> = f.iter().map(|x| x.to_string()).collect();
                if fds.len() > 1 {
                    format!("{} [one open file]", fds.join("="))
                } else {
                    fds.join("")
                }
            })
            .collect();
        let word = if p.fds.len() > 1 { "fds" } else { "fd" };
        format!("{} {word} {}", pid_comm(p.pid, &p.comm), files.join(", "))
    };
    h.iter().map(one).collect::<Vec<_>>().join("; ")
}

fn devices_text(out: &mut String, r: &Report) {
    for (k, d) in r.drm_devices.iter().enumerate() {
        let nodes: Vec<String> = d.nodes.iter().map(Name::shown).collect();
        let driver = d.driver.as_deref().unwrap_or("?");
        let _ = writeln!(
            out,
            "DRM device {}: {} (driver {driver}; nodes {})",
            k + 1,
            d.name.shown(),
            nodes.join(", ")
        );
        for (c, cl) in d.clients.iter().enumerate() {
            let mut label = format!("  client {}", c + 1);
            if let Some(id) = cl.client_id {
                let _ = write!(label, " (id {id}");
                if let Some(n) = &cl.client_name {
                    let _ = write!(label, ", {n:?}");
                }
                label.push(')');
            }
            let _ = writeln!(out, "{label}: {}", holders_text(&cl.holders));
            if let Some((k, v)) = cl.memory.iter().find(|(k, _)| k.starts_with("drm-total-")) {
                let _ = writeln!(out, "    {k}: {v}");
            }
        }
    }
}

fn bufs_text(out: &mut String, r: &Report) {
    if !r.dma_bufs.is_empty() && !out.is_empty() {
        out.push('\n');
    }
    for b in &r.dma_bufs {
        let mut line = format!("dma-buf {}: ", b.number);
        if let Some(ino) = b.inode {
            let _ = write!(line, "inode {ino}, ");
        }
        let _ = write!(
            line,
            "{}, exporter {}",
            human_size(b.size),
            b.exporter.as_deref().unwrap_or("?")
        );
        if let Some(n) = b.name.as_ref().filter(|n| !n.0.is_empty()) {
            let _ = write!(line, ", name \"{}\"", n.shown());
        }
        if b.processes > 1 {
            let _ = write!(line, ", shared by {} processes", b.processes);
        }
        let _ = writeln!(out, "{line}: {}", holders_text(&b.holders));
        if !b.same_storage_as.is_empty() {
            let list: Vec<String> = b
                .same_storage_as
                .iter()
                .map(|x| format!("dma-buf {x}"))
                .collect();
            let _ = writeln!(out, "  same storage as {}", list.join(", "));
        }
    }
}

/// `fds 3, 4`, `fd 3 (/dev/dri/card0)`, `150 fds (3, 4, ... 152)`, `the process`.
fn missed_what(n: &NotInspected) -> String {
    match n.fds.len() {
        0 => "the process".to_owned(),
        1 => match n.links.first() {
            Some(l) => format!("fd {} ({})", n.fds[0], l.shown()),
            None => format!("fd {}", n.fds[0]),
        },
        k if k > 8 => format!("{k} fds ({}, {}, ... {})", n.fds[0], n.fds[1], n.fds[k - 1]),
        _ => {
            let fds: Vec<String> = n.fds.iter().map(|f| f.to_string()).collect();
            format!("fds {}", fds.join(", "))
        }
    }
}

fn missed_text(out: &mut String, r: &Report) {
    let t = &r.totals;
    if r.not_inspected.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "not inspected: {}, {}",
        count(t.processes_not_inspected as u64, "process", "processes"),
        count(t.fds_not_inspected as u64, "descriptor", "descriptors")
    );
    const SHOWN: usize = 20;
    for n in r.not_inspected.iter().take(SHOWN) {
        let what = match n.fds.len() {
            0 => String::new(), // the whole process
            _ => format!(" {}", missed_what(n)),
        };
        let _ = writeln!(out, "  {}{what}: {}", pid_comm(n.pid, &n.comm), n.reason);
    }
    if r.not_inspected.len() > SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more (--json lists all)",
            r.not_inspected.len() - SHOWN
        );
    }
}

/// What was not inspected and the errors, as the text output says them: for stderr, when
/// the report cannot be written to stdout.
pub fn problems_text(r: &Report) -> String {
    let mut out = String::new();
    missed_text(&mut out, r);
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// The text output, from the report alone.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    devices_text(&mut out, r);
    bufs_text(&mut out, r);
    let t = &r.totals;
    if r.drm_devices.is_empty() && r.dma_bufs.is_empty() {
        let _ = writeln!(
            out,
            "no DRM or dma-buf file descriptors found in {} inspected",
            count(t.processes_inspected as u64, "process", "processes")
        );
    } else {
        let _ = writeln!(out, "\nprocesses:");
        for p in &r.processes {
            let _ = writeln!(
                out,
                "  {}: {}, {} ({})",
                pid_comm(p.pid, &p.comm),
                count(p.drm_clients as u64, "DRM client", "DRM clients"),
                count(p.dma_bufs as u64, "dma-buf", "dma-bufs"),
                human_size(p.dma_buf_bytes)
            );
        }
    }
    let _ = writeln!(
        out,
        "totals: {}, {}; {}, {} (each buffer counted once; {} shared, {}); {} inspected",
        count(t.drm_devices as u64, "DRM device", "DRM devices"),
        count(t.drm_clients as u64, "client", "clients"),
        count(t.dma_bufs as u64, "dma-buf", "dma-bufs"),
        human_size(t.dma_buf_bytes),
        t.shared_dma_bufs,
        human_size(t.shared_dma_buf_bytes),
        count(t.processes_inspected as u64, "process", "processes")
    );
    missed_text(&mut out, r);
    if !r.mechanisms.is_empty() {
        let names: Vec<&str> = r.mechanisms.iter().map(|m| m.name()).collect();
        let _ = writeln!(out, "answered by: {}", names.join(", "));
    }
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
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
}
