//! Real (emulated) PCI GPUs: two `bochs-display` devices, one driver bound twice, and
//! a `virtio-gpu-pci`, next to vkms and vgem on the faux bus.
//!
//! - the two bochs devices share the driver and its `file_operations` but not the device: 0
//!   both ways; every node and every open of one device: `DEVICE`;
//! - PRIME between drivers: which imports each driver takes and the errno of those it refuses,
//!   asserted per kernel; a buffer imported and re-exported by another driver is the same
//!   dma-buf (`FILE|OBJECT|STORAGE|COMPARED`), buffers of different drivers are 0;
//! - every pair of DRM nodes: the ioctl's `DEVICE` bit, crate fdsame's sysfs mechanism
//!   (`/sys/dev/char/MAJ:MIN/device`) and libdrm's `drmGetDevice2()` + `drmDevicesEqual()`
//!   (bus type and bus info) must agree wherever the other two answer; where they cannot (libdrm
//!   on the faux bus, anything but the ioctl without /sys) the test prints which mechanism
//!   answers what, and asserts that too.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use drm::control::Device as _;
use fdsame::{compare_with, Answer, Mechanism};
use rust_tests::pci::*;
use rust_tests::uapi::*;
use rust_tests::*;

const ALL: u64 = DRM_FILE_SAME_FILE | DRM_FILE_SAME_CLIENT | DRM_FILE_SAME_DEVICE;
const SAME_DMA_BUF: u64 =
    DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT | DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED;

#[track_caller]
fn assert_both_ways(a: &impl AsFd, b: &impl AsFd, want: u64, what: &str) {
    let ab =
        file_same(a.as_fd(), b.as_fd().as_raw_fd(), 0).unwrap_or_else(|e| panic!("{what}: {e}"));
    let ba =
        file_same(b.as_fd(), a.as_fd().as_raw_fd(), 0).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        (ab, ba),
        (want, want),
        "{what}: got {} / {}, expected {}",
        drm_bits(ab),
        drm_bits(ba),
        drm_bits(want)
    );
}

#[test]
fn pci_devices_are_there_with_their_drivers() {
    require_guest();
    for g in PCI_GPUS {
        let nodes = g.nodes();
        report(&format!("pci: {} {} {:?}", g.address, g.driver, nodes));
    }
}

#[test]
fn two_bochs_devices_are_two_devices() {
    require_guest();
    let a = BOCHS_A.open(NodeKind::Card);
    let a2 = a.reopen();
    let b = BOCHS_B.open(NodeKind::Card);
    let b2 = b.reopen();
    assert_ne!(a.path(), b.path());
    assert_both_ways(&a, &b, 0, "bochs A vs bochs B");
    assert_both_ways(&a2, &b2, 0, "bochs A (2nd open) vs bochs B (2nd open)");
    assert_both_ways(&a, &a2, DRM_FILE_SAME_DEVICE, "bochs A, two opens");
    assert_both_ways(&b, &b2, DRM_FILE_SAME_DEVICE, "bochs B, two opens");
    assert_both_ways(&a, &a.dup(), ALL, "bochs A and its dup");
    let v = VIRTIO.open(NodeKind::Card);
    assert_both_ways(&a, &v, 0, "bochs A vs virtio-gpu");
    assert_both_ways(&b, &v, 0, "bochs B vs virtio-gpu");
    for other in [open_vkms_card(), open_vgem_card()] {
        assert_both_ways(
            &a,
            &other,
            0,
            &format!("bochs A vs {}", other.path().display()),
        );
    }
}

#[test]
fn every_node_and_open_of_virtio_gpu_is_one_device() {
    require_guest();
    let card = VIRTIO.open(NodeKind::Card);
    let render = VIRTIO.open(NodeKind::Render);
    let nodes = [card.reopen(), render.reopen(), card, render];
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            assert_both_ways(
                a,
                b,
                DRM_FILE_SAME_DEVICE,
                &format!("{} vs {}", a.path().display(), b.path().display()),
            );
        }
        assert_both_ways(
            a,
            &pass_over_scm_rights(a.as_fd()),
            ALL,
            "an SCM_RIGHTS copy",
        );
    }
}

/// What a PRIME import gave: the handle's dma-buf re-exported, or the errno.
type Import = Result<(), i32>;

