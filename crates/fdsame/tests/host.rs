//! Host tests: the fallback chain on this machine's kernel (which lacks the new ioctls), on
//! pipes, eventfds, sockets, regular files, `O_PATH`, dups, `SCM_RIGHTS` and `pidfd_getfd`.
//!
//! Every mechanism this host has must agree with every other one and with the ground truth
//! (known by construction); every mechanism it lacks must say so cleanly.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use fdsame::{compare, compare_with, Answer, Availability, ErrorKind, FdKind, Level, Mechanism};

const FILE_MECHANISMS: [Mechanism; 4] = [
    Mechanism::FDupfdQuery,
    Mechanism::Kcmp,
    Mechanism::Epoll,
    Mechanism::Fstat,
];

/// `uname -r` as (major, minor).
fn kernel_version() -> (u32, u32) {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    (it.next().unwrap(), it.next().unwrap())
}

fn tmpfile(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fdsame-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, b"x").unwrap();
    p
}

fn eventfd() -> OwnedFd {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap()
}

/// Passes `fd` through a unix socket with SCM_RIGHTS; returns the received descriptor.
fn scm_rights_copy(fd: BorrowedFd<'_>) -> OwnedFd {
    use rustix::net::*;
    use std::mem::MaybeUninit;
    let (s1, s2) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    assert!(cmsg.push(SendAncillaryMessage::ScmRights(&fds)));
    sendmsg(
        &s1,
        &[io::IoSlice::new(b"f")],
        &mut cmsg,
        SendFlags::empty(),
    )
    .unwrap();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 1];
    recvmsg(
        &s2,
        &mut [io::IoSliceMut::new(&mut buf)],
        &mut cmsg,
        RecvFlags::CMSG_CLOEXEC,
    )
    .unwrap();
    let mut got = None;
    for msg in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut it) = msg {
            got = it.next();
        }
    }
    got.expect("no descriptor received")
}

/// Checks a pair against the ground truth `same_file`, with the chain and with every
/// mechanism. Returns the mechanism the chain picked.
/// The file level by mechanism `m` alone: `Unknown` when it ran and could not tell, or
/// when it cannot compare these kinds of file (epoll of two files that cannot be polled:
/// `NotApplicable`, as sysfs of two pipes).
fn forced_file(a: impl AsFd, b: impl AsFd, m: Mechanism) -> Answer {
    match compare_with(a, b, m) {
        Ok(s) => s.file,
        Err(e) if e.kind() == ErrorKind::NotApplicable && m == Mechanism::Epoll => Answer::Unknown,
        Err(e) => panic!("{m}: {e}"),
    }
}

