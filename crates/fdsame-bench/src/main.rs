//! `fdsame-bench`: what does it cost to answer "are these two fds the same thing?"
//!
//! Times `DRM_IOCTL_FILE_SAME` and `DMA_BUF_IOCTL_SAME_OBJECT` against every other way
//! userspace has (F_DUPFD_QUERY, kcmp, Mesa's epoll trick, fstat, fdinfo, sysfs) and against
//! floors (cheapest DRM core ioctl, a no-op syscall), once plain and once with 10,000 extra
//! fds and dma-bufs open. See `--help`.

mod json;
mod mech;
mod report;
mod stats;
mod sys;
mod timer;

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fdsame::uapi;

use report::{key, Report, Row};
use stats::{Job, Outcome};
use sys::raw;

/// Cost per answer of the ways to tell whether two fds are the same thing.
///
/// The markdown report goes to stdout, progress to stderr. Exit status: 0 unless a measurement
/// failed (a mechanism answered "not the same" for a dup pair, one of the new ioctls answered
/// other than exactly its expected result bits, or a call errored while being timed);
/// unavailable mechanisms (an ioctl erring at its check, a missing device) are reported as
/// "n/a: <why>" and do not fail the run.
///
/// Rows: the two new ioctls on a dup (DRM: FILE|CLIENT|DEVICE = 0x7; dma-buf: all four bits =
/// 0xf, the OBJECT path), DMA_BUF_IOCTL_SAME_OBJECT on two different dma-bufs (no callback:
/// 0x0; one vim2m plane exported twice and udmabuf pairs over one memfd range of 1, 256 and
/// 2048 pages: the STORAGE path, 0xc; 2048-page udmabufs over two memfds: 0x8), the library
/// call fdsame::compare() on the same DRM and dma-buf dup pairs (every level and the mechanism
/// checked), F_DUPFD_QUERY, kcmp, Mesa's epoll trick, fstat, fdinfo, sysfs, and the floors
/// (GET_CAP, VERSION, getppid).
#[derive(Debug, Clone, PartialEq, clap::Parser)]
#[command(name = "fdsame-bench")]
struct Opts {
    /// Timed samples per row and condition, split over the rounds [default: 600; --quick: 30]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    samples: Option<u64>,
    /// Calls per sample for syscall-sized rows [default: 100; --quick: 16]
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    batch: Option<u64>,
    /// Calls per sample for the fdinfo and sysfs rows [default: 10; --quick: 4]
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    slow_batch: Option<u64>,
    /// Extra open fds (dups of one eventfd) for the at-scale pass
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    scale_fds: usize,
    /// Extra live 4 KiB dma-bufs for the at-scale pass
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    scale_bufs: usize,
    /// Skip the at-scale pass
    #[arg(long)]
    no_scale: bool,
    /// Alternate R base passes and R at-scale passes; within a pass all rows are interleaved
    /// sample by sample, so drift hits them alike
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Small N and K (for the host or a smoke test)
    #[arg(long)]
    quick: bool,
    /// auto, monotonic or tsc: auto uses CLOCK_MONOTONIC unless it steps by more than 1 µs (a
    /// jiffies clocksource in a minimal TCG guest), then the TSC calibrated against
    /// CLOCK_MONOTONIC
    #[arg(long, value_name = "T", default_value = "auto")]
    timer: String,
    /// Also write DIR/bench.md, DIR/bench.json, DIR/bench.svg
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl Opts {
    /// (samples, batch, slow batch): the flags, else the defaults of a full or a quick run.
    fn sizes(&self) -> (usize, usize, usize) {
        let d = if self.quick {
            (30, 16, 4)
        } else {
            (600, 100, 10)
        };
        let pick = |v: Option<u64>, d: usize| v.map_or(d, |v| v as usize);
        (
            pick(self.samples, d.0),
            pick(self.batch, d.1),
            pick(self.slow_batch, d.2),
        )
    }
}

/// Two fds for the same open file, and what they are.
struct Pair {
    a: OwnedFd,
    b: OwnedFd,
    what: String,
}

impl Pair {
    fn dup_of(a: OwnedFd, what: impl Into<String>) -> Result<Pair, i32> {
        let b = sys::dup_at_least(a.as_fd(), 0)?;
        Ok(Pair {
            a,
            b,
            what: what.into(),
        })
    }

    fn fds(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>) {
        (self.a.as_fd(), self.b.as_fd())
    }

    /// A copy of this pair at fd numbers >= `min` (a: the lower one, b: the next).
    fn moved_to(&self, min: RawFd) -> Result<Pair, i32> {
        let a = sys::dup_at_least(self.a.as_fd(), min)?;
        let b = sys::dup_at_least(self.b.as_fd(), raw(&a) + 1)?;
        Ok(Pair {
            a,
            b,
            what: self.what.clone(),
        })
    }
}

struct Env {
    /// vgem primary node fd and a dup.
    drm: Option<Pair>,
    drm_path: String,
    /// dma-buf and a dup.
    dmabuf: Option<Pair>,
    heap: Option<OwnedFd>,
    /// The pair for the generic rows 3-7: the DRM pair if any, else a pipe.
    generic: Pair,
    /// The pair for the sysfs row: the DRM pair, else an O_PATH fd of a char device.
    sysfs: Option<Pair>,
    /// `DMA_BUF_IOCTL_SAME_OBJECT` on two different dma-bufs: the STORAGE path and its
    /// neighbours, each with the exact bits it must answer.
    dma_rows: Vec<DmaRow>,
    notes: Vec<String>,
}

/// A `DMA_BUF_IOCTL_SAME_OBJECT` row on two different dma-bufs, with the exact result the
/// kernel must give for them (checked before timing and on every timed call).
struct DmaRow {
    key: &'static str,
    label: String,
    detail: String,
    expect: u64,
    /// The pair, or why there is none (the row is then n/a).
    pair: Result<Pair, String>,
    /// What else stays open while the row is timed (the V4L2 node, the memfds).
    _keep: Vec<OwnedFd>,
}

impl DmaRow {
    fn new(key: &'static str, label: &str, detail: String, expect: u64) -> DmaRow {
        DmaRow {
            key,
            label: label.to_string(),
            detail,
            expect,
            pair: Err("not set up".into()),
            _keep: Vec::new(),
        }
    }
}

/// `DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED`: two dma-bufs over the same memory.
const STORAGE_SAME: u64 = uapi::DMA_BUF_SAME_STORAGE | uapi::DMA_BUF_STORAGE_COMPARED;

/// Find vim2m by its `VIDIOC_QUERYCAP` driver name over /dev/video* in number order: the
/// open node and the capture buffer type.
fn find_vim2m(notes: &mut Vec<String>) -> Option<(OwnedFd, String, u32)> {
    let mut nodes: Vec<(u32, String)> = std::fs::read_dir("/dev")
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let n = name.strip_prefix("video")?.parse::<u32>().ok()?;
            Some((n, format!("/dev/{name}")))
        })
        .collect();
    nodes.sort();
    let mut seen = Vec::new();
    let mut found = None;
    for (_, path) in nodes {
        let Ok(c) = CString::new(path.clone()) else {
            continue;
        };
        match sys::open(&c, libc::O_RDWR) {
            Ok(fd) => match sys::v4l2_driver(fd.as_fd()) {
                Ok((name, capture)) => {
                    seen.push(format!("{path}: {name}"));
                    if name == "vim2m" && found.is_none() {
                        found = Some((fd, path, capture));
                    }
                }
                Err(e) => seen.push(format!("{path}: VIDIOC_QUERYCAP {}", sys::errno_name(e))),
            },
            Err(e) => seen.push(format!("{path}: open {}", sys::errno_name(e))),
        }
    }
    notes.push(format!(
        "V4L2 nodes: {}",
        if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        }
    ));
    found
}

