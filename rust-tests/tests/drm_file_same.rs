//! `DRM_IOCTL_FILE_SAME` against the real kernel. Runs INSIDE the QEMU guest only (see
//! README.md); every test starts with `require_guest()`, which panics without /dev/dri.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rust_tests::uapi::{
    DRM_FILE_SAME_ALL, DRM_FILE_SAME_CLIENT, DRM_FILE_SAME_DEVICE, DRM_FILE_SAME_FILE,
    DRM_IOCTL_FILE_SAME,
};
use rust_tests::*;

const ALL: u64 = DRM_FILE_SAME_FILE | DRM_FILE_SAME_CLIENT | DRM_FILE_SAME_DEVICE;
const DEVICE: u64 = DRM_FILE_SAME_DEVICE;

/// Asserts `DRM_IOCTL_FILE_SAME` on `fd` for `other` succeeds with exactly `expected`.
#[track_caller]
fn expect(fd: BorrowedFd<'_>, other: BorrowedFd<'_>, expected: u64, what: &str) {
    let r = file_same(fd, other.as_raw_fd(), 0)
        .unwrap_or_else(|e| panic!("{what}: DRM_IOCTL_FILE_SAME failed: {e}"));
    assert_eq!(
        r,
        expected,
        "{what}: result {} but expected {}",
        drm_bits(r),
        drm_bits(expected)
    );
}

/// The three kinds of DRM node in the guest.
fn nodes() -> Vec<DrmNode> {
    vec![open_vkms_card(), open_vgem_card(), open_vgem_render()]
}

#[test]
fn constants_match_the_header() {
    require_guest();
    assert_eq!(DRM_FILE_SAME_FILE, 1);
    assert_eq!(DRM_FILE_SAME_CLIENT, 2);
    assert_eq!(DRM_FILE_SAME_DEVICE, 4);
    assert_eq!(DRM_FILE_SAME_ALL, ALL);
}

#[test]
fn dup_is_file_client_device() {
    require_guest();
    for n in nodes() {
        let d = n.dup();
        let what = format!("{} vs its dup", n.path().display());
        expect(n.as_fd(), d.as_fd(), ALL, &what);
        expect(d.as_fd(), n.as_fd(), ALL, &what);
    }
}

#[test]
fn self_is_file_client_device() {
    require_guest();
    for n in nodes() {
        let what = format!("{} vs itself", n.path().display());
        expect(n.as_fd(), n.as_fd(), ALL, &what);
    }
}

#[test]
fn two_opens_of_one_node_are_device() {
    require_guest();
    for a in nodes() {
        let b = a.reopen();
        let what = format!("two opens of {}", a.path().display());
        expect(a.as_fd(), b.as_fd(), DEVICE, &what);
        expect(b.as_fd(), a.as_fd(), DEVICE, &what);
    }
}

#[test]
fn vgem_card_vs_vgem_render_is_device() {
    require_guest();
    let card = open_vgem_card();
    let render = open_vgem_render();
    expect(
        card.as_fd(),
        render.as_fd(),
        DEVICE,
        "vgem card vs vgem render",
    );
    expect(
        render.as_fd(),
        card.as_fd(),
        DEVICE,
        "vgem render vs vgem card",
    );
}

#[test]
fn proc_self_fd_reopen_is_device() {
    require_guest();
    for n in nodes() {
        let r = reopen_via_proc(n.as_fd());
        let what = format!("{} vs its /proc/self/fd reopen", n.path().display());
        expect(n.as_fd(), r.as_fd(), DEVICE, &what);
        expect(r.as_fd(), n.as_fd(), DEVICE, &what);
    }
}

#[test]
fn scm_rights_passed_fd_is_file_client_device() {
    require_guest();
    for n in nodes() {
        let got = pass_over_scm_rights(n.as_fd());
        assert_ne!(
            got.as_raw_fd(),
            n.raw(),
            "SCM_RIGHTS must yield a new fd number"
        );
        let what = format!("{} vs its SCM_RIGHTS copy", n.path().display());
        expect(n.as_fd(), got.as_fd(), ALL, &what);
        expect(got.as_fd(), n.as_fd(), ALL, &what);
    }
}

