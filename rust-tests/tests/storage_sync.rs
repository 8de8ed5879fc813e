//! `DMA_BUF_SAME_STORAGE` and implicit synchronization: two dma-bufs over the same memory keep
//! their own fences, so a consumer that reuses the import of one (A) for the other (B) loses B's
//! fences unless it follows the protocol of the uAPI documentation (take B's fences with
//! `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` before the access, attach the access's fence to B with
//! `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` after it). Shown with real `sw_sync` fences on the two
//! pairs the kernel reports as the same storage: two udmabufs over one memfd range, and one
//! vim2m plane exported twice. Also: a udmabuf made after the range was punched out of the
//! memfd is other memory.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rust_tests::sync::{self, Timeline, READ, WRITE};
use rust_tests::uapi::{DMA_BUF_SAME_STORAGE, DMA_BUF_STORAGE_COMPARED};
use rust_tests::v4l2::Vim2m;
use rust_tests::*;
use rustix::event::PollFlags;
use rustix::fs::FallocateFlags;

const SAME_STORAGE: u64 = DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED;

/// Two udmabufs over the same two pages of one memfd (the memfd is returned to keep it open).
fn udmabuf_pair() -> (OwnedFd, OwnedFd, OwnedFd) {
    let memfd = sealed_memfd(2);
    let a = udmabuf_range(memfd.as_fd(), 0, 2);
    let b = udmabuf_range(memfd.as_fd(), 0, 2);
    (memfd, a, b)
}

/// One vim2m capture plane exported twice (the device is returned to keep the buffer).
fn vim2m_pair() -> (Vim2m, OwnedFd, OwnedFd) {
    let v = Vim2m::open();
    v.reqbufs(v.capture, 1);
    let a = v.expbuf(v.capture, 0, 0);
    let b = v.expbuf(v.capture, 0, 0);
    (v, a, b)
}

fn assert_same_storage(a: BorrowedFd<'_>, b: BorrowedFd<'_>, what: &str) {
    for (x, y) in [(a, b), (b, a)] {
        let r = dmabuf_same(x, y.as_raw_fd(), 0).expect("DMA_BUF_IOCTL_SAME_OBJECT");
        assert_eq!(r, SAME_STORAGE, "{what}: {}", dmabuf_bits(r));
    }
}

fn readable(fd: impl AsFd) -> bool {
    sync::ready(fd, PollFlags::IN).expect("poll")
}

fn writable(fd: impl AsFd) -> bool {
    sync::ready(fd, PollFlags::OUT).expect("poll")
}

/// Checks that A and B are the same storage, then attaches to B a write fence that signals when
/// the returned timeline reaches 1 (the fence is returned to keep it alive).
fn writer_pending_on(a: BorrowedFd<'_>, b: BorrowedFd<'_>, what: &str) -> (Timeline, OwnedFd) {
    assert_same_storage(a, b, what);
    let timeline = Timeline::new().expect("sw_sync timeline");
    let write = timeline.fence(1).expect("sw_sync fence");
    sync::attach_fence(b, WRITE, write.as_fd()).expect("IMPORT_SYNC_FILE on B");
    (timeline, write)
}

/// Without the protocol: a write fence attached to B is not seen through A. A consumer that
/// waits for A's implicit fences (poll(), or A's exported fences) before reading through A's
/// import reads while B's writer is still writing.
fn fence_lost_without_protocol(a: BorrowedFd<'_>, b: BorrowedFd<'_>, what: &str) {
    let (timeline, _write) = writer_pending_on(a, b, what);

    assert!(
        !readable(b),
        "{what}: B must wait for its own pending writer"
    );
    assert!(readable(a), "{what}: A unexpectedly sees B's writer");
    let through_a = sync::export_fences(a, READ).expect("EXPORT_SYNC_FILE on A");
    assert!(
        readable(&through_a),
        "{what}: A's fences unexpectedly include B's writer"
    );

    timeline.advance(1).expect("signal");
    assert!(readable(b), "{what}: B's writer signalled");
}

