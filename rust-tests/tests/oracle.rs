//! One oracle over everything the guest holds: every DRM node of every device
//! (several opens, dups, an `SCM_RIGHTS` copy, a vkms lease, `O_PATH`), dma-bufs of every
//! exporter available (vgem PRIME, its re-export through vkms, the system heap, udmabuf
//! including two over one memfd range, vim2m `VIDIOC_EXPBUF` twice) and other kinds (eventfd,
//! memfd, pipe), then every ordered pair: the exact bits expected from how each fd was made,
//! and agreement with every independent source of truth —
//!
//! - FILE ⇔ `fcntl(F_DUPFD_QUERY)`;
//! - CLIENT ⇔ equal `drm-client-id` in `/proc/self/fdinfo`, where fdinfo shows one (vgem has
//!   no `show_fdinfo`: counted as unverifiable, and printed);
//! - OBJECT ⇔ equal `(st_dev, st_ino)` for dma-bufs;
//! - DEVICE ⇔ the same sysfs device (`/sys/dev/char/MAJ:MIN/device` resolved; vkms and vgem
//!   are faux-bus devices, `/sys/devices/faux/<name>`: the sysfs device is what answers there,
//!   there is no bus information);
//! - the STORAGE bits from the exporter and the memory each buffer was made over;
//! - a ~ b == b ~ a; `O_PATH` → `EBADF`, as the other fd and as the fd the ioctl is issued on.
//!
//! Every mismatch is collected and the test fails with all of them; the counts are printed.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use drm::control::Device as _;
use drm::{ClientCapability, Device as _};
use rust_tests::uapi::*;
use rust_tests::v4l2::Vim2m;
use rust_tests::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Exporter {
    Vgem,
    /// virtio-gpu and bochs: GEM PRIME of the PCI display devices (no `same_storage`).
    VirtioGpu,
    Bochs,
    Heap,
    Udmabuf,
    Vb2,
}

impl Exporter {
    /// Exporters that implement `dma_buf_ops.same_storage` (patches 0005, 0006).
    fn compares_storage(self) -> bool {
        matches!(self, Exporter::Udmabuf | Exporter::Vb2)
    }
}

#[derive(Clone, Debug)]
enum Kind {
    /// A DRM file: its device (index into `devices`) and client (ground truth ids).
    Drm { device: usize, client: usize },
    /// A dma-buf: its `struct dma_buf` and its memory (ground truth ids).
    Buf {
        object: usize,
        storage: usize,
        exporter: Exporter,
    },
    /// Another kind of file.
    Other,
    /// An `O_PATH` fd.
    OPath,
}

struct Item {
    name: String,
    fd: OwnedFd,
    /// Ground truth: the `struct file` (same id = made by dup / `SCM_RIGHTS` / re-export).
    file: usize,
    kind: Kind,
}

#[derive(Default)]
struct Zoo {
    items: Vec<Item>,
    next: usize,
}

impl Zoo {
    fn id(&mut self) -> usize {
        self.next += 1;
        self.next
    }
    fn push(&mut self, name: impl Into<String>, fd: OwnedFd, file: usize, kind: Kind) -> usize {
        self.items.push(Item {
            name: name.into(),
            fd,
            file,
            kind,
        });
        self.items.len() - 1
    }
    /// A new file of `kind`; returns its file id.
    fn new_file(&mut self, name: impl Into<String>, fd: OwnedFd, kind: Kind) -> usize {
        let f = self.id();
        self.push(name, fd, f, kind);
        f
    }
}

fn drm_expected(a: &Item, b: &Item) -> u64 {
    match (&a.kind, &b.kind) {
        (
            Kind::Drm {
                device: da,
                client: ca,
            },
            Kind::Drm {
                device: db,
                client: cb,
            },
        ) => {
            let mut r = 0;
            if da == db {
                r |= DRM_FILE_SAME_DEVICE;
            }
            if ca == cb {
                r |= DRM_FILE_SAME_CLIENT;
            }
            if a.file == b.file {
                r |= DRM_FILE_SAME_FILE;
            }
            r
        }
        _ => 0,
    }
}

