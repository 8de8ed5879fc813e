//! The crate's own tests on the patched kernel (moved here from `crates/fdsame/tests/vm.rs`):
//! the safe API of crate `fdsame` — `compare()` with its fallback chain, every forced
//! mechanism, the grouping API, foreign descriptors and the CLI — on the real ioctls. Like every
//! test of this package they run only in the guest (`cargo xtask test`), as root.
//!
//! Every case asserts that the chain picks the ioctl (or, for `O_PATH` descriptors, which the
//! ioctls refuse with `EBADF`, `F_DUPFD_QUERY`), that its answer is the ground
//! truth known by construction, and that every forced mechanism that is available agrees
//! with it on every level it can answer.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use drm::control::Device as _;
use fdsame::uapi::*;
use fdsame::{compare, compare_with, Answer, Availability, ErrorKind, FdKind, Level, Mechanism};
use rust_tests::{
    create_dumb, dma_heap_alloc, export, find_node, open_node, require_guest, sealed_memfd,
    udmabuf_range, DrmNode, NodeKind,
};

fn node(driver: &str, render: bool) -> PathBuf {
    find_node(
        driver,
        if render {
            NodeKind::Render
        } else {
            NodeKind::Card
        },
    )
}

fn open_card(driver: &str) -> DrmNode {
    open_node(driver, NodeKind::Card)
}

fn open_render(driver: &str) -> DrmNode {
    open_node(driver, NodeKind::Render)
}

/// A dma-buf exported by vgem (dumb buffer + PRIME); the GEM handle stays open in `card`.
fn vgem_dma_buf(card: &DrmNode) -> OwnedFd {
    export(card, create_dumb(card))
}

#[derive(Debug, Clone, Copy)]
struct Expect {
    file: bool,
    client: bool,
    device: bool,
    object: bool,
    /// The storage level is the one that can be unknown by right.
    storage: Answer,
}

impl Expect {
    fn answer(&self, level: Level) -> Answer {
        match level {
            Level::File => Answer::from(self.file),
            Level::DrmClient => Answer::from(self.client),
            Level::DrmDevice => Answer::from(self.device),
            Level::DmaBufObject => Answer::from(self.object),
            Level::DmaBufStorage => self.storage,
            l => panic!("no expectation for {l}"),
        }
    }
}

const DIFFERENT: Expect = Expect {
    file: false,
    client: false,
    device: false,
    object: false,
    storage: Answer::Different,
};

/// Two different dma-bufs whose storage is as given.
const fn two_bufs(storage: Answer) -> Expect {
    Expect {
        storage,
        ..DIFFERENT
    }
}

/// One dma-buf (itself, a dup, a re-export).
const ONE_BUF: Expect = Expect {
    file: true,
    client: false,
    device: false,
    object: true,
    storage: Answer::Same,
};

/// The core assertion: chain, ioctl and every forced mechanism. `ioctl` is the mechanism the
/// chain must pick.
fn check(what: &str, a: BorrowedFd<'_>, b: BorrowedFd<'_>, expect: Expect, ioctl: Mechanism) {
    // A level that does not apply to one of the kinds is NotApplicable, not Different.
    let (ka, kb) = (FdKind::of(a).unwrap(), FdKind::of(b).unwrap());
    let expect_at = |level: Level| {
        if level.applies_to(ka) && level.applies_to(kb) {
            expect.answer(level)
        } else {
            Answer::NotApplicable
        }
    };
    let s = compare(a, b).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        s.mechanism,
        Some(ioctl),
        "{what}: the chain must pick the ioctl"
    );
    for &level in Level::ALL {
        assert_eq!(
            s.level(level),
            expect_at(level),
            "{what}: {level} (by the chain)"
        );
    }
    for &m in Mechanism::ALL {
        match compare_with(a, b, m) {
            Ok(f) => {
                for &level in Level::ALL {
                    let got = f.level(level);
                    if got != Answer::Unknown {
                        assert_eq!(
                            got,
                            s.level(level),
                            "{what}: {m} disagrees with {ioctl} on {level}"
                        );
                    }
                }
                if m == ioctl {
                    assert_eq!(f, s, "{what}: forced {m}");
                }
            }
            Err(e) => {
                let err = &e;
                assert_eq!(e.mechanism(), Some(m));
                // Only a mechanism that cannot compare these kinds may refuse; the generic
                // ones are all configured in the VM kernel.
                assert_eq!(e.kind(), ErrorKind::NotApplicable, "{what}: {m}: {err}");
                assert_ne!(m, ioctl, "{what}: {err}");
            }
        }
    }
    // Symmetric.
    let r = compare(b, a).unwrap();
    for &level in Level::ALL {
        assert_eq!(r.level(level), s.level(level), "{what}: reversed, {level}");
    }
}

