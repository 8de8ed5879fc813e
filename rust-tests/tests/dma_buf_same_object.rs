//! `DMA_BUF_IOCTL_SAME_OBJECT` against the real kernel. Runs INSIDE the QEMU guest only (see
//! README.md); every test starts with `require_guest()`, which panics without /dev/dri.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use drm::control::Device as _;
use rust_tests::uapi::{
    dma_buf_same_object, DMA_BUF_IOCTL_SAME_OBJECT, DMA_BUF_SAME_ALL, DMA_BUF_SAME_FILE,
    DMA_BUF_SAME_OBJECT,
};
use rust_tests::*;

const ALL: u64 = DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT;

/// Asserts `DMA_BUF_IOCTL_SAME_OBJECT` on `buf` for `other` succeeds with exactly `expected`.
#[track_caller]
fn expect(buf: BorrowedFd<'_>, other: BorrowedFd<'_>, expected: u64, what: &str) {
    let r = dmabuf_same(buf, other.as_raw_fd(), 0)
        .unwrap_or_else(|e| panic!("{what}: DMA_BUF_IOCTL_SAME_OBJECT failed: {e}"));
    assert_eq!(
        r,
        expected,
        "{what}: result {} but expected {}",
        dmabuf_bits(r),
        dmabuf_bits(expected)
    );
}

/// Both directions.
#[track_caller]
fn expect_both(a: BorrowedFd<'_>, b: BorrowedFd<'_>, expected: u64, what: &str) {
    expect(a, b, expected, &format!("{what} (a~b)"));
    expect(b, a, expected, &format!("{what} (b~a)"));
}

/// One dma-buf of each exporter in the guest: vgem, dma-heap, udmabuf.
fn buffers() -> Vec<(&'static str, OwnedFd)> {
    let vgem = open_vgem_card();
    vec![
        ("vgem dma-buf", vgem_dmabuf(&vgem)),
        ("dma-heap dma-buf", dma_heap_alloc(page_size() as u64)),
        ("udmabuf", udmabuf()),
    ]
}

#[test]
fn constants_match_the_header() {
    require_guest();
    assert_eq!(DMA_BUF_SAME_FILE, 1);
    assert_eq!(DMA_BUF_SAME_OBJECT, 2);
    assert_eq!(DMA_BUF_SAME_ALL, ALL);
}

#[test]
fn vgem_dup_is_file_object() {
    require_guest();
    let vgem = open_vgem_card();
    let buf = vgem_dmabuf(&vgem);
    let d = dup(buf.as_fd());
    expect_both(buf.as_fd(), d.as_fd(), ALL, "vgem dma-buf vs its dup");
}

#[test]
fn self_is_file_object() {
    require_guest();
    for (what, b) in buffers() {
        expect(b.as_fd(), b.as_fd(), ALL, &format!("{what} vs itself"));
    }
}

#[test]
fn gem_object_exported_twice_is_file_object() {
    require_guest();
    let vgem = open_vgem_card();
    let h = create_dumb(&vgem);
    let a = export(&vgem, h);
    let b = export(&vgem, h);
    assert_ne!(a.as_raw_fd(), b.as_raw_fd());
    // PRIME caches the dma_buf of a GEM object: both exports are the same struct file.
    expect_both(
        a.as_fd(),
        b.as_fd(),
        ALL,
        "one vgem GEM object exported twice",
    );
    // Also from another open of the same device, after importing it there.
    let render = open_vgem_render();
    let h2 = import(&render, a.as_fd());
    let c = export(&render, h2);
    expect_both(
        a.as_fd(),
        c.as_fd(),
        ALL,
        "vgem card export vs vgem render re-export",
    );
    vgem.close_buffer(h).expect("GEM_CLOSE");
}

#[test]
fn vgem_export_vkms_import_reexport_is_file_object() {
    require_guest();
    let vgem = open_vgem_card();
    let vkms = open_vkms_card();
    let original = vgem_dmabuf(&vgem);
    let h = import(&vkms, original.as_fd());
    let again = export(&vkms, h);
    expect_both(
        original.as_fd(),
        again.as_fd(),
        ALL,
        "vgem export vs vkms re-export of the imported object",
    );
    vkms.close_buffer(h).expect("GEM_CLOSE on vkms");
}

#[test]
fn two_vgem_buffers_are_zero() {
    require_guest();
    let vgem = open_vgem_card();
    let a = vgem_dmabuf(&vgem);
    let b = vgem_dmabuf(&vgem);
    expect_both(a.as_fd(), b.as_fd(), 0, "two vgem dma-bufs");
    // Two buffers of two different opens of vgem.
    let vgem2 = open_vgem_card();
    let c = vgem_dmabuf(&vgem2);
    expect_both(a.as_fd(), c.as_fd(), 0, "vgem dma-bufs of two opens");
}

#[test]
fn dma_heap_dup_is_file_object_and_two_are_zero() {
    require_guest();
    let a = dma_heap_alloc(page_size() as u64);
    let d = dup(a.as_fd());
    expect_both(a.as_fd(), d.as_fd(), ALL, "dma-heap buffer vs its dup");
    let b = dma_heap_alloc(page_size() as u64);
    expect_both(a.as_fd(), b.as_fd(), 0, "two dma-heap buffers");
}