#[test]
fn vkms_vs_vgem_is_zero() {
    require_guest();
    let vkms = open_vkms_card();
    let vgem = open_vgem_card();
    let vgem_render = open_vgem_render();
    expect(vkms.as_fd(), vgem.as_fd(), 0, "vkms card vs vgem card");
    expect(vgem.as_fd(), vkms.as_fd(), 0, "vgem card vs vkms card");
    expect(
        vkms.as_fd(),
        vgem_render.as_fd(),
        0,
        "vkms card vs vgem render",
    );
    expect(
        vgem_render.as_fd(),
        vkms.as_fd(),
        0,
        "vgem render vs vkms card",
    );
}

#[test]
fn drm_vs_dmabuf_is_zero() {
    require_guest();
    let vgem = open_vgem_card();
    let buf = vgem_dmabuf(&vgem);
    for n in nodes() {
        let what = format!("{} vs a vgem dma-buf", n.path().display());
        expect(n.as_fd(), buf.as_fd(), 0, &what);
    }
    // Including the very drm_file that exported it.
    expect(
        vgem.as_fd(),
        buf.as_fd(),
        0,
        "exporting vgem card vs its dma-buf",
    );
    let heap = dma_heap_alloc(page_size() as u64);
    expect(
        vgem.as_fd(),
        heap.as_fd(),
        0,
        "vgem card vs a dma-heap dma-buf",
    );
}

#[test]
fn drm_vs_eventfd_is_zero() {
    require_guest();
    let e = eventfd();
    for n in nodes() {
        expect(
            n.as_fd(),
            e.as_fd(),
            0,
            &format!("{} vs eventfd", n.path().display()),
        );
    }
}

#[test]
fn drm_vs_regular_file_is_zero() {
    require_guest();
    let f = regular_file();
    for n in nodes() {
        expect(
            n.as_fd(),
            f.as_fd(),
            0,
            &format!("{} vs regular file", n.path().display()),
        );
    }
}

#[test]
fn drm_vs_o_path_of_same_node_is_zero() {
    require_guest();
    for n in nodes() {
        let p = o_path(n.path());
        let what = format!("{} vs an O_PATH fd of the same node", n.path().display());
        expect(n.as_fd(), p.as_fd(), 0, &what);
    }
}

#[test]
fn drm_vs_sync_file_is_zero() {
    require_guest();
    let vgem = open_vgem_card();
    let buf = vgem_dmabuf(&vgem);
    let sync = sync_file_from(buf.as_fd());
    expect(vgem.as_fd(), sync.as_fd(), 0, "vgem card vs a sync_file");
}

#[test]
fn drm_vs_pipe_socket_memfd_is_zero() {
    require_guest();
    let (r, w) = rustix::pipe::pipe().expect("pipe");
    let (s1, _s2) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    let m = sealed_memfd(1);
    let n = open_vkms_card();
    expect(n.as_fd(), r.as_fd(), 0, "vkms card vs pipe read end");
    expect(n.as_fd(), w.as_fd(), 0, "vkms card vs pipe write end");
    expect(n.as_fd(), s1.as_fd(), 0, "vkms card vs unix socket");
    expect(n.as_fd(), m.as_fd(), 0, "vkms card vs memfd");
}

#[test]
fn works_on_non_master_card_fd() {
    require_guest();
    let a = open_vkms_card();
    // Whether or not this open became master, it is not master afterwards.
    let _ = drm::Device::release_master_lock(&a);
    let b = a.reopen();
    let _ = drm::Device::release_master_lock(&b);
    let d = a.dup();
    expect(a.as_fd(), d.as_fd(), ALL, "non-master vkms card vs its dup");
    expect(a.as_fd(), b.as_fd(), DEVICE, "two non-master vkms opens");
}

#[test]
fn closed_fd_is_ebadf() {
    require_guest();
    for n in nodes() {
        let closed = closed_fd_number(900);
        assert_errno(
            file_same(n.as_fd(), closed, 0),
            libc::EBADF,
            &format!("{} vs closed fd {closed}", n.path().display()),
        );
    }
}