fn buf_expected(a: &Item, b: &Item) -> u64 {
    match (&a.kind, &b.kind) {
        (
            Kind::Buf {
                object: oa,
                storage: sa,
                exporter: ea,
            },
            Kind::Buf {
                object: ob,
                storage: sb,
                exporter: eb,
            },
        ) => {
            if oa == ob {
                // One dma_buf has exactly one struct file.
                DMA_BUF_SAME_FILE
                    | DMA_BUF_SAME_OBJECT
                    | DMA_BUF_SAME_STORAGE
                    | DMA_BUF_STORAGE_COMPARED
            } else if ea == eb && ea.compares_storage() {
                if sa == sb {
                    DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED
                } else {
                    DMA_BUF_STORAGE_COMPARED
                }
            } else {
                0
            }
        }
        _ => 0,
    }
}

#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_string()).or_default() += 1;
    }
    /// Counts `what` as checked; records a failure when `ok` is false.
    fn check(&mut self, what: &str, ok: bool, msg: impl FnOnce() -> String) {
        self.count(what);
        if !ok {
            self.count(&format!("{what} FAILED"));
            self.failures.push(format!("[{what}] {}", msg()));
        }
    }
}

/// The vkms lease: needs DRM master on `lessor` (the first open of the node, which becomes
/// master when nobody is).
fn make_lease(lessor: &DrmNode) -> OwnedFd {
    if lessor.acquire_master_lock().is_err() {
        panic!("vkms: cannot become DRM master (another process holds master?)");
    }
    lessor
        .set_client_capability(ClientCapability::UniversalPlanes, true)
        .expect("DRM_CLIENT_CAP_UNIVERSAL_PLANES");
    let res = lessor.resource_handles().expect("MODE_GETRESOURCES");
    let conn = *res.connectors().first().expect("vkms has no connector");
    let crtc = *res.crtcs().first().expect("vkms has no CRTC");
    let plane = lessor
        .plane_handles()
        .expect("MODE_GETPLANERESOURCES")
        .into_iter()
        .find(|p| {
            let info = lessor.get_plane(*p).expect("MODE_GETPLANE");
            res.filter_crtcs(info.possible_crtcs()).contains(&crtc)
        })
        .expect("no vkms plane for the first CRTC");
    let (_, lessee) = lessor
        .create_lease(
            &[conn.into(), crtc.into(), plane.into()],
            libc::O_CLOEXEC as u32,
        )
        .expect("DRM_IOCTL_MODE_CREATE_LEASE on vkms");
    lessee
}

/// The DRM nodes opened for the zoo, kept open while it is checked: the sysfs device of each
/// device seen (ground truth for DEVICE: one `struct device` per `struct drm_device` here), and
/// where the first vkms and vgem card opens are.
#[derive(Default)]
struct Nodes {
    devices: Vec<PathBuf>,
    keep: Vec<DrmNode>,
    vkms: Option<usize>,
    vgem: Option<usize>,
}

/// Every DRM node of every device: two opens, a dup, an `SCM_RIGHTS` copy, an `O_PATH` fd, and a
/// lease of the first vkms card.
fn add_drm_nodes(zoo: &mut Zoo) -> Nodes {
    let mut nodes = Nodes::default();
    for (path, nkind, driver) in dri_nodes() {
        add_drm_node(zoo, &mut nodes, path, *nkind, driver);
    }
    nodes
}