/// The dma-buf rows beyond the dup: two distinct dma-bufs of the exporter of `dmabuf`
/// (`second` is another buffer of it), one vim2m plane exported twice, and udmabuf pairs.
fn setup_dma_rows(
    dmabuf: Option<&Pair>,
    second: Result<OwnedFd, String>,
    notes: &mut Vec<String>,
) -> Vec<DmaRow> {
    let mut rows = vec![two_objects_row(dmabuf, second), vim2m_row(notes)];
    let udev = sys::open(c"/dev/udmabuf", libc::O_RDWR);
    let udev = udev.map_err(|e| format!("/dev/udmabuf: {}", sys::errno_name(e)));
    let mut same_2048: Option<OwnedFd> = None;
    for (k, pages) in key::UDMABUF_SAME {
        let r = udmabuf_row(udev.as_ref(), k, pages);
        if pages == 2048 {
            let a = r
                .pair
                .as_ref()
                .ok()
                .map(|p| sys::dup_at_least(p.a.as_fd(), 0));
            same_2048 = a.and_then(Result::ok);
        }
        rows.push(r);
    }
    rows.push(udmabuf_diff_row(udev.as_ref(), same_2048));
    rows
}

/// Two different dma-bufs of one exporter without `same_storage`: 0x0.
fn two_objects_row(dmabuf: Option<&Pair>, second: Result<OwnedFd, String>) -> DmaRow {
    let src = dmabuf.map_or("(no dma-buf)", |p| {
        if p.what.contains("vgem") {
            "vgem PRIME"
        } else {
            "system dma-heap"
        }
    });
    let mut two = DmaRow::new(
        key::DMA_BUF_TWO,
        "SAME_OBJECT: two dma-bufs, no callback",
        format!(
            "ioctl(a, DMA_BUF_IOCTL_SAME_OBJECT, {{fd = b}}) on two different 4 KiB dma-bufs of one exporter without same_storage ({src}): same ops, no callback, nothing compared; must answer exactly 0x0"
        ),
        0,
    );
    two.pair = match (dmabuf, second) {
        (Some(p), Ok(b)) => sys::dup_at_least(p.a.as_fd(), 0)
            .map(|a| Pair {
                a,
                b,
                what: format!("two {src} dma-bufs"),
            })
            .map_err(sys::errno_name),
        (None, _) => Err("no dma-buf".into()),
        (_, Err(e)) => Err(e),
    };
    two
}

/// One vim2m (videobuf2) plane exported twice: the STORAGE path through vb2, 0xc.
fn vim2m_row(notes: &mut Vec<String>) -> DmaRow {
    let mut vim = DmaRow::new(
        key::STORAGE_VIM2M,
        "SAME_OBJECT: STORAGE vim2m (vb2)",
        "ioctl(a, DMA_BUF_IOCTL_SAME_OBJECT, {fd = b}) on two VIDIOC_EXPBUF of plane 0 of capture buffer 0 of vim2m (videobuf2-vmalloc; two dma-bufs, two files): STORAGE path, vb2_common_same_storage() compares dma_buf.priv; must answer exactly SAME_STORAGE|STORAGE_COMPARED = 0xc".into(),
        STORAGE_SAME,
    );
    match find_vim2m(notes) {
        None => vim.pair = Err("no vim2m node".into()),
        Some((fd, path, capture)) => {
            let v = fd.as_fd();
            vim.pair = sys::v4l2_reqbufs(v, capture, 1)
                .map_err(|e| format!("VIDIOC_REQBUFS: {}", sys::errno_name(e)))
                .and_then(|n| {
                    let exp = || {
                        sys::v4l2_expbuf(v, capture, 0, 0)
                            .map_err(|e| format!("VIDIOC_EXPBUF: {}", sys::errno_name(e)))
                    };
                    let (a, b) = (exp()?, exp()?);
                    let size = sys::dmabuf_size(a.as_fd()).unwrap_or(0);
                    notes.push(format!(
                        "vim2m STORAGE pair: {path}, buffer type {capture}, {n} buffer(s) allocated, plane 0 of buffer 0 exported twice, {size} bytes"
                    ));
                    Ok(Pair {
                        a,
                        b,
                        what: format!("vim2m {path} plane exported twice"),
                    })
                });
            vim._keep.push(fd);
        }
    }
    vim
}