#[test]
fn vm_generic_mechanisms_are_configured() {
    require_guest();
    assert_eq!(
        Mechanism::Kcmp.probe(),
        Availability::Available,
        "CONFIG_KCMP=y"
    );
    assert_eq!(
        Mechanism::Epoll.probe(),
        Availability::Available,
        "CONFIG_EPOLL=y"
    );
    assert_eq!(Mechanism::Sysfs.probe(), Availability::Available);
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let v = (it.next().unwrap(), it.next().unwrap());
    let expect = if v >= (6, 10) {
        Availability::Available
    } else {
        Availability::Unavailable
    };
    assert_eq!(Mechanism::FDupfdQuery.probe(), expect);
}

#[test]
fn vm_drm_dups_reopens_and_nodes() {
    let card = open_card("vgem");
    assert!(matches!(
        FdKind::of(card.as_fd()).unwrap(),
        FdKind::Drm { .. }
    ));
    let dup = card.dup();
    let reopen = open_card("vgem");
    let render = open_render("vgem");
    let render2 = open_render("vgem");
    let vkms = open_card("vkms");

    let same = Expect {
        file: true,
        client: true,
        device: true,
        ..DIFFERENT
    };
    let same_dev = Expect {
        device: true,
        ..DIFFERENT
    };
    let m = Mechanism::DrmFileSameIoctl;
    check("card vs itself", card.as_fd(), card.as_fd(), same, m);
    check("card vs dup", card.as_fd(), dup.as_fd(), same, m);
    check("card vs reopen", card.as_fd(), reopen.as_fd(), same_dev, m);
    check(
        "card vs render of the same device",
        card.as_fd(),
        render.as_fd(),
        same_dev,
        m,
    );
    check(
        "render vs render reopen",
        render.as_fd(),
        render2.as_fd(),
        same_dev,
        m,
    );
    check("vgem vs vkms", card.as_fd(), vkms.as_fd(), DIFFERENT, m);
    check(
        "vgem render vs vkms",
        render.as_fd(),
        vkms.as_fd(),
        DIFFERENT,
        m,
    );

    // SCM_RIGHTS-like copy through pidfd_getfd of ourselves: the same client.
    let me = rustix::process::pidfd_open(
        rustix::process::getpid(),
        rustix::process::PidfdFlags::empty(),
    )
    .unwrap();
    let got = rustix::process::pidfd_getfd(
        &me,
        render.as_fd().as_raw_fd(),
        rustix::process::PidfdGetfdFlags::empty(),
    )
    .unwrap();
    check(
        "render vs pidfd_getfd(render)",
        render.as_fd(),
        got.as_fd(),
        same,
        m,
    );

    // sysfs alone agrees on the device level for nodes of one device and of two.
    assert_eq!(
        compare_with(&card, &render, Mechanism::Sysfs)
            .unwrap()
            .drm_device,
        Answer::Same
    );
    assert_eq!(
        compare_with(&card, &vkms, Mechanism::Sysfs)
            .unwrap()
            .drm_device,
        Answer::Different
    );
}

