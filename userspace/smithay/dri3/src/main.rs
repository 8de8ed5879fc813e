//! Guest test of Smithay's DRI3 render-node pairing (`X11Handle::drm_node()`).
//!
//! An X server answers DRI3 Open with a file of the DRM device it uses, usually its primary
//! node; Smithay then looks for the render node of that device. This program plays a minimal
//! X server (setup, QueryExtension, the version queries Smithay's X11 backend makes, InternAtom,
//! DRI3 Open handing out one DRM node) and calls the real `X11Backend::new()` and
//! `X11Handle::drm_node()` against it, once for every node under /dev/dri (a fresh open
//! each time) and once for a lease of vkms's card (an X server may itself be a lessee).
//!
//! `smithay-dri3` (no arguments): reads the truth from sysfs (the render node of each node's
//! device, if any), runs itself as `smithay-dri3 run` with /sys and as `smithay-dri3 run
//! nosys` with /sys hidden in a private mount namespace, and scores each answer:
//! right (the render node, or the node itself when its device has none), primary (the card
//! node although the device has a render node), error (no node at all), wrong (another node).
//! Prints `XTASK-RESULT`/`XTASK-FIGURE` lines; `FDSAME_LABEL` names the build (before/after),
//! `FDSAME_KERNEL` the kernel (series/base). Builds: `before` (Smithay and drm as published),
//! `drm-only` (drm and drm-ffi patched, Smithay as published), `after` (all three patched).

use rustix::fs::{fstat, major, minor};
use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use smithay::backend::x11::X11Backend;
use smithay::reexports::drm;
use std::collections::BTreeMap;
use std::io::{IoSlice, Read, Write};
use std::os::unix::io::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::sync::Arc;

const EXTENSIONS: &[(&str, u8)] = &[
    ("Present", 130),
    ("XFIXES", 131),
    ("DRI3", 132),
    ("XInputExtension", 133),
];
const ROOT: u32 = 0x100;

/// Set when a client asked DRI3 Open: Smithay's answer came from the DRI3 path, not from EGL.
static DRI3_OPENED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const VISUAL: u32 = 0x21;

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn setup_reply() -> Vec<u8> {
    let vendor = b"fdsame fake X";
    let mut d = Vec::new();
    d.extend(11u32.to_le_bytes()); // release number
    d.extend(0x0020_0000u32.to_le_bytes()); // resource id base
    d.extend(0x001f_ffffu32.to_le_bytes()); // resource id mask
    d.extend(0u32.to_le_bytes()); // motion buffer
    d.extend((vendor.len() as u16).to_le_bytes());
    d.extend(0xffffu16.to_le_bytes()); // maximum request length
    d.extend([1, 1, 0, 0, 32, 32, 8, 255]); // screens, formats, orders, scanline, keycodes
    d.extend([0; 4]);
    d.extend(vendor);
    d.extend(vec![0; pad4(vendor.len())]);
    d.extend([24, 32, 32, 0, 0, 0, 0, 0]); // pixmap format: depth 24, 32 bpp
                                           // The screen.
    for v in [ROOT, 0x20, 0xffffff, 0, 0] {
        d.extend(v.to_le_bytes());
    }
    for v in [1024u16, 768, 270, 200, 1, 1] {
        d.extend(v.to_le_bytes());
    }
    d.extend(VISUAL.to_le_bytes());
    d.extend([0, 0, 24, 1]); // backing stores, save unders, root depth, one depth
    d.extend([24, 0]);
    d.extend(1u16.to_le_bytes());
    d.extend([0; 4]);
    d.extend(VISUAL.to_le_bytes());
    d.extend([4, 8]); // TrueColor, 8 bits per rgb
    d.extend(256u16.to_le_bytes());
    for v in [0xff0000u32, 0xff00, 0xff, 0] {
        d.extend(v.to_le_bytes());
    }
    let mut r = vec![1, 0];
    r.extend(11u16.to_le_bytes());
    r.extend(0u16.to_le_bytes());
    r.extend(((d.len() / 4) as u16).to_le_bytes());
    r.extend(d);
    r
}