#[test]
fn udmabuf_dup_is_file_object_and_two_are_zero() {
    require_guest();
    let a = udmabuf();
    let d = dup(a.as_fd());
    expect_both(a.as_fd(), d.as_fd(), ALL, "udmabuf vs its dup");
    let b = udmabuf();
    expect_both(a.as_fd(), b.as_fd(), 0, "two udmabufs");
}

#[test]
fn two_udmabufs_of_one_memfd_are_zero() {
    require_guest();
    // The same pages, but two dma_buf objects.
    let memfd = sealed_memfd(2);
    let a = udmabuf_from(memfd.as_fd(), 2);
    let b = udmabuf_from(memfd.as_fd(), 2);
    expect_both(a.as_fd(), b.as_fd(), 0, "two udmabufs of one memfd");
    expect(a.as_fd(), memfd.as_fd(), 0, "udmabuf vs its memfd");
}

#[test]
fn scm_rights_passed_dmabuf_is_file_object() {
    require_guest();
    for (what, b) in buffers() {
        let got = pass_over_scm_rights(b.as_fd());
        expect_both(
            b.as_fd(),
            got.as_fd(),
            ALL,
            &format!("{what} vs its SCM_RIGHTS copy"),
        );
    }
}

#[test]
fn different_exporters_are_zero() {
    require_guest();
    let bufs = buffers();
    for (i, (an, a)) in bufs.iter().enumerate() {
        for (bn, b) in &bufs[i + 1..] {
            expect_both(a.as_fd(), b.as_fd(), 0, &format!("{an} vs {bn}"));
        }
    }
}

#[test]
fn dmabuf_vs_drm_fd_is_zero() {
    require_guest();
    let vgem = open_vgem_card();
    let render = open_vgem_render();
    let vkms = open_vkms_card();
    // Including the DRM fd that exported it.
    let own = vgem_dmabuf(&vgem);
    expect(
        own.as_fd(),
        vgem.as_fd(),
        0,
        "vgem dma-buf vs its exporting vgem card",
    );
    for (what, b) in buffers() {
        expect(b.as_fd(), vgem.as_fd(), 0, &format!("{what} vs vgem card"));
        expect(
            b.as_fd(),
            render.as_fd(),
            0,
            &format!("{what} vs vgem render"),
        );
        expect(b.as_fd(), vkms.as_fd(), 0, &format!("{what} vs vkms card"));
    }
}

#[test]
fn dmabuf_vs_eventfd_is_zero() {
    require_guest();
    let e = eventfd();
    for (what, b) in buffers() {
        expect(b.as_fd(), e.as_fd(), 0, &format!("{what} vs eventfd"));
    }
}

#[test]
fn dmabuf_vs_regular_file_is_zero() {
    require_guest();
    let f = regular_file();
    for (what, b) in buffers() {
        expect(b.as_fd(), f.as_fd(), 0, &format!("{what} vs regular file"));
    }
}

#[test]
fn dmabuf_vs_o_path_and_sync_file_is_zero() {
    require_guest();
    let p = o_path(std::env::temp_dir());
    let node = o_path(find_node(VGEM, NodeKind::Card));
    for (what, b) in buffers() {
        expect(
            b.as_fd(),
            p.as_fd(),
            0,
            &format!("{what} vs O_PATH directory"),
        );
        expect(
            b.as_fd(),
            node.as_fd(),
            0,
            &format!("{what} vs O_PATH vgem card node"),
        );
    }
    let vgem = open_vgem_card();
    let buf = vgem_dmabuf(&vgem);
    let sync = sync_file_from(buf.as_fd());
    expect(
        buf.as_fd(),
        sync.as_fd(),
        0,
        "vgem dma-buf vs a sync_file exported from it",
    );
}

#[test]
fn closed_fd_is_ebadf() {
    require_guest();
    for (what, b) in buffers() {
        let closed = closed_fd_number(900);
        assert_errno(
            dmabuf_same(b.as_fd(), closed, 0),
            libc::EBADF,
            &format!("{what} vs closed fd {closed}"),
        );
    }
}

#[test]
fn negative_and_out_of_table_fd_is_ebadf() {
    require_guest();
    for (what, b) in buffers() {
        for fd in [-1, -2, i32::MIN, i32::MAX] {
            assert_errno(
                dmabuf_same(b.as_fd(), fd, 0),
                libc::EBADF,
                &format!("{what} vs fd {fd}"),
            );
        }
    }
}

#[test]
fn nonzero_flags_are_einval() {
    require_guest();
    for (what, b) in buffers() {
        let d = dup(b.as_fd());
        let mut all = vec![u32::MAX];
        all.extend((0..32).map(|bit| 1u32 << bit));
        for flags in all {
            assert_errno(
                dmabuf_same(b.as_fd(), d.as_raw_fd(), flags),
                libc::EINVAL,
                &format!("{what} flags {flags:#x}"),
            );
            assert_errno(
                dmabuf_same(b.as_fd(), b.as_raw_fd(), flags),
                libc::EINVAL,
                &format!("{what} self flags {flags:#x}"),
            );
        }
    }
}

