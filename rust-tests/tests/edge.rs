//! Edge cases of `DRM_IOCTL_FILE_SAME` and `DMA_BUF_IOCTL_SAME_OBJECT`: DRM leases, fds taken
//! from another process with pidfd_getfd, fds 0/1/2, the highest fd number, O_PATH, reopening a
//! dma-buf through /proc, an unprivileged user, bad argument pointers, the order of the
//! argument checks, and that nothing beyond equality is revealed.
//!
//! Runs INSIDE the QEMU guest only (see README.md).

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, MutexGuard};

use drm::control::Device as _;
use drm::{ClientCapability, Device as _};
use rust_tests::uapi::{
    dma_buf_same_object, drm_file_same, DMA_BUF_IOCTL_SAME_OBJECT, DRM_IOCTL_FILE_SAME,
};
use rust_tests::*;
use rustix::mm::{MprotectFlags, ProtFlags};

const ALL: u64 = 7;
const DEVICE: u64 = 4;
/// One dma-buf: FILE | OBJECT | STORAGE | STORAGE_COMPARED.
const BUF_SAME: u64 = 0xf;
/// Two dma-bufs of one exporter with `same_storage`, over the same memory.
const BUF_SAME_STORAGE: u64 = 0xc;
/// Two dma-bufs of one exporter with `same_storage`, over different memory.
const BUF_COMPARED: u64 = 0x8;
const EBADF: i32 = libc::EBADF;

/// Tests that open the vkms primary node: the lease test needs to be (or become) DRM master,
/// which it cannot while another test of this binary holds the first open of the node.
static VKMS: Mutex<()> = Mutex::new(());

fn vkms_lock() -> MutexGuard<'static, ()> {
    VKMS.lock().unwrap_or_else(|e| e.into_inner())
}

#[track_caller]
fn drm_ok(fd: BorrowedFd<'_>, other: RawFd) -> u64 {
    file_same(fd, other, 0).unwrap_or_else(|e| panic!("DRM_IOCTL_FILE_SAME(other {other}): {e}"))
}

#[track_caller]
fn buf_ok(fd: BorrowedFd<'_>, other: RawFd) -> u64 {
    dmabuf_same(fd, other, 0)
        .unwrap_or_else(|e| panic!("DMA_BUF_IOCTL_SAME_OBJECT(other {other}): {e}"))
}

/// Like `assert_eq!` on result bits, for use inside forked children (returns the message).
fn check(what: &str, got: std::io::Result<u64>, want: Result<u64, i32>) -> Result<(), String> {
    let got = got.map_err(|e| e.raw_os_error().unwrap_or(-1));
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

// ---------------------------------------------------------------------------------------------
// DRM leases
// ---------------------------------------------------------------------------------------------

#[test]
fn lease_lessee_vs_lessor_is_device_only() {
    require_guest();
    let _g = vkms_lock();
    let lessor = open_vkms_card();
    // The first open of a primary node becomes master when there is none; otherwise take it
    // (root may, as long as no other file holds it).
    if lessor.acquire_master_lock().is_err() {
        panic!("vkms: cannot become DRM master (another process holds master?)");
    }
    lessor
        .set_client_capability(ClientCapability::UniversalPlanes, true)
        .expect("DRM_CLIENT_CAP_UNIVERSAL_PLANES");
    let res = lessor.resource_handles().expect("MODE_GETRESOURCES");
    let conn = *res.connectors().first().expect("vkms has no connector");
    let crtc = *res.crtcs().first().expect("vkms has no CRTC");
    let plane = lessor
        .plane_handles()
        .expect("MODE_GETPLANERESOURCES")
        .into_iter()
        .find(|p| {
            let info = lessor.get_plane(*p).expect("MODE_GETPLANE");
            res.filter_crtcs(info.possible_crtcs()).contains(&crtc)
        })
        .expect("no vkms plane for the first CRTC");
    let (lessee_id, lessee) = lessor
        .create_lease(
            &[conn.into(), crtc.into(), plane.into()],
            libc::O_CLOEXEC as u32,
        )
        .expect("DRM_IOCTL_MODE_CREATE_LEASE on vkms");

    // A lessee is a new drm_file of the same device, on a new struct file: DEVICE only.
    assert_eq!(
        drm_bits(drm_ok(lessee.as_fd(), lessor.raw())),
        drm_bits(DEVICE),
        "lessee -> lessor"
    );
    assert_eq!(
        drm_bits(drm_ok(lessor.as_fd(), lessee.as_raw_fd())),
        drm_bits(DEVICE),
        "lessor -> lessee"
    );
    let d = dup(lessee.as_fd());
    assert_eq!(
        drm_ok(lessee.as_fd(), d.as_raw_fd()),
        ALL,
        "lessee -> its dup"
    );
    assert_eq!(drm_ok(d.as_fd(), lessee.as_raw_fd()), ALL, "dup -> lessee");
    assert_eq!(
        drm_ok(lessee.as_fd(), lessee.as_raw_fd()),
        ALL,
        "lessee -> itself"
    );
    let other = lessor.reopen();
    assert_eq!(
        drm_ok(lessee.as_fd(), other.raw()),
        DEVICE,
        "lessee -> another open of vkms"
    );
    let vgem = open_vgem_card();
    assert_eq!(drm_ok(lessee.as_fd(), vgem.raw()), 0, "lessee -> vgem");
    assert_eq!(
        drm_ok(vgem.as_fd(), lessee.as_raw_fd()),
        0,
        "vgem -> lessee"
    );

    // After the lessor revokes the lease, the lessee file stays what it is.
    lessor
        .revoke_lease(lessee_id)
        .expect("DRM_IOCTL_MODE_REVOKE_LEASE");
    assert_eq!(
        drm_ok(lessee.as_fd(), lessor.raw()),
        DEVICE,
        "revoked lessee -> lessor"
    );
    assert_eq!(
        drm_ok(lessor.as_fd(), lessee.as_raw_fd()),
        DEVICE,
        "lessor -> revoked lessee"
    );
    assert_eq!(
        drm_ok(lessee.as_fd(), d.as_raw_fd()),
        ALL,
        "revoked lessee -> its dup"
    );
}

// ---------------------------------------------------------------------------------------------
// pidfd_getfd
// ---------------------------------------------------------------------------------------------

fn pidfd_open(pid: libc::pid_t) -> OwnedFd {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd of ours.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn pidfd_getfd(pidfd: BorrowedFd<'_>, target: RawFd) -> OwnedFd {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    assert!(fd >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd of ours.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// Forks a child that runs `make` (returns an fd number it owns), reports the number and waits
/// until the parent says it is done (one byte; not EOF, see [`die_with_parent`]); runs
/// `parent(pid, fd)` meanwhile.
fn with_child_fd(make: impl FnOnce() -> RawFd, parent: impl FnOnce(libc::pid_t, RawFd)) {
    let (c2p_r, c2p_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let (p2c_r, p2c_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    // SAFETY: the child only makes syscalls (and what `make` does) and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        die_with_parent();
        drop(c2p_r);
        drop(p2c_w);
        let fd = make();
        let _ = rustix::io::write(&c2p_w, &fd.to_ne_bytes());
        let mut b = [0u8; 1];
        let _ = rustix::io::read(&p2c_r, &mut b); // the parent's "done"
                                                  // SAFETY: leaves the child.
        unsafe { libc::_exit(0) };
    }
    drop(c2p_w);
    drop(p2c_r);
    let mut b = [0u8; 4];
    assert_eq!(
        rustix::io::read(&c2p_r, &mut b).expect("read child fd"),
        4,
        "the child died"
    );
    let fd = RawFd::from_ne_bytes(b);
    assert!(fd >= 0, "the child could not make its fd");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parent(pid, fd)));
    let _ = rustix::io::write(&p2c_w, b"d");
    drop(p2c_w);
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x}"
    );
}

