//! Guest test of the patched drm crate: "same DRM device?" and card/render pairing on every
//! DRM file the guest can make (every node under /dev/dri opened twice, a dup() of each first
//! open, a lease of vkms), with /sys and then with /sys unmounted in a private mount namespace.
//!
//! The truth is read from sysfs once, before /sys goes: two files are of one device when
//! /sys/dev/char/M:m/device of their nodes resolve to the same directory. Three methods are
//! scored against it on every ordered pair:
//! - `DrmNode ==`: node identity, what a caller comparing `DrmNode`s gets;
//! - `sysfs`: what drm 0.15.0 offers, `DrmNode::from_file` (fstat + sysfs) and
//!   `node_with_type` for nodes of different types;
//! - `file_same`: `Device::file_same()`'s DEVICE bit, with the sysfs method as the fallback
//!   on a kernel without the ioctl (what the crate documents for `Ok(None)`).
//!
//! Prints `XTASK-RESULT` and `XTASK-FIGURE` lines; `FDSAME_KERNEL` (series or base) says which
//! answers are expected. Exits 0 when it could run (the results carry the verdicts).

use drm::control::Device as ControlDevice;
use drm::node::{DrmNode, NodeType};
use drm::{Device, FileSame};
use rustix::fs::{fstat, major, minor, Dev};
use std::fs::File;
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

struct Card<'a>(BorrowedFd<'a>);

impl AsFd for Card<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0
    }
}

impl Device for Card<'_> {}
impl ControlDevice for Card<'_> {}

/// One DRM file of the guest.
struct Drmfd {
    name: String,
    fd: OwnedFd,
    rdev: Dev,
    /// The open it belongs to (a dup() shares its original's).
    open: usize,
    /// The device directory in sysfs: the truth.
    device: PathBuf,
    /// Listed for the pairing test (one per open node, and the lease).
    pairing: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Ans {
    Same,
    Different,
    CannotTell,
}

#[derive(Default, Clone, Copy)]
struct Score {
    right: usize,
    wrong: usize,
    unknown: usize,
}

impl Score {
    fn add(&mut self, truth: bool, ans: Ans) {
        match (ans, truth) {
            (Ans::CannotTell, _) => self.unknown += 1,
            (Ans::Same, true) | (Ans::Different, false) => self.right += 1,
            _ => self.wrong += 1,
        }
    }

    fn total(&self) -> usize {
        self.right + self.wrong + self.unknown
    }

    fn show(&self) -> String {
        format!("{}/{}/{}", self.right, self.wrong, self.unknown)
    }
}

fn sysfs_device(rdev: Dev) -> Option<PathBuf> {
    std::fs::canonicalize(format!(
        "/sys/dev/char/{}:{}/device",
        major(rdev),
        minor(rdev)
    ))
    .ok()
}

/// The driver's name, as `DRM_IOCTL_VERSION` reports it.
fn driver_of(fd: BorrowedFd<'_>) -> Option<String> {
    let driver = Card(fd).get_driver().ok()?;
    Some(driver.name().to_string_lossy().into_owned())
}

/// Every DRM file the test compares: each node opened twice, a dup() of each first open, and
/// a lease of vkms's card (the first open of a card is its master when nobody else is).
fn open_all() -> Vec<Drmfd> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/dri")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("card") || n.starts_with("renderD"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut fds = Vec::new();
    let mut open = 0;
    for name in &names {
        for second in [false, true] {
            let Ok(file) = File::options()
                .read(true)
                .write(true)
                .open(format!("/dev/dri/{name}"))
            else {
                println!("{name}: cannot open");
                continue;
            };
            let rdev = fstat(&file).expect("fstat").st_rdev;
            let device = sysfs_device(rdev).expect("sysfs device of a DRM node");
            let fd: OwnedFd = file.into();
            open += 1;
            if !second {
                let dup = fd.try_clone().expect("dup");
                fds.push(Drmfd {
                    name: format!("{name}+dup"),
                    fd: dup,
                    rdev,
                    open,
                    device: device.clone(),
                    pairing: false,
                });
            }
            let label = if second {
                format!("{name}#2")
            } else {
                name.clone()
            };
            fds.push(Drmfd {
                name: label,
                fd,
                rdev,
                open,
                device,
                pairing: !second,
            });
        }
        let Some(master) = fds.iter().rev().find(|f| &f.name == name) else {
            continue;
        };
        if name.starts_with("card") && driver_of(master.fd.as_fd()).as_deref() == Some("vkms") {
            match lease(master.fd.as_fd()) {
                Ok(fd) => {
                    open += 1;
                    let device = master.device.clone();
                    let rdev = master.rdev;
                    fds.push(Drmfd {
                        name: format!("{name}-lease"),
                        fd,
                        rdev,
                        open,
                        device,
                        pairing: true,
                    });
                }
                Err(err) => println!("{name}: no lease: {err}"),
            }
        }
    }
    fds
}