/// Two udmabufs over the same `pages` of one memfd: the STORAGE path, 0xc.
fn udmabuf_row(udev: Result<&OwnedFd, &String>, k: &'static str, pages: usize) -> DmaRow {
    let page = sys::page_size();
    let bytes = pages * page;
    let size = if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else if pages == 1 {
        "1 page".into()
    } else {
        format!("{} KiB", bytes >> 10)
    };
    let mut r = DmaRow::new(
        k,
        &format!("SAME_OBJECT: STORAGE udmabuf {size}"),
        format!(
            "ioctl(a, DMA_BUF_IOCTL_SAME_OBJECT, {{fd = b}}) on two UDMABUF_CREATE over the same {pages} page{} ({bytes} bytes) of one sealed memfd: STORAGE path, same_storage_udmabuf() checks the first and last page, then memcmp()s both page arrays ({} bytes each) in chunks of up to 1024 pages with cond_resched() after each, all equal; must answer exactly 0xc",
            if pages == 1 { "" } else { "s" },
            pages * std::mem::size_of::<usize>()
        ),
        STORAGE_SAME,
    );
    r.pair = match udev {
        Err(e) => Err(e.clone()),
        Ok(dev) => sys::sealed_memfd(pages)
            .and_then(|m| {
                let a = sys::udmabuf_range(dev.as_fd(), m.as_fd(), 0, pages)?;
                let b = sys::udmabuf_range(dev.as_fd(), m.as_fd(), 0, pages)?;
                r._keep.push(m);
                Ok(Pair {
                    a,
                    b,
                    what: format!("two udmabufs over one {size} memfd range"),
                })
            })
            .map_err(|e| format!("udmabuf of {pages} pages: {}", sys::errno_name(e))),
    };
    r
}

/// Two 2048-page udmabufs over two memfds: compared, different, 0x8.
fn udmabuf_diff_row(udev: Result<&OwnedFd, &String>, same_2048: Option<OwnedFd>) -> DmaRow {
    let mut diff = DmaRow::new(
        key::STORAGE_UDMABUF_DIFF,
        "SAME_OBJECT: STORAGE udmabuf 8 MiB, other memfd",
        "ioctl(a, DMA_BUF_IOCTL_SAME_OBJECT, {fd = b}) on two 2048-page (8 MiB) udmabufs over two memfds: STORAGE path, same size, the first pages differ, so same_storage_udmabuf() returns before any memcmp(); must answer exactly STORAGE_COMPARED = 0x8".into(),
        uapi::DMA_BUF_STORAGE_COMPARED,
    );
    diff.pair = match (udev, same_2048) {
        (Err(e), _) => Err(e.clone()),
        (_, None) => Err("no 2048-page udmabuf".into()),
        (Ok(dev), Some(a)) => sys::sealed_memfd(2048)
            .and_then(|m| {
                let b = sys::udmabuf_range(dev.as_fd(), m.as_fd(), 0, 2048)?;
                diff._keep.push(m);
                Ok(Pair {
                    a,
                    b,
                    what: "two 8 MiB udmabufs over two memfds".into(),
                })
            })
            .map_err(|e| format!("udmabuf of 2048 pages: {}", sys::errno_name(e))),
    };
    diff
}

fn log(msg: &str) {
    eprintln!("fdsame-bench: {msg}");
}

/// Find vgem by driver name over /dev/dri/card* in probe (number) order.
fn find_vgem(notes: &mut Vec<String>) -> Option<(OwnedFd, String)> {
    let mut cards: Vec<(u32, String)> = std::fs::read_dir("/dev/dri")
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let n = name.strip_prefix("card")?.parse::<u32>().ok()?;
            Some((n, format!("/dev/dri/{name}")))
        })
        .collect();
    cards.sort();
    let mut seen = Vec::new();
    let mut found = None;
    for (_, path) in cards {
        let c = CString::new(path.clone()).ok()?;
        match sys::open(&c, libc::O_RDWR) {
            Ok(fd) => match sys::drm_driver_name(fd.as_fd()) {
                Ok(name) => {
                    seen.push(format!("{path}: {name}"));
                    if name == "vgem" && found.is_none() {
                        found = Some((fd, path));
                    }
                }
                Err(e) => seen.push(format!("{path}: DRM_IOCTL_VERSION {}", sys::errno_name(e))),
            },
            Err(e) => seen.push(format!("{path}: open {}", sys::errno_name(e))),
        }
    }
    notes.push(format!(
        "DRM devices: {}",
        if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        }
    ));
    found
}

fn pipe_pair() -> Pair {
    let mut fds = [0; 2];
    // SAFETY: fds is a 2-int array; both ends become owned.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2 failed: {}", sys::errno_name(sys::errno()));
    use std::os::fd::FromRawFd;
    // SAFETY: fresh fds from pipe2.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::mem::forget(wr); // keep the pipe alive (the write end stays open, unused)
    Pair::dup_of(rd, "pipe read end and its dup").expect("dup of a pipe")
}

fn setup() -> Env {
    let mut notes = Vec::new();
    let vgem = find_vgem(&mut notes);
    let heap = sys::open(c"/dev/dma_heap/system", libc::O_RDONLY).ok();
    notes.push(format!(
        "dma-heap /dev/dma_heap/system: {}",
        if heap.is_some() { "present" } else { "absent" }
    ));
    let (drm, drm_path) = match vgem {
        Some((fd, path)) => {
            let p = Pair::dup_of(fd, format!("vgem {path} (O_RDWR) and its dup")).expect("dup");
            (Some(p), path)
        }
        None => (None, String::new()),
    };
    let dmabuf = first_dmabuf(drm.as_ref(), heap.as_ref(), &mut notes);
    // A second buffer of the same exporter as `dmabuf`, for the two-objects row.
    let second = match (&dmabuf, &drm, &heap) {
        (None, _, _) => Err("no dma-buf".to_string()),
        (Some(p), Some(d), _) if p.what.contains("vgem") => {
            sys::vgem_dumb_dmabuf(d.a.as_fd()).map_err(sys::errno_name)
        }
        (Some(_), _, Some(h)) => sys::heap_alloc(h.as_fd(), 4096).map_err(sys::errno_name),
        (Some(_), _, None) => Err("no second dma-buf source".to_string()),
    };
    let dma_rows = setup_dma_rows(dmabuf.as_ref(), second, &mut notes);

    let generic = match &drm {
        Some(d) => Pair {
            a: sys::dup_at_least(d.a.as_fd(), 0).unwrap(),
            b: sys::dup_at_least(d.b.as_fd(), 0).unwrap(),
            what: d.what.clone(),
        },
        None => pipe_pair(),
    };

    let sysfs = match &drm {
        Some(d) => d.moved_to(0).ok(),
        None => sys::open(c"/dev/ttyS0", libc::O_PATH).ok().and_then(|fd| {
            Pair::dup_of(
                fd,
                "O_PATH fd of /dev/ttyS0 and its dup (host stand-in: no vgem)",
            )
            .ok()
        }),
    };

    Env {
        drm,
        drm_path,
        dmabuf,
        heap,
        generic,
        sysfs,
        dma_rows,
        notes,
    }
}