/// The imports each kernel's drivers take (`Ok`) or refuse (the errno), for every
/// (exporter, importer) pair of different devices; measured in the guest and explained by
/// `drm_gem_prime_import_dev()`, which checks the importer before it maps the exporter's buffer:
/// - 6.12's bochs is a GEM-VRAM driver: as importer it has no `gem_prime_import_sg_table`
///   (`EINVAL`, before anything else), as exporter its objects have no `get_sg_table`, so
///   attaching fails with `ENOSYS` in every importer (`drm_gem_map_attach()`); 7.3's bochs is
///   a GEM-shmem driver (`drm_gem_shmem_prime_import_no_map`) and takes and gives every buffer;
/// - virtio-gpu without blob resources (QEMU's virtio-gpu-pci without `blob=on`) maps the
///   buffer, then refuses it: `virtgpu_gem_prime_import_sg_table()` is `ERR_PTR(-ENODEV)`;
/// - vgem (GEM shmem) takes what the exporter can map.
///
/// Only the two measured bases are known; another base fails the test until it is measured.
fn expected_import(exporter: &str, importer: &str, base: (u32, u32)) -> Import {
    let vram_bochs = match base {
        (6, 12) => true,
        (7, 3) => false,
        _ => panic!("PRIME imports not measured on {base:?}: measure and add the base here"),
    };
    match (exporter, importer) {
        (_, BOCHS) if vram_bochs => Err(libc::EINVAL),
        (BOCHS, _) if vram_bochs => Err(libc::ENOSYS),
        (_, VIRTIO_GPU) => Err(libc::ENODEV),
        _ => Ok(()),
    }
}

/// (major, minor) of the running kernel.
fn kernel_base() -> (u32, u32) {
    let r =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("/proc/sys/kernel/osrelease");
    let mut it = r.trim().split(['.', '-']).map(|n| n.parse().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("kernel release {r}"),
    }
}

/// `buf` of `ename` imported into `idev` (`iname`): Ok when imported (re-exporting it must give
/// the exporter's dma-buf back, both ways), else the errno of the refusal.
fn import_and_reexport(idev: &DrmNode, buf: &OwnedFd, ename: &str, iname: &str) -> Import {
    match idev.prime_fd_to_buffer(buf.as_fd()) {
        Ok(h) => {
            // Re-exporting an imported object gives the exporter's dma-buf back.
            let re = export(idev, h);
            let r = dmabuf_same(re.as_fd(), buf.as_raw_fd(), 0).unwrap();
            assert_eq!(
                r,
                SAME_DMA_BUF,
                "{ename} buffer imported into {iname} and re-exported: {}",
                dmabuf_bits(r)
            );
            let r = dmabuf_same(buf.as_fd(), re.as_raw_fd(), 0).unwrap();
            assert_eq!(r, SAME_DMA_BUF, "the other way: {}", dmabuf_bits(r));
            idev.close_buffer(h).unwrap();
            Ok(())
        }
        Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
    }
}

#[test]
fn prime_between_drivers() {
    require_guest();
    let kernel = kernel_base();
    let devices: Vec<(String, &str, DrmNode)> = vec![
        ("vgem".into(), VGEM, open_vgem_card()),
        ("bochs A".into(), BOCHS, BOCHS_A.open(NodeKind::Card)),
        ("bochs B".into(), BOCHS, BOCHS_B.open(NodeKind::Card)),
        ("virtio-gpu".into(), VIRTIO_GPU, VIRTIO.open(NodeKind::Card)),
    ];
    // One dumb buffer per device, exported twice (the GEM object keeps its dma-buf: the same
    // file both times).
    let mut bufs: Vec<OwnedFd> = vec![];
    for (name, _, dev) in &devices {
        let h = create_dumb(dev);
        let e1 = export(dev, h);
        let e2 = export(dev, h);
        let r = dmabuf_same(e1.as_fd(), e2.as_raw_fd(), 0).unwrap();
        assert_eq!(
            r,
            SAME_DMA_BUF,
            "{name}: one buffer exported twice: {}",
            dmabuf_bits(r)
        );
        bufs.push(e1);
    }
    for (i, a) in bufs.iter().enumerate() {
        for (j, b) in bufs.iter().enumerate() {
            if i != j {
                let r = dmabuf_same(a.as_fd(), b.as_raw_fd(), 0).unwrap();
                assert_eq!(
                    r,
                    0,
                    "{} vs {} buffer: {}",
                    devices[i].0,
                    devices[j].0,
                    dmabuf_bits(r)
                );
            }
        }
    }
    let mut table = BTreeMap::new();
    let mut wrong = vec![];
    for (i, (ename, edrv, _)) in devices.iter().enumerate() {
        for (j, (iname, idrv, idev)) in devices.iter().enumerate() {
            if i == j {
                continue;
            }
            let got = import_and_reexport(idev, &bufs[i], ename, iname);
            let want = expected_import(edrv, idrv, kernel);
            let show = |r: &Import| match r {
                Ok(()) => "imported".to_string(),
                Err(e) => format!("refused: {}", std::io::Error::from_raw_os_error(*e)),
            };
            table.insert(format!("{ename} -> {iname}"), show(&got));
            if got != want {
                wrong.push(format!(
                    "{ename} -> {iname}: {}, expected {}",
                    show(&got),
                    show(&want)
                ));
            }
        }
    }
    for (k, v) in &table {
        report(&format!(
            "prime (kernel {}.{}): {k}: {v}",
            kernel.0, kernel.1
        ));
    }
    assert!(
        wrong.is_empty(),
        "PRIME imports differ from the expected ones:\n{}",
        wrong.join("\n")
    );
}