#[test]
fn pidfd_getfd_of_another_process_drm() {
    require_guest();
    let own = open_vgem_card();
    let path = CString::new(own.path().as_os_str().as_bytes()).unwrap();
    with_child_fd(
        // SAFETY: open(2) in the child.
        || unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) },
        |pid, child_fd| {
            let pidfd = pidfd_open(pid);
            let g1 = pidfd_getfd(pidfd.as_fd(), child_fd);
            let g2 = pidfd_getfd(pidfd.as_fd(), child_fd);
            assert_eq!(
                drm_bits(drm_ok(g1.as_fd(), own.raw())),
                drm_bits(DEVICE),
                "child's open -> parent's open"
            );
            assert_eq!(
                drm_bits(drm_ok(own.as_fd(), g1.as_raw_fd())),
                drm_bits(DEVICE),
                "parent's open -> child's open"
            );
            assert_eq!(
                drm_ok(g1.as_fd(), g2.as_raw_fd()),
                ALL,
                "two pidfd_getfd of one child fd"
            );
            assert_eq!(
                drm_ok(g2.as_fd(), g1.as_raw_fd()),
                ALL,
                "two pidfd_getfd of one child fd (reverse)"
            );
        },
    );
}

#[test]
fn pidfd_getfd_of_another_process_dmabuf() {
    require_guest();
    let own = dma_heap_alloc(4096);
    with_child_fd(
        || dma_heap_alloc(4096).into_raw_fd_keep(),
        |pid, child_fd| {
            let pidfd = pidfd_open(pid);
            let g1 = pidfd_getfd(pidfd.as_fd(), child_fd);
            let g2 = pidfd_getfd(pidfd.as_fd(), child_fd);
            assert_eq!(
                buf_ok(g1.as_fd(), g2.as_raw_fd()),
                BUF_SAME,
                "two pidfd_getfd of one child dma-buf"
            );
            assert_eq!(buf_ok(g2.as_fd(), g1.as_raw_fd()), BUF_SAME, "reverse");
            assert_eq!(
                buf_ok(g1.as_fd(), own.as_raw_fd()),
                0,
                "child's buffer -> parent's buffer"
            );
            assert_eq!(
                buf_ok(own.as_fd(), g1.as_raw_fd()),
                0,
                "parent's buffer -> child's buffer"
            );
        },
    );
}

trait IntoRawKeep {
    fn into_raw_fd_keep(self) -> RawFd;
}
impl IntoRawKeep for OwnedFd {
    fn into_raw_fd_keep(self) -> RawFd {
        std::os::fd::IntoRawFd::into_raw_fd(self)
    }
}

// ---------------------------------------------------------------------------------------------
// fds 0, 1, 2 and the highest fd number
// ---------------------------------------------------------------------------------------------

const DRM_MAJOR: u32 = 226;

fn is_drm_file(fd: RawFd) -> bool {
    // SAFETY: fstat into a local.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0)
        && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR
        && libc::major(st.st_rdev) == DRM_MAJOR
}

#[test]
fn std_fds_are_zero_unless_drm_and_dup2_onto_them_is_all() {
    require_guest();
    let vgem = open_vgem_card();
    let buf = dma_heap_alloc(4096);
    for fd in 0..3 {
        // SAFETY: F_GETFD on a number.
        let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        let r = file_same(vgem.as_fd(), fd, 0).map_err(|e| e.raw_os_error().unwrap());
        let b = dmabuf_same(buf.as_fd(), fd, 0).map_err(|e| e.raw_os_error().unwrap());
        if !open {
            assert_eq!(r, Err(EBADF), "fd {fd} is closed");
            assert_eq!(b, Err(EBADF), "fd {fd} is closed");
        } else if is_drm_file(fd) {
            // Not the case in the guest; a DRM fd 0-2 is at most of the same device.
            assert!(matches!(r, Ok(0) | Ok(DEVICE)), "fd {fd} (DRM file): {r:?}");
            assert_eq!(b, Ok(0), "fd {fd}");
        } else {
            assert_eq!(r, Ok(0), "fd {fd} (not a DRM file)");
            assert_eq!(b, Ok(0), "fd {fd} (not a dma-buf)");
        }
    }
    // In a child: put the vgem fd and the dma-buf onto 0, 1 and 2.
    for target in 0..3 {
        let verdict = run_in_child(|| {
            // SAFETY: dup2 onto a standard fd in the child.
            if unsafe { libc::dup2(vgem.raw(), target) } != target {
                return Err(format!("dup2 onto {target}: errno {}", errno()));
            }
            // SAFETY: a valid open fd.
            let t = unsafe { BorrowedFd::borrow_raw(target) };
            check(
                &format!("vgem -> fd {target}"),
                file_same(vgem.as_fd(), target, 0),
                Ok(ALL),
            )?;
            check(
                &format!("fd {target} -> vgem"),
                file_same(t, vgem.raw(), 0),
                Ok(ALL),
            )?;
            check(
                &format!("fd {target} -> itself"),
                file_same(t, target, 0),
                Ok(ALL),
            )?;
            // SAFETY: as above.
            if unsafe { libc::dup2(buf.as_raw_fd(), target) } != target {
                return Err(format!("dup2 dma-buf onto {target}: errno {}", errno()));
            }
            check(
                &format!("dma-buf -> fd {target}"),
                dmabuf_same(buf.as_fd(), target, 0),
                Ok(BUF_SAME),
            )?;
            check(
                &format!("fd {target} -> dma-buf"),
                dmabuf_same(t, buf.as_raw_fd(), 0),
                Ok(BUF_SAME),
            )?;
            check(
                &format!("vgem -> dma-buf on fd {target}"),
                file_same(vgem.as_fd(), target, 0),
                Ok(0),
            )
        });
        verdict.unwrap_or_else(|e| panic!("fd {target}: {e}"));
    }
}

