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
fn drm_vs_o_path_of_same_node_is_ebadf() {
    require_guest();
    // The ioctl looks the other fd up with fdget(), which refuses O_PATH fds.
    for n in nodes() {
        let p = o_path(n.path());
        let what = format!("{} vs an O_PATH fd of the same node", n.path().display());
        assert_errno(file_same(n.as_fd(), p.as_raw_fd(), 0), libc::EBADF, &what);
        let via_proc = o_path(format!("/proc/self/fd/{}", n.raw()));
        assert_errno(
            file_same(n.as_fd(), via_proc.as_raw_fd(), 0),
            libc::EBADF,
            &format!("{what} (via /proc/self/fd)"),
        );
        // Flags are checked before the fd is looked up.
        assert_errno(
            file_same(n.as_fd(), p.as_raw_fd(), 1),
            libc::EINVAL,
            &format!("{what}, flags 1"),
        );
    }
    let dir = o_path(std::env::temp_dir());
    let n = open_vgem_render();
    assert_errno(
        file_same(n.as_fd(), dir.as_raw_fd(), 0),
        libc::EBADF,
        "vgem render vs an O_PATH directory",
    );
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

// ---------------------------------------------------------------------------------------------
// DRM_NO_PID_UPDATE: the ioctl does not make its caller the owner of the DRM file
// ---------------------------------------------------------------------------------------------

/// What the child does on each command byte from the parent; it answers with 8 bytes: the
/// result bits, or `u64::MAX - errno` on failure.
fn child_command(fd: BorrowedFd<'_>, cmd: u8) -> u64 {
    let r = match cmd {
        // DRM_IOCTL_FILE_SAME about itself (ALL), about a closed fd (EBADF), with flags
        // (EINVAL): none of them may touch the owner.
        b'S' => file_same(fd, fd.as_raw_fd(), 0),
        b'B' => file_same(fd, closed_fd_number(600), 0),
        b'F' => file_same(fd, fd.as_raw_fd(), 1),
        // An ordinary DRM ioctl: takes the file over.
        b'V' => drm_version_ioctl(fd).map(|_| 0),
        _ => return u64::MAX,
    };
    match r {
        Ok(bits) => bits,
        Err(e) => u64::MAX - e.raw_os_error().unwrap_or(0) as u64,
    }
}

/// Process B: forked before A opens the node, receives A's DRM fd over `SCM_RIGHTS` on `sock`,
/// then runs the commands read from `cmds` until `Q` (or EOF). Only syscalls (a fork of a threaded
/// process); leaves with `_exit`.
fn process_b(sock: OwnedFd, cmds: OwnedFd, replies: OwnedFd) -> ! {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::IoSliceMut;
    use std::mem::MaybeUninit;
    die_with_parent();
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut fd = None;
    if recvmsg(
        &sock,
        &mut [IoSliceMut::new(&mut byte)],
        &mut cmsg,
        RecvFlags::CMSG_CLOEXEC,
    )
    .is_ok()
    {
        for m in cmsg.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = m {
                fd = fds.next();
            }
        }
    }
    let Some(fd) = fd else {
        // SAFETY: leaves the child.
        unsafe { libc::_exit(2) }
    };
    loop {
        let mut c = [0u8; 1];
        match rustix::io::read(&cmds, &mut c) {
            Ok(1) if c[0] == b'Q' => break,
            Ok(1) => {
                let r = child_command(fd.as_fd(), c[0]);
                let _ = rustix::io::write(&replies, &r.to_ne_bytes());
            }
            _ => break,
        }
    }
    // SAFETY: leaves the child without running the parent's destructors.
    unsafe { libc::_exit(0) }
}

/// Process B as the parent sees it: its pid, the socket that hands it A's fd, its command pipe
/// and its replies.
struct ProcessB {
    pid: i32,
    sock: OwnedFd,
    cmds: OwnedFd,
    replies: OwnedFd,
}

impl ProcessB {
    /// Forks process B ([`process_b`]) before A opens the node.
    fn spawn() -> ProcessB {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        use rustix::pipe::{pipe_with, PipeFlags};
        let flags = SocketFlags::CLOEXEC;
        let (sock_a, sock_b) =
            socketpair(AddressFamily::UNIX, SocketType::STREAM, flags, None).expect("socketpair");
        let (cmd_r, cmd_w) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        let (rep_r, rep_w) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        // SAFETY: the child only makes syscalls and `_exit`s (process_b).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            drop((sock_a, cmd_w, rep_r));
            process_b(sock_b, cmd_r, rep_w);
        }
        ProcessB {
            pid,
            sock: sock_a,
            cmds: cmd_w,
            replies: rep_r,
        }
    }

    /// Hands `fd` to B over `SCM_RIGHTS`.
    fn send(&self, fd: BorrowedFd<'_>) {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        use std::mem::MaybeUninit;
        let fds = [fd];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        assert!(cmsg.push(SendAncillaryMessage::ScmRights(&fds)));
        let bytes = [std::io::IoSlice::new(b"x")];
        sendmsg(&self.sock, &bytes, &mut cmsg, SendFlags::empty()).expect("sendmsg SCM_RIGHTS");
    }

    /// Runs command `cmd` in B ([`child_command`]) and returns its 8-byte answer.
    fn ask(&self, cmd: u8) -> u64 {
        assert_eq!(rustix::io::write(&self.cmds, &[cmd]).expect("command"), 1);
        let mut b = [0u8; 8];
        let n = rustix::io::read(&self.replies, &mut b).expect("reply");
        assert_eq!(n, 8, "process B died before answering {:?}", cmd as char);
        u64::from_ne_bytes(b)
    }

    /// Tells B to leave ('Q') and waits for it; its exit status.
    fn finish(self) -> i32 {
        let _ = rustix::io::write(&self.cmds, b"Q");
        drop(self.cmds);
        let mut status = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(r, self.pid, "waitpid: {}", std::io::Error::last_os_error());
        status
    }
}