fn add_drm_node(
    zoo: &mut Zoo,
    nodes: &mut Nodes,
    path: &std::path::Path,
    nkind: NodeKind,
    driver: &str,
) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let sysdev = std::fs::canonicalize(format!("/sys/class/drm/{name}/device"))
        .unwrap_or_else(|e| panic!("/sys/class/drm/{name}/device: {e}"));
    let device = match nodes.devices.iter().position(|d| *d == sysdev) {
        Some(i) => i,
        None => {
            let bus = std::fs::read_link(sysdev.join("subsystem"))
                .ok()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "none".into());
            report(&format!(
                "oracle: device {}: {} (bus {bus}{})",
                nodes.devices.len(),
                sysdev.display(),
                if bus == "faux" {
                    ": no bus information, the sysfs device answers DEVICE"
                } else {
                    ""
                }
            ));
            nodes.devices.push(sysdev);
            nodes.devices.len() - 1
        }
    };
    let o1 = DrmNode::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let o2 = o1.reopen();
    let c1 = zoo.id();
    let f1 = zoo.new_file(
        format!("{name}({driver}) open 1"),
        dup(o1.as_fd()),
        Kind::Drm { device, client: c1 },
    );
    zoo.push(
        format!("{name} open 1 dup"),
        dup(o1.as_fd()),
        f1,
        Kind::Drm { device, client: c1 },
    );
    zoo.push(
        format!("{name} open 1 SCM_RIGHTS"),
        pass_over_scm_rights(o1.as_fd()),
        f1,
        Kind::Drm { device, client: c1 },
    );
    let c2 = zoo.id();
    zoo.new_file(
        format!("{name} open 2"),
        dup(o2.as_fd()),
        Kind::Drm { device, client: c2 },
    );
    zoo.new_file(format!("{name} O_PATH"), o_path(path), Kind::OPath);
    if driver == VKMS && nkind == NodeKind::Card && nodes.vkms.is_none() {
        let lessee = make_lease(&o1);
        let cl = zoo.id();
        let fl = zoo.new_file(
            format!("{name} lessee"),
            dup(lessee.as_fd()),
            Kind::Drm { device, client: cl },
        );
        zoo.push(
            format!("{name} lessee dup"),
            lessee,
            fl,
            Kind::Drm { device, client: cl },
        );
        nodes.vkms = Some(nodes.keep.len());
    }
    if driver == VGEM && nkind == NodeKind::Card && nodes.vgem.is_none() {
        nodes.vgem = Some(nodes.keep.len());
    }
    nodes.keep.push(o1);
    nodes.keep.push(o2);
}

/// A dma-buf kind with fresh object and storage ids, and the object id.
fn buf(zoo: &mut Zoo, exporter: Exporter) -> (Kind, usize) {
    let (object, storage) = (zoo.id(), zoo.id());
    (
        Kind::Buf {
            object,
            storage,
            exporter,
        },
        object,
    )
}

/// What the dma-bufs need kept until the end: vgem's first buffer (its `O_PATH` goes through
/// `/proc/self/fd`), the vkms handle of its import, and the devices and memfds they come from.
struct Bufs {
    v1: OwnedFd,
    hv: drm::buffer::Handle,
    _keep: (DrmNode, DrmNode, OwnedFd, Vim2m),
}

/// vgem: one buffer with a dup, an SCM_RIGHTS copy and its re-export through a vkms import (the
/// same dma_buf, the same file), and a second buffer.
fn add_vgem_bufs(zoo: &mut Zoo, vgem: &DrmNode, vkms: &DrmNode) -> (OwnedFd, drm::buffer::Handle) {
    let v1 = vgem_dmabuf(vgem);
    let (k, _) = buf(zoo, Exporter::Vgem);
    let fv = zoo.new_file("vgem buf 1", dup(v1.as_fd()), k.clone());
    zoo.push("vgem buf 1 dup", dup(v1.as_fd()), fv, k.clone());
    zoo.push(
        "vgem buf 1 SCM_RIGHTS",
        pass_over_scm_rights(v1.as_fd()),
        fv,
        k.clone(),
    );
    let hv = import(vkms, v1.as_fd());
    zoo.push("vgem buf 1 re-exported by vkms", export(vkms, hv), fv, k);
    let (k, _) = buf(zoo, Exporter::Vgem);
    zoo.new_file("vgem buf 2", vgem_dmabuf(vgem), k);
    (v1, hv)
}

/// The PCI display devices: a virtio-gpu buffer, also imported into vgem and re-exported from
/// there (the same dma_buf), and a bochs buffer.
fn add_pci_bufs(zoo: &mut Zoo, vgem: &DrmNode) -> (DrmNode, DrmNode) {
    let virtio = rust_tests::pci::VIRTIO.open(NodeKind::Card);
    let bochs = rust_tests::pci::BOCHS_A.open(NodeKind::Card);
    let hvirt = create_dumb(&virtio);
    let vb = export(&virtio, hvirt);
    let (k, _) = buf(zoo, Exporter::VirtioGpu);
    let fvb = zoo.new_file("virtio-gpu buf", dup(vb.as_fd()), k.clone());
    let hb = import(vgem, vb.as_fd());
    zoo.push(
        "virtio-gpu buf re-exported by vgem",
        export(vgem, hb),
        fvb,
        k,
    );
    let hboch = create_dumb(&bochs);
    let (k, _) = buf(zoo, Exporter::Bochs);
    zoo.new_file("bochs A buf", export(&bochs, hboch), k);
    (virtio, bochs)
}