/// The dma-buf pair of the OBJECT path: a vgem dumb buffer's, else a dma-heap buffer's.
fn first_dmabuf(
    drm: Option<&Pair>,
    heap: Option<&OwnedFd>,
    notes: &mut Vec<String>,
) -> Option<Pair> {
    let mut dmabuf = None;
    if let Some(d) = drm {
        match sys::vgem_dumb_dmabuf(d.a.as_fd()) {
            Ok(fd) => {
                dmabuf = Some(
                    Pair::dup_of(
                        fd,
                        "dma-buf of a 4 KiB vgem dumb buffer (PRIME export) and its dup",
                    )
                    .expect("dup"),
                )
            }
            Err(e) => notes.push(format!(
                "vgem dumb buffer export failed: {}",
                sys::errno_name(e)
            )),
        }
    }
    if dmabuf.is_none() {
        if let Some(h) = heap {
            match sys::heap_alloc(h.as_fd(), 4096) {
                Ok(fd) => {
                    dmabuf = Some(
                        Pair::dup_of(fd, "4 KiB dma-buf from /dev/dma_heap/system and its dup")
                            .expect("dup"),
                    )
                }
                Err(e) => notes.push(format!(
                    "dma-heap allocation failed: {}",
                    sys::errno_name(e)
                )),
            }
        }
    }

    dmabuf
}

/// Fds and buffers kept open for the at-scale pass.
struct Scale {
    _extra: Vec<OwnedFd>,
    drm: Option<Pair>,
    dmabuf: Option<Pair>,
    generic: Pair,
    setup: String,
}

fn setup_scale(env: &Env, opts: &Opts) -> Result<Scale, String> {
    let t0 = Instant::now();
    let need = (opts.scale_fds + opts.scale_bufs) as u64 + sys::highest_open_fd() as u64 + 256;
    let limit =
        sys::raise_nofile(need).map_err(|e| format!("RLIMIT_NOFILE: {}", sys::errno_name(e)))?;
    let mut extra: Vec<OwnedFd> = Vec::with_capacity(opts.scale_fds + opts.scale_bufs + 1);
    let ev = sys::eventfd().map_err(|e| format!("eventfd: {}", sys::errno_name(e)))?;
    let (n_fds, fd_err) = fill(&mut extra, opts.scale_fds, || {
        sys::dup_at_least(ev.as_fd(), 0)
    });
    extra.push(ev);
    let source = if env.heap.is_some() {
        "4 KiB /dev/dma_heap/system buffers"
    } else if env.drm.is_some() {
        "4 KiB vgem dumb buffers (PRIME-exported, GEM handles kept on the compared DRM file)"
    } else {
        "none (no dma-heap, no vgem)"
    };
    let (n_bufs, buf_err) = match (&env.heap, &env.drm) {
        (Some(h), _) => fill(&mut extra, opts.scale_bufs, || {
            sys::heap_alloc(h.as_fd(), 4096)
        }),
        (None, Some(d)) => fill(&mut extra, opts.scale_bufs, || {
            sys::vgem_dumb_dmabuf(d.a.as_fd())
        }),
        (None, None) => (0, None),
    };
    let top = extra
        .iter()
        .map(raw)
        .max()
        .unwrap_or(0)
        .max(sys::highest_open_fd())
        + 1;
    let (generic, dmabuf, drm) = move_pairs_high(env, top)?;
    let mut setup = format!(
        "{n_fds} extra fds (dups of one eventfd) and {n_bufs} live dma-bufs ({source}); RLIMIT_NOFILE {limit}; compared pairs moved to the highest fds"
    );
    let nums = |p: &Pair| (raw(&p.a), raw(&p.b));
    let pairs = [
        ("generic", Some(&generic)),
        ("dma-buf", dmabuf.as_ref()),
        ("DRM", drm.as_ref()),
    ];
    for (name, (a, b)) in pairs
        .iter()
        .filter_map(|(n, p)| Some((n, nums(p.as_ref()?))))
    {
        setup.push_str(&format!(", {name} {a}/{b}"));
    }
    for (what, e) in [("fd", fd_err), ("dma-buf", buf_err)] {
        if let Some(e) = e {
            setup.push_str(&format!(
                "; {what} creation stopped early: {}",
                sys::errno_name(e)
            ));
        }
    }
    setup.push_str(&format!("; setup took {:.1} s", t0.elapsed().as_secs_f64()));
    Ok(Scale {
        _extra: extra,
        drm,
        dmabuf,
        generic,
        setup,
    })
}

/// Up to `n` fds from `make` into `extra`: how many, and the errno that stopped it early.
fn fill(
    extra: &mut Vec<OwnedFd>,
    n: usize,
    mut make: impl FnMut() -> Result<OwnedFd, i32>,
) -> (usize, Option<i32>) {
    for i in 0..n {
        match make() {
            Ok(fd) => extra.push(fd),
            Err(e) => return (i, Some(e)),
        }
    }
    (n, None)
}

/// The compared pairs, moved above everything else (from `top`): generic first, then dma-buf,
/// then DRM on top.
fn move_pairs_high(env: &Env, top: RawFd) -> Result<(Pair, Option<Pair>, Option<Pair>), String> {
    let generic = env
        .generic
        .moved_to(top)
        .map_err(|e| format!("moving a pair high: {}", sys::errno_name(e)))?;
    let next = raw(&generic.b) + 1;
    let dmabuf = env
        .dmabuf
        .as_ref()
        .map(|p| p.moved_to(next))
        .transpose()
        .map_err(sys::errno_name)?;
    let next = dmabuf.as_ref().map(|p| raw(&p.b) + 1).unwrap_or(next);
    let drm = env
        .drm
        .as_ref()
        .map(|p| p.moved_to(next))
        .transpose()
        .map_err(sys::errno_name)?;
    Ok((generic, dmabuf, drm))
}