#[test]
fn vm_drm_vs_other_kinds() {
    let card = open_card("vgem");
    let m = Mechanism::DrmFileSameIoctl;
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let ev = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap();
    let reg = File::open("/proc/self/status").unwrap();
    let path = rustix::fs::open(
        node("vgem", false),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let buf = vgem_dma_buf(&card);
    // O_PATH: the ioctl refuses it (fdget); the chain answers by F_DUPFD_QUERY, which 7.3
    // answers for O_PATH descriptors (fdget_raw), and the kinds.
    assert_eq!(
        fdsame::ioctl::drm_file_same(card.as_fd(), path.as_fd())
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EBADF),
        "DRM_IOCTL_FILE_SAME about an O_PATH descriptor"
    );
    assert_eq!(FdKind::of(path.as_fd()).unwrap(), FdKind::Path);
    check(
        "card vs O_PATH of the same node",
        card.as_fd(),
        path.as_fd(),
        DIFFERENT,
        Mechanism::FDupfdQuery,
    );
    let path_dup = path.try_clone().unwrap();
    check(
        "O_PATH of a DRM node vs its dup",
        path.as_fd(),
        path_dup.as_fd(),
        Expect {
            file: true,
            ..DIFFERENT
        },
        Mechanism::FDupfdQuery,
    );
    for (what, other) in [
        ("pipe", r.as_fd()),
        ("eventfd", ev.as_fd()),
        ("regular file", reg.as_fd()),
        ("dma-buf exported by it", buf.as_fd()),
    ] {
        assert_eq!(
            fdsame::ioctl::drm_file_same(card.as_fd(), other).unwrap(),
            0,
            "{what}"
        );
        check(
            &format!("card vs {what}"),
            card.as_fd(),
            other,
            DIFFERENT,
            m,
        );
    }
}

#[test]
fn vm_drm_ioctl_errors() {
    let card = open_card("vgem");
    let render = open_render("vgem");
    let fd = card.as_fd();
    let errno = |r: std::io::Result<u64>| r.unwrap_err().raw_os_error();
    assert_eq!(
        errno(fdsame::ioctl::drm_file_same_raw(fd, -1, 0)),
        Some(libc::EBADF)
    );
    assert_eq!(
        errno(fdsame::ioctl::drm_file_same_raw(fd, (1 << 20) + 7, 0)),
        Some(libc::EBADF)
    );
    assert_eq!(
        errno(fdsame::ioctl::drm_file_same_raw(
            fd,
            render.as_fd().as_raw_fd(),
            1
        )),
        Some(libc::EINVAL)
    );
    assert_eq!(
        errno(fdsame::ioctl::drm_file_same_raw(
            fd,
            render.as_fd().as_raw_fd(),
            1 << 31
        )),
        Some(libc::EINVAL)
    );
    // SAFETY: the kernel refuses these pointers; nothing in this process is written.
    let err =
        unsafe { fdsame::ioctl::drm_file_same_ptr(fd, std::ptr::dangling_mut::<drm_file_same>()) }
            .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    let ok =
        fdsame::ioctl::drm_file_same_raw(render.as_fd(), render.as_fd().as_raw_fd(), 0).unwrap();
    assert_eq!(ok, DRM_FILE_SAME_ALL, "render node, itself");
    assert_eq!(ok & !DRM_FILE_SAME_ALL, 0);
}

#[test]
fn vm_dma_buf_dups_and_two_buffers() {
    let card = open_card("vgem");
    let buf = vgem_dma_buf(&card);
    assert_eq!(FdKind::of(buf.as_fd()).unwrap(), FdKind::DmaBuf);
    let dup = buf.try_clone().unwrap();
    let other = vgem_dma_buf(&card);
    let m = Mechanism::DmaBufSameObjectIoctl;
    let same = ONE_BUF;
    check("dma-buf vs dup", buf.as_fd(), dup.as_fd(), same, m);
    // GEM PRIME has no same_storage: two vgem dma-bufs are storage-unknown.
    check(
        "two vgem dma-bufs",
        buf.as_fd(),
        other.as_fd(),
        two_bufs(Answer::Unknown),
        m,
    );

    // Importing into another client and exporting again gives back the same dma-buf.
    let card2 = open_card("vgem");
    let h = card2.prime_fd_to_buffer(buf.as_fd()).unwrap();
    let again = card2
        .buffer_to_prime_fd(h, (libc::O_CLOEXEC | libc::O_RDWR) as u32)
        .unwrap();
    check(
        "dma-buf vs re-export through another client",
        buf.as_fd(),
        again.as_fd(),
        same,
        m,
    );

    let (r, _w) = rustix::pipe::pipe().unwrap();
    assert_eq!(
        fdsame::ioctl::dma_buf_same_object(buf.as_fd(), r.as_fd()).unwrap(),
        0
    );
    check("dma-buf vs pipe", buf.as_fd(), r.as_fd(), DIFFERENT, m);

    let fd = buf.as_fd();
    let errno = |r: std::io::Result<u64>| r.unwrap_err().raw_os_error();
    assert_eq!(
        errno(fdsame::ioctl::dma_buf_same_object_raw(fd, -1, 0)),
        Some(libc::EBADF)
    );
    assert_eq!(
        errno(fdsame::ioctl::dma_buf_same_object_raw(
            fd,
            dup.as_raw_fd(),
            1
        )),
        Some(libc::EINVAL)
    );
    // SAFETY: the kernel refuses this pointer; nothing in this process is written.
    let err = unsafe {
        fdsame::ioctl::dma_buf_same_object_ptr(fd, std::ptr::dangling_mut::<dma_buf_same_object>())
    }
    .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    assert_eq!(
        fdsame::ioctl::dma_buf_same_object(fd, dup.as_fd()).unwrap(),
        DMA_BUF_SAME_ALL
    );
}