#[test]
fn highest_fd_number_is_all_and_nofile_is_ebadf() {
    require_guest();
    let vgem = open_vgem_card();
    let buf = dma_heap_alloc(4096);
    run_in_child(|| {
        let nr_open = raise_nofile_to_nr_open()?;
        highest_fds(&vgem, &buf, nr_open)
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Raises RLIMIT_NOFILE to the most the kernel allows (fs.nr_open; root may raise the hard
/// limit too); in a child only. Returns that limit.
fn raise_nofile_to_nr_open() -> Result<u64, String> {
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .map_err(|e| e.to_string())?
        .trim()
        .parse()
        .map_err(|e| format!("nr_open: {e}"))?;
    let lim = libc::rlimit {
        rlim_cur: nr_open,
        rlim_max: nr_open,
    };
    // SAFETY: plain syscalls.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!("setrlimit NOFILE {nr_open}: errno {}", errno()));
    }
    let mut got = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut got) };
    if got.rlim_cur != nr_open {
        return Err(format!(
            "RLIMIT_NOFILE is {} after setting {nr_open}",
            got.rlim_cur
        ));
    }
    Ok(nr_open)
}

/// At the highest fd number (`nr_open - 1`) both ioctls answer as anywhere; at `nr_open`
/// (RLIMIT_NOFILE) and beyond, `EBADF`.
fn highest_fds(vgem: &DrmNode, buf: &OwnedFd, nr_open: u64) -> Result<(), String> {
    let top = (nr_open - 1) as RawFd;
    let nofile = nr_open as RawFd;
    // SAFETY: as above.
    if unsafe { libc::dup2(vgem.raw(), top) } != top {
        return Err(format!("dup2 onto {top}: errno {}", errno()));
    }
    // SAFETY: the fd was just made.
    let t = unsafe { BorrowedFd::borrow_raw(top) };
    check(
        &format!("vgem -> fd {top}"),
        file_same(vgem.as_fd(), top, 0),
        Ok(ALL),
    )?;
    check(
        &format!("fd {top} -> vgem"),
        file_same(t, vgem.raw(), 0),
        Ok(ALL),
    )?;
    check(
        &format!("vgem -> fd {nofile} (= RLIMIT_NOFILE)"),
        file_same(vgem.as_fd(), nofile, 0),
        Err(EBADF),
    )?;
    check(
        &format!("fd {top} -> fd {nofile}"),
        file_same(t, nofile, 0),
        Err(EBADF),
    )?;
    check(
        "vgem -> fd i32::MAX",
        file_same(vgem.as_fd(), i32::MAX, 0),
        Err(EBADF),
    )?;
    // SAFETY: as above.
    if unsafe { libc::dup2(vgem.raw(), nofile) } != -1 || errno() != EBADF {
        return Err(format!("dup2 onto {nofile} did not fail with EBADF"));
    }
    let top2 = top - 1;
    // SAFETY: as above.
    if unsafe { libc::dup2(buf.as_raw_fd(), top2) } != top2 {
        return Err(format!("dup2 dma-buf onto {top2}: errno {}", errno()));
    }
    // SAFETY: the fd was just made.
    let t2 = unsafe { BorrowedFd::borrow_raw(top2) };
    check(
        &format!("dma-buf -> fd {top2}"),
        dmabuf_same(buf.as_fd(), top2, 0),
        Ok(BUF_SAME),
    )?;
    check(
        &format!("fd {top2} -> fd {top2}"),
        dmabuf_same(t2, top2, 0),
        Ok(BUF_SAME),
    )?;
    check(
        &format!("fd {top2} -> fd {top}"),
        dmabuf_same(t2, top, 0),
        Ok(0),
    )?;
    check(
        &format!("dma-buf -> fd {nofile}"),
        dmabuf_same(buf.as_fd(), nofile, 0),
        Err(EBADF),
    )?;
    Ok(())
}

#[test]
fn own_fd_is_all() {
    require_guest();
    for n in [open_vgem_card(), open_vgem_render()] {
        assert_eq!(drm_ok(n.as_fd(), n.raw()), ALL, "{}", n.path().display());
    }
    let b = dma_heap_alloc(4096);
    assert_eq!(buf_ok(b.as_fd(), b.as_raw_fd()), BUF_SAME);
    let u = udmabuf();
    assert_eq!(buf_ok(u.as_fd(), u.as_raw_fd()), BUF_SAME);
}

// ---------------------------------------------------------------------------------------------
// O_PATH and /proc/self/fd
// ---------------------------------------------------------------------------------------------

#[test]
fn o_path_is_ebadf_both_ways() {
    require_guest();
    let vgem = open_vgem_card();
    let p = o_path(vgem.path());
    let p2 = o_path(vgem.path());
    // The ioctl looks the other fd up with fdget(), which refuses O_PATH files; the ioctl
    // issued ON an O_PATH fd fails in ioctl(2) itself. EBADF both ways.
    assert_errno(
        file_same(vgem.as_fd(), p.as_raw_fd(), 0),
        EBADF,
        "vgem -> O_PATH of its node",
    );
    let via_proc = o_path(format!("/proc/self/fd/{}", vgem.raw()));
    assert_errno(
        file_same(vgem.as_fd(), via_proc.as_raw_fd(), 0),
        EBADF,
        "vgem -> O_PATH via /proc/self/fd",
    );
    assert_errno(
        file_same(p.as_fd(), vgem.raw(), 0),
        EBADF,
        "DRM ioctl ON an O_PATH fd",
    );
    assert_errno(
        file_same(p.as_fd(), p2.as_raw_fd(), 0),
        EBADF,
        "DRM ioctl ON an O_PATH fd vs O_PATH",
    );
    assert_errno(
        file_same(p.as_fd(), p.as_raw_fd(), 0),
        EBADF,
        "DRM ioctl ON an O_PATH fd vs itself",
    );

    let buf = dma_heap_alloc(4096);
    let bp = o_path(format!("/proc/self/fd/{}", buf.as_raw_fd()));
    assert_errno(
        dmabuf_same(buf.as_fd(), bp.as_raw_fd(), 0),
        EBADF,
        "dma-buf -> O_PATH of its own inode",
    );
    assert_errno(
        dmabuf_same(bp.as_fd(), buf.as_raw_fd(), 0),
        EBADF,
        "dma-buf ioctl ON an O_PATH fd",
    );
    assert_errno(
        file_same(vgem.as_fd(), bp.as_raw_fd(), 0),
        EBADF,
        "vgem -> O_PATH of a dma-buf",
    );
    // Nothing is written back on EBADF.
    let mut d = drm_file_same {
        fd: p.as_raw_fd(),
        flags: 0,
        result: SENTINEL,
    };
    assert_errno(file_same_arg(vgem.as_fd(), &mut d), EBADF, "DRM vs O_PATH");
    assert_eq!(d.result, SENTINEL, "DRM: result changed on EBADF (O_PATH)");
    let mut m = dma_buf_same_object {
        fd: bp.as_raw_fd(),
        flags: 0,
        result: SENTINEL,
    };
    assert_errno(
        dmabuf_same_arg(buf.as_fd(), &mut m),
        EBADF,
        "dma-buf vs O_PATH",
    );
    assert_eq!(
        m.result, SENTINEL,
        "dma-buf: result changed on EBADF (O_PATH)"
    );
}

/// What fcntl(F_DUPFD_QUERY) does with O_PATH fds on this kernel. The series' header and
/// commit messages justify the ioctls' EBADF with "as fcntl(F_DUPFD_QUERY) refuses it"; on
/// 7.3, f_dupfd_query() looks the other fd up with fdget_raw() and check_fcntl_cmd() lets
/// F_DUPFD_QUERY through on an O_PATH fd, so it answers 0 or 1 for O_PATH fds. The crate's
/// fallback chain relies on this to answer the file level for O_PATH fds.
#[test]
fn f_dupfd_query_answers_for_o_path() {
    require_guest();
    let vgem = open_vgem_card();
    let p = o_path(vgem.path());
    let pd = dup(p.as_fd());
    let q = |a: RawFd, b: RawFd| {
        // SAFETY: F_DUPFD_QUERY (1027) takes an int and touches no memory of ours.
        let r = unsafe { libc::fcntl(a, 1027, b) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r)
        }
    };
    assert_eq!(q(vgem.raw(), p.as_raw_fd()), Ok(0), "vgem -> O_PATH");
    assert_eq!(q(p.as_raw_fd(), vgem.raw()), Ok(0), "O_PATH -> vgem");
    assert_eq!(q(p.as_raw_fd(), pd.as_raw_fd()), Ok(1), "O_PATH -> its dup");
    assert_eq!(q(pd.as_raw_fd(), p.as_raw_fd()), Ok(1), "dup -> O_PATH");
    let closed = closed_fd_number(700);
    assert_eq!(q(p.as_raw_fd(), closed), Err(EBADF), "O_PATH -> closed fd");
}

