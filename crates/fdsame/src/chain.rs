//! The fallback chain as a table of steps, the fast path in front of it, and forcing one
//! step. Every [`Mechanism`] is one step ([`step`]); the chain runs the steps in the order
//! of [`Mechanism::ALL`] while they are still needed; forcing a mechanism runs its step
//! alone.

use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

use crate::kind::{drm_client_id, hint, identify, sysfs_device, Identity, HINT_DMA_BUF, HINT_DRM};
use crate::mechanism::State;
use crate::sameness::{DeclineReason, Declined};
use crate::{ioctl, sys, Answer, Availability, Error, FdKind, Mechanism, Options, Sameness};

/// The errnos by which a kernel without the mechanism (or a process refused it) answers.
pub(crate) fn missing(m: Mechanism) -> &'static [i32] {
    match m {
        // An unknown DRM core ioctl: EINVAL (drm_ioctl() finds no handler).
        Mechanism::DrmFileSameIoctl => &[libc::EINVAL, libc::ENOTTY],
        Mechanism::DmaBufSameObjectIoctl => &[libc::ENOTTY],
        Mechanism::FDupfdQuery => &[libc::EINVAL, libc::EPERM, libc::EACCES],
        Mechanism::Kcmp => &[libc::ENOSYS, libc::EPERM, libc::EACCES],
        Mechanism::Epoll => &[libc::ENOSYS, libc::EPERM],
        // No /proc or no /sys mounted.
        Mechanism::Fdinfo | Mechanism::Sysfs => &[libc::ENOENT],
        _ => &[],
    }
}

/// Whether a "missing" answer is a property of the kernel or of a sandbox, kept for the
/// life of the state; /proc and /sys can be mounted later, and a fresh look is cheap.
fn sticky(m: Mechanism) -> bool {
    !matches!(m, Mechanism::Fdinfo | Mechanism::Sysfs)
}

/// Errnos that say "not now" rather than "never": no descriptor or memory left. The chain
/// goes on to the next mechanism and remembers nothing.
fn transient(errno: i32) -> bool {
    matches!(
        errno,
        libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR
    )
}

/// Errnos by which a device says it cannot answer: `DRM_IOCTL_FILE_SAME` on an unplugged
/// device (`ENODEV`) or a wedged one (`ECANCELED`, xe). The chain goes on.
fn declines(m: Mechanism, errno: i32) -> bool {
    m == Mechanism::DrmFileSameIoctl && matches!(errno, libc::ENODEV | libc::ECANCELED)
}

/// What running a mechanism gave.
enum Outcome<T> {
    Answer(T),
    /// Missing on this kernel or refused to this process: the errno.
    Missing(i32),
    /// This device cannot answer (`ENODEV`, `ECANCELED`).
    Declined(Error),
    /// Could not run now (`EMFILE`...).
    Transient(Error),
    /// Ran, and cannot tell about these kinds of file: the errno that says so.
    CannotTell(i32),
    Failed(Error),
}

/// What a missing mechanism's errno means: refused to this process, or not on this kernel.
fn missing_reason(errno: i32) -> DeclineReason {
    if matches!(errno, libc::EPERM | libc::EACCES) {
        DeclineReason::Refused
    } else {
        DeclineReason::Unavailable
    }
}

/// How telling a reason is about why nothing answered (the higher, the more).
fn telling(r: DeclineReason) -> u8 {
    match r {
        DeclineReason::Device => 4,
        DeclineReason::Refused => 3,
        DeclineReason::Transient => 2,
        DeclineReason::CannotTell => 1,
        _ => 0,
    }
}

/// Classifies a failed call of mechanism `m`, the one place that does: a missing
/// mechanism is remembered (even one found available before: a sandbox entered since
/// refuses it now, and the chain falls back as a fresh process would).
fn classify<T>(state: &State, m: Mechanism, err: Error) -> Outcome<T> {
    let errno = err.raw_os_error().unwrap_or(libc::EIO);
    if missing(m).contains(&errno) {
        if sticky(m) {
            state.set_unavailable(m, errno);
        }
        Outcome::Missing(errno)
    } else if declines(m, errno) {
        Outcome::Declined(err)
    } else if transient(errno) {
        Outcome::Transient(err)
    } else {
        Outcome::Failed(err)
    }
}