/// The buses libdrm's `drmGetDevice2()` knows (`drmParseSubsystemType()`: pci, usb, platform,
/// host1x, spi as platform; virtio resolved to its parent). A DRM device on another bus (vkms and vgem on 7.3's
/// faux bus) gets `EINVAL`.
const LIBDRM_BUSES: &[&str] = &["pci", "usb", "platform", "host1x", "spi", "virtio"];

/// Every DRM node of the guest, opened once, with the bus of its device (the name of
/// `/sys/class/drm/<node>/device/subsystem`).
fn all_nodes() -> Vec<(String, DrmNode, String)> {
    dri_nodes()
        .iter()
        .map(|(p, _, d)| {
            let node = p.file_name().unwrap().to_string_lossy().into_owned();
            let n = DrmNode::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let sub = format!("/sys/class/drm/{node}/device/subsystem");
            let bus = std::fs::canonicalize(&sub)
                .unwrap_or_else(|e| panic!("{sub}: {e}"))
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (format!("{node}({d}, {bus})"), n, bus)
        })
        .collect()
}

/// The answers of the three mechanisms for one pair: (ioctl DEVICE bit, sysfs, libdrm).
fn three_answers(a: &DrmNode, b: &DrmNode) -> (bool, Answer, Result<bool, i32>) {
    let ioctl = file_same(a.as_fd(), b.raw(), 0).unwrap() & DRM_FILE_SAME_DEVICE != 0;
    let sysfs = match compare_with(a, b, Mechanism::Sysfs) {
        Ok(s) => s.drm_device,
        Err(_) => Answer::Unknown,
    };
    let libdrm = Libdrm::get()
        .same_device(a, b)
        .map_err(|e| e.raw_os_error().unwrap_or(-1));
    (ioctl, sysfs, libdrm)
}

#[test]
fn sysfs_and_libdrm_agree_with_device_on_every_pair() {
    require_guest();
    let nodes = all_nodes();
    let lib = Libdrm::get();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong = vec![];
    let mut libdrm_expected = 0;
    for (an, a, abus) in &nodes {
        // A second open of the same node too: a pair of files of one node.
        let second = (format!("{an} 2nd open"), a.reopen(), abus.clone());
        for (bn, b, bbus) in nodes.iter().chain(std::iter::once(&second)) {
            let (ioctl, sysfs, libdrm) = three_answers(a, b);
            let pair = format!("{an} ~ {bn}");
            let want = if ioctl {
                Answer::Same
            } else {
                Answer::Different
            };
            let buses = format!("{abus}/{bbus}");
            if sysfs == want {
                *counts
                    .entry(format!("sysfs agrees with DEVICE ({buses})"))
                    .or_default() += 1;
            } else {
                wrong.push(format!("{pair}: sysfs {sysfs:?}, ioctl DEVICE {ioctl}"));
            }
            let known =
                LIBDRM_BUSES.contains(&abus.as_str()) && LIBDRM_BUSES.contains(&bbus.as_str());
            libdrm_expected += usize::from(known);
            match libdrm {
                Ok(eq) if eq == ioctl && known => {
                    *counts
                        .entry(format!("libdrm answers, agrees with DEVICE ({buses})"))
                        .or_default() += 1
                }
                Ok(eq) => wrong.push(format!(
                    "{pair}: libdrm drmDevicesEqual {eq}, ioctl DEVICE {ioctl}{}",
                    if known {
                        ""
                    } else {
                        " (libdrm answered on a bus it does not know)"
                    }
                )),
                Err(e) if !known => {
                    *counts
                        .entry(format!(
                            "libdrm cannot tell ({buses}: drmGetDevice2 {})",
                            std::io::Error::from_raw_os_error(e)
                        ))
                        .or_default() += 1
                }
                Err(e) => wrong.push(format!(
                    "{pair}: libdrm failed on buses it knows: {}",
                    std::io::Error::from_raw_os_error(e)
                )),
            }
        }
    }
    let n = nodes.len() * (nodes.len() + 1);
    report(&format!(
        "device agreement: {n} ordered pairs of DRM files ({libdrm_expected} on buses libdrm \
         knows), libdrm from {}",
        lib.path
    ));
    for (k, v) in &counts {
        report(&format!("device agreement: {v:4} {k}"));
    }
    assert!(
        wrong.is_empty(),
        "mechanisms disagree:\n{}",
        wrong.join("\n")
    );
    assert!(
        nodes.iter().filter(|n| n.2 == "pci").count() >= 4,
        "the PCI devices' nodes are missing: {:?}",
        nodes.iter().map(|n| &n.0).collect::<Vec<_>>()
    );
}

