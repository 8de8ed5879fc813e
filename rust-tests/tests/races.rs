//! Races: threads issue `DRM_IOCTL_FILE_SAME` / `DMA_BUF_IOCTL_SAME_OBJECT` on fd numbers
//! ("slots") that other threads concurrently close, `dup2` over and reopen. Every answer must be
//! one of the answers valid for some state the slots can be in (per slot class, so that the
//! sets are tight), nothing may crash or warn in the kernel, and afterwards every dma-buf and
//! every `drm_file` the test made must be gone (debugfs counts back to where they started).
//!
//! Runs INSIDE the QEMU guest only (see README.md). The total number of compares across the
//! four tests is `FDSAME_RACE_COMPARES` (default 1,000,000), split evenly. The tests are
//! serialized by a static mutex: each counts system-wide objects before and after.

use std::collections::BTreeMap;
use std::ffi::{c_void, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rust_tests::uapi::{DMA_BUF_IOCTL_SAME_OBJECT, DRM_IOCTL_FILE_SAME};
use rust_tests::*;

const ALL: u64 = 7;
const DEVICE: u64 = 4;
/// One dma-buf: FILE | OBJECT | STORAGE | STORAGE_COMPARED.
const BUF_SAME: u64 = 0xf;
/// Two udmabufs over the same pages: STORAGE | STORAGE_COMPARED.
const BUF_SAME_STORAGE: u64 = 0xc;
/// Two udmabufs over different pages: STORAGE_COMPARED.
const BUF_COMPARED: u64 = 0x8;

/// Serializes the tests of this binary: each one counts system-wide dma-bufs and DRM clients.
static SERIAL: Mutex<()> = Mutex::new(());

/// Compares per test: FDSAME_RACE_COMPARES / 4 (default 1,000,000 in total).
fn compares_per_test() -> u64 {
    let total: u64 = std::env::var("FDSAME_RACE_COMPARES")
        .ok()
        .map(|v| v.parse().expect("FDSAME_RACE_COMPARES must be a number"))
        .unwrap_or(1_000_000);
    total.div_ceil(4)
}

/// One answer of the ioctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Bits(u64),
    Errno(i32),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Bits(b) => write!(f, "{b:#x}"),
            Outcome::Errno(libc::EBADF) => write!(f, "EBADF"),
            Outcome::Errno(libc::ENOTTY) => write!(f, "ENOTTY"),
            Outcome::Errno(e) => write!(f, "errno {e}"),
        }
    }
}

