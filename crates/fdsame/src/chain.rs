//! The fallback chain, the fast path in front of it, and the forced mechanisms.

use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

use crate::kind::{drm_client_id, hint, identify, sysfs_device, Identity, HINT_DMA_BUF, HINT_DRM};
use crate::mechanism::State;
use crate::{ioctl, sys, Answer, Availability, Error, FdKind, Mechanism, Options, Sameness};

/// The errnos by which a kernel without the mechanism (or a process refused it) answers.
pub(crate) fn missing(m: Mechanism) -> &'static [i32] {
    match m {
        // An unknown DRM core ioctl: EINVAL (drm_ioctl() finds no handler).
        Mechanism::DrmFileSameIoctl => &[libc::EINVAL, libc::ENOTTY],
        Mechanism::DmaBufSameObjectIoctl => &[libc::ENOTTY],
        Mechanism::FDupfdQuery => &[libc::EINVAL],
        Mechanism::Kcmp => &[libc::ENOSYS, libc::EPERM, libc::EACCES],
        Mechanism::Epoll => &[libc::ENOSYS, libc::EPERM],
        _ => &[],
    }
}

/// Errnos that say "not now" rather than "never": no descriptor or memory left. The chain
/// goes on to the next mechanism and remembers nothing.
fn transient(errno: i32) -> bool {
    matches!(
        errno,
        libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR
    )
}

/// What running a mechanism gave.
enum Outcome<T> {
    Answer(T),
    /// Missing on this kernel or refused to this process (now or before): the errno.
    Missing(i32),
    /// Could not run now (`EMFILE`...), or failed: the error.
    Transient(Error),
    Failed(Error),
}