fn check_pair(what: &str, a: BorrowedFd<'_>, b: BorrowedFd<'_>, same_file: bool) -> Mechanism {
    let truth = Answer::from(same_file);
    let s = compare(a, b).unwrap_or_else(|e| panic!("{what}: compare: {e}"));
    assert_eq!(s.file, truth, "{what}: chain (by {:?})", s.mechanism);
    // None of these are DRM files or dma-bufs: the other levels do not apply.
    assert_eq!(s.drm_client, Answer::NotApplicable, "{what}");
    assert_eq!(s.drm_device, Answer::NotApplicable, "{what}");
    assert_eq!(s.dma_buf_object, Answer::NotApplicable, "{what}");
    assert_eq!(s.dma_buf_storage, Answer::NotApplicable, "{what}");
    assert_eq!(s.device_mechanism, None, "{what}");
    let chain_mech = s
        .mechanism
        .unwrap_or_else(|| panic!("{what}: nothing answered the file level"));

    // The chain picked the first available mechanism that could tell.
    let first = FILE_MECHANISMS
        .into_iter()
        .find(|m| match m.probe() {
            Availability::Available => forced_file(a, b, *m) != Answer::Unknown,
            _ => false,
        })
        .unwrap();
    assert_eq!(chain_mech, first, "{what}");

    for m in FILE_MECHANISMS {
        match m.probe() {
            Availability::Available => {
                let f = match compare_with(a, b, m) {
                    // Epoll of two files neither of which can be polled.
                    Err(e) if e.kind() == ErrorKind::NotApplicable && m == Mechanism::Epoll => {
                        continue
                    }
                    r => r.unwrap_or_else(|e| panic!("{what}: {m}: {e}")),
                };
                // The mechanism is named only when it could tell (the issue's `-m epoll` case).
                let named = (f.file != Answer::Unknown).then_some(m);
                assert_eq!(f.mechanism, named, "{what}: {m}");
                match f.file {
                    // Agrees with the ground truth, hence with every other mechanism.
                    Answer::Unknown => {}
                    ans => assert_eq!(ans, truth, "{what}: {m} disagrees"),
                }
                assert_eq!(f.drm_client, Answer::NotApplicable, "{what}: {m}");
            }
            Availability::Unavailable => assert_unavailable(a, b, m),
            other => panic!("{m}: probe() left it {other:?}"),
        }
    }
    // The ioctls and sysfs cannot compare these kinds: a clean NotApplicable.
    for m in [
        Mechanism::DrmFileSameIoctl,
        Mechanism::DmaBufSameObjectIoctl,
        Mechanism::Sysfs,
    ] {
        let e = compare_with(a, b, m).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotApplicable, "{what}: {m}");
        assert_eq!(e.mechanism(), Some(m));
        assert_eq!(e.io_kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.raw_os_error(), None);
    }
    chain_mech
}

fn assert_unavailable(a: BorrowedFd<'_>, b: BorrowedFd<'_>, m: Mechanism) {
    let e = compare_with(a, b, m).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.mechanism(), Some(m));
    assert_eq!(e.raw_os_error(), m.unavailable_errno());
    assert!(e.to_string().contains(m.name()), "{e}");
}

#[test]
fn availability_matches_this_kernel() {
    let (maj, min) = kernel_version();
    // F_DUPFD_QUERY came with 6.10.
    let expect = if (maj, min) >= (6, 10) {
        Availability::Available
    } else {
        Availability::Unavailable
    };
    assert_eq!(Mechanism::FDupfdQuery.probe(), expect, "kernel {maj}.{min}");
    if expect == Availability::Unavailable {
        assert_eq!(
            Mechanism::FDupfdQuery.unavailable_errno(),
            Some(libc::EINVAL)
        );
    }
    // kcmp: either available, or absent/forbidden with ENOSYS/EPERM, never untested.
    match Mechanism::Kcmp.probe() {
        Availability::Available => assert_eq!(Mechanism::Kcmp.unavailable_errno(), None),
        Availability::Unavailable => assert!(matches!(
            Mechanism::Kcmp.unavailable_errno(),
            Some(libc::ENOSYS | libc::EPERM)
        )),
        other => panic!("kcmp {other:?} after probe"),
    }
    assert_eq!(Mechanism::Epoll.probe(), Availability::Available);
    assert_eq!(Mechanism::Fstat.probe(), Availability::Available);
    assert_eq!(
        Mechanism::Sysfs.probe(),
        Availability::Available,
        "/sys is mounted here"
    );
    // The ioctls cannot be probed without a DRM file or a dma-buf; this host has neither.
    if std::fs::metadata("/dev/dri").is_err() {
        assert_eq!(Mechanism::DrmFileSameIoctl.probe(), Availability::Untested);
    }
}

#[test]
fn pipes() {
    let (r, w) = rustix::pipe::pipe().unwrap();
    let (r2, _w2) = rustix::pipe::pipe().unwrap();
    let dup = r.try_clone().unwrap();
    let m = check_pair("pipe r vs dup(r)", r.as_fd(), dup.as_fd(), true);
    check_pair("pipe r vs r", r.as_fd(), r.as_fd(), true);
    check_pair("pipe r vs w", r.as_fd(), w.as_fd(), false);
    check_pair("pipe r vs another pipe's r", r.as_fd(), r2.as_fd(), false);
    check_pair("pipe w vs dup(r)", w.as_fd(), dup.as_fd(), false);
    // The chain answered with the first mechanism this host has.
    let expect = if Mechanism::FDupfdQuery.probe() == Availability::Available {
        Mechanism::FDupfdQuery
    } else if Mechanism::Kcmp.probe() == Availability::Available {
        Mechanism::Kcmp
    } else {
        Mechanism::Epoll
    };
    assert_eq!(m, expect);
}