/// The ioctl `req` on the raw fd number `fd` (which may be closed at any moment) for `other`.
/// libc directly: the fd numbers are shared with threads that close them.
fn same_raw(req: libc::c_ulong, fd: RawFd, other: RawFd) -> Outcome {
    let mut arg = [0u64; 2];
    arg[0] = other as u32 as u64; // fd in the low half (little-endian), flags 0
    arg[1] = 0xa5a5_a5a5_a5a5_a5a5;
    // SAFETY: `arg` is 16 writable bytes, the argument both ioctls take.
    let r = unsafe { libc::ioctl(fd, req as _, arg.as_mut_ptr().cast::<c_void>()) };
    if r < 0 {
        Outcome::Errno(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        assert_eq!(r, 0, "ioctl returned {r}");
        Outcome::Bits(arg[1])
    }
}

/// What a mutator can put into a slot.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `dup2` of this long-lived fd.
    Dup(RawFd),
    /// A fresh `open()` of this DRM node, `dup2`ed onto the slot and closed.
    FreshOpen(&'static Path),
    /// A fresh dma-buf from the system heap (`heap` fd), `dup2`ed onto the slot and closed.
    FreshHeapBuf(RawFd),
    /// `close()` the slot.
    Close,
}

/// One fd number that mutators flip between `sources`; compares on it must give one of `valid`.
struct Slot {
    fd: RawFd,
    class: &'static str,
    sources: Vec<Source>,
    valid: Vec<Outcome>,
}

fn heap_buf(heap: RawFd) -> OwnedFd {
    // SAFETY: `heap` is the dma-heap fd the caller holds open for the call.
    let heap = unsafe { std::os::fd::BorrowedFd::borrow_raw(heap) };
    fixtures::heap_alloc(heap, 4096).unwrap_or_else(|e| panic!("DMA_HEAP_IOCTL_ALLOC: {e}"))
}

fn apply(slot: RawFd, src: Source) {
    // SAFETY (all blocks): dup3/close on fd numbers this test owns exclusively; the temporary
    // fds are owned and closed by `OwnedFd`.
    match src {
        Source::Dup(fd) => {
            let r = unsafe { libc::dup3(fd, slot, libc::O_CLOEXEC) };
            assert_eq!(r, slot, "dup3: {}", std::io::Error::last_os_error());
        }
        Source::FreshOpen(path) => {
            let c = CString::new(path.as_os_str().as_bytes()).unwrap();
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
            assert!(
                fd >= 0,
                "open {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
            let r = unsafe { libc::dup3(fd, slot, libc::O_CLOEXEC) };
            assert_eq!(r, slot, "dup3: {}", std::io::Error::last_os_error());
            unsafe { libc::close(fd) };
        }
        Source::FreshHeapBuf(heap) => {
            let b = heap_buf(heap);
            let r = unsafe { libc::dup3(b.as_raw_fd(), slot, libc::O_CLOEXEC) };
            assert_eq!(r, slot, "dup3: {}", std::io::Error::last_os_error());
        }
        Source::Close => {
            // EBADF when another mutator closed it first: fine.
            unsafe { libc::close(slot) };
        }
    }
}

/// Tiny xorshift PRNG (deterministic per thread).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Reserves `n` distinct high fd numbers (closed on return, owned by the caller from then on).
fn reserve_slots(n: usize) -> Vec<RawFd> {
    let probe = eventfd();
    let held: Vec<OwnedFd> = (0..n)
        .map(|i| rustix::io::fcntl_dupfd_cloexec(&probe, 700 + 10 * i as RawFd).expect("F_DUPFD"))
        .collect();
    held.iter().map(|f| f.as_raw_fd()).collect()
}

/// How the comparers pick the fd the ioctl is issued on.
#[derive(Clone, Copy)]
enum Target {
    /// Always this fixed fd; `other` is a slot.
    Fixed(RawFd),
    /// A slot too (both sides flip); `ioctl_valid` are the extra answers possible then.
    Slots,
}

struct Figures {
    compares: u64,
    mutations: u64,
    outcomes: BTreeMap<(&'static str, Outcome), u64>,
    seconds: f64,
}

/// The slots the threads of [`race`] share: (fd, class, sources, valid answers).
type Slots = Arc<Vec<(RawFd, &'static str, Vec<Source>, Vec<Outcome>)>>;
/// What one comparer saw: (class, outcome) -> count.
type Counted = BTreeMap<(&'static str, Outcome), u64>;

/// Two threads that keep replacing what the slots hold until `stop`; they add their count to
/// `mutations`.
fn spawn_mutators(
    slots: &Slots,
    stop: &Arc<AtomicBool>,
    mutations: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut mutators = vec![];
    for m in 0..2u64 {
        let (slots, stop, mutations) = (slots.clone(), stop.clone(), mutations.clone());
        mutators.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (m + 1));
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (fd, _, sources, _) = &slots[rng.below(slots.len())];
                apply(*fd, sources[rng.below(sources.len())]);
                n += 1;
            }
            mutations.fetch_add(n, Ordering::Relaxed);
        }));
    }
    mutators
}