fn lease(master: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    let card = Card(master);
    let res = card.resource_handles()?;
    let crtc = *res.crtcs().first().ok_or(std::io::ErrorKind::NotFound)?;
    let conn = *res
        .connectors()
        .first()
        .ok_or(std::io::ErrorKind::NotFound)?;
    let (_, fd) = card.create_lease(
        &[crtc.into(), conn.into()],
        rustix::fs::OFlags::CLOEXEC.bits(),
    )?;
    Ok(fd)
}

/// Same device by sysfs, given the nodes as a crate version makes them.
fn by_sysfs(x: Option<DrmNode>, y: Option<DrmNode>) -> Ans {
    let (Some(x), Some(y)) = (x, y) else {
        return Ans::CannotTell;
    };
    if x.ty() == y.ty() {
        // A device has at most one node of each type.
        return if x == y { Ans::Same } else { Ans::Different };
    }
    match x.node_with_type(y.ty()) {
        Some(Ok(n)) if n == y => Ans::Same,
        Some(Ok(_)) | None => Ans::Different,
        Some(Err(_)) => Ans::CannotTell,
    }
}

/// drm 0.15.0's `DrmNode::from_file`: fstat, then `from_dev_id` (sysfs on Linux); the patch
/// leaves `from_dev_id` unchanged.
fn published_from_file(f: &Drmfd) -> Option<DrmNode> {
    DrmNode::from_dev_id(f.rdev).ok()
}

fn node_eq(a: &Drmfd, b: &Drmfd) -> Ans {
    match (published_from_file(a), published_from_file(b)) {
        (Some(x), Some(y)) if x == y => Ans::Same,
        (Some(_), Some(_)) => Ans::Different,
        _ => Ans::CannotTell,
    }
}

fn sysfs_published(a: &Drmfd, b: &Drmfd) -> Ans {
    by_sysfs(published_from_file(a), published_from_file(b))
}

fn file_same(a: &Drmfd, b: &Drmfd, supported: &mut Option<bool>) -> (Ans, Option<FileSame>) {
    match Card(a.fd.as_fd()).file_same(b.fd.as_fd()) {
        Ok(Some(s)) => {
            *supported = Some(true);
            let ans = if s.contains(FileSame::DEVICE) {
                Ans::Same
            } else {
                Ans::Different
            };
            (ans, Some(s))
        }
        Ok(None) => {
            *supported = Some(false);
            let node = |f: &Drmfd| DrmNode::from_file(f.fd.as_fd()).ok();
            (by_sysfs(node(a), node(b)), None)
        }
        Err(err) => {
            println!("{} {}: file_same: {err}", a.name, b.name);
            (Ans::CannotTell, None)
        }
    }
}

#[derive(PartialEq, Debug)]
enum Pair {
    Found(Dev),
    None,
    CannotTell,
}

fn score_pair(truth: &Pair, got: &Pair, s: &mut Score) {
    match (got, truth) {
        (Pair::CannotTell, _) => s.unknown += 1,
        (g, t) if g == t => s.right += 1,
        _ => s.wrong += 1,
    }
}

struct Phase {
    node_eq: Score,
    sysfs: Score,
    file_same: Score,
    pair_before: Score,
    pair_after: Score,
    /// The part of `pair_after` that looked for a primary node.
    pair_after_primary: Score,
    bits_ok: bool,
    supported: Option<bool>,
}