/// Check the negative answers of the two new ioctls on a different open / object.
fn negative_checks(env: &Env, notes: &mut Vec<String>) -> Vec<(&'static str, String)> {
    let mut wrong = Vec::new();
    if let Some(d) = &env.drm {
        let (a, b) = d.fds();
        match mech::drm_file_same_bits(a, b) {
            Ok(bits) => notes.push(format!(
                "DRM_IOCTL_FILE_SAME(vgem fd, its dup) = {bits:#x} (FILE|CLIENT|DEVICE = {:#x})",
                uapi::DRM_FILE_SAME_ALL
            )),
            Err(e) => notes.push(format!("DRM_IOCTL_FILE_SAME: {}", sys::errno_name(e))),
        }
        if let Ok(c) = CString::new(env.drm_path.clone()) {
            if let Ok(other) = sys::open(&c, libc::O_RDWR) {
                if let Ok(bits) = mech::drm_file_same_bits(a, other.as_fd()) {
                    notes.push(format!("DRM_IOCTL_FILE_SAME(vgem fd, second open of {}) = {bits:#x} (expected DEVICE = {:#x})", env.drm_path, uapi::DRM_FILE_SAME_DEVICE));
                    if bits != uapi::DRM_FILE_SAME_DEVICE {
                        wrong.push((
                            key::DRM_FILE_SAME,
                            format!(
                                "second open answered {bits:#x}, expected {:#x}",
                                uapi::DRM_FILE_SAME_DEVICE
                            ),
                        ));
                    }
                }
            }
        }
    }
    if let Some(p) = &env.dmabuf {
        let (a, b) = p.fds();
        match mech::dma_buf_same_bits(a, b) {
            Ok(bits) => notes.push(format!(
                "DMA_BUF_IOCTL_SAME_OBJECT(dma-buf, its dup) = {bits:#x} (FILE|OBJECT|SAME_STORAGE|STORAGE_COMPARED = {:#x})",
                uapi::DMA_BUF_SAME_ALL
            )),
            Err(e) => notes.push(format!("DMA_BUF_IOCTL_SAME_OBJECT: {}", sys::errno_name(e))),
        }
        if let Ok(bits) = mech::dma_buf_same_bits(a, env.generic.a.as_fd()) {
            if bits != 0 {
                wrong.push((
                    key::DMA_BUF_SAME,
                    format!("a non-dma-buf fd answered {bits:#x}, expected 0"),
                ));
            }
        }
    }
    wrong
}

/// The check before timing an ioctl row: n/a when the ioctl errs (an old kernel, a missing
/// device), failed when it answers anything but exactly `expect`; `None`: time it.
fn precheck(bits: Result<u64, i32>, expect: u64) -> Option<Outcome> {
    match bits {
        Err(e) => Some(Outcome::NotAvailable(sys::errno_name(e))),
        Ok(b) if b != expect => Some(Outcome::Failed(format!(
            "answered {b:#x} before timing, expected exactly {expect:#x}"
        ))),
        Ok(_) => None,
    }
}

/// The check before timing a library row: `fdsame::compare()` in both directions must give
/// exactly `expect` (every level and the mechanism); the answer goes into the notes. n/a when
/// the call errs, failed on any other answer; `None`: time it.
fn lib_precheck(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    expect: &mech::LibExpect,
    notes: &mut Vec<String>,
) -> Option<Outcome> {
    for (x, y, dir) in [(a, b, "(a, b)"), (b, a, "(b, a)")] {
        match mech::fdsame_compare_answer(x, y) {
            Err(e) => return Some(Outcome::NotAvailable(sys::errno_name(e))),
            Ok(got) if got != *expect => {
                return Some(Outcome::Failed(format!(
                    "fdsame::compare{dir} answered {got:?} before timing, expected {expect:?}"
                )))
            }
            Ok(got) => {
                if dir == "(a, b)" {
                    notes.push(format!(
                        "fdsame::compare() on fds {}/{}, both directions: file {:?}, DRM client {:?}, DRM device {:?}, dma-buf object {:?}, dma-buf storage {:?}, by {:?} (as expected)",
                        a.as_raw_fd(),
                        b.as_raw_fd(),
                        got.file,
                        got.drm_client,
                        got.drm_device,
                        got.dma_buf_object,
                        got.dma_buf_storage,
                        got.mechanism
                    ));
                }
            }
        }
    }
    None
}

/// Pooled per-call samples of one row in one condition, or its final outcome.
#[derive(Default)]
struct Acc {
    samples: Vec<f64>,
    batch: usize,
    fin: Option<Outcome>,
}

impl Acc {
    fn add(&mut self, t: stats::Timed, batch: usize) {
        if self.fin.is_some() {
            return;
        }
        match t {
            Ok(v) => {
                self.samples.extend(v);
                self.batch = batch;
            }
            Err(o) => self.fin = Some(o),
        }
    }

    fn outcome(&self) -> Outcome {
        self.fin
            .clone()
            .unwrap_or_else(|| stats::finish(&self.samples, self.batch))
    }
}

/// Time `jobs` interleaved and pool the results into `accs` by row key.
fn time_into(jobs: &mut [Job<'_>], samples: usize, accs: &mut Vec<(&'static str, Acc)>) {
    let timed = stats::time_interleaved(jobs, samples);
    for (j, t) in jobs.iter().zip(timed) {
        match accs.iter_mut().find(|(key, _)| *key == j.key) {
            Some((_, acc)) => acc.add(t, j.batch),
            None => {
                let mut acc = Acc::default();
                acc.add(t, j.batch);
                accs.push((j.key, acc));
            }
        }
    }
}

/// What the timed rows of one condition (base or at-scale) gave: a row that could not be timed
/// (n/a, or a wrong answer at its check), else its pooled samples.
#[derive(Default)]
struct Results {
    na: Vec<(&'static str, Outcome)>,
    acc: Vec<(&'static str, Acc)>,
}

impl Results {
    fn outcome(&self, key: &str) -> Option<Outcome> {
        let na = self
            .na
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, o)| o.clone());
        na.or_else(|| {
            self.acc
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, a)| a.outcome())
        })
    }
}