/// Two threads that issue `compares` ioctls between them, each asserting a valid answer.
fn spawn_comparers(
    slots: &Slots,
    req: libc::c_ulong,
    target: Target,
    extra_valid: &[Outcome],
    compares: u64,
) -> Vec<std::thread::JoinHandle<Counted>> {
    let mut comparers = vec![];
    let extra: Vec<Outcome> = extra_valid.to_vec();
    for c in 0..2u64 {
        let slots = slots.clone();
        let extra = extra.clone();
        let n = compares / 2 + if c == 0 { compares % 2 } else { 0 };
        comparers.push(std::thread::spawn(move || {
            let mut rng = Rng(0xd1b5_4a32_d192_ed03 ^ (c + 7));
            let mut counts: BTreeMap<(&'static str, Outcome), u64> = BTreeMap::new();
            for i in 0..n {
                let (other, class, _, valid) = &slots[i as usize % slots.len()];
                let (fd, class, ok) = match target {
                    Target::Fixed(fd) => (fd, *class, valid.clone()),
                    Target::Slots => {
                        let (fd, _, _, _) = &slots[rng.below(slots.len())];
                        (*fd, "both-flip", extra.clone())
                    }
                };
                let o = same_raw(req, fd, *other);
                assert!(
                    ok.contains(&o),
                    "compare #{i} (ioctl on fd {fd}, other fd {other}, class {class}): {o} is not \
                     one of the valid answers {ok:?}"
                );
                *counts.entry((class, o)).or_default() += 1;
            }
            counts
        }));
    }
    comparers
}

/// Runs `compares` compares on 2 threads while 2 mutator threads flip the slots.
fn race(
    req: libc::c_ulong,
    target: Target,
    slots: &[Slot],
    extra_valid: &[Outcome],
    compares: u64,
) -> Figures {
    let slots = Arc::new(
        slots
            .iter()
            .map(|s| (s.fd, s.class, s.sources.clone(), s.valid.clone()))
            .collect::<Vec<_>>(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mutations = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mutators = spawn_mutators(&slots, &stop, &mutations);
    let comparers = spawn_comparers(&slots, req, target, extra_valid, compares);
    let mut outcomes: BTreeMap<(&'static str, Outcome), u64> = BTreeMap::new();
    let mut panic = None;
    for c in comparers {
        match c.join() {
            Ok(counts) => {
                for (k, v) in counts {
                    *outcomes.entry(k).or_default() += v;
                }
            }
            Err(p) => panic = Some(p),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for m in mutators {
        if let Err(p) = m.join() {
            panic = Some(p);
        }
    }
    for (fd, _, _, _) in slots.iter() {
        // SAFETY: the slots are ours; every thread that used them has been joined.
        unsafe { libc::close(*fd) };
    }
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    Figures {
        compares: outcomes.values().sum(),
        mutations: mutations.load(Ordering::Relaxed),
        outcomes,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// System-wide leak accounting around a test.
struct Ledger {
    bufs: usize,
    clients: BTreeMap<u32, usize>,
}

impl Ledger {
    fn take() -> Self {
        Self {
            bufs: dmabuf_count(),
            clients: drm_client_counts(),
        }
    }

    /// Asserts that the counters see what the test holds (so that "back to where they started"
    /// means something): at least `bufs` more dma-bufs, and more clients on some DRM minor.
    fn assert_counts_see(&self, bufs: usize, clients: bool) {
        let now = dmabuf_count();
        assert!(
            now >= self.bufs + bufs,
            "debugfs counts {now} dma-bufs, started at {}, {bufs} are held",
            self.bufs
        );
        if clients {
            let c = drm_client_counts();
            assert!(
                c.iter()
                    .any(|(m, n)| *n > self.clients.get(m).copied().unwrap_or(0)),
                "debugfs shows no new DRM client while the test holds some: {c:?} vs {:?}",
                self.clients
            );
        }
    }

    /// Asserts everything is back, and prints the summary line.
    fn check(self, name: &str, f: &Figures) {
        let bufs = settle(&self.bufs, dmabuf_count);
        let clients = settle(&self.clients, drm_client_counts);
        let outcomes: Vec<String> = f
            .outcomes
            .iter()
            .map(|((class, o), n)| format!("{class}:{o}={n}"))
            .collect();
        report(&format!(
            "races[{name}]: {} compares, {} mutations, {:.1} s, outcomes {{{}}}, dma-bufs before/after {}/{}, \
             drm clients before/after {:?}/{:?}",
            f.compares,
            f.mutations,
            f.seconds,
            outcomes.join(", "),
            self.bufs,
            bufs,
            self.clients,
            clients
        ));
        assert_eq!(
            bufs, self.bufs,
            "{name}: dma-bufs leaked (debugfs {DMA_BUF_BUFINFO})"
        );
        assert_eq!(
            clients, self.clients,
            "{name}: drm_files leaked (debugfs {DRI_DEBUGFS}/*/clients)"
        );
        total_up(self, f, bufs, clients);
    }
}

/// Totals over the tests of this binary: (tests done, compares, outcomes by answer, first
/// ledger, last counts).
type Totals = (
    usize,
    u64,
    BTreeMap<Outcome, u64>,
    Option<(usize, BTreeMap<u32, usize>)>,
);
static TOTALS: Mutex<Totals> = Mutex::new((0, 0, BTreeMap::new(), None));
const TESTS: usize = 4;

/// Adds a passed test's figures; after the last of the four, prints the one-line summary.
fn total_up(first: Ledger, f: &Figures, bufs: usize, clients: BTreeMap<u32, usize>) {
    let mut t = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    t.0 += 1;
    t.1 += f.compares;
    for ((_, o), n) in &f.outcomes {
        *t.2.entry(*o).or_default() += n;
    }
    let start = t.3.get_or_insert((first.bufs, first.clients)).clone();
    if t.0 == TESTS {
        let outcomes: Vec<String> = t.2.iter().map(|(o, n)| format!("{o}: {n}")).collect();
        report(&format!(
            "races: {} compares, outcomes {{{}}}, dma-bufs before/after {}/{bufs}, \
             drm clients before/after {:?}/{clients:?}",
            t.1,
            outcomes.join(", "),
            start.0,
            start.1
        ));
    }
}

fn leak_path(p: &Path) -> &'static Path {
    Box::leak(p.to_path_buf().into_boxed_path())
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asserts that every outcome the test requires to have been exercised was seen: a race test
/// whose slots were never closed (or never reopened) while compared would prove little.
fn assert_seen(name: &str, f: &Figures, needed: &[(&str, Outcome)]) {
    for (class, o) in needed {
        assert!(
            f.outcomes.get(&(*class, *o)).copied().unwrap_or(0) > 0,
            "{name}: outcome {o} on class {class} never happened; the race did not race: {:?}",
            f.outcomes
        );
    }
}

#[test]
fn drm_other_fd_flips() {
    require_guest();
    let _g = lock();
    let ledger = Ledger::take();
    let figures = {
        let a = open_vgem_card();
        let vkms = open_vkms_card();
        let ev = eventfd();
        let a_path = leak_path(a.path());
        let render = leak_path(&find_node(VGEM, NodeKind::Render));
        let eb = Outcome::Errno(libc::EBADF);
        let s = reserve_slots(3);
        let slots = [
            Slot {
                fd: s[0],
                class: "dupA|closed",
                sources: vec![Source::Dup(a.raw()), Source::Close],
                valid: vec![Outcome::Bits(ALL), eb],
            },
            Slot {
                fd: s[1],
                class: "reopenA|render|eventfd|closed",
                sources: vec![
                    Source::FreshOpen(a_path),
                    Source::FreshOpen(render),
                    Source::Dup(ev.as_raw_fd()),
                    Source::Close,
                ],
                valid: vec![Outcome::Bits(DEVICE), Outcome::Bits(0), eb],
            },
            Slot {
                fd: s[2],
                class: "dupA|reopenA|vkms|closed",
                sources: vec![
                    Source::Dup(a.raw()),
                    Source::FreshOpen(a_path),
                    Source::Dup(vkms.raw()),
                    Source::Close,
                ],
                valid: vec![
                    Outcome::Bits(ALL),
                    Outcome::Bits(DEVICE),
                    Outcome::Bits(0),
                    eb,
                ],
            },
        ];
        ledger.assert_counts_see(0, true);
        let f = race(
            DRM_IOCTL_FILE_SAME as _,
            Target::Fixed(a.raw()),
            &slots,
            &[],
            compares_per_test(),
        );
        assert_seen(
            "drm_other_fd_flips",
            &f,
            &[
                ("dupA|closed", Outcome::Bits(ALL)),
                ("dupA|closed", eb),
                ("reopenA|render|eventfd|closed", Outcome::Bits(DEVICE)),
                ("dupA|reopenA|vkms|closed", Outcome::Bits(0)),
            ],
        );
        f
    };
    ledger.check("drm_other_fd_flips", &figures);
}

#[test]
fn drm_both_fds_flip() {
    require_guest();
    let _g = lock();
    let ledger = Ledger::take();
    let figures = {
        let a = open_vgem_card();
        let vkms = open_vkms_card();
        let ev = eventfd();
        let a_path = leak_path(a.path());
        let s = reserve_slots(4);
        let sources = vec![
            Source::Dup(a.raw()),
            Source::Dup(vkms.raw()),
            Source::FreshOpen(a_path),
            Source::Dup(ev.as_raw_fd()),
            Source::Close,
        ];
        let slots: Vec<Slot> = s
            .iter()
            .map(|&fd| Slot {
                fd,
                class: "both-flip",
                sources: sources.clone(),
                valid: vec![],
            })
            .collect();
        // The ioctl fd may be: closed (EBADF from ioctl(2)), an eventfd (ENOTTY), vgem or vkms.
        let valid = [
            Outcome::Bits(ALL),
            Outcome::Bits(DEVICE),
            Outcome::Bits(0),
            Outcome::Errno(libc::EBADF),
            Outcome::Errno(libc::ENOTTY),
        ];
        ledger.assert_counts_see(0, true);
        let f = race(
            DRM_IOCTL_FILE_SAME as _,
            Target::Slots,
            &slots,
            &valid,
            compares_per_test(),
        );
        assert_seen(
            "drm_both_fds_flip",
            &f,
            &[
                ("both-flip", Outcome::Bits(ALL)),
                ("both-flip", Outcome::Bits(0)),
                ("both-flip", Outcome::Errno(libc::EBADF)),
            ],
        );
        f
    };
    ledger.check("drm_both_fds_flip", &figures);
}

#[test]
fn dmabuf_other_fd_flips() {
    require_guest();
    let _g = lock();
    let ledger = Ledger::take();
    let figures = {
        let heap = rustix::fs::open(
            DMA_HEAP_SYSTEM,
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap_or_else(|e| panic!("opening {DMA_HEAP_SYSTEM}: {e}"));
        let b = heap_buf(heap.as_raw_fd());
        let c = heap_buf(heap.as_raw_fd());
        let vgem = open_vgem_card();
        let vbuf = vgem_dmabuf(&vgem);
        let ev = eventfd();
        let eb = Outcome::Errno(libc::EBADF);
        let s = reserve_slots(3);
        let slots = [
            Slot {
                fd: s[0],
                class: "dupB|closed",
                sources: vec![Source::Dup(b.as_raw_fd()), Source::Close],
                valid: vec![Outcome::Bits(BUF_SAME), eb],
            },
            Slot {
                fd: s[1],
                class: "fresh|C|vgembuf|drm|closed",
                sources: vec![
                    Source::FreshHeapBuf(heap.as_raw_fd()),
                    Source::Dup(c.as_raw_fd()),
                    Source::Dup(vbuf.as_raw_fd()),
                    Source::Dup(vgem.raw()),
                    Source::Close,
                ],
                valid: vec![Outcome::Bits(0), eb],
            },
            Slot {
                fd: s[2],
                class: "dupB|fresh|eventfd|closed",
                sources: vec![
                    Source::Dup(b.as_raw_fd()),
                    Source::FreshHeapBuf(heap.as_raw_fd()),
                    Source::Dup(ev.as_raw_fd()),
                    Source::Close,
                ],
                valid: vec![Outcome::Bits(BUF_SAME), Outcome::Bits(0), eb],
            },
        ];
        ledger.assert_counts_see(3, true);
        let f = race(
            DMA_BUF_IOCTL_SAME_OBJECT as _,
            Target::Fixed(b.as_raw_fd()),
            &slots,
            &[],
            compares_per_test(),
        );
        assert_seen(
            "dmabuf_other_fd_flips",
            &f,
            &[
                ("dupB|closed", Outcome::Bits(BUF_SAME)),
                ("dupB|closed", eb),
                ("fresh|C|vgembuf|drm|closed", Outcome::Bits(0)),
                ("dupB|fresh|eventfd|closed", Outcome::Bits(BUF_SAME)),
            ],
        );
        f
    };
    ledger.check("dmabuf_other_fd_flips", &figures);
}

#[test]
fn dmabuf_both_fds_flip() {
    require_guest();
    let _g = lock();
    let ledger = Ledger::take();
    let figures = {
        let heap = rustix::fs::open(
            DMA_HEAP_SYSTEM,
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap_or_else(|e| panic!("opening {DMA_HEAP_SYSTEM}: {e}"));
        let b = heap_buf(heap.as_raw_fd());
        // Three udmabufs: c and c2 over one page of a memfd (the same storage), c3 over the
        // next page (compared, different): the exporter's same_storage runs while the other
        // fd is being closed and replaced.
        let memfd = sealed_memfd(2);
        let c = udmabuf_range(memfd.as_fd(), 0, 1);
        let c2 = udmabuf_range(memfd.as_fd(), 0, 1);
        let c3 = udmabuf_range(memfd.as_fd(), 1, 1);
        let ev = eventfd();
        let s = reserve_slots(4);
        let sources = vec![
            Source::Dup(b.as_raw_fd()),
            Source::Dup(c.as_raw_fd()),
            Source::Dup(c2.as_raw_fd()),
            Source::Dup(c3.as_raw_fd()),
            Source::FreshHeapBuf(heap.as_raw_fd()),
            Source::Dup(ev.as_raw_fd()),
            Source::Close,
        ];
        let slots: Vec<Slot> = s
            .iter()
            .map(|&fd| Slot {
                fd,
                class: "both-flip",
                sources: sources.clone(),
                valid: vec![],
            })
            .collect();
        let valid = [
            Outcome::Bits(BUF_SAME),
            Outcome::Bits(BUF_SAME_STORAGE),
            Outcome::Bits(BUF_COMPARED),
            Outcome::Bits(0),
            Outcome::Errno(libc::EBADF),
            Outcome::Errno(libc::ENOTTY),
        ];
        ledger.assert_counts_see(4, false);
        let f = race(
            DMA_BUF_IOCTL_SAME_OBJECT as _,
            Target::Slots,
            &slots,
            &valid,
            compares_per_test(),
        );
        assert_seen(
            "dmabuf_both_fds_flip",
            &f,
            &[
                ("both-flip", Outcome::Bits(BUF_SAME)),
                ("both-flip", Outcome::Bits(BUF_SAME_STORAGE)),
                ("both-flip", Outcome::Bits(BUF_COMPARED)),
                ("both-flip", Outcome::Bits(0)),
                ("both-flip", Outcome::Errno(libc::EBADF)),
            ],
        );
        drop(heap);
        f
    };
    ledger.check("dmabuf_both_fds_flip", &figures);
}