/// Reopening a dma-buf through /proc/self/fd/N: the dma-buf inode is an anonymous inode with
/// the default `no_open` file operations, so open(2) fails with ENXIO whatever the access mode
/// (and there is no second struct file of the dma-buf that could compare as OBJECT-only).
#[test]
fn dmabuf_reopen_via_proc_is_enxio() {
    require_guest();
    let bufs = [
        ("dma-heap", dma_heap_alloc(4096)),
        ("udmabuf", udmabuf()),
        ("vgem", vgem_dmabuf(&open_vgem_card())),
    ];
    for (name, buf) in &bufs {
        let path = format!("/proc/self/fd/{}", buf.as_raw_fd());
        for flags in [
            rustix::fs::OFlags::RDWR,
            rustix::fs::OFlags::RDONLY,
            rustix::fs::OFlags::WRONLY,
        ] {
            let r = rustix::fs::open(
                &path,
                flags | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            );
            match r {
                Ok(fd) => panic!(
                    "{name}: open({path}, {flags:?}) succeeded (fd {}): result {}; expected ENXIO",
                    fd.as_raw_fd(),
                    dmabuf_bits(buf_ok(buf.as_fd(), fd.as_raw_fd()))
                ),
                Err(e) => assert_eq!(
                    e,
                    rustix::io::Errno::NXIO,
                    "{name}: open({path}, {flags:?})"
                ),
            }
        }
        // The dma-buf is unharmed.
        assert_eq!(
            buf_ok(buf.as_fd(), buf.as_raw_fd()),
            BUF_SAME,
            "{name} after the reopen attempts"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// An unprivileged user
// ---------------------------------------------------------------------------------------------

const NOBODY: u32 = 65534;

#[test]
fn unprivileged_user_render_node_and_dma_heap() {
    require_guest();
    let render = find_node(VGEM, NodeKind::Render);
    let card = find_node(VGEM, NodeKind::Card);
    let root_vgem = open_vgem_card(); // inherited by the child
    run_in_child(|| {
        become_nobody()?;
        let a = nobody_on_render(&card, &render, &root_vgem)?;
        nobody_on_heap(&a)
    })
    .unwrap_or_else(|e| panic!("as nobody: {e}"));
}

/// In a child: drop every group and become `nobody`.
fn become_nobody() -> Result<(), String> {
    // SAFETY: plain syscalls in the child.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups: errno {}", errno()));
        }
        if libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
            return Err(format!("setgid/setuid {NOBODY}: errno {}", errno()));
        }
        if libc::geteuid() != NOBODY || libc::getegid() != NOBODY {
            return Err("still privileged".into());
        }
    }
    Ok(())
}