/// Runs a mechanism unless it is known to be unavailable; remembers the outcome.
fn guarded<T>(
    state: &State,
    m: Mechanism,
    fd: BorrowedFd<'_>,
    other: BorrowedFd<'_>,
    f: impl FnOnce() -> Result<T, (&'static str, Errno)>,
) -> Outcome<T> {
    if state.availability(m) == Availability::Unavailable {
        return Outcome::Missing(state.errno(m).unwrap_or(libc::ENOSYS));
    }
    match f() {
        Ok(v) => {
            state.set_available(m);
            Outcome::Answer(v)
        }
        Err((op, e)) => {
            let errno = e.raw_os_error();
            let err = Error::os(op, Some(m), fd.as_raw_fd(), e).with_other(other.as_raw_fd());
            if missing(m).contains(&errno) && state.availability(m) != Availability::Available {
                state.set_unavailable(m, errno);
                Outcome::Missing(errno)
            } else if transient(errno) {
                Outcome::Transient(err)
            } else {
                Outcome::Failed(err)
            }
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
    let (ia, ib) = (identify(a)?, identify(b)?);
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
    let mut s = match opts.mechanism {
        None => chain(a, b, ia, ib, opts.foreign, state),
        Some(m) => forced(a, b, ia, ib, m, opts.foreign, state),
    }?;
    storage_by_size(&mut s, ia, ib);
    Ok(s)
}

/// The fast path: when the descriptor of the caller's own was a DRM device file or a dma-buf
/// the last time this process looked at its number, and that ioctl is known to work, the
/// ioctl alone answers (no `fcntl`, `fstat` or `fstatfs` first). The hint only chooses which
/// ioctl to try: a descriptor number that now holds another kind of file refuses it
/// (`ENOTTY`, `EBADF` for `O_PATH`) and the slow path answers. `None`: take the slow path.
fn fast(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    foreign: [bool; 2],
    state: &State,
) -> Option<Sameness> {
    let (x, y) = match foreign {
        [false, _] => (a, b),
        [true, false] => (b, a),
        [true, true] => return None,
    };
    match hint(x) {
        HINT_DRM if state.availability(Mechanism::DrmFileSameIoctl) == Availability::Available => {
            ioctl::drm_file_same(x, y).ok().map(Sameness::from_drm_bits)
        }
        HINT_DMA_BUF
            if state.availability(Mechanism::DmaBufSameObjectIoctl) == Availability::Available =>
        {
            use crate::uapi::{DMA_BUF_SAME_OBJECT, DMA_BUF_STORAGE_COMPARED};
            let bits = ioctl::dma_buf_same_object(x, y).ok()?;
            // Storage compared, or one dma-buf: complete. Otherwise the storage level needs
            // the other's kind and both sizes: the slow path.
            (bits & (DMA_BUF_STORAGE_COMPARED | DMA_BUF_SAME_OBJECT) != 0)
                .then(|| Sameness::from_dma_buf_bits(bits, None))
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

/// Which descriptor the DRM ioctl may be issued on: a DRM device file of the caller's own.
fn drm_target<'a>(
    a: BorrowedFd<'a>,
    b: BorrowedFd<'a>,
    ia: &Identity,
    ib: &Identity,
    foreign: [bool; 2],
) -> Option<(BorrowedFd<'a>, BorrowedFd<'a>)> {
    if ia.kind.is_drm() && !foreign[0] {
        Some((a, b))
    } else if ib.kind.is_drm() && !foreign[1] {
        Some((b, a))
    } else {
        None
    }
}

fn drm_ioctl(state: &State, x: BorrowedFd<'_>, y: BorrowedFd<'_>) -> Outcome<u64> {
    guarded(state, Mechanism::DrmFileSameIoctl, x, y, || {
        op("ioctl(DRM_IOCTL_FILE_SAME)", ioctl::drm_file_same(x, y))
    })
}

fn dma_buf_ioctl(state: &State, x: BorrowedFd<'_>, y: BorrowedFd<'_>) -> Outcome<u64> {
    guarded(state, Mechanism::DmaBufSameObjectIoctl, x, y, || {
        op(
            "ioctl(DMA_BUF_IOCTL_SAME_OBJECT)",
            ioctl::dma_buf_same_object(x, y),
        )
    })
}

/// One file-level mechanism.
fn file_level(
    state: &State,
    m: Mechanism,
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
) -> Outcome<Answer> {
    let o_path = ia.kind == FdKind::Path || ib.kind == FdKind::Path;
    let out = match m {
        Mechanism::FDupfdQuery => guarded(state, m, a, b, || {
            // Kernels whose f_dupfd_query() looks the other descriptor up with fdget() (6.10,
            // 6.11) refuse an O_PATH one with EBADF: cannot tell, kcmp can.
            match sys::f_dupfd_query(a, b) {
                Err(e) if o_path && e.raw_os_error() == Some(libc::EBADF) => Ok(None),
                r => op("fcntl(F_DUPFD_QUERY)", r).map(Some),
            }
        }),
        Mechanism::Kcmp => guarded(state, m, a, b, || {
            op("kcmp(KCMP_FILE)", sys::kcmp_file(a, b)).map(Some)
        }),
        Mechanism::Epoll => guarded(state, m, a, b, || sys::epoll_same_file_op(a, b)),
        Mechanism::Fstat => return Outcome::Answer(fstat_file_level(ia, ib)),
        _ => unreachable!("not a file-level mechanism"),
    };
    match out {
        Outcome::Answer(o) => Outcome::Answer(o.map_or(Answer::Unknown, Answer::from)),
        Outcome::Missing(e) => Outcome::Missing(e),
        Outcome::Transient(e) => Outcome::Transient(e),
        Outcome::Failed(e) => Outcome::Failed(e),
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

/// The DRM device level by st_rdev: the same minor is the same device. Only for two DRM
/// device files.
fn device_by_fstat(ia: &Identity, ib: &Identity) -> Answer {
    if ia.kind == ib.kind {
        Answer::Same
    } else {
        Answer::Unknown
    }
}

/// The DRM device level by sysfs. `None`: no sysfs, or it could not be read now.
fn device_by_sysfs(
    state: &State,
    a: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
) -> Outcome<Answer> {
    let m = Mechanism::Sysfs;
    if state.availability(m) == Availability::Unavailable {
        return Outcome::Missing(state.errno(m).unwrap_or(libc::ENOENT));
    }
    let (
        FdKind::Drm {
            major: ma,
            minor: na,
            ..
        },
        FdKind::Drm {
            major: mb,
            minor: nb,
            ..
        },
    ) = (ia.kind, ib.kind)
    else {
        unreachable!("sysfs is only asked about DRM device files")
    };
    match sysfs_device(ma, na).and_then(|x| Ok((x, sysfs_device(mb, nb)?))) {
        Ok((Some(x), Some(y))) => {
            state.set_available(m);
            Outcome::Answer(Answer::from(x == y))
        }
        Ok(_) => {
            state.set_available(m);
            Outcome::Answer(Answer::Unknown)
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            let err = Error::os(
                m.call(),
                Some(m),
                a.as_raw_fd(),
                Errno::from_raw_os_error(errno),
            );
            if e.kind() == std::io::ErrorKind::NotFound {
                state.set_unavailable(m, errno);
                Outcome::Missing(errno)
            } else if transient(errno) {
                Outcome::Transient(err)
            } else {
                Outcome::Failed(err)
            }
        }
    }
}

/// The DRM client level by `drm-client-id` in fdinfo. Only for two DRM device files.
fn client_by_fdinfo(state: &State, a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Outcome<Answer> {
    let m = Mechanism::Fdinfo;
    if state.availability(m) == Availability::Unavailable {
        return Outcome::Missing(state.errno(m).unwrap_or(libc::ENOENT));
    }
    let ids = drm_client_id(a).and_then(|x| Ok((x, drm_client_id(b)?)));
    match ids {
        Ok((Some(x), Some(y))) => {
            state.set_available(m);
            Outcome::Answer(Answer::from(x == y))
        }
        Ok(_) => {
            state.set_available(m);
            Outcome::Answer(Answer::Unknown)
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            let err = Error::os(
                m.call(),
                Some(m),
                a.as_raw_fd(),
                Errno::from_raw_os_error(errno),
            )
            .with_other(b.as_raw_fd());
            if e.kind() == std::io::ErrorKind::NotFound {
                state.set_unavailable(m, errno);
                Outcome::Missing(errno)
            } else if transient(errno) {
                Outcome::Transient(err)
            } else {
                Outcome::Failed(err)
            }
        }
    }
}

fn chain(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
    foreign: [bool; 2],
    state: &State,
) -> Result<Sameness, Error> {
    let mut s = Sameness::from_kinds(ia.kind, ib.kind);
    // Both ioctls refuse an O_PATH descriptor with EBADF (fdget): the kinds already say it is
    // no DRM client and no dma-buf, and the file-level step answers.
    let o_path = ia.kind == FdKind::Path || ib.kind == FdKind::Path;

    if !o_path {
        if let Some((x, y)) = drm_target(a, b, ia, ib, foreign) {
            match drm_ioctl(state, x, y) {
                Outcome::Answer(bits) => return Ok(Sameness::from_drm_bits(bits)),
                Outcome::Failed(e) => return Err(e),
                Outcome::Missing(_) | Outcome::Transient(_) => {}
            }
        }
        if ia.kind.is_dma_buf() || ib.kind.is_dma_buf() {
            let (x, y, other) = if ia.kind.is_dma_buf() {
                (a, b, ib)
            } else {
                (b, a, ia)
            };
            match dma_buf_ioctl(state, x, y) {
                Outcome::Answer(bits) => {
                    return Ok(Sameness::from_dma_buf_bits(
                        bits,
                        Some(other.kind.is_dma_buf()),
                    ))
                }
                Outcome::Failed(e) => return Err(e),
                Outcome::Missing(_) | Outcome::Transient(_) => {}
            }
        }
    }
    for m in [
        Mechanism::FDupfdQuery,
        Mechanism::Kcmp,
        Mechanism::Epoll,
        Mechanism::Fstat,
    ] {
        match file_level(state, m, a, b, ia, ib) {
            Outcome::Answer(Answer::Unknown) | Outcome::Missing(_) | Outcome::Transient(_) => {}
            Outcome::Answer(answer) => {
                s.file = answer;
                s.mechanism = Some(m);
                break;
            }
            Outcome::Failed(e) => return Err(e),
        }
    }
    s.infer(ia.kind, ib.kind);
    let both_drm = ia.kind.is_drm() && ib.kind.is_drm();
    if both_drm && s.drm_client == Answer::Unknown {
        if let Outcome::Answer(answer @ (Answer::Same | Answer::Different)) =
            client_by_fdinfo(state, a, b)
        {
            s.drm_client = answer;
            s.client_mechanism = Some(Mechanism::Fdinfo);
            s.infer(ia.kind, ib.kind);
        }
    }
    if both_drm && s.drm_device == Answer::Unknown {
        let by_rdev = device_by_fstat(ia, ib);
        if by_rdev != Answer::Unknown {
            s.drm_device = by_rdev;
            s.device_mechanism = Some(Mechanism::Fstat);
        } else {
            match device_by_sysfs(state, a, ia, ib) {
                Outcome::Answer(answer) => {
                    s.drm_device = answer;
                    s.device_mechanism = Some(Mechanism::Sysfs);
                }
                Outcome::Failed(e) => return Err(e),
                _ => {}
            }
        }
        s.infer(ia.kind, ib.kind);
    }
    Ok(s)
}

fn forced(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
    m: Mechanism,
    foreign: [bool; 2],
    state: &State,
) -> Result<Sameness, Error> {
    let mut s = Sameness::from_kinds(ia.kind, ib.kind);
    let o_path = ia.kind == FdKind::Path || ib.kind == FdKind::Path;
    let result = |out: Outcome<u64>| match out {
        Outcome::Answer(bits) => Ok(bits),
        Outcome::Missing(errno) => Err(Error::unsupported(m, Some(errno))),
        Outcome::Transient(e) | Outcome::Failed(e) => Err(e),
    };
    if o_path
        && matches!(
            m,
            Mechanism::DrmFileSameIoctl | Mechanism::DmaBufSameObjectIoctl
        )
    {
        return Err(Error::not_applicable(
            m,
            "the ioctl refuses an O_PATH file descriptor (EBADF from fdget)",
        ));
    }
    let both_drm = ia.kind.is_drm() && ib.kind.is_drm();
    match m {
        Mechanism::DrmFileSameIoctl => {
            if !(ia.kind.is_drm() || ib.kind.is_drm()) {
                return Err(Error::not_applicable(
                    m,
                    "neither file descriptor is a DRM device file",
                ));
            }
            let Some((x, y)) = drm_target(a, b, ia, ib, foreign) else {
                return Err(Error::not_applicable(
                    m,
                    "the DRM device file is another process's descriptor, and no DRM ioctl is \
                     issued on one (it would make this process its owner on kernels that \
                     update the owner on every DRM ioctl)",
                ));
            };
            return Ok(Sameness::from_drm_bits(result(drm_ioctl(state, x, y))?));
        }
        Mechanism::DmaBufSameObjectIoctl => {
            if !(ia.kind.is_dma_buf() || ib.kind.is_dma_buf()) {
                return Err(Error::not_applicable(
                    m,
                    "neither file descriptor is a dma-buf",
                ));
            }
            let (x, y, other) = if ia.kind.is_dma_buf() {
                (a, b, ib)
            } else {
                (b, a, ia)
            };
            let bits = result(dma_buf_ioctl(state, x, y))?;
            return Ok(Sameness::from_dma_buf_bits(
                bits,
                Some(other.kind.is_dma_buf()),
            ));
        }
        Mechanism::Sysfs => {
            if !both_drm {
                return Err(Error::not_applicable(
                    m,
                    "sysfs compares two DRM device files",
                ));
            }
            match device_by_sysfs(state, a, ia, ib) {
                Outcome::Answer(answer) => {
                    s.drm_device = answer;
                    if answer != Answer::Unknown {
                        s.device_mechanism = Some(m);
                    }
                }
                Outcome::Missing(errno) => return Err(Error::unsupported(m, Some(errno))),
                Outcome::Transient(e) | Outcome::Failed(e) => return Err(e),
            }
        }
        Mechanism::Fdinfo => {
            if !both_drm {
                return Err(Error::not_applicable(
                    m,
                    "fdinfo compares two DRM device files",
                ));
            }
            match client_by_fdinfo(state, a, b) {
                Outcome::Answer(answer) => {
                    s.drm_client = answer;
                    if answer != Answer::Unknown {
                        s.client_mechanism = Some(m);
                    }
                }
                Outcome::Missing(errno) => return Err(Error::unsupported(m, Some(errno))),
                Outcome::Transient(e) | Outcome::Failed(e) => return Err(e),
            }
        }
        Mechanism::FDupfdQuery | Mechanism::Kcmp | Mechanism::Epoll | Mechanism::Fstat => {
            match file_level(state, m, a, b, ia, ib) {
                Outcome::Answer(answer) => {
                    s.file = answer;
                    if answer != Answer::Unknown {
                        s.mechanism = Some(m);
                    }
                }
                Outcome::Missing(errno) => return Err(Error::unsupported(m, Some(errno))),
                Outcome::Transient(e) | Outcome::Failed(e) => return Err(e),
            }
            if m == Mechanism::Fstat && both_drm {
                s.drm_device = device_by_fstat(ia, ib);
                if s.drm_device != Answer::Unknown {
                    s.device_mechanism = Some(m);
                }
            }
        }
    }
    s.infer(ia.kind, ib.kind);
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
        assert_eq!(s.drm_client, Answer::Different);
        // The process-wide state was not touched.
        assert_ne!(
            crate::mechanism::GLOBAL.availability(Mechanism::Epoll),
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