/// The environment variable that makes [`without_sys_only_the_ioctl_answers`] the child.
/// It holds the paths of virtio-gpu's card and render node and of the two bochs card nodes, one
/// per line (the child cannot find them: no /sys).
const NO_SYS_CHILD: &str = "RUST_TESTS_NO_SYS_CHILD";

/// Without /sys (a container that does not mount it; here a private mount namespace with an
/// empty tmpfs on /sys): what userspace loses. Only the ioctl still tells that a card and a
/// render node are one device and that two bochs devices are two: sysfs cannot tell and
/// libdrm's `drmGetDevice2()` fails with `EINVAL`. (The ioctl never reads sysfs; this shows
/// the other mechanisms, not the kernel.)
#[test]
fn without_sys_only_the_ioctl_answers() {
    require_guest();
    if std::env::var_os(NO_SYS_CHILD).is_some() {
        return without_sys_child();
    }
    let paths = [
        VIRTIO.node(NodeKind::Card),
        VIRTIO.node(NodeKind::Render),
        BOCHS_A.node(NodeKind::Card),
        BOCHS_B.node(NodeKind::Card),
    ]
    .map(|p| p.to_string_lossy().into_owned())
    .join("\n");
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "without_sys_only_the_ioctl_answers",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(NO_SYS_CHILD, &paths);
    // SAFETY: between fork and exec only async-signal-safe syscalls run.
    unsafe {
        cmd.pre_exec(|| {
            let check = |r: libc::c_int| {
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            // An empty tmpfs over /sys, as in a container without sysfs (detaching sysfs
            // would show the directory below, which in this guest is the host's over 9p).
            check(libc::mount(
                c"tmpfs".as_ptr(),
                c"/sys".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ))
        });
    }
    let out = cmd
        .output()
        .expect("running the test binary again without /sys");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for l in text.lines().filter(|l| l.contains("no /sys")) {
        report(l);
    }
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the child without /sys failed:\n{text}"
    );
}

/// The child of [`without_sys_only_the_ioctl_answers`], in a mount namespace without /sys.
fn without_sys_child() {
    assert!(
        !std::path::Path::new("/sys/class").exists(),
        "/sys is still mounted"
    );
    let paths: Vec<String> = std::env::var(NO_SYS_CHILD)
        .unwrap()
        .split('\n')
        .map(String::from)
        .collect();
    let open = |p: &String| DrmNode::open(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (card, render, a, b) = (
        open(&paths[0]),
        open(&paths[1]),
        open(&paths[2]),
        open(&paths[3]),
    );
    for (what, x, y, same) in [
        ("virtio-gpu card ~ render", &card, &render, true),
        ("bochs A ~ bochs B", &a, &b, false),
    ] {
        let (ioctl, sysfs, libdrm) = three_answers(x, y);
        report(&format!(
            "no /sys: {what}: ioctl DEVICE {ioctl}, sysfs {sysfs:?}, libdrm {libdrm:?}"
        ));
        assert_eq!(ioctl, same, "{what}: the ioctl answers without /sys");
        assert_eq!(
            sysfs,
            Answer::Unknown,
            "{what}: sysfs cannot tell without /sys"
        );
        // drmGetDevice2() -> drmNodeIsDRM() cannot stat /sys/dev/char/M:m/device/drm.
        assert_eq!(libdrm, Err(libc::EINVAL), "{what}: libdrm without /sys");
    }
}