/// As `nobody`: the card node (root's only) is EACCES; on the render node the ioctl answers as
/// for root, also about root's inherited card. Returns the render node opened.
fn nobody_on_render(
    card: &std::path::Path,
    render: &std::path::Path,
    root_vgem: &DrmNode,
) -> Result<DrmNode, String> {
    // The card node is root's only (0600); the render node and the heap are open to all.
    match DrmNode::open(card) {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
        other => {
            return Err(format!(
                "nobody opening {}: {other:?}, expected EACCES",
                card.display()
            ))
        }
    }
    let a =
        DrmNode::open(render).map_err(|e| format!("nobody opening {}: {e}", render.display()))?;
    let b = DrmNode::open(render).map_err(|e| format!("second open: {e}"))?;
    let d = a.dup();
    check(
        "render vs its dup",
        file_same(a.as_fd(), d.as_raw_fd(), 0),
        Ok(ALL),
    )?;
    check("dup vs render", file_same(d.as_fd(), a.raw(), 0), Ok(ALL))?;
    check(
        "two opens of render",
        file_same(a.as_fd(), b.raw(), 0),
        Ok(DEVICE),
    )?;
    check(
        "two opens of render (rev)",
        file_same(b.as_fd(), a.raw(), 0),
        Ok(DEVICE),
    )?;
    check(
        "render vs root's inherited vgem card",
        file_same(a.as_fd(), root_vgem.raw(), 0),
        Ok(DEVICE),
    )?;
    check(
        "render vs closed",
        file_same(a.as_fd(), closed_fd_number(300), 0),
        Err(EBADF),
    )?;
    check(
        "flags as nobody",
        file_same(a.as_fd(), d.as_raw_fd(), 1),
        Err(libc::EINVAL),
    )?;
    Ok(a)
}