/// Who owns the client of `a` (on `minor`): by its name in debugfs when A could name it,
/// else by the rows B owns there (B holds no other file of it: one row when B owns the
/// client, none when A does).
fn owner(named: Option<&str>, minor: u32, pid_a: i32, pid_b: i32) -> (i32, String) {
    if let Some(name) = named {
        return drm_client_owner(minor, name);
    }
    match drm_clients_owned_by(minor, pid_b) {
        (0, text) => (pid_a, text),
        (1, text) => (pid_b, text),
        (n, text) => panic!("{n} clients of process B on minor {minor}:\n{text}"),
    }
}

/// The checks, with B holding A's fd: B's FILE_SAME (three ways) leaves the owner A; B's
/// VERSION takes it (the control); A's FILE_SAME does not take it back, A's VERSION does.
fn owner_checks(a: &DrmNode, b: &ProcessB, owner: &dyn Fn() -> (i32, String), pid_a: i32) {
    assert_eq!(
        owner().0,
        pid_a,
        "the opener owns the client: {:?}",
        owner()
    );
    b.send(a.as_fd());
    let err = |errno: i32| u64::MAX - errno as u64;
    assert_eq!(
        b.ask(b'S'),
        ALL,
        "B: FILE_SAME of the received fd about itself"
    );
    assert_eq!(owner().0, pid_a, "after B's FILE_SAME: {:?}", owner());
    assert_eq!(
        b.ask(b'B'),
        err(libc::EBADF),
        "B: FILE_SAME about a closed fd"
    );
    assert_eq!(
        owner().0,
        pid_a,
        "after B's FILE_SAME (EBADF): {:?}",
        owner()
    );
    assert_eq!(b.ask(b'F'), err(libc::EINVAL), "B: FILE_SAME with flags 1");
    assert_eq!(
        owner().0,
        pid_a,
        "after B's FILE_SAME (EINVAL): {:?}",
        owner()
    );
    // Control: DRM_IOCTL_VERSION from B makes B the owner (so the checks above can fail).
    assert_eq!(b.ask(b'V'), 0, "B: DRM_IOCTL_VERSION");
    assert_eq!(
        owner().0,
        b.pid,
        "after B's DRM_IOCTL_VERSION: {:?}",
        owner()
    );
    // And the other way round.
    let d = a.dup();
    expect(a.as_fd(), d.as_fd(), ALL, "A: FILE_SAME about a dup");
    assert_eq!(owner().0, b.pid, "after A's FILE_SAME: {:?}", owner());
    drm_version_ioctl(a.as_fd()).expect("A: DRM_IOCTL_VERSION");
    assert_eq!(
        owner().0,
        pid_a,
        "after A's DRM_IOCTL_VERSION: {:?}",
        owner()
    );
}

#[test]
fn file_same_on_a_received_fd_leaves_the_owner_version_takes_it() {
    require_guest();
    // A render node: a DRM file that was ever master keeps its owner whatever ioctl is issued
    // (drm_file_update_pid() returns early on `was_master`), and a card node's first open
    // becomes master, so only a render node makes the control below meaningful.
    let render = find_node(VGEM, NodeKind::Render);
    let b = ProcessB::spawn();
    let pid_a = std::process::id() as i32;
    // A opens the node after the fork: B holds it only through SCM_RIGHTS.
    let a = DrmNode::open(&render).unwrap_or_else(|e| panic!("opening {}: {e}", render.display()));
    // A names its client (an ordinary ioctl, issued by the owner) to find its debugfs row.
    // Kernels without DRM_IOCTL_SET_CLIENT_NAME (6.12) cannot name it.
    let name = format!("fdsame-owner-test-{pid_a}");
    let named = try_set_drm_client_name(a.as_fd(), &name).is_ok();
    if !named {
        eprintln!("DRM_IOCTL_SET_CLIENT_NAME not available: the owner is told by B's rows");
    }
    let minor = drm_minor(a.as_fd());
    let pid_b = b.pid;
    let who = || owner(named.then_some(name.as_str()), minor, pid_a, pid_b);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        owner_checks(&a, &b, &who, pid_a)
    }));
    let status = b.finish();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "process B status {status:#x}"
    );
}