/// The system heap: a buffer with a dup, another buffer.
fn add_heap_bufs(zoo: &mut Zoo) {
    let h1 = dma_heap_alloc(page_size() as u64);
    let (k, _) = buf(zoo, Exporter::Heap);
    let fh = zoo.new_file("heap buf 1", dup(h1.as_fd()), k.clone());
    zoo.push("heap buf 1 dup", h1, fh, k);
    let (k, _) = buf(zoo, Exporter::Heap);
    zoo.new_file("heap buf 2", dma_heap_alloc(page_size() as u64), k);
}

/// udmabuf: page 0 twice (two dma_bufs, one storage), page 1, pages 0-1, another memfd.
fn add_udmabufs(zoo: &mut Zoo) -> OwnedFd {
    let memfd = sealed_memfd(4);
    let u0 = udmabuf_range(memfd.as_fd(), 0, 1);
    let (o, s) = (zoo.id(), zoo.id());
    let k = |object, storage| Kind::Buf {
        object,
        storage,
        exporter: Exporter::Udmabuf,
    };
    let fu = zoo.new_file("udmabuf p0", dup(u0.as_fd()), k(o, s));
    zoo.push("udmabuf p0 dup", u0, fu, k(o, s));
    let o2 = zoo.id();
    zoo.new_file(
        "udmabuf p0 again",
        udmabuf_range(memfd.as_fd(), 0, 1),
        k(o2, s),
    );
    let (o3, s3) = (zoo.id(), zoo.id());
    zoo.new_file("udmabuf p1", udmabuf_range(memfd.as_fd(), 1, 1), k(o3, s3));
    let (o4, s4) = (zoo.id(), zoo.id());
    zoo.new_file(
        "udmabuf p0-1",
        udmabuf_range(memfd.as_fd(), 0, 2),
        k(o4, s4),
    );
    let (o5, s5) = (zoo.id(), zoo.id());
    zoo.new_file("udmabuf other memfd", udmabuf(), k(o5, s5));
    memfd
}

/// vim2m: capture buffer 0 exported twice (two dma_bufs, one plane), buffer 1.
fn add_vim2m_bufs(zoo: &mut Zoo) -> Vim2m {
    let vim = Vim2m::open();
    vim.reqbufs(vim.capture, 2);
    let kv = |object, storage| Kind::Buf {
        object,
        storage,
        exporter: Exporter::Vb2,
    };
    let (o, s) = (zoo.id(), zoo.id());
    let c0 = vim.expbuf(vim.capture, 0, 0);
    let fc = zoo.new_file("vim2m cap 0", dup(c0.as_fd()), kv(o, s));
    zoo.push("vim2m cap 0 dup", c0, fc, kv(o, s));
    let o2 = zoo.id();
    zoo.new_file(
        "vim2m cap 0 exported again",
        vim.expbuf(vim.capture, 0, 0),
        kv(o2, s),
    );
    let (o3, s3) = (zoo.id(), zoo.id());
    zoo.new_file("vim2m cap 1", vim.expbuf(vim.capture, 1, 0), kv(o3, s3));
    vim
}

/// dma-bufs of every exporter.
fn add_bufs(zoo: &mut Zoo, nodes: &Nodes) -> Bufs {
    let vkms = &nodes.keep[nodes.vkms.expect("no vkms card node in /dev/dri")];
    let vgem = &nodes.keep[nodes.vgem.expect("no vgem card node in /dev/dri")];
    let (v1, hv) = add_vgem_bufs(zoo, vgem, vkms);
    let (virtio, bochs) = add_pci_bufs(zoo, vgem);
    add_heap_bufs(zoo);
    let memfd = add_udmabufs(zoo);
    let vim = add_vim2m_bufs(zoo);
    Bufs {
        v1,
        hv,
        _keep: (virtio, bochs, memfd, vim),
    }
}