/// The GET_CAP floor. GET_CAP(DUMB_BUFFER) only answers on KMS drivers; vgem is render-only, so
/// fall back to DRM_CAP_PRIME, which drm_getcap() answers in its first, driver-independent
/// switch. Returns (label, capability, expected value).
fn get_cap_floor(env: &Env, notes: &mut Vec<String>) -> (&'static str, u64, u64) {
    let Some((a, _)) = env.drm.as_ref().map(Pair::fds) else {
        return ("DRM_IOCTL_GET_CAP", 0, 0);
    };
    let why = match mech::drm_get_cap(a, sys::DRM_CAP_DUMB_BUFFER, 1) {
        Ok(true) => {
            return (
                "DRM_IOCTL_GET_CAP(DUMB_BUFFER)",
                sys::DRM_CAP_DUMB_BUFFER,
                1,
            )
        }
        Err(e) => sys::errno_name(e),
        Ok(false) => "value 0".into(),
    };
    notes.push(format!(
        "GET_CAP(DRM_CAP_DUMB_BUFFER) on vgem: {why} (not a KMS driver); the GET_CAP floor uses DRM_CAP_PRIME instead"
    ));
    let prime = sys::DRM_PRIME_CAP_IMPORT | sys::DRM_PRIME_CAP_EXPORT;
    ("DRM_IOCTL_GET_CAP(PRIME)", sys::DRM_CAP_PRIME, prime)
}

fn row(key: &'static str, label: impl Into<String>, detail: String) -> Row {
    let base = Outcome::NotAvailable("not measured".into());
    Row {
        key,
        label: label.into(),
        detail,
        base,
        scale: None,
    }
}

/// The rows of the report, in its order, each with what exactly it calls.
fn declare_rows(env: &Env, cap_label: &str, cap: u64) -> Vec<Row> {
    let g = &env.generic.what;
    let drm = env.drm.as_ref().map_or("(no vgem)", |p| p.what.as_str());
    let dma = env
        .dmabuf
        .as_ref()
        .map_or("(no dma-buf)", |p| p.what.as_str());
    let mut rows = vec![
        row(key::DRM_FILE_SAME, "DRM_IOCTL_FILE_SAME", format!(
            "ioctl(a, DRM_IOCTL_FILE_SAME, {{fd = b}}) on {drm}; must answer exactly FILE|CLIENT|DEVICE = {:#x}",
            uapi::DRM_FILE_SAME_ALL
        )),
        row(key::DMA_BUF_SAME, "DMA_BUF_IOCTL_SAME_OBJECT (OBJECT path)", format!(
            "ioctl(a, DMA_BUF_IOCTL_SAME_OBJECT, {{fd = b}}) on {dma}: the OBJECT path (same struct dma_buf, decided by a pointer compare, no exporter callback); must answer exactly all four bits = {:#x}",
            uapi::DMA_BUF_SAME_ALL
        )),
        row(key::LIB_DRM, "fdsame::compare(), two DRM descriptors", format!(
            "fdsame::compare(a, b), the library's public call (kind cache, chain, inferences), on the same pair as DRM_IOCTL_FILE_SAME ({drm}); must answer file, DRM client and DRM device Same, dma-buf object and storage Different, by DrmFileSameIoctl"
        )),
        row(key::LIB_DMA_BUF, "fdsame::compare(), two dma-bufs", format!(
            "fdsame::compare(a, b) on the same pair as the OBJECT path ({dma}); must answer file, dma-buf object and dma-buf storage Same, DRM client and device Different, by DmaBufSameObjectIoctl"
        )),
    ];
    rows.extend(
        env.dma_rows
            .iter()
            .map(|d| row(d.key, d.label.clone(), d.detail.clone())),
    );
    let sysfs = env.sysfs.as_ref().map_or(g.as_str(), |p| p.what.as_str());
    rows.extend([
        row(key::F_DUPFD_QUERY, "fcntl(F_DUPFD_QUERY)", format!("fcntl(a, F_DUPFD_QUERY = 1027, b) == 1 on {g}")),
        row(key::KCMP, "kcmp(KCMP_FILE)", format!(
            "fdsame::sys::kcmp_file(a, b): getpid(), then syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0, as Mesa's os_same_file_description() does; on {g}"
        )),
        row(key::EPOLL, "Mesa epoll trick", format!(
            "fdsame::sys::epoll_same_file(a, b), Mesa os_same_file_description()'s epoll branch: epoll_create1(EPOLL_CLOEXEC), fcntl(a, F_DUPFD_CLOEXEC, 0) -> tmp, EPOLL_CTL_ADD tmp, dup2(b, tmp), EPOLL_CTL_ADD tmp (EEXIST = same), close(tmp), close(epfd); on {g}"
        )),
        row(key::FSTAT, "fstat pair", format!("fstat(a), fstat(b), compare st_dev/st_ino/st_rdev (same inode only) on {g}")),
        row(key::FDINFO, "/proc/self/fdinfo parse", format!(
            "open/read/close /proc/self/fdinfo/a and /b into a stack buffer, parse drm-client-id (else mnt_id+ino), compare; on {g}"
        )),
        row(key::SYSFS, "sysfs device lookup", format!(
            "fstat -> st_rdev -> readlink /sys/dev/char/MAJ:MIN/device for a and b, compare targets (same device only); on {sysfs}"
        )),
        row(key::DRM_GET_CAP, format!("floor: {cap_label}"), format!("ioctl(a, DRM_IOCTL_GET_CAP, {{capability = {cap}}}) on the DRM fd")),
        row(key::DRM_VERSION, "floor: DRM_IOCTL_VERSION (0 lengths)", "ioctl(a, DRM_IOCTL_VERSION, {all lengths 0, no strings copied}) on the DRM fd".into()),
        row(key::GETPPID, "floor: syscall(SYS_getppid)", "libc::syscall(SYS_getppid): a no-op syscall, not cached".into()),
    ]);
    rows
}

const NO_VGEM: &str = "no vgem device";

fn na(why: &str) -> Outcome {
    Outcome::NotAvailable(why.to_string())
}