/// A dma-buf from the system heap (another exporter), 4 KiB.
fn heap_dma_buf() -> OwnedFd {
    dma_heap_alloc(4096)
}

#[test]
fn vm_dma_bufs_of_two_exporters() {
    let card = open_card("vgem");
    let vgem_buf = vgem_dma_buf(&card);
    let heap_buf = heap_dma_buf();
    assert_eq!(FdKind::of(heap_buf.as_fd()).unwrap(), FdKind::DmaBuf);
    let dup = heap_buf.try_clone().unwrap();
    let m = Mechanism::DmaBufSameObjectIoctl;
    // Different exporters do not compare storage; different sizes (4 KiB, 16 KiB) are
    // different storage all the same (fstat).
    check(
        "heap dma-buf vs vgem dma-buf",
        heap_buf.as_fd(),
        vgem_buf.as_fd(),
        two_bufs(Answer::Different),
        m,
    );
    check(
        "heap dma-buf vs dup",
        heap_buf.as_fd(),
        dup.as_fd(),
        ONE_BUF,
        m,
    );
    let heap2 = heap_dma_buf();
    check(
        "two heap dma-bufs (no same_storage)",
        heap_buf.as_fd(),
        heap2.as_fd(),
        two_bufs(Answer::Unknown),
        m,
    );
}

/// A sealed memfd of `pages` pages and udmabufs over ranges of it.
struct Memfd(OwnedFd);

impl Memfd {
    fn new(pages: usize) -> Memfd {
        Memfd(sealed_memfd(pages))
    }

    /// `UDMABUF_CREATE` over pages `first..first + count`.
    fn udmabuf(&self, first: usize, count: usize) -> OwnedFd {
        udmabuf_range(self.0.as_fd(), first, count)
    }
}

fn page() -> u64 {
    rust_tests::page_size() as u64
}

#[test]
fn vm_dma_buf_storage_of_udmabufs() {
    let m = Mechanism::DmaBufSameObjectIoctl;
    let memfd = Memfd::new(4);
    let a = memfd.udmabuf(0, 2);
    let same_range = memfd.udmabuf(0, 2);
    let other_range = memfd.udmabuf(2, 2);
    let overlapping = memfd.udmabuf(1, 2);
    let longer = memfd.udmabuf(0, 3);
    check("udmabuf vs itself", a.as_fd(), a.as_fd(), ONE_BUF, m);
    check(
        "udmabuf vs its dup",
        a.as_fd(),
        a.try_clone().unwrap().as_fd(),
        ONE_BUF,
        m,
    );
    check(
        "two udmabufs over one memfd range",
        a.as_fd(),
        same_range.as_fd(),
        two_bufs(Answer::Same),
        m,
    );
    check(
        "udmabufs over different ranges",
        a.as_fd(),
        other_range.as_fd(),
        two_bufs(Answer::Different),
        m,
    );
    check(
        "udmabufs over overlapping ranges",
        a.as_fd(),
        overlapping.as_fd(),
        two_bufs(Answer::Different),
        m,
    );
    check(
        "udmabufs of different sizes from one offset",
        a.as_fd(),
        longer.as_fd(),
        two_bufs(Answer::Different),
        m,
    );
    // Not compared by the kernel (two exporters), but 8 KiB and 4 KiB: different storage.
    check(
        "udmabuf vs a heap dma-buf",
        a.as_fd(),
        heap_dma_buf().as_fd(),
        two_bufs(Answer::Different),
        m,
    );
    let one_page = memfd.udmabuf(0, 1);
    check(
        "udmabuf of one page vs a heap dma-buf of one page",
        one_page.as_fd(),
        heap_dma_buf().as_fd(),
        two_bufs(Answer::Unknown),
        m,
    );
    // The raw bits, for the record.
    assert_eq!(
        fdsame::ioctl::dma_buf_same_object(a.as_fd(), same_range.as_fd()).unwrap(),
        DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED
    );
    assert_eq!(
        fdsame::ioctl::dma_buf_same_object(a.as_fd(), other_range.as_fd()).unwrap(),
        DMA_BUF_STORAGE_COMPARED
    );
    // The file-level mechanisms alone cannot tell the storage of two dma-bufs.
    let f = compare_with(&a, &same_range, Mechanism::FDupfdQuery).unwrap();
    assert_eq!(
        (f.file, f.dma_buf_object, f.dma_buf_storage),
        (Answer::Different, Answer::Different, Answer::Unknown)
    );
}