/// Other kinds: eventfd (and a dup), memfd, both ends of a pipe, a regular file.
fn add_others(zoo: &mut Zoo) {
    let e = eventfd();
    let fe = zoo.new_file("eventfd", dup(e.as_fd()), Kind::Other);
    zoo.push("eventfd dup", e, fe, Kind::Other);
    let m = rustix::fs::memfd_create("oracle", rustix::fs::MemfdFlags::CLOEXEC).expect("memfd");
    zoo.new_file("memfd", m, Kind::Other);
    let (pr, pw) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    zoo.new_file("pipe read end", pr, Kind::Other);
    zoo.new_file("pipe write end", pw, Kind::Other);
    zoo.new_file("regular file", regular_file(), Kind::Other);
}

/// The independent facts of each fd: its sysfs device, its DRM client id, its (st_dev, st_ino).
struct Facts {
    sysdev: Vec<Option<PathBuf>>,
    client_id: Vec<Option<String>>,
    devino: Vec<(u64, u64)>,
}

fn facts(items: &[Item]) -> Facts {
    let sysdev: Vec<Option<PathBuf>> = items
        .iter()
        .map(|i| match i.kind {
            Kind::Drm { .. } => sysfs_device_of(i.fd.as_fd()),
            _ => None,
        })
        .collect();
    let client_id = client_ids(items, &sysdev);
    let devino: Vec<(u64, u64)> = items.iter().map(|i| dev_ino(i.fd.as_fd())).collect();
    Facts {
        sysdev,
        client_id,
        devino,
    }
}

/// The client of each DRM fd: `drm-client-id` from fdinfo where the driver shows it, else the
/// `id` column of debugfs `dri/<minor>/clients` (the row found by naming the client).
fn client_ids(items: &[Item], sysdev: &[Option<PathBuf>]) -> Vec<Option<String>> {
    let mut mechanisms: BTreeMap<String, usize> = BTreeMap::new();
    let client_id: Vec<Option<String>> = items
        .iter()
        .enumerate()
        .map(|(i, it)| match it.kind {
            Kind::Drm { .. } => {
                let dev = sysdev[i]
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "no sysfs device".into());
                let (mech, id) = match fdinfo_field(it.fd.as_raw_fd(), "drm-client-id") {
                    Some(c) => ("fdinfo drm-client-id", Some(c)),
                    None => {
                        match try_drm_client_id_via_debugfs(it.fd.as_fd(), &format!("oracle-{i}")) {
                            Ok(id) => (
                                "debugfs dri/<minor>/clients id (no drm-client-id in fdinfo)",
                                Some(id.to_string()),
                            ),
                            Err(_) => (
                                "nothing: no drm-client-id in fdinfo, and no \
                             DRM_IOCTL_SET_CLIENT_NAME to find the debugfs row (before 6.13)",
                                None,
                            ),
                        }
                    }
                };
                *mechanisms.entry(format!("{dev}: {mech}")).or_default() += 1;
                id
            }
            _ => None,
        })
        .collect();
    for (m, n) in &mechanisms {
        report(&format!("oracle: CLIENT of {n} DRM fds of {m}"));
    }
    client_id
}

/// An `O_PATH` fd issuing the ioctls: both refuse it (fdget in the ioctl path).
fn check_opath_issuer(t: &mut Tally, a: &Item, b: &Item, what: &dyn Fn() -> String) {
    let r = file_same(a.fd.as_fd(), b.fd.as_raw_fd(), 0);
    t.check(
        "O_PATH issuing fd: DRM_IOCTL_FILE_SAME EBADF",
        matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EBADF)),
        || format!("{}: {r:?}", what()),
    );
    let r = dmabuf_same(a.fd.as_fd(), b.fd.as_raw_fd(), 0);
    t.check(
        "O_PATH issuing fd: DMA_BUF_IOCTL_SAME_OBJECT EBADF",
        matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EBADF)),
        || format!("{}: {r:?}", what()),
    );
}