#[test]
fn bad_argument_pointer_is_efault() {
    require_guest();
    for (what, b) in buffers() {
        let d = dup(b.as_fd());
        let (ptrs, _keep) = bad_pointers(arg_bytes(d.as_raw_fd()));
        for (pw, p) in ptrs {
            assert_errno(
                // SAFETY: `p` is one the kernel cannot access (or only read): EFAULT.
                unsafe { raw_ioctl(b.as_fd(), DMA_BUF_IOCTL_SAME_OBJECT, p) },
                libc::EFAULT,
                &format!("{what}: {pw} ({p:p})"),
            );
        }
    }
}

#[test]
fn raw_ioctl_with_good_pointer_succeeds() {
    // Sanity check of the libc path used by the EFAULT test.
    require_guest();
    let b = dma_heap_alloc(page_size() as u64);
    let d = dup(b.as_fd());
    let mut arg = dma_buf_same_object {
        fd: d.as_raw_fd(),
        flags: 0,
        result: 0,
    };
    // SAFETY: `arg` is a valid argument of the opcode.
    unsafe {
        raw_ioctl(
            b.as_fd(),
            DMA_BUF_IOCTL_SAME_OBJECT,
            (&mut arg as *mut dma_buf_same_object).cast(),
        )
    }
    .expect("DMA_BUF_IOCTL_SAME_OBJECT via libc");
    assert_eq!(arg.result, ALL, "{}", dmabuf_bits(arg.result));
}

#[test]
fn result_is_overwritten_not_ored_and_has_no_unknown_bits() {
    require_guest();
    let vgem = open_vgem_card();
    let a = vgem_dmabuf(&vgem);
    let d = dup(a.as_fd());
    let b = vgem_dmabuf(&vgem);
    let e = eventfd();
    for (what, other, expected) in [
        ("dup", d.as_raw_fd(), ALL),
        ("other buffer", b.as_raw_fd(), 0),
        ("DRM fd", vgem.raw(), 0),
        ("eventfd", e.as_raw_fd(), 0),
    ] {
        let mut arg = dma_buf_same_object {
            fd: other,
            flags: 0,
            result: u64::MAX,
        };
        dmabuf_same_arg(a.as_fd(), &mut arg).unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(
            arg.result & !DMA_BUF_SAME_ALL,
            0,
            "{what}: unknown bits: {}",
            dmabuf_bits(arg.result)
        );
        assert_eq!(
            arg.result,
            expected,
            "{what} with result pre-set to all ones: {}",
            dmabuf_bits(arg.result)
        );
        assert_eq!(arg.fd, other, "{what}: fd must not be modified");
        assert_eq!(arg.flags, 0, "{what}: flags must not be modified");
    }
}

#[test]
fn result_is_symmetric_and_exact_over_a_zoo() {
    require_guest();
    let vgem = open_vgem_card();
    let vkms = open_vkms_card();
    let v = vgem_dmabuf(&vgem);
    let hv = import(&vkms, v.as_fd());
    let heap = dma_heap_alloc(page_size() as u64);
    let u = udmabuf();
    // (name, fd, object id); every fd of one object shares its single struct file.
    let zoo: Vec<(&str, OwnedFd, u32)> = vec![
        ("vgem", dup(v.as_fd()), 1),
        ("vgem dup", dup(v.as_fd()), 1),
        ("vgem via vkms", export(&vkms, hv), 1),
        ("vgem SCM_RIGHTS", pass_over_scm_rights(v.as_fd()), 1),
        ("vgem 2", vgem_dmabuf(&vgem), 2),
        ("heap", dup(heap.as_fd()), 3),
        ("heap dup", dup(heap.as_fd()), 3),
        ("heap 2", dma_heap_alloc(page_size() as u64), 4),
        ("udmabuf", dup(u.as_fd()), 5),
        ("udmabuf 2", udmabuf(), 6),
    ];
    for (an, a, ao) in &zoo {
        for (bn, b, bo) in &zoo {
            let expected = if ao == bo { ALL } else { 0 };
            let ab = dmabuf_same(a.as_fd(), b.as_raw_fd(), 0)
                .unwrap_or_else(|e| panic!("{an} vs {bn}: {e}"));
            let ba = dmabuf_same(b.as_fd(), a.as_raw_fd(), 0)
                .unwrap_or_else(|e| panic!("{bn} vs {an}: {e}"));
            assert_eq!(
                ab,
                ba,
                "{an}~{bn} = {} but {bn}~{an} = {}",
                dmabuf_bits(ab),
                dmabuf_bits(ba)
            );
            assert_eq!(ab, expected, "{an} vs {bn}: {}", dmabuf_bits(ab));
        }
    }
    vkms.close_buffer(hv).expect("GEM_CLOSE on vkms");
}
