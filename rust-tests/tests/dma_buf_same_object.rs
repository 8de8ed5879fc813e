//! `DMA_BUF_IOCTL_SAME_OBJECT` against the real kernel. Runs INSIDE the QEMU guest only (see
//! README.md); every test starts with `require_guest()`, which panics without /dev/dri.
//!
//! Every result is asserted bit for bit (FILE, OBJECT, STORAGE, COMPARED), in both
//! directions. The storage bits come from the exporters: udmabuf compares its pinned pages,
//! videobuf2 (vim2m, on vb2-vmalloc) the plane a dma-buf was exported from; GEM PRIME (vgem)
//! and the system dma-heap have no `same_storage` callback.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use drm::control::Device as _;
use rust_tests::uapi::{
    dma_buf_same_object, DMA_BUF_IOCTL_SAME_OBJECT, DMA_BUF_SAME_ALL, DMA_BUF_SAME_FILE,
    DMA_BUF_SAME_OBJECT, DMA_BUF_SAME_STORAGE, DMA_BUF_STORAGE_COMPARED,
};
use rust_tests::v4l2::Vim2m;
use rust_tests::*;

/// One dma-buf: itself, a dup, an SCM_RIGHTS copy, a PRIME re-export.
const ALL: u64 =
    DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT | DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED;
/// Two dma-bufs of one exporter over the same memory.
const SAME_STORAGE: u64 = DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED;
/// Two dma-bufs of one exporter that compared their memory and found it different.
const COMPARED: u64 = DMA_BUF_STORAGE_COMPARED;

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
    assert_eq!(DMA_BUF_SAME_STORAGE, 4);
    assert_eq!(DMA_BUF_STORAGE_COMPARED, 8);
    assert_eq!(DMA_BUF_SAME_ALL, ALL);
    assert_eq!(ALL, 0xf);
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
fn udmabuf_dup_is_all_and_two_on_two_memfds_are_compared_only() {
    require_guest();
    let a = udmabuf();
    let d = dup(a.as_fd());
    expect_both(a.as_fd(), d.as_fd(), ALL, "udmabuf vs its dup");
    // Two udmabufs on two memfds: one exporter with same_storage, different pages.
    let b = udmabuf();
    expect_both(a.as_fd(), b.as_fd(), COMPARED, "two udmabufs on two memfds");
}

#[test]
fn two_udmabufs_over_one_memfd_range_are_same_storage() {
    require_guest();
    // The same pages, but two dma_buf objects, two files, two inodes.
    let memfd = sealed_memfd(2);
    let a = udmabuf_from(memfd.as_fd(), 2);
    let b = udmabuf_from(memfd.as_fd(), 2);
    expect_both(
        a.as_fd(),
        b.as_fd(),
        SAME_STORAGE,
        "two udmabufs of one memfd",
    );
    assert_ne!(
        ino(a.as_fd()),
        ino(b.as_fd()),
        "two udmabufs share an inode"
    );
    assert_eq!(f_dupfd_query(a.as_fd(), b.as_fd()), 0);
    expect(a.as_fd(), memfd.as_fd(), 0, "udmabuf vs its memfd");
    // Also over a range that does not start at 0.
    let memfd = sealed_memfd(4);
    let c = udmabuf_range(memfd.as_fd(), 1, 2);
    let e = udmabuf_range(memfd.as_fd(), 1, 2);
    expect_both(
        c.as_fd(),
        e.as_fd(),
        SAME_STORAGE,
        "two udmabufs over pages 1..3",
    );
    // A third one over the same range is the same storage as both.
    let f = udmabuf_range(memfd.as_fd(), 1, 2);
    expect_both(
        c.as_fd(),
        f.as_fd(),
        SAME_STORAGE,
        "a third udmabuf over pages 1..3",
    );
    expect_both(
        e.as_fd(),
        f.as_fd(),
        SAME_STORAGE,
        "the second and third udmabufs",
    );
}

