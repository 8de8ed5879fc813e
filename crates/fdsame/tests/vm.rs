//! VM-only tests: they need `/dev/dri` (vkms and vgem loaded) and the patched kernel with
//! `DRM_IOCTL_FILE_SAME` and `DMA_BUF_IOCTL_SAME_OBJECT`. Run them with `cargo xtask test`,
//! which boots the VM and runs `cargo test -- --ignored` in it, as root.
//!
//! Every case asserts that the chain picks the ioctl (or, for `O_PATH` descriptors, which the
//! ioctls refuse with `EBADF` since series v2, `F_DUPFD_QUERY`), that its answer is the ground
//! truth known by construction, and that every forced mechanism that is available agrees
//! with it on every level it can answer.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use drm::buffer::{Buffer, DrmFourcc};
use drm::control::Device as ControlDevice;
use drm::Device;
use fdsame::uapi::*;
use fdsame::{compare, compare_with, Answer, Availability, ErrorKind, FdKind, Level, Mechanism};

/// A DRM device file, for drm-rs.
struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl Device for Card {}
impl ControlDevice for Card {}

fn open_rw(path: &std::path::Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// The node of `driver` ("vgem", "vkms") of the given kind, found by DRM_IOCTL_VERSION.
fn node(driver: &str, render: bool) -> PathBuf {
    let mut found = vec![];
    for entry in std::fs::read_dir("/dev/dri").expect("/dev/dri") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let is_render = name.starts_with("renderD");
        if !(name.starts_with("card") || is_render) || is_render != render {
            continue;
        }
        let card = Card(open_rw(&path));
        if card.get_driver().unwrap().name().to_str() == Some(driver) {
            found.push(path);
        }
    }
    assert_eq!(found.len(), 1, "{driver} render={render}: {found:?}");
    found.pop().unwrap()
}

fn open_card(driver: &str) -> Card {
    Card(open_rw(&node(driver, false)))
}

fn open_render(driver: &str) -> Card {
    Card(open_rw(&node(driver, true)))
}

/// A dma-buf exported by vgem (dumb buffer + PRIME), with the client it came from.
fn vgem_dma_buf(card: &Card) -> OwnedFd {
    let db = card
        .create_dumb_buffer((64, 64), DrmFourcc::Xrgb8888, 32)
        .unwrap();
    card.buffer_to_prime_fd(db.handle(), (libc::O_CLOEXEC | libc::O_RDWR) as u32)
        .unwrap()
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
    let s = compare(a, b).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        s.mechanism,
        Some(ioctl),
        "{what}: the chain must pick the ioctl"
    );
    for &level in Level::ALL {
        assert_eq!(
            s.level(level),
            expect.answer(level),
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
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
fn vm_generic_mechanisms_are_configured() {
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
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
fn vm_drm_dups_reopens_and_nodes() {
    let card = open_card("vgem");
    assert!(matches!(
        FdKind::of(card.as_fd()).unwrap(),
        FdKind::Drm { .. }
    ));
    let dup = card.0.try_clone().unwrap();
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
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
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
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
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
    let err = unsafe { fdsame::ioctl::drm_file_same_ptr(fd, 8 as *mut drm_file_same) }.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    let ok =
        fdsame::ioctl::drm_file_same_raw(render.as_fd(), render.as_fd().as_raw_fd(), 0).unwrap();
    assert_eq!(ok, DRM_FILE_SAME_ALL, "render node, itself");
    assert_eq!(ok & !DRM_FILE_SAME_ALL, 0);
}

#[test]
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
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
    let err = unsafe { fdsame::ioctl::dma_buf_same_object_ptr(fd, 8 as *mut dma_buf_same_object) }
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    assert_eq!(
        fdsame::ioctl::dma_buf_same_object(fd, dup.as_fd()).unwrap(),
        DMA_BUF_SAME_ALL
    );
}

/// A dma-buf from the system heap (another exporter), via DMA_HEAP_IOCTL_ALLOC.
fn heap_dma_buf() -> OwnedFd {
    #[repr(C)]
    struct DmaHeapAllocationData {
        len: u64,
        fd: u32,
        fd_flags: u32,
        heap_flags: u64,
    }
    const DMA_HEAP_IOCTL_ALLOC: rustix::ioctl::Opcode =
        rustix::ioctl::opcode::read_write::<DmaHeapAllocationData>(b'H', 0);
    let heap = open_rw(std::path::Path::new("/dev/dma_heap/system"));
    let mut data = DmaHeapAllocationData {
        len: 4096,
        fd: 0,
        fd_flags: (libc::O_CLOEXEC | libc::O_RDWR) as u32,
        heap_flags: 0,
    };
    // SAFETY: the opcode and the struct match include/uapi/linux/dma-heap.h.
    unsafe {
        rustix::ioctl::ioctl(
            &heap,
            rustix::ioctl::Updater::<{ DMA_HEAP_IOCTL_ALLOC }, DmaHeapAllocationData>::new(
                &mut data,
            ),
        )
        .unwrap();
        std::os::fd::FromRawFd::from_raw_fd(data.fd as i32)
    }
}

#[test]
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
fn vm_dma_bufs_of_two_exporters() {
    let card = open_card("vgem");
    let vgem_buf = vgem_dma_buf(&card);
    let heap_buf = heap_dma_buf();
    assert_eq!(FdKind::of(heap_buf.as_fd()).unwrap(), FdKind::DmaBuf);
    let dup = heap_buf.try_clone().unwrap();
    let m = Mechanism::DmaBufSameObjectIoctl;
    check(
        "heap dma-buf vs vgem dma-buf",
        heap_buf.as_fd(),
        vgem_buf.as_fd(),
        two_bufs(Answer::Unknown),
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
    fn new(pages: u64) -> Memfd {
        use rustix::fs::{MemfdFlags, SealFlags};
        let fd =
            rustix::fs::memfd_create("fdsame-vm", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
                .unwrap();
        rustix::fs::ftruncate(&fd, pages * page()).unwrap();
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
        Memfd(fd)
    }

    /// `UDMABUF_CREATE` over pages `first..first + count` (include/uapi/linux/udmabuf.h).
    fn udmabuf(&self, first: u64, count: u64) -> OwnedFd {
        #[repr(C)]
        struct UdmabufCreate {
            memfd: u32,
            flags: u32,
            offset: u64,
            size: u64,
        }
        const _: () = assert!(std::mem::size_of::<UdmabufCreate>() == 24);
        const UDMABUF_CREATE: rustix::ioctl::Opcode =
            rustix::ioctl::opcode::write::<UdmabufCreate>(b'u', 0x42);
        let dev = open_rw(std::path::Path::new("/dev/udmabuf"));
        let arg = UdmabufCreate {
            memfd: self.0.as_raw_fd() as u32,
            flags: 1, // UDMABUF_FLAGS_CLOEXEC
            offset: first * page(),
            size: count * page(),
        };
        // SAFETY: the opcode and the struct match include/uapi/linux/udmabuf.h; the ioctl
        // returns the new descriptor.
        let fd = unsafe { libc::ioctl(dev.as_raw_fd(), UDMABUF_CREATE as _, &arg) };
        assert!(
            fd >= 0,
            "UDMABUF_CREATE: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a new descriptor of ours.
        unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
    }
}

fn page() -> u64 {
    rustix::param::page_size() as u64
}

#[test]
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
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
    check(
        "udmabuf vs a heap dma-buf",
        a.as_fd(),
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
#[ignore = "needs the patched kernel in the VM: cargo xtask test"]
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