/// A reply: the 8-byte header, then `body` from byte 8, padded to 32 bytes.
fn reply(seq: u16, data: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![1, data];
    r.extend(seq.to_le_bytes());
    r.extend(0u32.to_le_bytes());
    r.extend(body);
    r.resize(32, 0);
    r
}

fn u32s(a: u32, b: u32) -> Vec<u8> {
    let mut v = a.to_le_bytes().to_vec();
    v.extend(b.to_le_bytes());
    v
}

/// One client connection: answers until the client goes away.
fn serve(mut s: UnixStream, node: Arc<OwnedFd>) -> std::io::Result<()> {
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let n = u16::from_le_bytes([head[6], head[7]]) as usize;
    let d = u16::from_le_bytes([head[8], head[9]]) as usize;
    let mut auth = vec![0; n + pad4(n) + d + pad4(d)];
    s.read_exact(&mut auth)?;
    s.write_all(&setup_reply())?;
    let mut seq: u16 = 0;
    let mut atom = 1000u32;
    loop {
        let mut h = [0u8; 4];
        s.read_exact(&mut h)?;
        let len = u16::from_le_bytes([h[2], h[3]]) as usize * 4;
        let mut body = vec![0; len.saturating_sub(4)];
        s.read_exact(&mut body)?;
        seq = seq.wrapping_add(1);
        let (op, minor_op) = (h[0], h[1]);
        let out = match (op, minor_op) {
            (98, _) => {
                let nlen = u16::from_le_bytes([body[0], body[1]]) as usize;
                let name = String::from_utf8_lossy(&body[4..4 + nlen]).into_owned();
                match EXTENSIONS.iter().find(|(n, _)| *n == name) {
                    Some((_, major_op)) => reply(seq, 0, &[1, *major_op, 100, 150]),
                    None => reply(seq, 0, &[0; 12]),
                }
            }
            (16, _) => {
                atom += 1;
                reply(seq, 0, &atom.to_le_bytes())
            }
            (43, _) => reply(seq, 1, &ROOT.to_le_bytes()),
            (130, 0) => reply(seq, 0, &u32s(1, 0)),
            (131, 0) => reply(seq, 0, &u32s(5, 0)),
            (132, 0) => reply(seq, 0, &u32s(1, 2)),
            (133, 47) => reply(seq, 0, &[2, 0, 4, 0]),
            (132, 1) => {
                // DRI3 Open: one fd, the DRM node under test.
                DRI3_OPENED.store(true, std::sync::atomic::Ordering::SeqCst);
                let r = reply(seq, 1, &[]);
                let fds = [node.as_fd()];
                let mut space =
                    [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut anc = SendAncillaryBuffer::new(&mut space);
                anc.push(SendAncillaryMessage::ScmRights(&fds));
                sendmsg(&s, &[IoSlice::new(&r)], &mut anc, SendFlags::empty())?;
                continue;
            }
            _ => continue, // requests without a reply
        };
        s.write_all(&out)?;
    }
}

/// Serves display `:n` with `node` as the DRI3 device, in the background.
fn fake_x(n: u32, node: OwnedFd) -> std::io::Result<()> {
    std::fs::create_dir_all("/tmp/.X11-unix")?;
    let path = format!("/tmp/.X11-unix/X{n}");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let node = Arc::new(node);
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let node = node.clone();
            std::thread::spawn(move || serve(s, node));
        }
    });
    Ok(())
}

fn hide_sysfs() -> rustix::io::Result<()> {
    use rustix::mount::{
        mount, mount_change, unmount, MountFlags, MountPropagationFlags, UnmountFlags,
    };
    // SAFETY: called while single-threaded; only the mount namespace changes.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )?;
    unmount("/sys", UnmountFlags::DETACH)?;
    // The guest's root is the host's over 9p: an empty tmpfs keeps its /sys out of sight.
    mount("none", "/sys", "tmpfs", MountFlags::RDONLY, None)
}

fn nodes() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/dev/dri")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("card") || n.starts_with("renderD"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

struct Card(OwnedFd);