#[test]
fn eventfds() {
    let e1 = eventfd();
    let e2 = eventfd();
    let dup = e1.try_clone().unwrap();
    check_pair("eventfd vs dup", e1.as_fd(), dup.as_fd(), true);
    check_pair("eventfd vs another eventfd", e1.as_fd(), e2.as_fd(), false);
    let (r, _w) = rustix::pipe::pipe().unwrap();
    check_pair("eventfd vs pipe", e1.as_fd(), r.as_fd(), false);
}

#[test]
fn regular_files() {
    let p = tmpfile("regular");
    let q = tmpfile("other");
    let f1 = File::open(&p).unwrap();
    let f2 = File::open(&p).unwrap();
    let g = File::open(&q).unwrap();
    let dup = f1.try_clone().unwrap();
    check_pair("file vs dup", f1.as_fd(), dup.as_fd(), true);
    check_pair("two opens of one file", f1.as_fd(), f2.as_fd(), false);
    check_pair("two files", f1.as_fd(), g.as_fd(), false);

    // Regular files are not pollable: the epoll trick cannot compare them, and says so.
    for (x, y) in [(&f1, &dup), (&f1, &f2)] {
        let e = compare_with(x, y, Mechanism::Epoll).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotApplicable, "{e}");
        assert_eq!(
            fdsame::sys::epoll_same_file(x.as_fd(), y.as_fd()).unwrap(),
            None
        );
    }
    // fstat: the same inode tells nothing, different inodes are different files.
    assert_eq!(
        compare_with(&f1, &f2, Mechanism::Fstat).unwrap().file,
        Answer::Unknown
    );
    assert_eq!(
        compare_with(&f1, &dup, Mechanism::Fstat).unwrap().file,
        Answer::Unknown
    );
    assert_eq!(
        compare_with(&f1, &g, Mechanism::Fstat).unwrap().file,
        Answer::Different
    );
    // A pollable file against a regular one: epoll knows they differ.
    let (r, _w) = rustix::pipe::pipe().unwrap();
    assert_eq!(
        compare_with(&r, &f1, Mechanism::Epoll).unwrap().file,
        Answer::Different
    );
    assert_eq!(
        compare_with(&f1, &r, Mechanism::Epoll).unwrap().file,
        Answer::Different
    );
    check_pair("pipe vs file", r.as_fd(), f1.as_fd(), false);
}

#[test]
fn scm_rights_and_pidfd_getfd() {
    let (r, w) = rustix::pipe::pipe().unwrap();
    let got = scm_rights_copy(r.as_fd());
    assert_ne!(got.as_raw_fd(), r.as_raw_fd());
    check_pair(
        "pipe r vs its SCM_RIGHTS copy",
        r.as_fd(),
        got.as_fd(),
        true,
    );
    check_pair(
        "pipe w vs r's SCM_RIGHTS copy",
        w.as_fd(),
        got.as_fd(),
        false,
    );
    let p = tmpfile("scm");
    let f = File::open(&p).unwrap();
    let got = scm_rights_copy(f.as_fd());
    check_pair("file vs its SCM_RIGHTS copy", f.as_fd(), got.as_fd(), true);

    // pidfd_getfd on ourselves: the very same open file description.
    let me = rustix::process::pidfd_open(
        rustix::process::getpid(),
        rustix::process::PidfdFlags::empty(),
    )
    .unwrap();
    let theirs = rustix::process::pidfd_getfd(
        &me,
        r.as_raw_fd(),
        rustix::process::PidfdGetfdFlags::empty(),
    )
    .unwrap();
    check_pair("pipe r vs pidfd_getfd(r)", r.as_fd(), theirs.as_fd(), true);
}