/// The jobs of the two new ioctls and of the library call on a DRM and a dma-buf dup pair
/// (each checked once before it is timed); what cannot be timed goes to `na` with why.
fn ioctl_jobs<'a>(
    drm: Option<(BorrowedFd<'a>, BorrowedFd<'a>)>,
    dma: Result<(BorrowedFd<'a>, BorrowedFd<'a>), &str>,
    k: usize,
    check: bool,
    res: &mut Results,
    notes: &mut Vec<String>,
) -> Vec<Job<'a>> {
    let (drm_all, dma_all) = (uapi::DRM_FILE_SAME_ALL, uapi::DMA_BUF_SAME_ALL);
    let (lib_drm, lib_dma) = (&mech::LibExpect::DRM_DUP, &mech::LibExpect::DMA_BUF_DUP);
    let mut jobs = vec![];
    match drm {
        Some((a, b)) => {
            let pre = check.then(|| precheck(mech::drm_file_same_bits(a, b), drm_all));
            let job = Job::new(key::DRM_FILE_SAME, k, move || {
                mech::drm_file_same(a, b, drm_all)
            });
            add(&mut jobs, res, pre.flatten(), job);
            let pre = check.then(|| lib_precheck(a, b, lib_drm, notes));
            let job = Job::new(key::LIB_DRM, k, move || mech::fdsame_compare(a, b, lib_drm));
            add(&mut jobs, res, pre.flatten(), job);
        }
        None => res
            .na
            .extend([key::DRM_FILE_SAME, key::LIB_DRM].map(|k| (k, na(NO_VGEM)))),
    }
    match dma {
        Ok((a, b)) => {
            let pre = check.then(|| precheck(mech::dma_buf_same_bits(a, b), dma_all));
            let job = Job::new(key::DMA_BUF_SAME, k, move || {
                mech::dma_buf_same(a, b, dma_all)
            });
            add(&mut jobs, res, pre.flatten(), job);
            let pre = check.then(|| lib_precheck(a, b, lib_dma, notes));
            let job = Job::new(key::LIB_DMA_BUF, k, move || {
                mech::fdsame_compare(a, b, lib_dma)
            });
            add(&mut jobs, res, pre.flatten(), job);
        }
        Err(why) => res
            .na
            .extend([key::DMA_BUF_SAME, key::LIB_DMA_BUF].map(|k| (k, na(why)))),
    }
    jobs
}

/// `job` into `jobs`, unless its check said otherwise (`pre`: n/a or a wrong answer).
fn add<'a>(jobs: &mut Vec<Job<'a>>, res: &mut Results, pre: Option<Outcome>, job: Job<'a>) {
    match pre {
        Some(o) => res.na.push((job.key, o)),
        None => jobs.push(job),
    }
}

/// The `DMA_BUF_IOCTL_SAME_OBJECT` rows on two different dma-bufs: both directions must give
/// the same exact answer; the row times (a, b).
fn dma_row_jobs<'a>(
    env: &'a Env,
    k: usize,
    res: &mut Results,
    notes: &mut Vec<String>,
) -> Vec<Job<'a>> {
    let mut jobs = vec![];
    for d in &env.dma_rows {
        let p = match &d.pair {
            Err(why) => {
                res.na.push((d.key, na(why)));
                continue;
            }
            Ok(p) => p,
        };
        let ((a, b), expect) = (p.fds(), d.expect);
        let (ab, ba) = (mech::dma_buf_same_bits(a, b), mech::dma_buf_same_bits(b, a));
        let show = |r: Result<u64, i32>| r.map_or_else(sys::errno_name, |v| format!("{v:#x}"));
        notes.push(format!(
            "DMA_BUF_IOCTL_SAME_OBJECT on {}: (a, b) = {}, (b, a) = {} (expected exactly {expect:#x})",
            p.what, show(ab), show(ba),
        ));
        match precheck(ab, expect).or_else(|| precheck(ba, expect)) {
            Some(o) => res.na.push((d.key, o)),
            None => jobs.push(Job::new(d.key, k, move || mech::dma_buf_same(a, b, expect))),
        }
    }
    jobs
}

/// The generic file-level rows on a pair that stays the same file: F_DUPFD_QUERY, kcmp and
/// the epoll trick (also at scale).
fn file_jobs<'a>(a: BorrowedFd<'a>, b: BorrowedFd<'a>, k: usize) -> Vec<Job<'a>> {
    vec![
        Job::new(key::F_DUPFD_QUERY, k, move || mech::f_dupfd_query(a, b)),
        Job::new(key::KCMP, k, move || mech::kcmp(a, b)),
        Job::new(key::EPOLL, k, move || mech::mesa_epoll(a, b)),
    ]
}

/// Every base row: fds stay the same over all rounds.
fn base_jobs<'a>(
    env: &'a Env,
    floor: (u64, u64),
    (k, ks): (usize, usize),
    res: &mut Results,
    notes: &mut Vec<String>,
) -> Vec<Job<'a>> {
    let drm = env.drm.as_ref().map(Pair::fds);
    let dma =
        env.dmabuf
            .as_ref()
            .map(Pair::fds)
            .ok_or(if env.drm.is_some() || env.heap.is_some() {
                "dma-buf export failed"
            } else {
                NO_VGEM
            });
    let mut jobs = ioctl_jobs(drm, dma, k, true, res, notes);
    let (cap, expect) = floor;
    match drm {
        Some((a, _)) => {
            jobs.push(Job::new(key::DRM_GET_CAP, k, move || {
                mech::drm_get_cap(a, cap, expect)
            }));
            jobs.push(Job::new(key::DRM_VERSION, k, move || {
                mech::drm_version_empty(a)
            }));
        }
        None => res
            .na
            .extend([key::DRM_GET_CAP, key::DRM_VERSION].map(|key| (key, na(NO_VGEM)))),
    }
    jobs.extend(dma_row_jobs(env, k, res, notes));
    let (ga, gb) = env.generic.fds();
    let (sa, sb) = env.sysfs.as_ref().map_or((ga, gb), Pair::fds);
    jobs.extend(file_jobs(ga, gb, k));
    jobs.push(Job::new(key::FSTAT, k, move || mech::fstat_pair(ga, gb)));
    jobs.push(Job::new(key::FDINFO, ks, move || mech::fdinfo_pair(ga, gb)));
    jobs.push(Job::new(key::SYSFS, ks, move || mech::sysfs_pair(sa, sb)));
    jobs.push(Job::new(key::GETPPID, k, mech::getppid));
    jobs
}

/// The at-scale condition over the rounds: its results, how it was set up, whether it still runs.
struct ScaleRuns {
    res: Results,
    setup: String,
    ok: bool,
}