impl AsFd for Card {
    fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl drm::control::Device for Card {}

/// A lease of the first connector and CRTC of vkms's card, named `<card>-lease`. The lessor
/// (the first open of the card, its master) is kept open for the lease to live.
fn vkms_lease() -> Option<(String, std::io::Result<OwnedFd>)> {
    use drm::control::Device as _;
    use drm::Device as _;
    for name in nodes().into_iter().filter(|n| n.starts_with("card")) {
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .open(format!("/dev/dri/{name}"))
            .ok()?;
        let card = Card(file.into());
        if card.get_driver().ok()?.name().to_str() != Some("vkms") {
            continue;
        }
        let lease = (|| {
            let res = card.resource_handles()?;
            let crtc = *res.crtcs().first().ok_or(std::io::ErrorKind::NotFound)?;
            let conn = *res
                .connectors()
                .first()
                .ok_or(std::io::ErrorKind::NotFound)?;
            let flags = rustix::fs::OFlags::CLOEXEC.bits();
            Ok(card.create_lease(&[crtc.into(), conn.into()], flags)?.1)
        })();
        std::mem::forget(card);
        return Some((format!("{name}-lease"), lease));
    }
    None
}

/// The files the fake X server hands out, one per run: a vkms lease first (while its card
/// has no master yet), then every node under /dev/dri, freshly opened.
fn files() -> Vec<(String, std::io::Result<OwnedFd>)> {
    let mut v: Vec<_> = vkms_lease().into_iter().collect();
    for name in nodes() {
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .open(format!("/dev/dri/{name}"));
        v.push((name, file.map(Into::into)));
    }
    v
}

/// `err` as one word.
fn words(err: &dyn std::fmt::Display) -> String {
    err.to_string().replace(char::is_whitespace, "_")
}

/// `smithay-dri3 run [nosys]`: one line per node, "NODE <node> <answer>".
fn run(nosys: bool) {
    if nosys {
        if let Err(err) = hide_sysfs() {
            println!("HIDE-FAILED {err}");
            return;
        }
    }
    // Make EGL fail fast so that Smithay goes to DRI3 (no EGL vendor library is loaded).
    std::env::set_var("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent.json");
    for (i, (name, fd)) in files().into_iter().enumerate() {
        let display = 90 + i as u32;
        let fd = match fd {
            Ok(fd) => fd,
            Err(err) => {
                println!("NODE {name} error:open:{} setup", words(&err));
                continue;
            }
        };
        if let Err(err) = fake_x(display, fd) {
            println!("NODE {name} error:fake-x:{} setup", words(&err));
            continue;
        }
        std::env::set_var("DISPLAY", format!(":{display}"));
        DRI3_OPENED.store(false, std::sync::atomic::Ordering::SeqCst);
        let backend = match X11Backend::new() {
            Ok(b) => b,
            Err(err) => {
                println!("NODE {name} error:X11Backend::new:{} setup", words(&err));
                continue;
            }
        };
        let answer = match backend.handle().drm_node() {
            Ok((node, fd)) => match fstat(&fd) {
                Ok(st) if st.st_rdev == node.dev_id() => format!("{node}"),
                _ => format!("error:fd-does-not-match-{node}"),
            },
            Err(err) => format!("error:{}", words(&err)),
        };
        let dri3 = DRI3_OPENED.load(std::sync::atomic::Ordering::SeqCst);
        println!(
            "NODE {name} {answer} {}",
            if dri3 { "dri3" } else { "no-dri3-open" }
        );
        // Dropping the backend waits for its event thread, which this server never ends.
        std::mem::forget(backend);
    }
}

/// The expected answer for each node: its device's render node, or the node itself.
fn truth() -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    for name in nodes() {
        let Ok(st) = rustix::fs::stat(format!("/dev/dri/{name}")) else {
            continue;
        };
        let dir = format!(
            "/sys/dev/char/{}:{}/device/drm",
            major(st.st_rdev),
            minor(st.st_rdev)
        );
        let render = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|n| n.starts_with("renderD"))
            })
            .unwrap_or(None);
        t.insert(name.clone(), render.unwrap_or(name));
    }
    t
}