#[test]
fn vm_o_path_of_a_dma_buf() {
    let card = open_card("vgem");
    let buf = vgem_dma_buf(&card);
    // An O_PATH descriptor of the dma-buf's own inode: the same inode, another struct file,
    // no dma-buf.
    let path = rustix::fs::open(
        format!("/proc/self/fd/{}", buf.as_raw_fd()),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    assert_eq!(FdKind::of(path.as_fd()).unwrap(), FdKind::Path);
    assert_eq!(
        fdsame::ioctl::dma_buf_same_object(buf.as_fd(), path.as_fd())
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EBADF)
    );
    check(
        "dma-buf vs an O_PATH descriptor of its inode",
        buf.as_fd(),
        path.as_fd(),
        DIFFERENT,
        Mechanism::FDupfdQuery,
    );
    let e = compare_with(&buf, &path, Mechanism::DmaBufSameObjectIoctl).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotApplicable);
    // One inode; fstat tells them apart only because an O_PATH file is never a dma-buf file.
    let (sa, sb) = (
        rustix::fs::fstat(&buf).unwrap(),
        rustix::fs::fstat(&path).unwrap(),
    );
    assert_eq!((sa.st_dev, sa.st_ino), (sb.st_dev, sb.st_ino));
    let f = compare_with(&buf, &path, Mechanism::Fstat).unwrap();
    assert_eq!(f.file, Answer::Different);
}

/// A child process holding a vgem card (fd 0), a vgem render node (fd 1) and a dma-buf
/// (fd 2): another process's descriptors.
fn holder(card: &DrmNode, render: &DrmNode, buf: &OwnedFd) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new("sleep")
        .arg("60")
        .stdin(Stdio::from(card.dup()))
        .stdout(Stdio::from(render.dup()))
        .stderr(Stdio::from(buf.try_clone().unwrap()))
        .spawn()
        .expect("spawn sleep")
}

fn pidfd_getfd(pid: u32, fd: i32) -> OwnedFd {
    let p = rustix::process::Pid::from_raw(pid as i32).unwrap();
    let pidfd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).unwrap();
    rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty()).unwrap()
}