#[test]
fn fd_not_open_beyond_table_is_ebadf() {
    require_guest();
    let n = open_vgem_render();
    for fd in [i32::MAX, 1 << 20] {
        assert_errno(
            file_same(n.as_fd(), fd, 0),
            libc::EBADF,
            &format!("fd {fd}"),
        );
    }
}

#[test]
fn negative_fd_is_ebadf() {
    require_guest();
    for n in nodes() {
        for fd in [-1, -2, -100, i32::MIN] {
            assert_errno(
                file_same(n.as_fd(), fd, 0),
                libc::EBADF,
                &format!("{} vs fd {fd}", n.path().display()),
            );
        }
    }
}

#[test]
fn nonzero_flags_are_einval() {
    require_guest();
    for n in nodes() {
        let d = n.dup();
        let mut all = vec![u32::MAX];
        all.extend((0..32).map(|b| 1u32 << b));
        for flags in all {
            assert_errno(
                file_same(n.as_fd(), d.as_raw_fd(), flags),
                libc::EINVAL,
                &format!("{} flags {flags:#x}", n.path().display()),
            );
            // Also with the fd compared with itself and with a non-DRM fd.
            assert_errno(
                file_same(n.as_fd(), n.raw(), flags),
                libc::EINVAL,
                &format!("{} self flags {flags:#x}", n.path().display()),
            );
        }
    }
    let e = eventfd();
    let n = open_vkms_card();
    assert_errno(
        file_same(n.as_fd(), e.as_raw_fd(), 1),
        libc::EINVAL,
        "eventfd flags 1",
    );
}

#[test]
fn bad_argument_pointer_is_efault() {
    require_guest();
    for n in nodes() {
        let d = n.dup();
        let (ptrs, _keep) = bad_pointers(arg_bytes(d.as_raw_fd()));
        for (what, p) in ptrs {
            assert_errno(
                // SAFETY: `p` is one the kernel cannot access (or only read): EFAULT.
                unsafe { raw_ioctl(n.as_fd(), DRM_IOCTL_FILE_SAME, p) },
                libc::EFAULT,
                &format!("{}: {what} ({p:p})", n.path().display()),
            );
        }
    }
}

#[test]
fn raw_ioctl_with_good_pointer_succeeds() {
    // Sanity check of the libc path used by the EFAULT test.
    require_guest();
    let n = open_vgem_card();
    let d = n.dup();
    let mut arg = rust_tests::uapi::drm_file_same {
        fd: d.as_raw_fd(),
        flags: 0,
        result: 0,
    };
    // SAFETY: `arg` is a valid argument of the opcode.
    unsafe {
        raw_ioctl(
            n.as_fd(),
            DRM_IOCTL_FILE_SAME,
            (&mut arg as *mut rust_tests::uapi::drm_file_same).cast(),
        )
    }
    .expect("DRM_IOCTL_FILE_SAME via libc");
    assert_eq!(arg.result, ALL, "{}", drm_bits(arg.result));
}

/// One DRM fd of the zoo: `file` identifies its `struct file` (dups and SCM_RIGHTS copies
/// share it), `device` its `drm_device`.
struct ZooFd {
    name: &'static str,
    fd: OwnedFd,
    file: u32,
    device: &'static str,
}

/// A mixed set of DRM fds with what each one is.
fn fd_zoo() -> Vec<ZooFd> {
    let vkms = open_vkms_card();
    let vkms2 = vkms.reopen();
    let vgem = open_vgem_card();
    let render = open_vgem_render();
    let render2 = render.reopen();
    let z = |name, fd, file, device| ZooFd {
        name,
        fd,
        file,
        device,
    };
    vec![
        z("vkms card", vkms.dup(), 1, VKMS),
        z("vkms card dup", vkms.dup(), 1, VKMS),
        z(
            "vkms card SCM_RIGHTS",
            pass_over_scm_rights(vkms.as_fd()),
            1,
            VKMS,
        ),
        z("vkms card reopen", vkms2.dup(), 2, VKMS),
        z(
            "vkms card proc reopen",
            reopen_via_proc(vkms.as_fd()),
            3,
            VKMS,
        ),
        z("vgem card", vgem.dup(), 10, VGEM),
        z("vgem card dup", vgem.dup(), 10, VGEM),
        z(
            "vgem card proc reopen",
            reopen_via_proc(vgem.as_fd()),
            11,
            VGEM,
        ),
        z("vgem render", render.dup(), 12, VGEM),
        z("vgem render dup", render.dup(), 12, VGEM),
        z("vgem render reopen", render2.dup(), 13, VGEM),
    ]
}

