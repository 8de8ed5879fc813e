//! The fallback chain, step by step: mechanisms are taken away one at a time (a test hook
//! makes the process believe the kernel refused them; this test binary is its own process,
//! so the other tests are not affected) and the chain must answer with the next one, with
//! the same answers.

use std::fs::File;
use std::io;

use fdsame::{compare, compare_with, Answer, Availability, ErrorKind, Mechanism};

#[test]
fn each_step_takes_over_from_the_one_before() {
    let (r, w) = rustix::pipe::pipe().unwrap();
    let dup = r.try_clone().unwrap();
    let p = std::env::temp_dir().join(format!("fdsame-fallback-{}", std::process::id()));
    std::fs::write(&p, b"x").unwrap();
    let f1 = File::open(&p).unwrap();
    let f2 = File::open(&p).unwrap();
    let q = std::env::temp_dir().join(format!("fdsame-fallback2-{}", std::process::id()));
    std::fs::write(&q, b"y").unwrap();
    let g = File::open(&q).unwrap();

    let steps = [
        (Mechanism::FDupfdQuery, libc::EINVAL),
        (Mechanism::Kcmp, libc::ENOSYS),
        (Mechanism::Epoll, libc::ENOSYS),
    ];
    for &(m, errno) in &steps {
        if m.probe() == Availability::Available {
            // Pipes: the first remaining mechanism answers.
            assert_eq!(compare(&r, &dup).unwrap().mechanism, Some(m));
            assert_eq!(compare(&r, &dup).unwrap().file, Answer::Same);
            assert_eq!(compare(&r, &w).unwrap().file, Answer::Different);
        }
        // Take it away.
        fdsame::__pretend_unavailable(m, errno);
        assert_eq!(m.availability(), Availability::Unavailable);
        let err = compare_with(&r, &dup, m).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let e = fdsame::Error::from_io(&err).unwrap();
        assert_eq!(
            (e.kind(), e.mechanism(), e.raw_os_error()),
            (ErrorKind::Unsupported, Some(m), Some(errno))
        );
        assert_eq!(fdsame::raw_os_error(&err), Some(errno));
    }
    // Only fstat is left: different inodes are different files, the rest is unknown.
    let (r2, _w2) = rustix::pipe::pipe().unwrap();
    let s = compare(&r, &r2).unwrap();
    assert_eq!(
        (s.file, s.mechanism),
        (Answer::Different, Some(Mechanism::Fstat))
    );
    // The two ends of one pipe share its inode: fstat cannot tell them apart.
    let s = compare(&r, &w).unwrap();
    assert_eq!((s.file, s.mechanism), (Answer::Unknown, None));
    let s = compare(&r, &dup).unwrap();
    assert_eq!(
        (s.file, s.mechanism),
        (Answer::Unknown, None),
        "never a guess"
    );
    let s = compare(&f1, &f2).unwrap();
    assert_eq!((s.file, s.mechanism), (Answer::Unknown, None));
    let s = compare(&f1, &g).unwrap();
    assert_eq!(
        (s.file, s.mechanism),
        (Answer::Different, Some(Mechanism::Fstat))
    );
    // Non-DRM kinds: the other levels are still known.
    assert_eq!(s.drm_client, Answer::Different);
}