/// A DRM fd against any other: exact bits, FILE against F_DUPFD_QUERY, CLIENT against the client
/// ids, DEVICE against sysfs, symmetry; 0 against another kind, EBADF against `O_PATH`.
fn check_drm(t: &mut Tally, f: &Facts, (ia, a): (usize, &Item), (ib, b): (usize, &Item), q: bool) {
    let what = || format!("{} ~ {}", a.name, b.name);
    let (client_id, sysdev) = (&f.client_id, &f.sysdev);
    let r = file_same(a.fd.as_fd(), b.fd.as_raw_fd(), 0);
    if let Kind::OPath = b.kind {
        t.check(
            "O_PATH other fd: DRM EBADF",
            matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EBADF)),
            || format!("{}: {r:?}", what()),
        );
        return;
    }
    let r = r.unwrap_or_else(|e| panic!("DRM_IOCTL_FILE_SAME {}: {e}", what()));
    t.count("DRM compares");
    let exp = drm_expected(a, b);
    t.check("DRM exact bits", r == exp, || {
        format!("{}: {} expected {}", what(), drm_bits(r), drm_bits(exp))
    });
    t.check(
        "DRM FILE <=> F_DUPFD_QUERY",
        (r & DRM_FILE_SAME_FILE != 0) == q,
        || format!("{}: {} but F_DUPFD_QUERY {q}", what(), drm_bits(r)),
    );
    if let Kind::Drm { .. } = b.kind {
        match (&client_id[ia], &client_id[ib]) {
            (Some(x), Some(y)) => t.check(
                "DRM CLIENT <=> equal client id",
                (r & DRM_FILE_SAME_CLIENT != 0) == (x == y),
                || format!("{}: {} client ids {x} {y}", what(), drm_bits(r)),
            ),
            _ => t.count("DRM CLIENT unverifiable (no drm-client-id)"),
        }
        match (&sysdev[ia], &sysdev[ib]) {
            (Some(x), Some(y)) => t.check(
                "DRM DEVICE <=> same sysfs device",
                (r & DRM_FILE_SAME_DEVICE != 0) == (x == y),
                || {
                    format!(
                        "{}: {} sysfs {} vs {}",
                        what(),
                        drm_bits(r),
                        x.display(),
                        y.display()
                    )
                },
            ),
            _ => t.count("DRM DEVICE unverifiable (no sysfs device)"),
        }
        let back = file_same(b.fd.as_fd(), a.fd.as_raw_fd(), 0)
            .unwrap_or_else(|e| panic!("DRM_IOCTL_FILE_SAME back {}: {e}", what()));
        t.check("DRM a~b == b~a", back == r, || {
            format!("{}: {} but back {}", what(), drm_bits(r), drm_bits(back))
        });
    } else {
        t.check("DRM vs another kind is 0", r == 0, || {
            format!("{}: {}", what(), drm_bits(r))
        });
    }
}