#[test]
fn pairwise_matrix_is_exact() {
    require_guest();
    let zoo = fd_zoo();
    for a in &zoo {
        for b in &zoo {
            let expected = if a.file == b.file {
                ALL
            } else if a.device == b.device {
                DEVICE
            } else {
                0
            };
            expect(
                a.fd.as_fd(),
                b.fd.as_fd(),
                expected,
                &format!("{} vs {}", a.name, b.name),
            );
        }
    }
}

#[test]
fn result_carries_no_unknown_bits() {
    require_guest();
    let zoo = fd_zoo();
    let e = eventfd();
    let f = regular_file();
    for ZooFd {
        name: an, fd: a, ..
    } in &zoo
    {
        for (bn, b) in zoo
            .iter()
            .map(|z| (z.name, z.fd.as_fd()))
            .chain([("eventfd", e.as_fd()), ("regular file", f.as_fd())])
        {
            let r = file_same(a.as_fd(), b.as_raw_fd(), 0)
                .unwrap_or_else(|err| panic!("{an} vs {bn}: {err}"));
            assert_eq!(r & !DRM_FILE_SAME_ALL, 0, "{an} vs {bn}: {}", drm_bits(r));
            // The bits nest: FILE implies CLIENT implies DEVICE.
            if r & DRM_FILE_SAME_FILE != 0 {
                assert_ne!(r & DRM_FILE_SAME_CLIENT, 0, "{an} vs {bn}: {}", drm_bits(r));
            }
            if r & DRM_FILE_SAME_CLIENT != 0 {
                assert_ne!(r & DRM_FILE_SAME_DEVICE, 0, "{an} vs {bn}: {}", drm_bits(r));
            }
        }
    }
}

#[test]
fn result_is_overwritten_not_ored() {
    require_guest();
    let vkms = open_vkms_card();
    let vgem = open_vgem_card();
    let e = eventfd();
    let d = vkms.dup();
    let r2 = vkms.reopen();
    for (what, other, expected) in [
        ("dup", d.as_raw_fd(), ALL),
        ("reopen", r2.raw(), DEVICE),
        ("vgem", vgem.raw(), 0),
        ("eventfd", e.as_raw_fd(), 0),
    ] {
        let mut arg = rust_tests::uapi::drm_file_same {
            fd: other,
            flags: 0,
            result: u64::MAX,
        };
        file_same_arg(vkms.as_fd(), &mut arg).unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(
            arg.result,
            expected,
            "{what} with result pre-set to all ones: {}",
            drm_bits(arg.result)
        );
        assert_eq!(arg.fd, other, "{what}: fd must not be modified");
        assert_eq!(arg.flags, 0, "{what}: flags must not be modified");
    }
}

#[test]
fn result_is_symmetric() {
    require_guest();
    let zoo = fd_zoo();
    for ZooFd {
        name: an, fd: a, ..
    } in &zoo
    {
        for ZooFd {
            name: bn, fd: b, ..
        } in &zoo
        {
            let ab = file_same(a.as_fd(), b.as_raw_fd(), 0)
                .unwrap_or_else(|e| panic!("{an} vs {bn}: {e}"));
            let ba = file_same(b.as_fd(), a.as_raw_fd(), 0)
                .unwrap_or_else(|e| panic!("{bn} vs {an}: {e}"));
            assert_eq!(
                ab,
                ba,
                "{an}~{bn} = {} but {bn}~{an} = {}",
                drm_bits(ab),
                drm_bits(ba)
            );
        }
    }
}