fn run_phase(fds: &[Drmfd], nodes: &[(Dev, PathBuf)], label: &str) -> Phase {
    let mut p = Phase {
        node_eq: Score::default(),
        sysfs: Score::default(),
        file_same: Score::default(),
        pair_before: Score::default(),
        pair_after: Score::default(),
        pair_after_primary: Score::default(),
        bits_ok: true,
        supported: None,
    };
    for a in fds {
        for b in fds {
            let truth = a.device == b.device;
            p.node_eq.add(truth, node_eq(a, b));
            p.sysfs.add(truth, sysfs_published(a, b));
            let (ans, bits) = file_same(a, b, &mut p.supported);
            p.file_same.add(truth, ans);
            if ans != Ans::CannotTell && (ans == Ans::Same) != truth {
                println!("{label}: {} {}: file_same says {ans:?}", a.name, b.name);
            }
            if let Some(bits) = bits {
                let same_open = a.open == b.open;
                let want = if same_open {
                    FileSame::all()
                } else if truth {
                    FileSame::DEVICE
                } else {
                    FileSame::empty()
                };
                if bits != want {
                    println!(
                        "{label}: {} {}: bits {bits:?}, want {want:?}",
                        a.name, b.name
                    );
                    p.bits_ok = false;
                }
            }
        }
    }
    for a in fds.iter().filter(|f| f.pairing) {
        let own = NodeType::from_dev_id_pub(a.rdev);
        for ty in [NodeType::Primary, NodeType::Render] {
            if Some(ty) == own {
                continue;
            }
            let truth = nodes
                .iter()
                .find(|(rdev, dev)| {
                    dev == &a.device && NodeType::from_dev_id_pub(*rdev) == Some(ty)
                })
                .map_or(Pair::None, |(rdev, _)| Pair::Found(*rdev));
            let before = match published_from_file(a).map(|n| n.node_with_type(ty)) {
                None => Pair::CannotTell,
                Some(Some(Ok(n))) => Pair::Found(n.dev_id()),
                Some(None) => Pair::None,
                Some(Some(Err(_))) => Pair::CannotTell,
            };
            let after = match DrmNode::from_file_with_type(a.fd.as_fd(), ty) {
                Ok(Some(n)) => Pair::Found(n.dev_id()),
                Ok(None) => Pair::None,
                Err(_) => Pair::CannotTell,
            };
            println!("{label}: {} -> {ty}: truth {truth:?}, node_with_type {before:?}, from_file_with_type {after:?}", a.name);
            score_pair(&truth, &before, &mut p.pair_before);
            score_pair(&truth, &after, &mut p.pair_after);
            if ty == NodeType::Primary {
                score_pair(&truth, &after, &mut p.pair_after_primary);
            }
        }
    }
    p
}

/// `NodeType` of a DRM minor, from the minor alone (no sysfs).
trait FromDevId {
    fn from_dev_id_pub(rdev: Dev) -> Option<NodeType>;
}

impl FromDevId for NodeType {
    fn from_dev_id_pub(rdev: Dev) -> Option<NodeType> {
        match minor(rdev) >> 6 {
            0 => Some(NodeType::Primary),
            1 => Some(NodeType::Control),
            2 => Some(NodeType::Render),
            _ => None,
        }
    }
}

/// Hides sysfs from this process: a private mount namespace, /sys unmounted, and an empty
/// tmpfs on /sys (in the guest, the directory under the guest's sysfs is the host root's,
/// shared over 9p, which would show the host's sysfs).
fn hide_sysfs() -> rustix::io::Result<()> {
    use rustix::mount::{
        mount, mount_change, unmount, MountFlags, MountPropagationFlags, UnmountFlags,
    };
    // SAFETY: single-threaded; only the mount namespace changes.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )?;
    unmount("/sys", UnmountFlags::DETACH)?;
    mount("none", "/sys", "tmpfs", MountFlags::RDONLY, None)
}

fn result(ok: bool, name: &str, why: &str) {
    if ok {
        println!("XTASK-RESULT ok {name}");
    } else {
        println!("XTASK-RESULT fail {name}: {why}");
    }
}

fn main() {
    let kernel = std::env::var("FDSAME_KERNEL").unwrap_or_else(|_| "series".into());
    let series = kernel != "base";
    let fds = open_all();
    if fds.is_empty() {
        println!("XTASK-RESULT skip drmrs: no DRM node in /dev/dri");
        return;
    }
    let nodes = nodes_of(&fds);
    let with = run_phase(&fds, &nodes, "sys");
    if let Err(err) = hide_sysfs() {
        println!("XTASK-RESULT skip drmrs.{kernel}.nosys: cannot hide /sys in a private mount namespace: {err}");
    }
    let nosys_ok = !std::path::Path::new("/sys/dev/char").exists();
    if !nosys_ok {
        println!("XTASK-RESULT fail drmrs.{kernel}.nosys: /sys/dev/char still visible");
    }
    let without = nosys_ok.then(|| run_phase(&fds, &nodes, "nosys"));
    figures(&kernel, fds.len(), &with, without.as_ref());
    let tag = |s: &str| format!("drmrs.{kernel}.{s}");
    verdicts_sys(series, &with, &tag);
    if let Some(without) = without {
        verdicts_nosys(series, &without, &tag);
    }
}