/// The rows re-timed at scale.
const SCALE_KEYS: [&str; 7] = [
    key::DRM_FILE_SAME,
    key::DMA_BUF_SAME,
    key::LIB_DRM,
    key::LIB_DMA_BUF,
    key::F_DUPFD_QUERY,
    key::KCMP,
    key::EPOLL,
];

/// One at-scale pass: fresh fds and dma-bufs, the pair moved to the highest numbers.
fn scale_round(
    env: &Env,
    opts: &Opts,
    (k, per_round): (usize, usize),
    r: usize,
    sr: &mut ScaleRuns,
) {
    let rounds = opts.rounds;
    log(&format!(
        "round {r}/{rounds}: at-scale setup ({} fds, {} dma-bufs)",
        opts.scale_fds, opts.scale_bufs
    ));
    let sc = match setup_scale(env, opts) {
        Ok(sc) => sc,
        Err(e) => {
            sr.ok = false;
            sr.res.acc.clear();
            let why = format!("at-scale setup failed: {e}");
            sr.res.na = SCALE_KEYS
                .map(|k| (k, Outcome::NotAvailable(why.clone())))
                .into();
            sr.setup = format!("setup failed: {e}");
            return;
        }
    };
    let why = if env.drm.is_none() && env.heap.is_none() {
        NO_VGEM
    } else {
        "no dma-buf"
    };
    let dma = sc.dmabuf.as_ref().map(Pair::fds).ok_or(why);
    sr.res.na.clear();
    let mut jobs = ioctl_jobs(
        sc.drm.as_ref().map(Pair::fds),
        dma,
        k,
        false,
        &mut sr.res,
        &mut vec![],
    );
    let (ga, gb) = sc.generic.fds();
    jobs.extend(file_jobs(ga, gb, k));
    log(&format!(
        "round {r}/{rounds}: {per_round} samples of {} at-scale rows, interleaved",
        jobs.len()
    ));
    time_into(&mut jobs, per_round, &mut sr.res.acc);
    if r == 1 {
        sr.setup = sc.setup.clone();
    } else {
        sr.setup.push_str(&format!(
            "; round {r}: {}",
            sc.setup.rsplit("; ").next().unwrap_or("")
        ));
    }
}

fn run(opts: &Opts, timer: String) -> Report {
    let t_start = Instant::now();
    let (kernel, kernel_version) = sys::uname();
    let env = setup();
    let mut notes = env.notes.clone();
    let (samples, k, ks) = opts.sizes();
    let rounds = opts.rounds as usize;
    let per_round = samples.div_ceil(rounds);
    let (cap_label, cap, expect) = get_cap_floor(&env, &mut notes);
    let mut rows = declare_rows(&env, cap_label, cap);
    let mut base = Results::default();
    let mut jobs = base_jobs(&env, (cap, expect), (k, ks), &mut base, &mut notes);
    let setup = if opts.no_scale {
        "skipped (--no-scale)"
    } else {
        ""
    };
    let mut sr = ScaleRuns {
        res: Results::default(),
        setup: setup.into(),
        ok: !opts.no_scale,
    };
    for r in 1..=rounds {
        log(&format!(
            "round {r}/{rounds}: {per_round} samples of {} base rows, interleaved",
            jobs.len()
        ));
        time_into(&mut jobs, per_round, &mut base.acc);
        if sr.ok {
            scale_round(&env, opts, (k, per_round), r, &mut sr);
        }
    }
    drop(jobs);
    if sr.ok {
        sr.setup.push_str(&format!(
            "; {rounds} rounds, each a base pass then an at-scale pass with freshly created fds/dma-bufs, samples pooled per condition"
        ));
    }
    for row in rows.iter_mut() {
        row.base = base.outcome(row.key).unwrap_or(row.base.clone());
        row.scale = sr.res.outcome(row.key);
    }
    for (k, why) in negative_checks(&env, &mut notes) {
        if let Some(r) = rows.iter_mut().find(|r| r.key == k) {
            r.base = Outcome::Failed(format!("wrong negative answer: {why}"));
        }
    }
    Report {
        kernel,
        kernel_version,
        cpu_model: sys::cpu_model(),
        nproc: sys::nproc(),
        date_utc: sys::now_utc(),
        samples: per_round * rounds,
        batch: k,
        slow_batch: ks,
        scale_setup: sr.setup,
        timer,
        notes,
        rows,
        elapsed_s: t_start.elapsed().as_secs_f64(),
    }
}

fn main() -> ExitCode {
    let opts = <Opts as clap::Parser>::parse();
    let timer = match timer::init(&opts.timer) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fdsame-bench: {e}");
            return ExitCode::from(2);
        }
    };
    log(&format!("timer: {timer}"));
    let report = run(&opts, timer);
    let md = report::render_markdown(&report);
    print!("{md}");
    if let Some(dir) = &opts.out {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join("bench.md"), &md)?;
            std::fs::write(dir.join("bench.json"), json::render_json(&report))?;
            std::fs::write(dir.join("bench.svg"), report::render_svg(&report))?;
            Ok(())
        };
        if let Err(e) = write() {
            eprintln!("fdsame-bench: writing {}: {e}", dir.display());
            return ExitCode::from(2);
        }
        log(&format!(
            "wrote {0}/bench.md, {0}/bench.json, {0}/bench.svg",
            dir.display()
        ));
    }
    if report.any_failed() {
        log("a measurement FAILED (see the table)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Opts, clap::Error> {
        <Opts as clap::Parser>::try_parse_from(std::iter::once("b").chain(s.split_whitespace()))
    }

    #[test]
    fn cli() {
        let o = parse("").unwrap();
        assert_eq!(
            (o.sizes(), o.scale_fds, o.no_scale),
            ((600, 100, 10), 10_000, false)
        );
        let o = parse("--batch 7 --quick --out /tmp/x --no-scale").unwrap();
        assert_eq!((o.sizes(), o.no_scale), ((30, 7, 4), true));
        assert_eq!(o.out, Some(PathBuf::from("/tmp/x")));
        assert!(parse("--samples").is_err() && parse("--bogus").is_err());
        assert!(parse("--samples 0").is_err() && parse("--rounds 0").is_err());
        <Opts as clap::CommandFactory>::command().debug_assert();
    }
}