#[test]
fn sockets_and_o_path() {
    use rustix::net::*;
    let (s1, s2) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let dup = s1.try_clone().unwrap();
    check_pair("socket vs dup", s1.as_fd(), dup.as_fd(), true);
    check_pair("socket pair ends", s1.as_fd(), s2.as_fd(), false);

    let p = tmpfile("opath");
    let path_fd = rustix::fs::open(
        &p,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let f = File::open(&p).unwrap();
    assert_eq!(FdKind::of(path_fd.as_fd()).unwrap(), FdKind::Path);
    assert_eq!(FdKind::of(f.as_fd()).unwrap(), FdKind::Other);
    let path_dup = path_fd.try_clone().unwrap();
    let m = check_pair("O_PATH vs its dup", path_fd.as_fd(), path_dup.as_fd(), true);
    check_pair(
        "O_PATH vs an open of the same file",
        path_fd.as_fd(),
        f.as_fd(),
        false,
    );
    // F_DUPFD_QUERY answers for O_PATH descriptors where f_dupfd_query() uses fdget_raw()
    // (this host's kernel, and 7.3); where it answers EBADF, the chain goes on to kcmp.
    match fdsame::sys::f_dupfd_query(path_fd.as_fd(), path_dup.as_fd()) {
        Ok(same) => {
            assert!(same);
            assert_eq!(m, Mechanism::FDupfdQuery);
        }
        Err(e) => {
            assert!(
                matches!(e.raw_os_error(), Some(libc::EBADF | libc::EINVAL)),
                "{e}"
            );
            assert_ne!(m, Mechanism::FDupfdQuery);
        }
    }
    // The epoll trick cannot poll an O_PATH descriptor.
    assert_eq!(
        fdsame::sys::epoll_same_file(path_fd.as_fd(), path_dup.as_fd()).unwrap(),
        None
    );

    // /dev/null: a character device, but not DRM; not pollable by epoll.
    let n1 = File::open("/dev/null").unwrap();
    let n2 = File::open("/dev/null").unwrap();
    assert_eq!(FdKind::of(n1.as_fd()).unwrap(), FdKind::Other);
    check_pair("/dev/null twice", n1.as_fd(), n2.as_fd(), false);
}

/// Every pair of a set of descriptors: every available mechanism agrees with every other.
#[test]
fn all_mechanisms_agree_on_every_pair() {
    let p = tmpfile("matrix");
    let (r, w) = rustix::pipe::pipe().unwrap();
    let e = eventfd();
    let f = File::open(&p).unwrap();
    let f2 = File::open(&p).unwrap();
    let owned: Vec<OwnedFd> = vec![
        r.try_clone().unwrap(),
        w.try_clone().unwrap(),
        e.try_clone().unwrap(),
        f.try_clone().unwrap().into(),
        f2.into(),
        scm_rights_copy(e.as_fd()),
        r,
        w,
        e,
        f.into(),
    ];
    // Which open file description each entry refers to.
    let ofd = [0, 1, 2, 3, 4, 2, 0, 1, 2, 3];
    let mut compared = 0;
    for (i, a) in owned.iter().enumerate() {
        for (j, b) in owned.iter().enumerate() {
            let truth = Answer::from(ofd[i] == ofd[j]);
            let mut answers = vec![];
            for m in FILE_MECHANISMS {
                if m.probe() == Availability::Available {
                    let file = forced_file(a, b, m);
                    if file != Answer::Unknown {
                        answers.push((m, file));
                    }
                }
            }
            // fstat also tells "same" for nothing here; the grouping API must agree.
            assert!(
                !answers.is_empty() || ofd[i] == 3 || ofd[i] == 4,
                "{i} vs {j}: nothing could tell"
            );
            for (m, ans) in &answers {
                assert_eq!(
                    *ans, truth,
                    "{i} vs {j}: {m} says {ans}, answers {answers:?}"
                );
            }
            assert_eq!(
                compare(a, b).unwrap().level(Level::File),
                answers.first().map_or(Answer::Unknown, |x| x.1)
            );
            compared += 1;
        }
    }
    assert_eq!(compared, owned.len() * owned.len());
}

#[test]
fn raw_calls_give_the_kernels_errno() {
    let f = File::open("/").unwrap();
    let (r, w) = rustix::pipe::pipe().unwrap();
    // A descriptor number that is certainly closed (other tests run on other threads, so a
    // just-closed number could be reused at once).
    let closed = (1 << 20) + 7;
    if Mechanism::FDupfdQuery.probe() == Availability::Available {
        for bad in [-1, closed] {
            let err = fdsame::sys::f_dupfd_query_raw(f.as_fd(), bad).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        }
    }
    if Mechanism::Kcmp.probe() == Availability::Available {
        let err = fdsame::sys::kcmp_file_raw(f.as_raw_fd(), closed).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert!(fdsame::sys::kcmp_file(r.as_fd(), r.as_fd()).unwrap());
        assert!(!fdsame::sys::kcmp_file(r.as_fd(), w.as_fd()).unwrap());
    }
    // The ioctls on a pipe: the pipe's ioctl handler refuses both (ENOTTY), on any kernel.
    for flags in [0, 1] {
        let err = fdsame::ioctl::drm_file_same_raw(r.as_fd(), w.as_raw_fd(), flags).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
        let err = fdsame::ioctl::dma_buf_same_object_raw(r.as_fd(), closed, flags).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
    }
    // On a directory too (no ioctl at all): ENOTTY.
    let err = fdsame::ioctl::drm_file_same(f.as_fd(), r.as_fd()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
}

#[test]
fn error_conversion_keeps_errno_and_names() {
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let e = compare_with(&r, &r, Mechanism::DrmFileSameIoctl).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("drm-ioctl"), "{msg}");
    assert!(msg.contains("DRM device file"), "{msg}");

    // Into io::Error: the kind follows, and the payload and its errno come back.
    let io_err: io::Error = e.clone().into();
    assert_eq!(io_err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(fdsame::Error::from_io(&io_err), Some(&e));
    assert_eq!(
        fdsame::raw_os_error(&io::Error::from_raw_os_error(libc::EBADF)),
        Some(libc::EBADF)
    );

    if Mechanism::FDupfdQuery.probe() == Availability::Unavailable {
        let e = compare_with(&r, &r, Mechanism::FDupfdQuery).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}

/// The issue's example: EBADF used to come back with `raw_os_error() == None`.
#[test]
fn ebadf_has_its_errno_and_names_its_call() {
    use std::os::fd::BorrowedFd;
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let closed = (1 << 20) + 9;
    // SAFETY: a number that is certainly not open; the kernel answers EBADF.
    let bad = unsafe { BorrowedFd::borrow_raw(closed) };
    for e in [
        compare(&r, bad).unwrap_err(),
        compare(bad, &r).unwrap_err(),
        compare_with(&r, bad, Mechanism::Kcmp).unwrap_err(),
        fdsame::Options::new()
            .foreign(true, true)
            .compare(bad, &r)
            .unwrap_err(),
    ] {
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        assert_eq!(e.kind(), ErrorKind::Os);
        assert_eq!(e.fd(), Some(closed));
        // The call that failed is named: F_GETFL, not "fstat".
        assert_eq!(e.operation(), "fcntl(F_GETFL)");
        assert!(e.to_string().contains("fcntl(F_GETFL) failed on fd"), "{e}");
        let io_err: io::Error = e.into();
        assert_eq!(fdsame::raw_os_error(&io_err), Some(libc::EBADF));
        assert_eq!(
            io_err.kind(),
            io::Error::from_raw_os_error(libc::EBADF).kind()
        );
    }
    assert_eq!(
        fdsame::FdKind::of(bad).unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
}

/// The grouping API agrees with pairwise compare() on every pair of a mixed set.
#[test]
fn grouping_agrees_with_compare() {
    use fdsame::Descriptors;
    let p = tmpfile("group");
    let (r, w) = rustix::pipe::pipe().unwrap();
    let e = eventfd();
    let f = File::open(&p).unwrap();
    let f2 = File::open(&p).unwrap();
    let path = rustix::fs::open(
        &p,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let owned: Vec<OwnedFd> = vec![
        r.try_clone().unwrap(),
        w.try_clone().unwrap(),
        e.try_clone().unwrap(),
        f.try_clone().unwrap().into(),
        f2.into(),
        scm_rights_copy(e.as_fd()),
        path.try_clone().unwrap(),
        r,
        w,
        e,
        f.into(),
        path,
    ];
    let ofd = [0, 1, 2, 3, 4, 2, 5, 0, 1, 2, 3, 5];
    for foreign in [false, true] {
        let set = Descriptors::new(owned.iter().map(|o| o.as_fd()))
            .unwrap()
            .foreign(foreign);
        let g = set.group(Level::File);
        assert!(g.undecided.is_empty(), "{g:?}");
        assert!(g.errors.is_empty(), "{g:?}");
        let expect: Vec<Vec<usize>> = {
            let mut v: Vec<Vec<usize>> = vec![];
            for (i, o) in ofd.iter().enumerate() {
                match v.iter_mut().find(|g| ofd[g[0]] == *o) {
                    Some(g) => g.push(i),
                    None => v.push(vec![i]),
                }
            }
            v
        };
        assert_eq!(g.groups, expect, "foreign {foreign}");
        for (i, a) in owned.iter().enumerate() {
            for (j, b) in owned.iter().enumerate() {
                let same = g.group_of(i) == g.group_of(j);
                assert_eq!(
                    compare(a, b).unwrap().file,
                    Answer::from(same),
                    "{i} vs {j}"
                );
            }
        }
        // No DRM or dma-buf here: every one alone at those levels.
        for l in [
            Level::DrmClient,
            Level::DrmDevice,
            Level::DmaBufObject,
            Level::DmaBufStorage,
        ] {
            assert_eq!(set.group(l).groups.len(), owned.len(), "{l}");
        }
    }
}

#[test]
fn mechanism_names_round_trip() {
    for &m in Mechanism::ALL {
        assert_eq!(m.name().parse::<Mechanism>().unwrap(), m);
        assert_eq!(format!("{m:?}").parse::<Mechanism>().unwrap(), m);
        assert_eq!(m.name().to_uppercase().parse::<Mechanism>().unwrap(), m);
    }
    for &l in Level::ALL {
        assert_eq!(l.name().to_uppercase().parse::<Level>().unwrap(), l);
    }
    assert!("nope"
        .parse::<Mechanism>()
        .unwrap_err()
        .to_string()
        .contains("kcmp"));
}

/// A seccomp program (x86-64) that fails `kcmp` and `fcntl(_, F_DUPFD_QUERY, _)` with
/// `EPERM` and allows everything else.
fn seccomp_refusing_file_queries() -> Vec<libc::sock_filter> {
    let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let eperm = 0x0005_0000 | libc::EPERM as u32;
    vec![
        ins(0x20, 0, 0, 4),                                 // 0: ld arch
        ins(0x15, 0, 6, 0xc000_003e),                       // 1: x86-64, else allow
        ins(0x20, 0, 0, 0),                                 // 2: ld nr
        ins(0x15, 3, 0, libc::SYS_kcmp as u32),             // 3: kcmp: refuse
        ins(0x15, 0, 3, libc::SYS_fcntl as u32),            // 4: not fcntl: allow
        ins(0x20, 0, 0, 24),                                // 5: ld args[1] (low half)
        ins(0x15, 0, 1, fdsame::sys::F_DUPFD_QUERY as u32), // 6: not F_DUPFD_QUERY: allow
        ins(0x06, 0, 0, eperm),                             // 7: refuse
        ins(0x06, 0, 0, 0x7fff_0000),                       // 8: allow
    ]
}

/// Makes this process refuse kcmp and F_DUPFD_QUERY from now on (seccomp, with no_new_privs).
fn enter_seccomp_refusing_file_queries() {
    let prog = seccomp_refusing_file_queries();
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut _,
    };
    // SAFETY: prctl with a valid program that lives across the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog),
            0
        );
    }
}

/// Runs one test of this binary again in a child process with `env` set (for tests that
/// change the process: a seccomp filter, a descriptor limit); the child's failure fails it.
fn in_child(test: &str, env: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(env, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// A sandbox entered after the first comparisons: the mechanisms found available before
/// (F_DUPFD_QUERY, kcmp) are refused now, and every comparison falls back as a fresh
/// process would (the epoll trick, fstat), instead of failing from then on.
#[test]
fn a_sandbox_entered_later_falls_back() {
    if std::env::var_os("FDSAME_SANDBOX_CHILD").is_none() {
        return in_child("a_sandbox_entered_later_falls_back", "FDSAME_SANDBOX_CHILD");
    }
    let (r, w) = rustix::pipe::pipe().unwrap();
    let dup = r.try_clone().unwrap();
    let before = compare(&r, &dup).unwrap();
    assert_eq!(before.file, Answer::Same);
    let _ = Mechanism::Kcmp.probe();
    enter_seccomp_refusing_file_queries();
    for _ in 0..2 {
        let s = compare(&r, &dup).unwrap();
        assert_eq!(
            (s.file, s.mechanism),
            (Answer::Same, Some(Mechanism::Epoll))
        );
        let s = compare(&r, &w).unwrap();
        assert_eq!(
            (s.file, s.mechanism),
            (Answer::Different, Some(Mechanism::Epoll))
        );
    }
    // Forced, the refused mechanisms say so.
    for m in [Mechanism::FDupfdQuery, Mechanism::Kcmp] {
        let e = compare_with(&r, &dup, m).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{m}: {e}");
        assert_eq!(e.kind(), fdsame::ErrorKind::Unsupported, "{m}");
    }
    // Grouping without kcmp: pairwise by the epoll trick.
    let set = fdsame::Descriptors::new([&r, &w, &dup]).unwrap();
    let g = set.group(Level::File);
    assert_eq!(g.groups, vec![vec![0, 2], vec![1]]);
    assert!(g.undecided.is_empty() && g.errors.is_empty(), "{g:?}");
}

/// Many descriptors of one regular file where nothing can tell open files apart (kcmp and
/// F_DUPFD_QUERY refused, a regular file cannot be polled): grouping stays near-linear in
/// comparisons and says "undecided", never a guess.
#[test]
fn grouping_where_nothing_can_tell_is_linear() {
    if std::env::var_os("FDSAME_LINEAR_CHILD").is_none() {
        return in_child(
            "grouping_where_nothing_can_tell_is_linear",
            "FDSAME_LINEAR_CHILD",
        );
    }
    let path = tmpfile("linear");
    std::fs::write(&path, b"x").unwrap();
    let opens: Vec<std::fs::File> = (0..4)
        .map(|_| std::fs::File::open(&path).unwrap())
        .collect();
    let mut fds: Vec<OwnedFd> = vec![];
    for _ in 0..150 {
        for f in &opens {
            fds.push(f.as_fd().try_clone_to_owned().unwrap());
        }
    }
    enter_seccomp_refusing_file_queries();
    let n = fds.len();
    let c = fdsame::Comparer::new();
    let set = fdsame::Descriptors::new_in(&c, fds).unwrap();
    let g = set.group(Level::File);
    assert!(
        g.comparisons <= 2 * n,
        "{} comparisons for {n}",
        g.comparisons
    );
    // Every descriptor alone, and all of them in one undecided cluster.
    assert_eq!(g.groups.len(), n);
    assert_eq!(g.undecided, vec![(0..n).collect::<Vec<_>>()]);
}