/// The nodes (not the lease, not the second opens), with their sysfs device; lists the files.
fn nodes_of(fds: &[Drmfd]) -> Vec<(Dev, PathBuf)> {
    let nodes: Vec<(Dev, PathBuf)> = fds
        .iter()
        .filter(|f| f.pairing && !f.name.ends_with("-lease"))
        .map(|f| (f.rdev, f.device.clone()))
        .collect();
    println!(
        "{} DRM files ({} nodes): {}",
        fds.len(),
        nodes.len(),
        fds.iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    nodes
}

fn figures(kernel: &str, files: usize, with: &Phase, without: Option<&Phase>) {
    let n = files * files;
    for (label, p) in [("with /sys", Some(with)), ("without /sys", without)] {
        let Some(p) = p else { continue };
        println!(
            "XTASK-FIGURE drm-rs [{kernel}, {label}] same device?, {n} ordered pairs of {files} DRM files, right/wrong/cannot tell: DrmNode == {}; sysfs (drm 0.15.0) {}; Device::file_same (+ sysfs fallback) {}",
            p.node_eq.show(), p.sysfs.show(), p.file_same.show()
        );
        println!(
            "XTASK-FIGURE drm-rs [{kernel}, {label}] card<->render pairing, {} lookups: node_with_type (sysfs) {}; from_file_with_type {} (of which render->card: {})",
            p.pair_after.total(), p.pair_before.show(), p.pair_after.show(), p.pair_after_primary.show()
        );
    }
}

fn all_right(s: &Score) -> bool {
    s.right == s.total()
}

/// With /sys every method but node identity is right, whatever the kernel; the ioctl answers
/// on the series kernel only, with the bits the opens call for.
fn verdicts_sys(series: bool, with: &Phase, tag: &dyn Fn(&str) -> String) {
    match (series, with.supported) {
        (true, Some(true)) | (false, Some(false)) => result(true, &tag("ioctl-support"), ""),
        (_, s) => result(
            false,
            &tag("ioctl-support"),
            &format!("file_same answered {s:?} (None: EINVAL)"),
        ),
    }
    result(
        with.bits_ok,
        &tag("bits"),
        "FILE/CLIENT/DEVICE bits differ from the opens (see above)",
    );
    result(
        all_right(&with.file_same),
        &tag("same-device.sys"),
        &with.file_same.show(),
    );
    result(
        all_right(&with.pair_after),
        &tag("pairing.sys"),
        &with.pair_after.show(),
    );
    result(
        with.node_eq.wrong > 0,
        &tag("before.node-identity-wrong"),
        "DrmNode == was never wrong",
    );
}

/// Without /sys: the series kernel answers everything; without the ioctl the crate says
/// "cannot tell", never a wrong answer.
fn verdicts_nosys(series: bool, without: &Phase, tag: &dyn Fn(&str) -> String) {
    let good = |s: &Score| {
        if series {
            all_right(s)
        } else {
            s.wrong == 0 && s.right < s.total()
        }
    };
    result(
        good(&without.file_same),
        &tag("same-device.nosys"),
        &without.file_same.show(),
    );
    // from_file_with_type() looks only for render nodes through the kernel: it refuses to
    // look for a card node (that would open card nodes), so those lookups must all be "cannot
    // tell", and the card->render ones follow the kernel.
    let primary = without.pair_after_primary;
    let render = Score {
        right: without.pair_after.right - primary.right,
        wrong: without.pair_after.wrong - primary.wrong,
        unknown: without.pair_after.unknown - primary.unknown,
    };
    result(good(&render), &tag("pairing.nosys"), &render.show());
    result(
        primary.unknown == primary.total(),
        &tag("pairing.nosys.primary-refused"),
        &primary.show(),
    );
    result(
        without.sysfs.unknown > 0 && without.pair_before.unknown > 0,
        &tag("before.nosys-blind"),
        "drm 0.15.0's sysfs methods answered without /sys",
    );
    result(
        without.bits_ok,
        &tag("bits.nosys"),
        "bits differ without /sys",
    );
}