#[test]
fn udmabufs_over_different_ranges_are_compared_only() {
    require_guest();
    let memfd = sealed_memfd(4);
    let a = udmabuf_range(memfd.as_fd(), 0, 2);
    let b = udmabuf_range(memfd.as_fd(), 2, 2);
    expect_both(
        a.as_fd(),
        b.as_fd(),
        COMPARED,
        "pages 0..2 vs 2..4 of one memfd",
    );
    let c = udmabuf_range(memfd.as_fd(), 3, 1);
    let d = udmabuf_range(memfd.as_fd(), 0, 1);
    expect_both(
        c.as_fd(),
        d.as_fd(),
        COMPARED,
        "page 3 vs page 0 of one memfd",
    );
    // The same range of two memfds.
    let other = sealed_memfd(4);
    let e = udmabuf_range(other.as_fd(), 0, 2);
    expect_both(a.as_fd(), e.as_fd(), COMPARED, "pages 0..2 of two memfds");
}

#[test]
fn udmabufs_over_overlapping_ranges_are_compared_only() {
    require_guest();
    let memfd = sealed_memfd(4);
    let a = udmabuf_range(memfd.as_fd(), 0, 2);
    // Same size, shifted by one page: overlapping pages, not the same storage.
    let b = udmabuf_range(memfd.as_fd(), 1, 2);
    expect_both(a.as_fd(), b.as_fd(), COMPARED, "pages 0..2 vs 1..3");
    // One contains the other: different sizes, never the same storage.
    let c = udmabuf_range(memfd.as_fd(), 0, 4);
    expect_both(a.as_fd(), c.as_fd(), COMPARED, "pages 0..2 vs 0..4");
    let d = udmabuf_range(memfd.as_fd(), 0, 3);
    expect_both(
        a.as_fd(),
        d.as_fd(),
        COMPARED,
        "pages 0..2 vs 0..3 (same start)",
    );
    expect_both(b.as_fd(), c.as_fd(), COMPARED, "pages 1..3 vs 0..4");
}

#[test]
fn heap_and_vgem_buffers_have_no_storage_bits() {
    require_guest();
    // Exporters without same_storage: nothing is known about the storage of two buffers.
    let h1 = dma_heap_alloc(page_size() as u64);
    let h2 = dma_heap_alloc(page_size() as u64);
    expect_both(
        h1.as_fd(),
        h2.as_fd(),
        0,
        "two dma-heap buffers of one size",
    );
    let h3 = dma_heap_alloc(2 * page_size() as u64);
    expect_both(
        h1.as_fd(),
        h3.as_fd(),
        0,
        "two dma-heap buffers of two sizes",
    );
    let vgem = open_vgem_card();
    let v1 = vgem_dmabuf(&vgem);
    let v2 = vgem_dmabuf(&vgem);
    expect_both(v1.as_fd(), v2.as_fd(), 0, "two vgem dma-bufs");
    // But each is all four bits against itself and its dup.
    for (what, b) in [("heap", &h1), ("vgem", &v1)] {
        expect_both(
            b.as_fd(),
            dup(b.as_fd()).as_fd(),
            ALL,
            &format!("{what} vs dup"),
        );
        expect(b.as_fd(), b.as_fd(), ALL, &format!("{what} vs itself"));
    }
}

#[test]
fn heap_vs_udmabuf_over_the_same_size_is_zero() {
    require_guest();
    // Different exporters (different dma_buf_ops): not compared, whatever the sizes.
    let h = dma_heap_alloc(page_size() as u64);
    let u = udmabuf();
    expect_both(h.as_fd(), u.as_fd(), 0, "dma-heap buffer vs udmabuf");
    let vgem = open_vgem_card();
    let v = vgem_dmabuf(&vgem);
    expect_both(v.as_fd(), u.as_fd(), 0, "vgem dma-buf vs udmabuf");
}