/// Runs a mechanism unless it is known to be unavailable; remembers the outcome.
fn guarded<T>(
    state: &State,
    m: Mechanism,
    fd: BorrowedFd<'_>,
    other: BorrowedFd<'_>,
    f: impl FnOnce() -> Result<T, (&'static str, Errno)>,
) -> Outcome<T> {
    if sticky(m) && state.availability(m) == Availability::Unavailable {
        return Outcome::Missing(state.errno(m).unwrap_or(libc::ENOSYS));
    }
    match f() {
        Ok(v) => {
            state.set_available(m);
            Outcome::Answer(v)
        }
        Err((op, e)) => {
            let err = Error::os(op, Some(m), fd.as_raw_fd(), e).with_other(other.as_raw_fd());
            classify(state, m, err)
        }
    }
}

/// `io::Result` of the raw wrappers → the call's name and its errno.
fn op<T>(name: &'static str, r: std::io::Result<T>) -> Result<T, (&'static str, Errno)> {
    r.map_err(|e| {
        (
            name,
            Errno::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })
}

/// Two identified descriptors and which of them are another process's.
struct Pair<'a, 'i> {
    a: BorrowedFd<'a>,
    b: BorrowedFd<'a>,
    ia: &'i Identity,
    ib: &'i Identity,
    foreign: [bool; 2],
}

impl Pair<'_, '_> {
    fn o_path(&self) -> bool {
        self.ia.kind == FdKind::Path || self.ib.kind == FdKind::Path
    }

    fn both_drm(&self) -> bool {
        self.ia.kind.is_drm() && self.ib.kind.is_drm()
    }

    fn infer(&self, s: &mut Sameness) {
        s.infer(self.ia.kind, self.ib.kind);
    }
}

/// The entry point of [`Options::compare`].
pub(crate) fn compare(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    opts: &Options,
    state: &State,
) -> Result<Sameness, Error> {
    if opts.mechanism.is_none() {
        if let Some(s) = fast(a, b, opts.foreign, state) {
            return Ok(s);
        }
    }
    let (ia, ib) = (identify(state, a)?, identify(state, b)?);
    compare_identified(a, b, &ia, &ib, opts, state)
}

pub(crate) fn compare_identified(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
    opts: &Options,
    state: &State,
) -> Result<Sameness, Error> {
    let p = Pair {
        a,
        b,
        ia,
        ib,
        foreign: opts.foreign,
    };
    let mut s = match opts.mechanism {
        None => chain(&p, state),
        Some(m) => forced(&p, m, state),
    }?;
    storage_by_size(&mut s, ia, ib);
    Ok(s)
}

/// The fast path: when a descriptor (the caller's own first) was a DRM device file or a
/// dma-buf the last time this state looked at its number, and that ioctl is known to work,
/// the ioctl alone answers (no `fcntl`, `fstat` or `fstatfs` first) when its bits show the
/// other descriptor's kind. The hint only chooses which ioctl to try: a descriptor number
/// that now holds another kind of file refuses it (`ENOTTY`, `EBADF` for `O_PATH`) and the
/// slow path answers. `None`: take the slow path.
fn fast(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    foreign: [bool; 2],
    state: &State,
) -> Option<Sameness> {
    use crate::uapi::{DMA_BUF_SAME_OBJECT, DMA_BUF_STORAGE_COMPARED, DRM_FILE_SAME_DEVICE};
    let (x, y) = if foreign == [true, false] {
        (b, a)
    } else {
        (a, b)
    };
    let works = |m| state.availability(m) == Availability::Available;
    match hint(state, x) {
        HINT_DRM if works(Mechanism::DrmFileSameIoctl) => {
            let bits = ioctl::drm_file_same(x, y).ok()?;
            // The DEVICE bit: the other is a DRM file. Without it, its kind is needed.
            (bits & DRM_FILE_SAME_DEVICE != 0).then(|| Sameness::from_drm_bits(bits, true))
        }
        HINT_DMA_BUF if works(Mechanism::DmaBufSameObjectIoctl) => {
            let bits = ioctl::dma_buf_same_object(x, y).ok()?;
            // Storage compared, or one dma-buf: the other is a dma-buf, and it is complete.
            (bits & (DMA_BUF_STORAGE_COMPARED | DMA_BUF_SAME_OBJECT) != 0)
                .then(|| Sameness::from_dma_buf_bits(bits, true))
        }
        _ => None,
    }
}

/// Two dma-bufs of different sizes are different storage (the same pages, at the same
/// offset, for the same length): known from `fstat` (a dma-buf's inode size is its size,
/// Linux 5.3+) when the exporter did not compare.
fn storage_by_size(s: &mut Sameness, ia: &Identity, ib: &Identity) {
    if s.dma_buf_storage == Answer::Unknown
        && ia.kind.is_dma_buf()
        && ib.kind.is_dma_buf()
        && ia.own_inode
        && ib.own_inode
        && ia.size != ib.size
    {
        s.dma_buf_storage = Answer::Different;
    }
}

/// Why mechanism `m` cannot compare this pair; `None` when it can.
fn not_applicable(m: Mechanism, p: &Pair<'_, '_>) -> Option<&'static str> {
    let (ka, kb) = (p.ia.kind, p.ib.kind);
    match m {
        Mechanism::DrmFileSameIoctl | Mechanism::DmaBufSameObjectIoctl if p.o_path() => {
            Some("the ioctl refuses an O_PATH file descriptor (EBADF from fdget)")
        }
        Mechanism::DrmFileSameIoctl if !(ka.is_drm() || kb.is_drm()) => {
            Some("neither file descriptor is a DRM device file")
        }
        Mechanism::DmaBufSameObjectIoctl if !(ka.is_dma_buf() || kb.is_dma_buf()) => {
            Some("neither file descriptor is a dma-buf")
        }
        Mechanism::Fdinfo if !p.both_drm() => Some("fdinfo compares two DRM device files"),
        Mechanism::Sysfs if !p.both_drm() => Some("sysfs compares two DRM device files"),
        _ => None,
    }
}

/// Whether the chain still needs mechanism `m` after what `s` knows.
fn needed(m: Mechanism, s: &Sameness, p: &Pair<'_, '_>) -> bool {
    match m {
        Mechanism::FDupfdQuery | Mechanism::Kcmp | Mechanism::Epoll => s.file == Answer::Unknown,
        Mechanism::Fstat => {
            s.file == Answer::Unknown || (p.both_drm() && s.drm_device == Answer::Unknown)
        }
        Mechanism::Fdinfo => s.drm_client == Answer::Unknown,
        Mechanism::Sysfs => s.drm_device == Answer::Unknown,
        _ => true,
    }
}

/// Runs the step of mechanism `m` on the pair, writing what it learned into `s`.
/// `Answer(true)`: `s` is complete (an ioctl answered every level).
fn step(m: Mechanism, p: &Pair<'_, '_>, state: &State, s: &mut Sameness) -> Outcome<bool> {
    match m {
        Mechanism::DrmFileSameIoctl => drm_step(p, state, s),
        Mechanism::DmaBufSameObjectIoctl => dma_buf_step(p, state, s),
        Mechanism::Fstat => {
            if s.file == Answer::Unknown {
                set_file(s, m, fstat_file_level(p.ia, p.ib));
            }
            if p.both_drm() && s.drm_device == Answer::Unknown && p.ia.kind == p.ib.kind {
                // The same st_rdev: the same DRM minor, so the same device.
                s.drm_device = Answer::Same;
                s.device_mechanism = Some(m);
            }
            Outcome::Answer(false)
        }
        Mechanism::Fdinfo => keyed(state, m, p, s, || {
            Ok((drm_client_id(p.a)?, drm_client_id(p.b)?))
        }),
        Mechanism::Sysfs => keyed(state, m, p, s, || sysfs_keys(p)),
        _ => match file_level(state, m, p) {
            Outcome::Answer(answer) => {
                set_file(s, m, answer);
                Outcome::Answer(false)
            }
            other => other.map_never(),
        },
    }
}

fn set_file(s: &mut Sameness, m: Mechanism, answer: Answer) {
    s.file = answer;
    if answer != Answer::Unknown {
        s.mechanism = Some(m);
    }
}

impl<T> Outcome<T> {
    /// A non-answer, retyped.
    fn map_never<U>(self) -> Outcome<U> {
        match self {
            Outcome::Answer(_) => unreachable!("an answer is not retyped"),
            Outcome::Missing(e) => Outcome::Missing(e),
            Outcome::Declined(e) => Outcome::Declined(e),
            Outcome::Transient(e) => Outcome::Transient(e),
            Outcome::CannotTell(e) => Outcome::CannotTell(e),
            Outcome::Failed(e) => Outcome::Failed(e),
        }
    }
}

/// `DRM_IOCTL_FILE_SAME`, on the caller's own DRM device file first, else on another
/// process's: every kernel that has the ioctl marks it `DRM_NO_PID_UPDATE` (no owner
/// change), and one without it answers `EINVAL` before any owner update. A device that
/// cannot answer (`ENODEV`, `ECANCELED`) is noted in `s.declined` and the other descriptor,
/// if it is a DRM device file too, is asked instead.
fn drm_step(p: &Pair<'_, '_>, state: &State, s: &mut Sameness) -> Outcome<bool> {
    let mut order = [
        (p.a, p.b, p.ia, p.ib, p.foreign[0]),
        (p.b, p.a, p.ib, p.ia, p.foreign[1]),
    ];
    order.sort_by_key(|t| t.4); // own first; stable
    let mut last = None;
    for (x, y, ix, iy, _) in order {
        if !ix.kind.is_drm() {
            continue;
        }
        let out = guarded(state, Mechanism::DrmFileSameIoctl, x, y, || {
            op("ioctl(DRM_IOCTL_FILE_SAME)", ioctl::drm_file_same(x, y))
        });
        match out {
            Outcome::Answer(bits) => {
                let declined = s.declined;
                *s = Sameness::from_drm_bits(bits, iy.kind.is_drm());
                s.declined = declined;
                return Outcome::Answer(true);
            }
            Outcome::Declined(e) => {
                s.declined = Some(Declined::new(
                    Mechanism::DrmFileSameIoctl,
                    e.raw_os_error().unwrap_or(libc::ENODEV),
                    DeclineReason::Device,
                ));
                last = Some(e);
            }
            other => return other.map_never(),
        }
    }
    last.map_or(Outcome::Missing(libc::EINVAL), Outcome::Declined)
}

fn dma_buf_step(p: &Pair<'_, '_>, state: &State, s: &mut Sameness) -> Outcome<bool> {
    let (x, y, other) = if p.ia.kind.is_dma_buf() {
        (p.a, p.b, p.ib)
    } else {
        (p.b, p.a, p.ia)
    };
    let out = guarded(state, Mechanism::DmaBufSameObjectIoctl, x, y, || {
        op(
            "ioctl(DMA_BUF_IOCTL_SAME_OBJECT)",
            ioctl::dma_buf_same_object(x, y),
        )
    });
    match out {
        Outcome::Answer(bits) => {
            *s = Sameness::from_dma_buf_bits(bits, other.kind.is_dma_buf());
            Outcome::Answer(true)
        }
        other => other.map_never(),
    }
}

/// A level by a key of each descriptor (`drm-client-id`, the sysfs device): equal keys are
/// the same, different keys different, a missing key tells nothing.
fn keyed<K: PartialEq>(
    state: &State,
    m: Mechanism,
    p: &Pair<'_, '_>,
    s: &mut Sameness,
    keys: impl FnOnce() -> std::io::Result<(Option<K>, Option<K>)>,
) -> Outcome<bool> {
    let out = guarded(state, m, p.a, p.b, || {
        op(m.call(), keys()).map(|k| match k {
            (Some(x), Some(y)) => Answer::from(x == y),
            _ => Answer::Unknown,
        })
    });
    match out {
        Outcome::Answer(Answer::Unknown) => Outcome::Answer(false),
        Outcome::Answer(answer) => {
            if m == Mechanism::Fdinfo {
                s.drm_client = answer;
                s.client_mechanism = Some(m);
            } else {
                s.drm_device = answer;
                s.device_mechanism = Some(m);
            }
            Outcome::Answer(false)
        }
        other => other.map_never(),
    }
}

/// The sysfs devices of two DRM device files.
#[allow(clippy::type_complexity)]
fn sysfs_keys(
    p: &Pair<'_, '_>,
) -> std::io::Result<(Option<std::path::PathBuf>, Option<std::path::PathBuf>)> {
    let dev = |k: FdKind| match k {
        FdKind::Drm { major, minor, .. } => sysfs_device(major, minor),
        _ => Ok(None),
    };
    Ok((dev(p.ia.kind)?, dev(p.ib.kind)?))
}

/// One file-level mechanism other than fstat.
fn file_level(state: &State, m: Mechanism, p: &Pair<'_, '_>) -> Outcome<Answer> {
    let (a, b, o_path) = (p.a, p.b, p.o_path());
    // Inner `Err(errno)`: ran, and cannot tell about these kinds of file.
    let out: Outcome<Result<bool, i32>> = match m {
        Mechanism::FDupfdQuery => guarded(state, m, a, b, || {
            // Kernels whose f_dupfd_query() looks the other descriptor up with fdget() (6.10,
            // 6.11) refuse an O_PATH one with EBADF: cannot tell, kcmp can.
            match sys::f_dupfd_query(a, b) {
                Err(e) if o_path && e.raw_os_error() == Some(libc::EBADF) => Ok(Err(libc::EBADF)),
                r => op("fcntl(F_DUPFD_QUERY)", r).map(Ok),
            }
        }),
        Mechanism::Kcmp => guarded(state, m, a, b, || {
            op("kcmp(KCMP_FILE)", sys::kcmp_file(a, b)).map(Ok)
        }),
        Mechanism::Epoll => guarded(state, m, a, b, || {
            sys::epoll_same_file_op(a, b).map(|r| r.map_err(|e| e.raw_os_error()))
        }),
        _ => unreachable!("not a file-level mechanism"),
    };
    match out {
        Outcome::Answer(Ok(same)) => Outcome::Answer(Answer::from(same)),
        Outcome::Answer(Err(errno)) => Outcome::CannotTell(errno),
        other => other.map_never(),
    }
}

/// What `fstat` tells about the file level: different inodes (or an `O_PATH` descriptor
/// against an open one) are different files; two dma-bufs with one inode of their own are one
/// dma-buf, hence one file; otherwise nothing.
fn fstat_file_level(ia: &Identity, ib: &Identity) -> Answer {
    if ia.inode != ib.inode || ia.kind != ib.kind {
        Answer::Different
    } else if ia.kind.is_dma_buf() && ia.own_inode && ib.own_inode {
        Answer::Same
    } else {
        Answer::Unknown
    }
}

/// The chain: every step in the order of [`Mechanism::ALL`] that applies and is still
/// needed; a missing, declining or momentarily impossible step hands over to the next.
/// When nothing could tell the file level, the most telling of the steps that could not
/// answer is `declined` (see [`Declined`]).
fn chain(p: &Pair<'_, '_>, state: &State) -> Result<Sameness, Error> {
    let mut s = Sameness::from_kinds(p.ia.kind, p.ib.kind);
    let mut why: Option<Declined> = None;
    let mut note = |d: Declined| {
        if why.map_or(true, |w| telling(d.reason) > telling(w.reason)) {
            why = Some(d);
        }
    };
    for &m in Mechanism::ALL {
        if not_applicable(m, p).is_some() || !needed(m, &s, p) {
            continue;
        }
        match step(m, p, state, &mut s) {
            Outcome::Answer(true) => return Ok(s),
            Outcome::Answer(false) => p.infer(&mut s),
            Outcome::Failed(e) => return Err(e),
            Outcome::Missing(errno) => note(Declined::new(m, errno, missing_reason(errno))),
            Outcome::Transient(e) => note(Declined::new(
                m,
                e.raw_os_error().unwrap_or(libc::EAGAIN),
                DeclineReason::Transient,
            )),
            Outcome::CannotTell(errno) => note(Declined::new(m, errno, DeclineReason::CannotTell)),
            Outcome::Declined(_) => {} // drm_step noted it in `s`
        }
    }
    if s.declined.is_none() && s.file == Answer::Unknown {
        s.declined = why;
    }
    Ok(s)
}

/// Why mechanism `m` cannot tell about these files, in words (the detail of a forced
/// mechanism's [`ErrorKind::NotApplicable`](crate::ErrorKind::NotApplicable) error).
fn cannot_tell(m: Mechanism, errno: i32) -> String {
    let e = std::io::Error::from_raw_os_error(errno);
    match m {
        Mechanism::Epoll => format!(
            "neither file can be polled (epoll_ctl: {e}): epoll compares only when one of \
             them can be (a pipe, a socket, a DRM device file, a dma-buf)"
        ),
        _ => format!(
            "this kernel's {} refuses an O_PATH file descriptor ({e})",
            m.call()
        ),
    }
}

/// One step alone, plus the inferences. A forced mechanism that cannot compare these kinds
/// of file is [`ErrorKind::NotApplicable`](crate::ErrorKind::NotApplicable), whether its
/// kinds say so beforehand (sysfs of two pipes) or it finds out by running (epoll of two
/// regular files).
fn forced(p: &Pair<'_, '_>, m: Mechanism, state: &State) -> Result<Sameness, Error> {
    if let Some(why) = not_applicable(m, p) {
        return Err(Error::not_applicable(m, why));
    }
    let mut s = Sameness::from_kinds(p.ia.kind, p.ib.kind);
    match step(m, p, state, &mut s) {
        Outcome::Answer(true) => return Ok(s),
        Outcome::Answer(false) => {}
        Outcome::Missing(errno) => return Err(Error::unsupported(m, Some(errno))),
        Outcome::CannotTell(errno) => return Err(Error::not_applicable(m, cannot_tell(m, errno))),
        Outcome::Declined(e) | Outcome::Transient(e) | Outcome::Failed(e) => return Err(e),
    }
    p.infer(&mut s);
    Ok(s)
}

#[cfg(test)]
mod tests {
    //! The fallback chain step by step, on a state of its own: mechanisms are taken away one
    //! at a time (as if the kernel had refused them) and the chain must answer with the next
    //! one, with the same answers. The process-wide state is not touched.

    use super::*;
    use std::fs::File;
    use std::os::fd::AsFd;

    fn cmp(state: &State, a: impl AsFd, b: impl AsFd) -> Sameness {
        compare(a.as_fd(), b.as_fd(), &Options::new(), state).unwrap()
    }

    fn forced_err(state: &State, a: impl AsFd, b: impl AsFd, m: Mechanism) -> Error {
        compare(a.as_fd(), b.as_fd(), &Options::new().mechanism(m), state).unwrap_err()
    }

    #[test]
    fn each_step_takes_over_from_the_one_before() {
        let state = State::new();
        let (r, w) = rustix::pipe::pipe().unwrap();
        let dup = r.try_clone().unwrap();
        let dir = std::env::temp_dir().join(format!("fdsame-chain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x"), b"x").unwrap();
        std::fs::write(dir.join("y"), b"y").unwrap();
        let f1 = File::open(dir.join("x")).unwrap();
        let f2 = File::open(dir.join("x")).unwrap();
        let g = File::open(dir.join("y")).unwrap();

        for (m, errno) in [
            (Mechanism::FDupfdQuery, libc::EINVAL),
            (Mechanism::Kcmp, libc::ENOSYS),
            (Mechanism::Epoll, libc::ENOSYS),
        ] {
            if state.probe(m) == Availability::Available {
                // Pipes: the first remaining mechanism answers.
                assert_eq!(cmp(&state, &r, &dup).mechanism, Some(m));
                assert_eq!(cmp(&state, &r, &dup).file, Answer::Same);
                assert_eq!(cmp(&state, &r, &w).file, Answer::Different);
            }
            // Take it away.
            state.set_unavailable(m, errno);
            assert_eq!(state.availability(m), Availability::Unavailable);
            let e = forced_err(&state, &r, &dup, m);
            assert_eq!(
                (e.kind(), e.mechanism(), e.raw_os_error()),
                (crate::ErrorKind::Unsupported, Some(m), Some(errno))
            );
            assert!(
                e.to_string().contains("not available on this kernel"),
                "{e}"
            );
        }
        // Only fstat is left: different inodes are different files, the rest is unknown.
        let (r2, _w2) = rustix::pipe::pipe().unwrap();
        let s = cmp(&state, &r, &r2);
        assert_eq!(
            (s.file, s.mechanism),
            (Answer::Different, Some(Mechanism::Fstat))
        );
        // The two ends of one pipe share its inode: fstat cannot tell them apart.
        let s = cmp(&state, &r, &w);
        assert_eq!((s.file, s.mechanism), (Answer::Unknown, None));
        let s = cmp(&state, &r, &dup);
        assert_eq!(
            (s.file, s.mechanism),
            (Answer::Unknown, None),
            "never a guess"
        );
        let s = cmp(&state, &f1, &f2);
        assert_eq!((s.file, s.mechanism), (Answer::Unknown, None));
        let s = cmp(&state, &f1, &g);
        assert_eq!(
            (s.file, s.mechanism),
            (Answer::Different, Some(Mechanism::Fstat))
        );
        // Non-DRM kinds: the other levels are still known.
        assert_eq!(s.drm_client, Answer::NotApplicable);
        // The process-wide state was not touched.
        assert_ne!(
            crate::mechanism::GLOBAL.availability(Mechanism::Epoll),
            Availability::Unavailable
        );
    }

    /// A device that cannot answer the DRM ioctl (ENODEV: unplugged; ECANCELED: wedged)
    /// declines: the chain goes on, and nothing is remembered about the ioctl.
    #[test]
    fn an_unplugged_or_wedged_device_declines() {
        let state = State::new();
        state.set_available(Mechanism::DrmFileSameIoctl);
        for errno in [libc::ENODEV, libc::ECANCELED] {
            let err = Error::os(
                "ioctl(DRM_IOCTL_FILE_SAME)",
                Some(Mechanism::DrmFileSameIoctl),
                3,
                Errno::from_raw_os_error(errno),
            );
            let out: Outcome<()> = classify(&state, Mechanism::DrmFileSameIoctl, err);
            assert!(matches!(out, Outcome::Declined(ref e) if e.raw_os_error() == Some(errno)));
            assert_eq!(
                state.availability(Mechanism::DrmFileSameIoctl),
                Availability::Available
            );
        }
        // Elsewhere ENODEV is a failure, not a decline.
        let err = Error::os("fstat", Some(Mechanism::Kcmp), 3, Errno::NODEV);
        assert!(matches!(
            classify::<()>(&state, Mechanism::Kcmp, err),
            Outcome::Failed(_)
        ));
        // A refusal after the mechanism worked: missing now, skipped from then on.
        let err = Error::os("kcmp(KCMP_FILE)", Some(Mechanism::Kcmp), 3, Errno::PERM);
        state.set_available(Mechanism::Kcmp);
        assert!(matches!(
            classify::<()>(&state, Mechanism::Kcmp, err),
            Outcome::Missing(libc::EPERM)
        ));
        assert_eq!(
            state.availability(Mechanism::Kcmp),
            Availability::Unavailable
        );
    }

    #[test]
    fn refused_is_not_missing() {
        // kcmp refused by a seccomp filter (EPERM): unsupported, said as refused.
        let state = State::new();
        state.set_unavailable(Mechanism::Kcmp, libc::EPERM);
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let e = forced_err(&state, &r, &r, Mechanism::Kcmp);
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert_eq!(e.io_kind(), std::io::ErrorKind::PermissionDenied);
        let msg = e.to_string();
        assert!(msg.contains("refused to this process"), "{msg}");
        assert!(!msg.contains("not available on this kernel"), "{msg}");
    }

    /// When nothing can tell the file level, `declined` says why: the most telling of the
    /// mechanisms tried (a refused kcmp over a kernel without F_DUPFD_QUERY and an epoll
    /// that cannot poll regular files), never `None`.
    #[test]
    fn when_nothing_answers_declined_says_why() {
        let state = State::new();
        state.set_unavailable(Mechanism::FDupfdQuery, libc::EINVAL);
        state.set_unavailable(Mechanism::Kcmp, libc::EPERM);
        let f1 = File::open("/proc/self/exe").unwrap();
        let f2 = File::open("/proc/self/exe").unwrap();
        let s = cmp(&state, &f1, &f2);
        assert_eq!((s.file, s.mechanism), (Answer::Unknown, None));
        assert_eq!(
            s.declined,
            Some(Declined::new(
                Mechanism::Kcmp,
                libc::EPERM,
                DeclineReason::Refused
            ))
        );
        // Only missing mechanisms and epoll: epoll's "cannot tell" is the more telling.
        let state = State::new();
        state.set_unavailable(Mechanism::FDupfdQuery, libc::EINVAL);
        state.set_unavailable(Mechanism::Kcmp, libc::ENOSYS);
        let s = cmp(&state, &f1, &f2);
        let d = s.declined.unwrap();
        assert_eq!(
            (d.mechanism, d.reason),
            (Mechanism::Epoll, DeclineReason::CannotTell)
        );
        // Answered: nothing declined.
        let s = cmp(&State::new(), &f1, &f2);
        assert_eq!((s.file, s.declined), (Answer::Different, None));
    }

    /// A forced mechanism that cannot compare these kinds of file is NotApplicable, whether
    /// the kinds say so (sysfs of regular files) or running it does (epoll of two regular
    /// files); epoll with one pollable file answers in either order.
    #[test]
    fn a_forced_mechanism_that_cannot_compare_is_not_applicable() {
        let state = State::new();
        let f1 = File::open("/proc/self/exe").unwrap();
        let f2 = File::open("/proc/self/exe").unwrap();
        for m in [Mechanism::Epoll, Mechanism::Sysfs, Mechanism::Fdinfo] {
            let e = forced_err(&state, &f1, &f2, m);
            assert_eq!(e.kind(), crate::ErrorKind::NotApplicable, "{m}: {e}");
        }
        let e = forced_err(&state, &f1, &f2, Mechanism::Epoll);
        assert!(e.to_string().contains("neither file can be polled"), "{e}");
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let by_epoll = |a: &dyn AsFd, b: &dyn AsFd| {
            let o = Options::new().mechanism(Mechanism::Epoll);
            compare(a.as_fd(), b.as_fd(), &o, &state).unwrap().file
        };
        assert_eq!(by_epoll(&f1, &r), Answer::Different);
        assert_eq!(by_epoll(&r, &f1), Answer::Different);
    }

    #[test]
    fn o_path_and_dma_buf_inodes_by_fstat() {
        let id = |kind, inode, own_inode| Identity {
            kind,
            inode,
            size: 0,
            own_inode,
        };
        let buf = |ino| id(FdKind::DmaBuf, (9, ino), true);
        assert_eq!(fstat_file_level(&buf(1), &buf(1)), Answer::Same);
        assert_eq!(fstat_file_level(&buf(1), &buf(2)), Answer::Different);
        // Before 5.3 every dma-buf had the one anonymous inode: nothing to tell.
        let old = id(FdKind::DmaBuf, (9, 1), false);
        assert_eq!(fstat_file_level(&old, &old), Answer::Unknown);
        let path = id(FdKind::Path, (9, 1), false);
        assert_eq!(fstat_file_level(&buf(1), &path), Answer::Different);
    }

    /// At the descriptor limit the epoll trick cannot run (it needs two descriptors): the
    /// chain goes on to fstat instead of failing with EMFILE, and remembers nothing. Runs in
    /// a child process (this test binary again), whose descriptor limit is lowered.
    #[test]
    fn at_the_descriptor_limit_the_chain_goes_on() {
        if std::env::var_os("FDSAME_LIMIT_CHILD").is_some() {
            return at_the_limit();
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "chain::tests::at_the_descriptor_limit_the_chain_goes_on",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("FDSAME_LIMIT_CHILD", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn at_the_limit() {
        use rustix::pipe::{pipe_with, PipeFlags};
        let state = State::new();
        state.set_unavailable(Mechanism::FDupfdQuery, libc::EINVAL);
        state.set_unavailable(Mechanism::Kcmp, libc::ENOSYS);
        let (r, _w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        let (r2, _w2) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        // Use up every descriptor under a low limit.
        let lim = rustix::process::Rlimit {
            current: Some(64),
            maximum: Some(64),
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, lim).unwrap();
        let mut hold = vec![];
        while let Ok(fd) = rustix::io::fcntl_dupfd_cloexec(&r, 0) {
            hold.push(fd);
        }
        let s = cmp(&state, &r, &r2);
        assert_eq!(
            (s.file, s.mechanism),
            (Answer::Different, Some(Mechanism::Fstat))
        );
        let e = forced_err(&state, &r, &r2, Mechanism::Epoll);
        assert_eq!(e.kind(), crate::ErrorKind::Os);
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
        assert_eq!(e.operation(), "epoll_create1");
        assert_eq!(state.availability(Mechanism::Epoll), Availability::Untested);
        drop(hold);
        // With descriptors again, epoll answers.
        assert_eq!(cmp(&state, &r, &r2).mechanism, Some(Mechanism::Epoll));
    }
}