/// Another process's descriptors (obtained with pidfd_getfd), marked foreign: the DRM ioctl
/// is issued on a descriptor of ours when there is one, else on theirs (every kernel that
/// has it marks it DRM_NO_PID_UPDATE: no owner change, proven on the CLI below).
#[test]
fn vm_foreign_descriptors_are_answered_by_the_kernel() {
    let card = open_card("vgem");
    let render = open_render("vgem");
    let buf = vgem_dma_buf(&card);
    let mut child = holder(&card, &render, &buf);
    let theirs_card = pidfd_getfd(child.id(), 0);
    let theirs_card2 = pidfd_getfd(child.id(), 0);
    let theirs_render = pidfd_getfd(child.id(), 1);
    let theirs_buf = pidfd_getfd(child.id(), 2);
    let mine = open_card("vgem");
    // Warm the fast path's hints for every number, as a long-running caller would have.
    for fd in [&theirs_card, &theirs_card2, &theirs_render] {
        compare(fd, &mine).unwrap();
    }
    let f = fdsame::Options::new();
    use Answer::{Different as D, NotApplicable as N, Same as S};
    // Theirs against mine: the DRM ioctl answers.
    for (a, b, foreign) in [
        (theirs_card.as_fd(), mine.as_fd(), (true, false)),
        (mine.as_fd(), theirs_card.as_fd(), (false, true)),
    ] {
        let s = f.foreign(foreign.0, foreign.1).compare(a, b).unwrap();
        assert_eq!(s.mechanism, Some(Mechanism::DrmFileSameIoctl));
        assert_eq!((s.file, s.drm_client, s.drm_device), (D, D, S));
    }
    // Theirs against theirs: the DRM ioctl too, on one of theirs.
    let both = f.foreign(true, true);
    let s = both.compare(&theirs_card, &theirs_card2).unwrap();
    assert_eq!((s.file, s.drm_client, s.drm_device), (S, S, S));
    assert_eq!(s.mechanism, Some(Mechanism::DrmFileSameIoctl));
    let s = both.compare(&theirs_card, &theirs_render).unwrap();
    assert_eq!((s.file, s.drm_client, s.drm_device), (D, D, S));
    assert_eq!(s.mechanism, Some(Mechanism::DrmFileSameIoctl));
    assert_eq!(s.declined, None);
    let s = both.compare(&theirs_card, &theirs_buf).unwrap();
    assert_eq!((s.file, s.drm_device, s.dma_buf_object), (D, N, N));
    // Forcing the DRM ioctl on two foreign descriptors is allowed.
    let s = both
        .mechanism(Mechanism::DrmFileSameIoctl)
        .compare(&theirs_card, &theirs_render)
        .unwrap();
    assert_eq!(s.drm_device, S);
    // The grouping API on foreign descriptors.
    let set = fdsame::Descriptors::new([
        theirs_card.as_fd(),
        theirs_card2.as_fd(),
        theirs_render.as_fd(),
        theirs_buf.as_fd(),
    ])
    .unwrap()
    .foreign(true);
    assert_eq!(
        set.group(Level::File).groups,
        vec![vec![0, 1], vec![2], vec![3]]
    );
    assert_eq!(
        set.group(Level::DrmDevice).groups,
        vec![vec![0, 1, 2], vec![3]]
    );
    let g = set.group(Level::DrmClient);
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    assert_eq!(g.groups, vec![vec![0, 1], vec![2], vec![3]]);
    let _ = child.kill();
    let _ = child.wait();
}

/// The `fdsame` binary built next to this test (target/{debug,release}/fdsame), if it is.
fn cli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("fdsame");
    p.exists().then_some(p)
}

/// Runs the CLI under `strace -f -e trace=ioctl`: its exit code, stdout, and the DRM ioctls
/// it issued (strace lines naming a DRM ioctl or type 0x64).
fn cli_under_strace(args: &[String]) -> Option<(i32, String, Vec<String>)> {
    let cli = cli()?;
    let log = std::env::temp_dir().join(format!(
        "fdsame-strace-{}-{}",
        std::process::id(),
        args.len()
    ));
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=ioctl", "-o"])
        .arg(&log)
        .arg(&cli)
        .args(args)
        .output()
        .ok()?;
    let trace = std::fs::read_to_string(&log).ok()?;
    let drm: Vec<String> = trace
        .lines()
        .filter(|l| l.contains("DRM_IOCTL") || l.contains(", 0x64, 0x"))
        .map(str::to_owned)
        .collect();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        drm,
    ))
}