/// A dma-buf against any other: exact bits (STORAGE included), FILE against F_DUPFD_QUERY,
/// OBJECT against (st_dev, st_ino), symmetry; 0 against another kind, EBADF against `O_PATH`.
fn check_buf(t: &mut Tally, f: &Facts, (ia, a): (usize, &Item), (ib, b): (usize, &Item), q: bool) {
    let what = || format!("{} ~ {}", a.name, b.name);
    let devino = &f.devino;
    let r = dmabuf_same(a.fd.as_fd(), b.fd.as_raw_fd(), 0);
    if let Kind::OPath = b.kind {
        t.check(
            "O_PATH other fd: dma-buf EBADF",
            matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EBADF)),
            || format!("{}: {r:?}", what()),
        );
        return;
    }
    let r = r.unwrap_or_else(|e| panic!("DMA_BUF_IOCTL_SAME_OBJECT {}: {e}", what()));
    t.count("dma-buf compares");
    let exp = buf_expected(a, b);
    t.check("dma-buf exact bits (incl. STORAGE)", r == exp, || {
        format!(
            "{}: {} expected {}",
            what(),
            dmabuf_bits(r),
            dmabuf_bits(exp)
        )
    });
    t.check(
        "dma-buf FILE <=> F_DUPFD_QUERY",
        (r & DMA_BUF_SAME_FILE != 0) == q,
        || format!("{}: {} but F_DUPFD_QUERY {q}", what(), dmabuf_bits(r)),
    );
    t.check(
        "dma-buf OBJECT <=> equal (st_dev, st_ino)",
        (r & DMA_BUF_SAME_OBJECT != 0) == (devino[ia] == devino[ib]),
        || {
            format!(
                "{}: {} but (dev, ino) {:?} vs {:?}",
                what(),
                dmabuf_bits(r),
                devino[ia],
                devino[ib]
            )
        },
    );
    if let Kind::Buf { .. } = b.kind {
        let back = dmabuf_same(b.fd.as_fd(), a.fd.as_raw_fd(), 0)
            .unwrap_or_else(|e| panic!("DMA_BUF_IOCTL_SAME_OBJECT back {}: {e}", what()));
        t.check("dma-buf a~b == b~a", back == r, || {
            format!(
                "{}: {} but back {}",
                what(),
                dmabuf_bits(r),
                dmabuf_bits(back)
            )
        });
    } else {
        t.check("dma-buf vs another kind is 0", r == 0, || {
            format!("{}: {}", what(), dmabuf_bits(r))
        });
    }
}

/// One ordered pair: FILE against F_DUPFD_QUERY for every pair (7.3 answers for `O_PATH`), then
/// what the issuing fd's kind asks.
fn check_pair(t: &mut Tally, f: &Facts, (ia, a): (usize, &Item), (ib, b): (usize, &Item)) {
    t.count("ordered pairs");
    let what = || format!("{} ~ {}", a.name, b.name);
    let q = f_dupfd_query(a.fd.as_fd(), b.fd.as_raw_fd())
        .unwrap_or_else(|e| panic!("F_DUPFD_QUERY {}: {e}", what()));
    t.check(
        "construction FILE == F_DUPFD_QUERY",
        q == (a.file == b.file),
        || {
            format!(
                "{}: F_DUPFD_QUERY {q}, made as same file {}",
                what(),
                a.file == b.file
            )
        },
    );
    match &a.kind {
        Kind::OPath => check_opath_issuer(t, a, b, &what),
        Kind::Drm { .. } => check_drm(t, f, (ia, a), (ib, b), q),
        Kind::Buf { .. } => check_buf(t, f, (ia, a), (ib, b), q),
        Kind::Other => t.count("pairs issued on another kind (F_DUPFD_QUERY only)"),
    }
}

#[test]
fn one_oracle_over_everything_the_guest_holds() {
    require_guest();
    let mut zoo = Zoo::default();
    let nodes = add_drm_nodes(&mut zoo);
    let n_drm = zoo.items.len();
    let bufs = add_bufs(&mut zoo, &nodes);
    let n_buf = zoo.items.len() - n_drm;
    // An O_PATH fd of a dma-buf (through /proc/self/fd).
    let bufpath = format!("/proc/self/fd/{}", bufs.v1.as_raw_fd());
    zoo.new_file("vgem buf 1 O_PATH", o_path(&bufpath), Kind::OPath);
    add_others(&mut zoo);
    let items = &zoo.items;
    let f = facts(items);
    let mut t = Tally::default();
    let n = items.len();
    for a in items.iter().enumerate() {
        for b in items.iter().enumerate() {
            check_pair(&mut t, &f, a, b);
        }
    }
    let vkms = &nodes.keep[nodes.vkms.expect("vkms")];
    vkms.close_buffer(bufs.hv).expect("GEM_CLOSE on vkms");
    let devices = &nodes.devices;
    report(&format!(
        "oracle: {n} fds ({n_drm} DRM incl. O_PATH, {n_buf} dma-bufs, {} others and O_PATH), \
         {} devices, {} ordered pairs checked",
        n - n_drm - n_buf,
        devices.len(),
        n * n
    ));
    for (k, v) in &t.counts {
        report(&format!("oracle:   {v:6} {k}"));
    }
    assert!(
        t.failures.is_empty(),
        "{} mismatches over {} ordered pairs:\n{}",
        t.failures.len(),
        n * n,
        t.failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