/// As `nobody`: dma-heap buffers compare as for root; against the render node `a`, 0.
fn nobody_on_heap(a: &DrmNode) -> Result<(), String> {
    let x = dma_heap_alloc(4096);
    let y = dma_heap_alloc(4096);
    let xd = dup(x.as_fd());
    check(
        "heap buffer vs its dup",
        dmabuf_same(x.as_fd(), xd.as_raw_fd(), 0),
        Ok(BUF_SAME),
    )?;
    check(
        "heap dup vs buffer",
        dmabuf_same(xd.as_fd(), x.as_raw_fd(), 0),
        Ok(BUF_SAME),
    )?;
    check(
        "two heap buffers",
        dmabuf_same(x.as_fd(), y.as_raw_fd(), 0),
        Ok(0),
    )?;
    check(
        "heap buffer vs render",
        dmabuf_same(x.as_fd(), a.raw(), 0),
        Ok(0),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bad argument pointers and the order of the checks
// ---------------------------------------------------------------------------------------------

/// Raw ioctl `req` on `fd` with pointer `p`; the errno or Ok.
fn raw(fd: BorrowedFd<'_>, req: rustix::ioctl::Opcode, p: *mut c_void) -> Result<(), i32> {
    // SAFETY: `p` is either our own 16 bytes or a pointer the kernel cannot (fully) access.
    unsafe { raw_ioctl(fd, req, p) }
        .map(|_| ())
        .map_err(|e| e.raw_os_error().unwrap())
}

fn arg16(fd: RawFd, flags: u32, result: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&fd.to_ne_bytes());
    b[4..8].copy_from_slice(&flags.to_ne_bytes());
    b[8..].copy_from_slice(&result.to_ne_bytes());
    b
}

const SENTINEL: u64 = 0x5eed_f00d_dead_beef;

/// The argument `a` at the start and at the end of a read-only page: the ioctl answers `want`
/// and writes nothing into the page.
fn read_only_page_is_not_written(
    fd: BorrowedFd<'_>,
    req: rustix::ioctl::Opcode,
    a: [u8; 16],
    want: Result<(), i32>,
    case: &str,
) {
    let page = Mapping::new(1, ProtFlags::READ | ProtFlags::WRITE);
    let ps = page_size();
    // Fill the whole page with a pattern and the argument at offset 0 and at the end.
    let pattern: Vec<u8> = (0..ps).map(|i| (i * 7 + 3) as u8).collect();
    // SAFETY: one writable page of ours.
    let bytes = unsafe { std::slice::from_raw_parts_mut(page.ptr().cast::<u8>(), ps) };
    bytes.copy_from_slice(&pattern);
    bytes[..16].copy_from_slice(&a);
    bytes[ps - 16..].copy_from_slice(&a);
    let before = bytes.to_vec();
    page.protect(MprotectFlags::READ);
    for off in [0, ps - 16] {
        // SAFETY: the pointer is inside our read-only page.
        let p = unsafe { page.ptr().cast::<u8>().add(off) }.cast::<c_void>();
        let got = raw(fd, req, p);
        assert_eq!(got, want, "{case} (offset {off})");
        // SAFETY: readable page of ours.
        let now = unsafe { std::slice::from_raw_parts(page.ptr().cast::<u8>(), ps) };
        assert!(
            now == &before[..],
            "{case}: the kernel wrote into a read-only page"
        );
    }
}

/// Both ioctls on a read-only page holding an argument: whatever the argument, the kernel can
/// never write, so the page must be unchanged; the return value tells which check ran first.
///
/// Order found (and asserted): DRM copies the argument in, runs the handler, then ALWAYS copies
/// it back out (drm_ioctl), so on a read-only page every case ends in EFAULT, even a bad flags
/// value or a closed fd (the handler's EINVAL/EBADF is overwritten by the failed copy-out).
/// dma-buf returns EINVAL/EBADF before its copy_to_user, so there only the success case is
/// EFAULT.
#[test]
fn read_only_and_unmapped_argument_pointers() {
    require_guest();
    let vgem = open_vgem_card();
    let vd = vgem.dup();
    let buf = dma_heap_alloc(4096);
    let bd = dup(buf.as_fd());
    let closed = closed_fd_number(400);
    type Case = (&'static str, RawFd, u32, Result<(), i32>, Result<(), i32>);
    let cases: [Case; 4] = [
        // (what, other fd, flags, DRM expected, dma-buf expected)
        ("valid argument", 0, 0, Err(libc::EFAULT), Err(libc::EFAULT)),
        ("flags 1", 0, 1, Err(libc::EFAULT), Err(libc::EINVAL)),
        ("closed fd", closed, 0, Err(libc::EFAULT), Err(EBADF)),
        (
            "closed fd and flags",
            closed,
            1,
            Err(libc::EFAULT),
            Err(libc::EINVAL),
        ),
    ];
    for (what, other, flags, want_drm, want_buf) in cases {
        for (name, fd, other_default, req, want) in [
            (
                "DRM_IOCTL_FILE_SAME",
                vgem.as_fd(),
                vd.as_raw_fd(),
                DRM_IOCTL_FILE_SAME,
                want_drm,
            ),
            (
                "DMA_BUF_IOCTL_SAME_OBJECT",
                buf.as_fd(),
                bd.as_raw_fd(),
                DMA_BUF_IOCTL_SAME_OBJECT,
                want_buf,
            ),
        ] {
            let other = if other == 0 { other_default } else { other };
            let case = format!("{name} on a read-only page, {what}");
            read_only_page_is_not_written(fd, req, arg16(other, flags, SENTINEL), want, &case);
        }
    }
    // Unmapped: EFAULT, nothing else can happen (the argument cannot even be read).
    for (name, fd, req) in [
        ("DRM_IOCTL_FILE_SAME", vgem.as_fd(), DRM_IOCTL_FILE_SAME),
        (
            "DMA_BUF_IOCTL_SAME_OBJECT",
            buf.as_fd(),
            DMA_BUF_IOCTL_SAME_OBJECT,
        ),
    ] {
        let p = unapped();
        assert_eq!(
            raw(fd, req, p),
            Err(libc::EFAULT),
            "{name} with an unmapped pointer"
        );
        assert_eq!(
            raw(fd, req, std::ptr::null_mut()),
            Err(libc::EFAULT),
            "{name} with NULL"
        );
    }
}

fn unapped() -> *mut c_void {
    unmapped_address()
}

/// flags != 0 is refused with EINVAL before the fd is looked up (both handlers test `flags`
/// first): EINVAL even when the fd is closed, negative or out of range; and on an error the
/// `result` field is left as it was (DRM copies the unchanged argument back; dma-buf does not
/// copy out at all).
#[test]
fn flags_are_checked_before_the_fd_and_errors_leave_result_alone() {
    require_guest();
    let vgem = open_vgem_card();
    let vd = vgem.dup();
    let buf = dma_heap_alloc(4096);
    let bd = dup(buf.as_fd());
    let closed = closed_fd_number(500);
    flags_are_einval(&vgem, vd.as_raw_fd(), &buf, bd.as_raw_fd(), closed);
    // EBADF leaves result alone too.
    ebadf_leaves_the_result(&vgem, &buf, closed);
    // Each opcode on the other kind of fd: ENOTTY, argument untouched.
    wrong_kind_is_enotty(&vgem, vd.as_raw_fd(), &buf, bd.as_raw_fd());
}

/// Every flag bit: EINVAL whatever the other fd (a dup, closed, negative, out of range), the
/// argument left alone.
fn flags_are_einval(vgem: &DrmNode, vd: RawFd, buf: &OwnedFd, bd: RawFd, closed: RawFd) {
    for bit in 0..32 {
        let flags = 1u32 << bit;
        for other in [vd, closed, -1, i32::MIN, i32::MAX] {
            let mut d = drm_file_same {
                fd: other,
                flags,
                result: SENTINEL,
            };
            assert_errno(
                file_same_arg(vgem.as_fd(), &mut d),
                libc::EINVAL,
                &format!("DRM flags {flags:#x} fd {other}"),
            );
            assert_eq!(d.result, SENTINEL, "DRM: result changed on EINVAL");
            assert_eq!(
                (d.fd, d.flags),
                (other, flags),
                "DRM: argument changed on EINVAL"
            );
            let mut m = dma_buf_same_object {
                fd: other,
                flags,
                result: SENTINEL,
            };
            let fd = if other == vd { bd } else { other };
            m.fd = fd;
            assert_errno(
                dmabuf_same_arg(buf.as_fd(), &mut m),
                libc::EINVAL,
                &format!("dma-buf flags {flags:#x} fd {fd}"),
            );
            assert_eq!(m.result, SENTINEL, "dma-buf: result changed on EINVAL");
        }
    }
}

fn ebadf_leaves_the_result(vgem: &DrmNode, buf: &OwnedFd, closed: RawFd) {
    for other in [closed, -1, i32::MAX] {
        let mut d = drm_file_same {
            fd: other,
            flags: 0,
            result: SENTINEL,
        };
        assert_errno(file_same_arg(vgem.as_fd(), &mut d), EBADF, "DRM closed fd");
        assert_eq!(d.result, SENTINEL, "DRM: result changed on EBADF");
        let mut m = dma_buf_same_object {
            fd: other,
            flags: 0,
            result: SENTINEL,
        };
        assert_errno(
            dmabuf_same_arg(buf.as_fd(), &mut m),
            EBADF,
            "dma-buf closed fd",
        );
        assert_eq!(m.result, SENTINEL, "dma-buf: result changed on EBADF");
    }
}

fn wrong_kind_is_enotty(vgem: &DrmNode, vd: RawFd, buf: &OwnedFd, bd: RawFd) {
    let mut d = drm_file_same {
        fd: vd,
        flags: 0,
        result: SENTINEL,
    };
    // SAFETY: 16 bytes of ours with the right layout.
    let r = unsafe {
        raw_ioctl(
            buf.as_fd(),
            DRM_IOCTL_FILE_SAME,
            (&mut d as *mut drm_file_same).cast(),
        )
    };
    assert_errno(r, libc::ENOTTY, "DRM_IOCTL_FILE_SAME on a dma-buf");
    assert_eq!(d.result, SENTINEL);
    let mut m = dma_buf_same_object {
        fd: bd,
        flags: 0,
        result: SENTINEL,
    };
    // SAFETY: as above.
    let r = unsafe {
        raw_ioctl(
            vgem.as_fd(),
            DMA_BUF_IOCTL_SAME_OBJECT,
            (&mut m as *mut dma_buf_same_object).cast(),
        )
    };
    assert_errno(r, libc::ENOTTY, "DMA_BUF_IOCTL_SAME_OBJECT on a DRM fd");
    assert_eq!(m.result, SENTINEL);
}

// ---------------------------------------------------------------------------------------------
// Nothing beyond equality: random pairs over a zoo with known ground truth
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Truth {
    /// device id, drm_file id, struct file id
    Drm(u32, u32, u32),
    /// dma_buf id, struct file id, and (exporter id, storage id) when the exporter compares
    /// storage (`dma_buf_ops.same_storage`: udmabuf here)
    Buf(u32, u32, Option<(u32, u32)>),
    /// an O_PATH fd: refused with EBADF as the other fd, and as the fd the ioctl is issued on
    Path,
    /// anything else (the ioctl on it is refused)
    Other,
}

struct Zoo {
    fds: Vec<(String, OwnedFd, Truth)>,
    next: u32,
}

impl Zoo {
    fn id(&mut self) -> u32 {
        self.next += 1;
        self.next
    }
    fn add(&mut self, name: impl Into<String>, fd: OwnedFd, t: Truth) {
        self.fds.push((name.into(), fd, t));
    }
    fn drm(&mut self, name: &str, n: DrmNode, dev: u32) {
        let (c, f) = (self.id(), self.id());
        let d = n.dup();
        let s = pass_over_scm_rights(n.as_fd());
        self.add(format!("{name} dup"), d, Truth::Drm(dev, c, f));
        self.add(format!("{name} scm"), s, Truth::Drm(dev, c, f));
        self.add(name, n.into_fd(), Truth::Drm(dev, c, f));
    }
    /// A dma-buf and its dup; `storage`: (exporter, storage) when the exporter compares.
    fn buf(&mut self, name: &str, b: OwnedFd, storage: Option<(u32, u32)>) {
        let (o, f) = (self.id(), self.id());
        let d = dup(b.as_fd());
        self.add(format!("{name} dup"), d, Truth::Buf(o, f, storage));
        self.add(name, b, Truth::Buf(o, f, storage));
    }
}

trait IntoFd {
    fn into_fd(self) -> OwnedFd;
}
impl IntoFd for DrmNode {
    fn into_fd(self) -> OwnedFd {
        let d = self.dup();
        drop(self);
        d
    }
}

/// The exact answer (bits or errno) of the ioctl on `a` about `b`; `None` when `a` is neither
/// a DRM file nor a dma-buf (the ioctl on it is refused).
fn expected(a: Truth, b: Truth) -> Option<Result<u64, i32>> {
    Some(match (a, b) {
        (Truth::Drm(..) | Truth::Buf(..), Truth::Path) => Err(EBADF),
        (Truth::Drm(da, ca, fa), Truth::Drm(db, cb, fb)) => Ok(if da != db {
            0
        } else {
            DEVICE | if ca == cb { 2 } else { 0 } | if fa == fb { 1 } else { 0 }
        }),
        (Truth::Drm(..), _) => Ok(0),
        (Truth::Buf(oa, fa, sa), Truth::Buf(ob, fb, sb)) => Ok(if oa == ob {
            BUF_SAME & !u64::from(fa != fb)
        } else {
            match (sa, sb) {
                (Some((ea, xa)), Some((eb, xb))) if ea == eb => {
                    if xa == xb {
                        BUF_SAME_STORAGE
                    } else {
                        BUF_COMPARED
                    }
                }
                _ => 0,
            }
        }),
        (Truth::Buf(..), _) => Ok(0),
        (Truth::Path | Truth::Other, _) => return None,
    })
}

/// The zoo of the random-pairs test: DRM files of two devices, dma-bufs of three exporters
/// (udmabufs sharing storage, one GEM object exported twice), other kinds and `O_PATH` fds.
/// Returns it with the vgem card and the GEM handle to close at the end.
fn random_pairs_zoo() -> (Zoo, DrmNode, drm::buffer::Handle) {
    let mut z = Zoo {
        fds: vec![],
        next: 0,
    };
    let (vgem_dev, vkms_dev) = (1000, 1001);
    let vgem = open_vgem_card();
    let vgem_path = vgem.path().to_path_buf();
    z.drm("vgem card A", vgem.reopen(), vgem_dev);
    z.drm("vgem card B", vgem.reopen(), vgem_dev);
    z.drm("vgem render C", open_vgem_render(), vgem_dev);
    z.drm("vgem render D", open_vgem_render(), vgem_dev);
    z.drm("vkms card E", open_vkms_card(), vkms_dev);
    z.drm("vkms card F", open_vkms_card(), vkms_dev);
    for i in 0..3 {
        z.buf(&format!("heap {i}"), dma_heap_alloc(4096), None);
    }
    // udmabufs (exporter 1): two over page 0 of one memfd (one storage), one over page 1,
    // one on another memfd.
    let memfd = sealed_memfd(2);
    let (s0, s1, s2) = (z.id(), z.id(), z.id());
    z.buf(
        "udmabuf p0",
        udmabuf_range(memfd.as_fd(), 0, 1),
        Some((1, s0)),
    );
    z.buf(
        "udmabuf p0 again",
        udmabuf_range(memfd.as_fd(), 0, 1),
        Some((1, s0)),
    );
    z.buf(
        "udmabuf p1",
        udmabuf_range(memfd.as_fd(), 1, 1),
        Some((1, s1)),
    );
    z.buf("udmabuf other memfd", udmabuf(), Some((1, s2)));
    // One GEM object exported twice: the same dma-buf and the same struct file.
    let h = create_dumb(&vgem);
    let e1 = export(&vgem, h);
    let e2 = export(&vgem, h);
    let (o, f) = (z.id(), z.id());
    z.add("vgem export 1", e1, Truth::Buf(o, f, None));
    z.add("vgem export 2 (same object)", e2, Truth::Buf(o, f, None));
    z.buf("vgem other buffer", vgem_dmabuf(&vgem), None);
    let sync = {
        let (_, b, _) = &z.fds[z.fds.len() - 1];
        sync_file_from(b.as_fd())
    };
    let bp = {
        let (_, b, _) = &z.fds[z.fds.len() - 1];
        o_path(format!("/proc/self/fd/{}", b.as_raw_fd()))
    };
    z.add("sync_file", sync, Truth::Other);
    z.add("eventfd", eventfd(), Truth::Other);
    z.add("regular file", regular_file(), Truth::Other);
    z.add("O_PATH vgem node", o_path(&vgem_path), Truth::Path);
    z.add("O_PATH of a dma-buf", bp, Truth::Path);
    z.add("O_PATH /tmp", o_path(std::env::temp_dir()), Truth::Path);
    z.add(
        "/dev/null",
        rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR,
            rustix::fs::Mode::empty(),
        )
        .unwrap(),
        Truth::Other,
    );
    let (pr, pw) = rustix::pipe::pipe().unwrap();
    z.add("pipe r", pr, Truth::Other);
    z.add("pipe w", pw, Truth::Other);
    z.add("memfd", sealed_memfd(1), Truth::Other);

    (z, vgem, h)
}

/// Neither opcode does anything on a file that is neither a DRM file nor a dma-buf: the
/// argument stays (and an `O_PATH` fd is `EBADF`).
fn neither_kind_leaves_the_argument((na, fa, ta): &(String, OwnedFd, Truth), fb: &OwnedFd) {
    // Neither opcode does anything on a file that is neither: the argument stays.
    for req in [DRM_IOCTL_FILE_SAME, DMA_BUF_IOCTL_SAME_OBJECT] {
        let mut a = arg16(fb.as_raw_fd(), 0, SENTINEL);
        let r = raw(fa.as_fd(), req, a.as_mut_ptr().cast());
        assert!(r.is_err(), "{req:#x} on {na} succeeded");
        if matches!(ta, Truth::Path) {
            assert_eq!(r, Err(EBADF), "{req:#x} on {na}");
        }
        assert_eq!(
            a,
            arg16(fb.as_raw_fd(), 0, SENTINEL),
            "{req:#x} on {na} wrote into the argument"
        );
    }
}

/// One random pair: only documented bits, fd and flags untouched, the argument unchanged on an
/// error, the expected answer, and the same answer both ways. Returns the answer, or None when
/// the issuing fd is neither kind.
fn check_random_pair(
    x: &(String, OwnedFd, Truth),
    y: &(String, OwnedFd, Truth),
) -> Option<Result<u64, i32>> {
    let ((na, fa, ta), (nb, fb, tb)) = (x, y);
    let (req, is_drm) = match ta {
        Truth::Drm(..) => (DRM_IOCTL_FILE_SAME, true),
        Truth::Buf(..) => (DMA_BUF_IOCTL_SAME_OBJECT, false),
        Truth::Path | Truth::Other => {
            neither_kind_leaves_the_argument(x, fb);
            return None;
        }
    };
    let mut a = arg16(fb.as_raw_fd(), 0, SENTINEL);
    let got = raw(fa.as_fd(), req, a.as_mut_ptr().cast()).map(|()| {
        let r = u64::from_ne_bytes(a[8..].try_into().unwrap());
        let known = if is_drm { ALL } else { BUF_SAME };
        assert_eq!(r & !known, 0, "{na} ~ {nb}: undocumented bits in {r:#x}");
        assert_eq!(
            &a[..8],
            &arg16(fb.as_raw_fd(), 0, 0)[..8],
            "{na} ~ {nb}: fd/flags rewritten"
        );
        r
    });
    if got.is_err() {
        // DRM copies the unchanged argument back; dma-buf does not copy out at all.
        assert_eq!(
            a,
            arg16(fb.as_raw_fd(), 0, SENTINEL),
            "{na} ~ {nb}: the argument changed on an error"
        );
    }
    assert_eq!(Some(got), expected(*ta, *tb), "{na} ~ {nb}: {got:#x?}");
    // Symmetry: b ~ a gives the same answer whenever b is a file of the same kind.
    let back = match (ta, tb) {
        (Truth::Drm(..), Truth::Drm(..)) => Some(drm_ok(fb.as_fd(), fa.as_raw_fd())),
        (Truth::Buf(..), Truth::Buf(..)) => Some(buf_ok(fb.as_fd(), fa.as_raw_fd())),
        _ => None,
    };
    if let (Some(back), Ok(r)) = (back, got) {
        assert_eq!(
            back, r,
            "asymmetric: {na} ~ {nb} = {r:#x} but {nb} ~ {na} = {back:#x}"
        );
    }
    Some(got)
}

#[test]
fn random_pairs_only_equality_bits_and_symmetric() {
    require_guest();
    let _g = vkms_lock();
    let (z, vgem, h) = random_pairs_zoo();
    let n = z.fds.len();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let pairs = 20_000;
    let mut seen: HashMap<Result<u64, i32>, u64> = HashMap::new();
    for _ in 0..pairs {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (i, j) = ((rng % n as u64) as usize, ((rng >> 32) % n as u64) as usize);
        if let Some(got) = check_random_pair(&z.fds[i], &z.fds[j]) {
            *seen.entry(got).or_default() += 1;
        }
    }
    let mut seen: Vec<_> = seen.into_iter().collect();
    seen.sort();
    report(&format!(
        "edge: {pairs} random pairs over {n} fds, results {seen:?}"
    ));
    // Every kind of answer came up (the zoo is built so that each one can).
    for want in [
        Ok(0),
        Ok(DEVICE),
        Ok(ALL),
        Ok(BUF_SAME),
        Ok(BUF_SAME_STORAGE),
        Ok(BUF_COMPARED),
        Err(EBADF),
    ] {
        assert!(
            seen.iter().any(|(r, _)| *r == want),
            "result {want:#x?} never came up: {seen:?}"
        );
    }
    vgem.close_buffer(h).ok();
}