/// With the protocol: before reading through A's import on behalf of B, the consumer takes B's
/// fences, which wait for B's writer; after the access, it attaches its own fence to B, which
/// B's next writer then waits for (and A's users do not see, which is why step 2 goes to B).
fn fence_kept_with_protocol(a: BorrowedFd<'_>, b: BorrowedFd<'_>, what: &str) {
    let (timeline, _write) = writer_pending_on(a, b, what);

    // Step 1: B's fences for a read.
    let wait_for = sync::export_fences(b, READ).expect("EXPORT_SYNC_FILE on B");
    assert!(!readable(&wait_for), "{what}: step 1 lost B's writer");
    timeline.advance(1).expect("signal the writer");
    assert!(readable(&wait_for), "{what}: step 1's fence signalled");

    // The read through A's import, finishing when the timeline reaches 2.
    let read_done = timeline.fence(2).expect("sw_sync fence");
    // Step 2: attach it to B as a read.
    sync::attach_fence(b, READ, read_done.as_fd()).expect("IMPORT_SYNC_FILE on B");
    let next_writer = sync::export_fences(b, WRITE).expect("EXPORT_SYNC_FILE on B");
    assert!(
        !readable(&next_writer),
        "{what}: B's next writer does not wait for the read"
    );
    assert!(
        writable(a),
        "{what}: A unexpectedly sees the read attached to B"
    );
    timeline.advance(1).expect("signal the read");
    assert!(readable(&next_writer), "{what}: the read signalled");
    assert!(writable(b), "{what}: B has no pending fence left");
}

#[test]
fn udmabuf_pair_loses_fences_without_protocol() {
    require_guest();
    let (_memfd, a, b) = udmabuf_pair();
    fence_lost_without_protocol(a.as_fd(), b.as_fd(), "udmabufs over one range");
}

#[test]
fn udmabuf_pair_keeps_fences_with_protocol() {
    require_guest();
    let (_memfd, a, b) = udmabuf_pair();
    fence_kept_with_protocol(a.as_fd(), b.as_fd(), "udmabufs over one range");
}

#[test]
fn vim2m_plane_loses_fences_without_protocol() {
    require_guest();
    let (_v, a, b) = vim2m_pair();
    fence_lost_without_protocol(a.as_fd(), b.as_fd(), "vim2m plane exported twice");
}

#[test]
fn vim2m_plane_keeps_fences_with_protocol() {
    require_guest();
    let (_v, a, b) = vim2m_pair();
    fence_kept_with_protocol(a.as_fd(), b.as_fd(), "vim2m plane exported twice");
}

/// A udmabuf pins the pages its range holds when it is made: after the range is punched out of
/// the memfd, a udmabuf over the same range gets new pages, other memory than the first one.
#[test]
fn udmabuf_across_punch_hole_is_other_storage() {
    require_guest();
    let pages = 4;
    let memfd = sealed_memfd(pages);
    let before = udmabuf_range(memfd.as_fd(), 0, pages);
    let len = (pages * page_size()) as u64;
    rustix::fs::fallocate(
        &memfd,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        0,
        len,
    )
    .expect("fallocate(FALLOC_FL_PUNCH_HOLE)");
    let after = udmabuf_range(memfd.as_fd(), 0, pages);
    let again = udmabuf_range(memfd.as_fd(), 0, pages);

    for (x, y) in [(&before, &after), (&after, &before)] {
        let r = dmabuf_same(x.as_fd(), y.as_raw_fd(), 0).expect("DMA_BUF_IOCTL_SAME_OBJECT");
        assert_eq!(
            r,
            DMA_BUF_STORAGE_COMPARED,
            "udmabufs either side of a punch-hole: {}",
            dmabuf_bits(r)
        );
    }
    assert_same_storage(
        after.as_fd(),
        again.as_fd(),
        "udmabufs after the punch-hole",
    );
}