/// The CLI on another process's DRM descriptors: it issues DRM_IOCTL_FILE_SAME on them
/// (series v3: every kernel with the ioctl marks it DRM_NO_PID_UPDATE), answers the DRM
/// device level from the kernel, and the client's owner in debugfs `dri/<minor>/clients` is
/// still its opener afterwards, never the CLI. `fdsame ps` issues no DRM ioctl at all
/// (strace sees every ioctl).
#[test]
fn vm_cli_on_other_processes_fds_leaves_the_owner() {
    // A missing tool fails: `.ci/run` installs strace, and a skip here would read as a pass.
    assert!(
        cli().is_some(),
        "the fdsame binary is not next to this test"
    );
    assert!(
        std::process::Command::new("strace")
            .arg("-V")
            .output()
            .is_ok(),
        "strace is not installed (.ci/run installs it)"
    );
    let card = open_card("vgem");
    // A render node: a DRM file that was ever master keeps its owner whatever ioctl is
    // issued, so only a render client shows an owner change. This process opens it and
    // names it (an ordinary ioctl by its owner) to find its debugfs row.
    let render = open_render("vgem");
    let me = std::process::id() as i32;
    let name = format!("fdsame-cli-owner-{me}");
    let named = rust_tests::try_set_drm_client_name(render.as_fd(), &name).is_ok();
    let minor = rust_tests::drm_minor(render.as_fd());
    if named {
        assert_eq!(
            rust_tests::drm_client_owner(minor, &name).0,
            me,
            "the opener owns it"
        );
    }
    let buf = vgem_dma_buf(&card);
    let buf2 = vgem_dma_buf(&card);
    let mut child = holder(&card, &render, &buf);
    let pid = child.id();
    let arg = |fd: i32| format!("/proc/{pid}/fd/{fd}");

    // Render first: the ioctl is issued on the render client, another process's.
    let run = std::process::Command::new(cli().unwrap())
        .args(["--json", "-l", "drm-device", &arg(1), &arg(0)])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let cli_pid = run.id() as i32;
    let out = run.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["levels"]["drm-device"], "same");
    assert_eq!(v["levels"]["file"], "different");
    assert_eq!(
        (v["a"]["foreign"].clone(), v["b"]["foreign"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(v["mechanism"], "drm-ioctl", "the kernel answers: {v:#}");
    assert!(v["declined"].is_null(), "{v:#}");
    // The owner: still the opener, never the CLI.
    if named {
        let (owner, row) = rust_tests::drm_client_owner(minor, &name);
        assert_eq!(owner, me, "owner after the CLI's compare: {row}");
    }
    let (n, table) = rust_tests::drm_clients_owned_by(minor, cli_pid);
    assert_eq!(
        n, 0,
        "clients attributed to the CLI (pid {cli_pid}):\n{table}"
    );

    let (code, out, drm) =
        cli_under_strace(&["--json".into(), "ps".into(), pid.to_string()]).unwrap();
    assert!(drm.is_empty(), "DRM ioctls by ps: {drm:?}");
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let devices = v["drm_devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{v:#}");
    assert_eq!(devices[0]["name"], "vgem");
    assert_eq!(devices[0]["clients"].as_array().unwrap().len(), 2, "{v:#}");
    let bufs = v["dma_bufs"].as_array().unwrap();
    assert_eq!(bufs.len(), 1, "{v:#}");
    assert_eq!(bufs[0]["exporter"], "drm"); // GEM PRIME: exp_name is the drm module
    assert_eq!(bufs[0]["size"], 64 * 64 * 4);
    assert_eq!(bufs[0]["holders"][0]["pid"], pid);
    assert_eq!(v["totals"]["dma_buf_bytes"], 64 * 64 * 4);
    assert!(v["not_inspected"].as_array().unwrap().is_empty());

    // A path of our own against theirs: the CLI opens the node and asks the ioctl on its
    // own descriptor first; the answer comes from it.
    let node = node("vgem", false);
    let (code, out, _) = cli_under_strace(&[
        "--json".into(),
        "-l".into(),
        "drm-device".into(),
        node.to_string_lossy().into_owned(),
        arg(0),
    ])
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mechanism"], "drm-ioctl");
    assert_eq!(v["a"]["foreign"], false);
    assert_eq!(v["b"]["foreign"], true);
    drop(buf2);
    let _ = child.kill();
    let _ = child.wait();
}

/// The grouping API against compare() on every pair, at every level, for DRM files, dma-bufs
/// and udmabufs over one memfd.
#[test]
fn vm_grouping_agrees_with_compare() {
    let card = open_card("vgem");
    let dup = card.dup();
    let reopen = open_card("vgem");
    let render = open_render("vgem");
    let vkms = open_card("vkms");
    let buf = vgem_dma_buf(&card);
    let buf_dup = buf.try_clone().unwrap();
    let other_buf = vgem_dma_buf(&card);
    let memfd = Memfd::new(4);
    let u1 = memfd.udmabuf(0, 2);
    let u2 = memfd.udmabuf(0, 2);
    let u3 = memfd.udmabuf(2, 2);
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let fds: Vec<BorrowedFd<'_>> = vec![
        card.as_fd(),
        dup.as_fd(),
        reopen.as_fd(),
        render.as_fd(),
        vkms.as_fd(),
        buf.as_fd(),
        buf_dup.as_fd(),
        other_buf.as_fd(),
        u1.as_fd(),
        u2.as_fd(),
        u3.as_fd(),
        r.as_fd(),
    ];
    for foreign in [false, true] {
        let set = fdsame::Descriptors::new(fds.iter().copied())
            .unwrap()
            .foreign(foreign);
        for &level in Level::ALL {
            let g = set.group(level);
            assert!(g.errors.is_empty(), "{level}: {:?}", g.errors);
            for i in 0..fds.len() {
                for j in (0..fds.len()).filter(|&j| j != i) {
                    let s = match compare(fds[i], fds[j]).unwrap().level(level) {
                        // A level that does not apply does not hold: a group of its own.
                        Answer::NotApplicable => Answer::Different,
                        s => s,
                    };
                    let (gi, gj) = (g.group_of(i).unwrap(), g.group_of(j).unwrap());
                    let undecided = g
                        .undecided
                        .iter()
                        .any(|c| c.contains(&gi) && c.contains(&gj));
                    let expect = if gi == gj {
                        Answer::Same
                    } else if undecided {
                        Answer::Unknown
                    } else {
                        Answer::Different
                    };
                    assert_eq!(s, expect, "{level} {i} vs {j} (foreign {foreign}): {g:?}");
                }
            }
        }
        assert_eq!(
            set.group(Level::DmaBufStorage).groups,
            vec![
                vec![0],
                vec![1],
                vec![2],
                vec![3],
                vec![4],
                vec![5, 6],
                vec![7],
                vec![8, 9],
                vec![10],
                vec![11]
            ]
        );
        assert_eq!(set.dma_buf_exporter(8).as_deref(), Some("udmabuf"));
        assert_eq!(set.dma_buf_size(8), Some(2 * page()));
    }
}

/// The crate's cost against the raw ioctls (50,000 calls, three rounds), printed: what this
/// test asserts is that both paths answer on every call (`unwrap`).
#[test]
fn vm_compare_and_the_raw_ioctl_answer_every_call() {
    use std::time::Instant;
    let card = open_card("vgem");
    let dup = card.dup();
    let buf = vgem_dma_buf(&card);
    let buf_dup = buf.try_clone().unwrap();
    const N: u32 = 50_000;
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..N {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(N)
    };
    let mut best = [f64::MAX; 4];
    compare(&card, &dup).unwrap();
    compare(&buf, &buf_dup).unwrap();
    for _round in 0..3 {
        let t = [
            time(&mut || {
                std::hint::black_box(
                    fdsame::ioctl::drm_file_same(card.as_fd(), dup.as_fd()).unwrap(),
                );
            }),
            time(&mut || {
                std::hint::black_box(compare(&card, &dup).unwrap());
            }),
            time(&mut || {
                std::hint::black_box(
                    fdsame::ioctl::dma_buf_same_object(buf.as_fd(), buf_dup.as_fd()).unwrap(),
                );
            }),
            time(&mut || {
                std::hint::black_box(compare(&buf, &buf_dup).unwrap());
            }),
        ];
        for (b, x) in best.iter_mut().zip(t) {
            *b = b.min(x);
        }
    }
    let (drm, buf_ratio) = (best[1] / best[0], best[3] / best[2]);
    // Reported, never judged: a test does not decide by wall-clock time (a loaded machine
    // would fail it); the benchmark (`cargo xtask bench`) is where the cost is measured.
    rust_tests::report(&format!(
        "compare() cost, {N} calls x 3 rounds, best round: DRM raw {:.0} ns, compare {:.0} ns ({drm:.2}x); dma-buf raw {:.0} ns, compare {:.0} ns ({buf_ratio:.2}x)",
        best[0], best[1], best[2], best[3]
    ));
}