/// `st_ino` of a descriptor.
fn ino(fd: BorrowedFd<'_>) -> u64 {
    rustix::fs::fstat(fd).expect("fstat").st_ino
}

/// `fcntl(a, F_DUPFD_QUERY, b)`: 1 for the same open file description, 0 otherwise.
fn f_dupfd_query(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> i32 {
    // SAFETY: F_DUPFD_QUERY takes an int and touches no memory of ours.
    let r = unsafe { libc::fcntl(a.as_raw_fd(), 1027, b.as_raw_fd()) };
    assert!(r >= 0, "F_DUPFD_QUERY: {}", std::io::Error::last_os_error());
    r
}

#[test]
fn vim2m_plane_exported_twice_is_same_storage() {
    require_guest();
    let v = Vim2m::open();
    v.reqbufs(v.capture, 2);
    let a = v.expbuf(v.capture, 0, 0);
    let b = v.expbuf(v.capture, 0, 0);
    // vb2_core_expbuf() exports a new dma-buf on every call: two files, two inodes, and
    // F_DUPFD_QUERY cannot tell them from two buffers.
    assert_ne!(
        ino(a.as_fd()),
        ino(b.as_fd()),
        "two VIDIOC_EXPBUF share an inode"
    );
    assert_eq!(f_dupfd_query(a.as_fd(), b.as_fd()), 0);
    assert_eq!(f_dupfd_query(b.as_fd(), a.as_fd()), 0);
    expect_both(
        a.as_fd(),
        b.as_fd(),
        SAME_STORAGE,
        "one vim2m capture plane exported twice",
    );
    expect(a.as_fd(), a.as_fd(), ALL, "vim2m dma-buf vs itself");
    expect_both(
        a.as_fd(),
        dup(a.as_fd()).as_fd(),
        ALL,
        "vim2m dma-buf vs its dup",
    );
    // A third export, and the output queue too.
    let c = v.expbuf(v.capture, 0, 0);
    expect_both(a.as_fd(), c.as_fd(), SAME_STORAGE, "first vs third export");
    expect_both(b.as_fd(), c.as_fd(), SAME_STORAGE, "second vs third export");
    v.reqbufs(v.output, 1);
    let o1 = v.expbuf(v.output, 0, 0);
    let o2 = v.expbuf(v.output, 0, 0);
    expect_both(
        o1.as_fd(),
        o2.as_fd(),
        SAME_STORAGE,
        "one vim2m output plane exported twice",
    );
    // Passed to another process and back, the copy is the same file.
    let got = pass_over_scm_rights(a.as_fd());
    expect_both(
        a.as_fd(),
        got.as_fd(),
        ALL,
        "vim2m dma-buf vs its SCM_RIGHTS copy",
    );
    expect_both(
        b.as_fd(),
        got.as_fd(),
        SAME_STORAGE,
        "second export vs SCM_RIGHTS copy",
    );
}

#[test]
fn vim2m_planes_of_two_buffers_are_compared_only() {
    require_guest();
    let v = Vim2m::open();
    v.reqbufs(v.capture, 2);
    v.reqbufs(v.output, 2);
    let c0 = v.expbuf(v.capture, 0, 0);
    let c1 = v.expbuf(v.capture, 1, 0);
    expect_both(
        c0.as_fd(),
        c1.as_fd(),
        COMPARED,
        "vim2m capture buffers 0 and 1",
    );
    let o0 = v.expbuf(v.output, 0, 0);
    let o1 = v.expbuf(v.output, 1, 0);
    expect_both(
        o0.as_fd(),
        o1.as_fd(),
        COMPARED,
        "vim2m output buffers 0 and 1",
    );
    // Capture vs output: the same vb2-vmalloc ops, different planes.
    expect_both(
        c0.as_fd(),
        o0.as_fd(),
        COMPARED,
        "vim2m capture 0 vs output 0",
    );
    // Buffer 0 of two opens (two mem2mem contexts, two queues).
    let w = Vim2m::open();
    w.reqbufs(w.capture, 1);
    let d0 = w.expbuf(w.capture, 0, 0);
    expect_both(
        c0.as_fd(),
        d0.as_fd(),
        COMPARED,
        "capture buffer 0 of two vim2m opens",
    );
}

#[test]
fn vim2m_vs_other_exporters_is_zero() {
    require_guest();
    let v = Vim2m::open();
    v.reqbufs(v.capture, 1);
    let c = v.expbuf(v.capture, 0, 0);
    let vgem = open_vgem_card();
    for (what, b) in buffers() {
        expect_both(c.as_fd(), b.as_fd(), 0, &format!("vim2m dma-buf vs {what}"));
    }
    // The V4L2 node and the DRM node are not dma-bufs.
    expect(c.as_fd(), v.as_fd(), 0, "vim2m dma-buf vs the vim2m node");
    expect(c.as_fd(), vgem.as_fd(), 0, "vim2m dma-buf vs a vgem node");
    // Imported into vgem (PRIME) and exported again: the same dma-buf.
    let h = import(&vgem, c.as_fd());
    let again = export(&vgem, h);
    expect_both(
        c.as_fd(),
        again.as_fd(),
        ALL,
        "vim2m dma-buf vs its vgem re-export",
    );
    vgem.close_buffer(h).expect("GEM_CLOSE");
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
fn different_exporters_are_zero_both_ways() {
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
fn dmabuf_vs_o_path_is_ebadf() {
    require_guest();
    // The ioctl looks the other fd up with fdget(): an O_PATH fd is refused like a closed one.
    let p = o_path(std::env::temp_dir());
    let node = o_path(find_node(VGEM, NodeKind::Card));
    for (what, b) in buffers() {
        assert_errno(
            dmabuf_same(b.as_fd(), p.as_raw_fd(), 0),
            libc::EBADF,
            &format!("{what} vs O_PATH directory"),
        );
        assert_errno(
            dmabuf_same(b.as_fd(), node.as_raw_fd(), 0),
            libc::EBADF,
            &format!("{what} vs O_PATH vgem card node"),
        );
        // An O_PATH fd of the dma-buf's own inode too.
        let own = o_path(format!("/proc/self/fd/{}", b.as_raw_fd()));
        assert_errno(
            dmabuf_same(b.as_fd(), own.as_raw_fd(), 0),
            libc::EBADF,
            &format!("{what} vs an O_PATH fd of its own inode"),
        );
        // Flags are still checked first.
        assert_errno(
            dmabuf_same(b.as_fd(), own.as_raw_fd(), 1),
            libc::EINVAL,
            &format!("{what} vs O_PATH with flags 1"),
        );
    }
}

#[test]
fn dmabuf_vs_sync_file_is_zero() {
    require_guest();
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

/// The exporter of a zoo buffer, and whether it compares storage (`same_storage`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Exporter {
    Vgem,
    Heap,
    Udmabuf,
    Vb2,
}

impl Exporter {
    fn compares_storage(self) -> bool {
        matches!(self, Exporter::Udmabuf | Exporter::Vb2)
    }
}

/// One zoo buffer: its dma_buf, its storage (pages), its exporter.
struct ZooBuf {
    name: &'static str,
    fd: OwnedFd,
    object: u32,
    storage: u32,
    exporter: Exporter,
}

/// The exact answer for two zoo buffers, from what they are.
fn zoo_expected(a: &ZooBuf, b: &ZooBuf) -> u64 {
    if a.object == b.object {
        // Every fd of one dma-buf shares its single struct file.
        ALL
    } else if a.exporter == b.exporter && a.exporter.compares_storage() {
        if a.storage == b.storage {
            SAME_STORAGE
        } else {
            COMPARED
        }
    } else {
        0
    }
}

/// `a ~ b`: the same answer both ways, and the expected one; returns it.
fn symmetric_and_expected(a: &ZooBuf, b: &ZooBuf) -> u64 {
    let expected = zoo_expected(a, b);
    let (an, bn) = (a.name, b.name);
    let ab = dmabuf_same(a.fd.as_fd(), b.fd.as_raw_fd(), 0)
        .unwrap_or_else(|e| panic!("{an} vs {bn}: {e}"));
    let ba = dmabuf_same(b.fd.as_fd(), a.fd.as_raw_fd(), 0)
        .unwrap_or_else(|e| panic!("{bn} vs {an}: {e}"));
    assert_eq!(
        ab,
        ba,
        "{an}~{bn} = {} but {bn}~{an} = {}",
        dmabuf_bits(ab),
        dmabuf_bits(ba)
    );
    assert_eq!(
        ab,
        expected,
        "{an} vs {bn}: {} but expected {}",
        dmabuf_bits(ab),
        dmabuf_bits(expected)
    );
    ab
}

#[test]
fn result_is_symmetric_and_exact_over_a_zoo() {
    require_guest();
    let vgem = open_vgem_card();
    let vkms = open_vkms_card();
    let v = vgem_dmabuf(&vgem);
    let hv = import(&vkms, v.as_fd());
    let heap = dma_heap_alloc(page_size() as u64);
    let memfd = sealed_memfd(4);
    let u = udmabuf_range(memfd.as_fd(), 0, 1);
    let vim = Vim2m::open();
    vim.reqbufs(vim.capture, 2);
    let p0 = vim.expbuf(vim.capture, 0, 0);
    use Exporter::*;
    let z = |name, fd, object, storage, exporter| ZooBuf {
        name,
        fd,
        object,
        storage,
        exporter,
    };
    let zoo: Vec<ZooBuf> = vec![
        z("vgem", dup(v.as_fd()), 1, 1, Vgem),
        z("vgem dup", dup(v.as_fd()), 1, 1, Vgem),
        z("vgem via vkms", export(&vkms, hv), 1, 1, Vgem),
        z(
            "vgem SCM_RIGHTS",
            pass_over_scm_rights(v.as_fd()),
            1,
            1,
            Vgem,
        ),
        z("vgem 2", vgem_dmabuf(&vgem), 2, 2, Vgem),
        z("heap", dup(heap.as_fd()), 3, 3, Heap),
        z("heap dup", dup(heap.as_fd()), 3, 3, Heap),
        z("heap 2", dma_heap_alloc(page_size() as u64), 4, 4, Heap),
        z("udmabuf page 0", dup(u.as_fd()), 5, 5, Udmabuf),
        z("udmabuf page 0 dup", dup(u.as_fd()), 5, 5, Udmabuf),
        z(
            "udmabuf page 0 again",
            udmabuf_range(memfd.as_fd(), 0, 1),
            6,
            5,
            Udmabuf,
        ),
        z(
            "udmabuf page 1",
            udmabuf_range(memfd.as_fd(), 1, 1),
            7,
            6,
            Udmabuf,
        ),
        z(
            "udmabuf pages 0-1",
            udmabuf_range(memfd.as_fd(), 0, 2),
            8,
            7,
            Udmabuf,
        ),
        z("udmabuf other memfd", udmabuf(), 9, 8, Udmabuf),
        z("vim2m cap 0", dup(p0.as_fd()), 10, 9, Vb2),
        z(
            "vim2m cap 0 again",
            vim.expbuf(vim.capture, 0, 0),
            11,
            9,
            Vb2,
        ),
        z("vim2m cap 1", vim.expbuf(vim.capture, 1, 0), 12, 10, Vb2),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for a in &zoo {
        for b in &zoo {
            let ab = symmetric_and_expected(a, b);
            seen.insert(ab);
        }
    }
    // Every kind of answer came up.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![0, COMPARED, SAME_STORAGE, ALL],
        "answers seen over the zoo"
    );
    vkms.close_buffer(hv).expect("GEM_CLOSE on vkms");
}