/// One phase's answers, scored against the truth.
#[derive(Default)]
struct Tally {
    /// Answers expected: one per node, and one for the vkms lease where the guest has vkms.
    expected: usize,
    seen: usize,
    right: usize,
    primary: usize,
    error: usize,
    wrong: usize,
}

/// Scores the `NODE` lines of one phase's output (and passes the others through).
fn tally(
    text: &str,
    truth: &BTreeMap<String, String>,
    label: &str,
    kernel: &str,
    phase: &str,
) -> Tally {
    let mut t = Tally {
        expected: truth.len() + text.lines().filter(|l| l.contains("-lease ")).count(),
        ..Tally::default()
    };
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("NODE ") else {
            println!("{label}[{phase}]: {line}");
            continue;
        };
        let mut w = rest.split_whitespace();
        let (Some(node), Some(answer), Some(path)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        t.seen += 1;
        if path != "dri3" {
            println!(
                "{label}[{phase}]: {node}: the answer did not come through DRI3 Open ({path})"
            );
            t.wrong += 1;
            continue;
        }
        // A lease is a file of its lessor's card: the same device.
        let device = node.strip_suffix("-lease").unwrap_or(node);
        let want = truth.get(device).cloned().unwrap_or_default();
        let verdict = if answer == want {
            t.right += 1;
            "right"
        } else if answer == device {
            t.primary += 1;
            "primary node although the device has a render node"
        } else if answer.starts_with("error:") {
            t.error += 1;
            "no node"
        } else {
            t.wrong += 1;
            "WRONG"
        };
        println!("{label}[{kernel}, {phase}]: DRI3 gives {node}: drm_node() {answer}, expected {want}: {verdict}");
    }
    t
}

/// With /sys both builds pair right. Without /sys: the patched build on the series kernel
/// pairs right; on a kernel without the ioctl it may fail but never gives a wrong node.
fn verdict(t: &Tally, label: &str, kernel: &str, phase: &str) {
    let name = format!("smithay.{label}.{kernel}.dri3.{phase}");
    let (n, seen, right, wrong) = (t.expected, t.seen, t.right, t.wrong);
    let ok = match (label, kernel, phase) {
        (_, _, "sys") => right == n,
        ("after", "series", _) => right == n,
        // drm alone accepts the file without sysfs but cannot pair it there.
        ("drm-only", "series", _) => seen == n && wrong == 0 && right < n,
        // Without /sys, the published pairing is blind: it must not answer right.
        ("before", _, _) => seen == n && wrong == 0 && right < n,
        _ => seen == n && wrong == 0,
    };
    if ok {
        println!("XTASK-RESULT ok {name}");
    } else {
        println!(
            "XTASK-RESULT fail {name}: {seen} of {n} nodes answered: right {right}, primary {}, no node {}, wrong {wrong}",
            t.primary, t.error
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("run") {
        run(args.get(2).map(String::as_str) == Some("nosys"));
        std::process::exit(0);
    }
    let label = std::env::var("FDSAME_LABEL").unwrap_or_else(|_| "after".into());
    let kernel = std::env::var("FDSAME_KERNEL").unwrap_or_else(|_| "series".into());
    let truth = truth();
    if truth.is_empty() {
        println!("XTASK-RESULT skip smithay.{label}.{kernel}: no DRM node in /dev/dri");
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut tallies = Vec::new();
    for phase in ["sys", "nosys"] {
        let out = Command::new(&exe)
            .args(["run", phase])
            .output()
            .expect("run the phase");
        let t = tally(
            &String::from_utf8_lossy(&out.stdout),
            &truth,
            &label,
            &kernel,
            phase,
        );
        println!(
            "XTASK-FIGURE smithay {label} [{kernel}, {}] X11Handle::drm_node() over DRI3, {} nodes: right {}, primary instead of render {}, no node {}, wrong {}",
            if phase == "sys" { "with /sys" } else { "without /sys" },
            t.seen, t.right, t.primary, t.error, t.wrong
        );
        tallies.push((phase, t));
    }
    for (phase, t) in &tallies {
        verdict(t, &label, &kernel, phase);
    }
}
