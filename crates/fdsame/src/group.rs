//! Deduplicating a set of descriptors by level, in one call.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsFd;
use std::path::PathBuf;

use crate::chain::compare_identified;
use crate::kind::{drm_client_id, fdinfo_text, identify, sysfs_device, Identity};
use crate::mechanism::State;
use crate::{sys, Answer, Availability, Comparer, Error, FdKind, Level, Mechanism, Options};

/// A set of descriptors, identified once, to be partitioned by level with
/// [`group`](Descriptors::group).
///
/// Keys are used where the kernel gives them, pairwise comparisons only where it does not:
///
/// | level | key | then |
/// |---|---|---|
/// | file | `(st_dev, st_ino)` and kind: different inodes are different files; a dma-buf's own inode is its one file; `drm-client-id` | `kcmp`'s order within an inode (`O(n log n)` calls), else pairwise [`compare`](crate::compare) |
/// | DRM client | `drm-client-id` (unique among the clients of a running kernel) | the file level (one `struct drm_file` per open file description) |
/// | DRM device | the sysfs device of the node's `st_rdev` (card and render nodes of one device share it) | pairwise for nodes without a sysfs device |
/// | dma-buf object | the dma-buf's inode (its own since Linux 5.3) | the file level (one `struct file` per dma-buf) |
/// | dma-buf storage | the objects, then the size (different sizes are different storage) | pairwise `DMA_BUF_IOCTL_SAME_OBJECT` within one size; an exporter found not to compare storage is not asked again |
///
/// Nothing done here has a side effect on the files beyond what [`Options::foreign`]
/// describes for the descriptors marked [`foreign`](Descriptors::foreign).
///
/// The descriptors are any [`AsFd`] values, as [`compare`](crate::compare) takes them:
/// borrowed (`[a.as_fd(), b.as_fd()]`, `files.iter()`) or owned (a `Vec<OwnedFd>`, kept by
/// the set).
///
/// ```
/// use std::os::fd::AsFd;
/// use fdsame::{Descriptors, Level};
/// let (r, w) = rustix::pipe::pipe()?;
/// let (dup, other) = (r.try_clone()?, rustix::pipe::pipe()?.0);
/// let set = Descriptors::new([r.as_fd(), w.as_fd(), dup.as_fd(), other.as_fd()])?;
/// let g = set.group(Level::File);
/// assert_eq!(g.groups, vec![vec![0, 2], vec![1], vec![3]]);
/// assert!(g.undecided.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Descriptors<'c, F: AsFd> {
    fds: Vec<F>,
    ids: Vec<Identity>,
    foreign: bool,
    client_ids: std::cell::OnceCell<Vec<Option<u64>>>,
    comparer: &'c Comparer,
}

/// The partition of a [`Descriptors`] set at one level.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Groups {
    /// The groups: indices into the set, ascending; groups in the order of their first
    /// member. Every descriptor is in exactly one group; a descriptor the level does not
    /// apply to (a pipe at the DRM client level) is alone in its group.
    pub groups: Vec<Vec<usize>>,
    /// Clusters of groups (indices into `groups`) that nothing available could tell apart:
    /// two groups of one cluster may be the same at this level. Groups that are in no
    /// cluster, or in different clusters, are different.
    pub undecided: Vec<Vec<usize>>,
    /// What answered, in the order of [`Mechanism::ALL`].
    pub mechanisms: Vec<Mechanism>,
    /// Comparisons that failed (their pairs count as undecided).
    pub errors: Vec<Error>,
    /// How many pairwise comparisons (the chain on two descriptors) grouping took; the
    /// `kcmp` calls of the sorted path are not counted.
    pub comparisons: usize,
}

impl Groups {
    /// The group of descriptor `i`.
    ///
    /// ```
    /// # use std::os::fd::AsFd;
    /// let (r, w) = rustix::pipe::pipe()?;
    /// let g = fdsame::Descriptors::new([r.as_fd(), w.as_fd()])?.group(fdsame::Level::File);
    /// assert_eq!((g.group_of(0), g.group_of(1), g.group_of(2)), (Some(0), Some(1), None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_of(&self, i: usize) -> Option<usize> {
        self.groups.iter().position(|g| g.contains(&i))
    }
}

/// Union-find over `0..n`, with the pairs that stayed unknown and what answered.
struct Work {
    parent: Vec<usize>,
    unknown: Vec<(usize, usize)>,
    mechanisms: BTreeSet<Mechanism>,
    errors: Vec<Error>,
    comparisons: usize,
}

impl Work {
    fn new(n: usize) -> Work {
        Work {
            parent: (0..n).collect(),
            unknown: vec![],
            mechanisms: BTreeSet::new(),
            errors: vec![],
            comparisons: 0,
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }

    fn finish(mut self) -> Groups {
        let n = self.parent.len();
        let mut by_root: Vec<Option<usize>> = vec![None; n];
        let mut groups: Vec<Vec<usize>> = vec![];
        for i in 0..n {
            let r = self.find(i);
            let g = *by_root[r].get_or_insert_with(|| {
                groups.push(vec![]);
                groups.len() - 1
            });
            groups[g].push(i);
        }
        // Clusters: connected components of the unknown pairs between groups.
        let mut cl: Vec<usize> = (0..groups.len()).collect();
        fn root(cl: &mut [usize], mut x: usize) -> usize {
            while cl[x] != x {
                cl[x] = cl[cl[x]];
                x = cl[x];
            }
            x
        }
        let mut involved = BTreeSet::new();
        for (a, b) in std::mem::take(&mut self.unknown) {
            let (ga, gb) = (
                by_root[self.find(a)].unwrap(),
                by_root[self.find(b)].unwrap(),
            );
            if ga == gb {
                continue;
            }
            involved.extend([ga, gb]);
            let (ra, rb) = (root(&mut cl, ga), root(&mut cl, gb));
            cl[ra.max(rb)] = ra.min(rb);
        }
        let mut clusters: HashMap<usize, Vec<usize>> = HashMap::new();
        for g in involved {
            let r = root(&mut cl, g);
            clusters.entry(r).or_default().push(g);
        }
        let mut undecided: Vec<Vec<usize>> = clusters.into_values().collect();
        undecided.sort();
        Groups {
            groups,
            undecided,
            mechanisms: self.mechanisms.into_iter().collect(),
            errors: self.errors,
            comparisons: self.comparisons,
        }
    }
}

impl<F: AsFd> Descriptors<'static, F> {
    /// Identifies every descriptor (`fcntl(F_GETFL)`, `fstat`, `fstatfs`: no side effect),
    /// through [`Comparer::global`].
    ///
    /// Errors: the first descriptor that cannot be identified (`EBADF`: not open), with the
    /// call that failed.
    pub fn new(fds: impl IntoIterator<Item = F>) -> crate::Result<Self> {
        Descriptors::new_in(Comparer::global(), fds)
    }
}

impl<'c, F: AsFd> Descriptors<'c, F> {
    /// [`Descriptors::new`] through the comparer `c`.
    ///
    /// ```
    /// let (r, w) = rustix::pipe::pipe()?;
    /// let c = fdsame::Comparer::new();
    /// let set = fdsame::Descriptors::new_in(&c, [&r, &w, &r])?;
    /// assert_eq!(set.group(fdsame::Level::File).groups, vec![vec![0, 2], vec![1]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_in(c: &'c Comparer, fds: impl IntoIterator<Item = F>) -> crate::Result<Self> {
        let fds: Vec<F> = fds.into_iter().collect();
        let ids = fds
            .iter()
            .map(|fd| identify(&c.0, fd.as_fd()))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(Descriptors {
            fds,
            ids,
            foreign: false,
            client_ids: std::cell::OnceCell::new(),
            comparer: c,
        })
    }

    fn state(&self) -> &State {
        &self.comparer.0
    }

    /// Marks every descriptor of the set as another process's: no DRM ioctl is issued on any
    /// (see [`Options::foreign`]).
    pub fn foreign(mut self, yes: bool) -> Self {
        self.foreign = yes;
        self
    }

    /// The number of descriptors.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// What descriptor `i` is.
    ///
    /// Panics when `i` is out of range, as slice indexing does.
    pub fn kind(&self, i: usize) -> FdKind {
        self.ids[i].kind
    }

    /// The inode number of dma-buf `i` when it has one of its own (Linux 5.3+): a key of the
    /// dma-buf, as in `/proc/PID/fdinfo` (`ino:`) and `/proc/PID/maps`. `None` for other
    /// kinds.
    pub fn dma_buf_inode(&self, i: usize) -> Option<u64> {
        let id = &self.ids[i];
        (id.kind.is_dma_buf() && id.own_inode).then_some(id.inode.1)
    }

    /// The size in bytes of dma-buf `i` (`st_size` of its inode, Linux 5.3+). `None` for
    /// other kinds.
    pub fn dma_buf_size(&self, i: usize) -> Option<u64> {
        let id = &self.ids[i];
        (id.kind.is_dma_buf() && id.own_inode).then_some(id.size)
    }

    /// `drm-client-id` of DRM device file `i` (from `/proc/self/fdinfo`), when its driver
    /// shows DRM fdinfo. `None` for other kinds.
    pub fn drm_client_id(&self, i: usize) -> Option<u64> {
        self.client_ids()[i]
    }

    fn client_ids(&self) -> &[Option<u64>] {
        self.client_ids.get_or_init(|| {
            let readable = true;
            self.fds
                .iter()
                .zip(&self.ids)
                .map(|(fd, id)| {
                    if readable && id.kind.is_drm() {
                        drm_client_id(fd.as_fd()).ok().flatten()
                    } else {
                        None
                    }
                })
                .collect()
        })
    }

    fn options(&self) -> Options {
        Options::new().foreign(self.foreign, self.foreign)
    }

    /// Compares `i` and `j` with the chain; errors are kept and count as unknown.
    fn ask(&self, w: &mut Work, i: usize, j: usize, level: Level) -> Answer {
        w.comparisons += 1;
        match compare_identified(
            self.fds[i].as_fd(),
            self.fds[j].as_fd(),
            &self.ids[i],
            &self.ids[j],
            &self.options(),
            self.state(),
        ) {
            Ok(s) => {
                let answer = s.level(level);
                if answer != Answer::Unknown {
                    w.mechanisms.extend(s.mechanism_of(level));
                }
                answer
            }
            Err(e) => {
                w.errors.push(e);
                Answer::Unknown
            }
        }
    }

    /// Partitions the set at `level`; see the table of [`Descriptors`] for how.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use fdsame::{Descriptors, Level};
    /// let f = std::fs::File::open("/")?;
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// let set = Descriptors::new([f.as_fd(), r.as_fd(), f.as_fd()])?;
    /// // Neither is a DRM device file: each is alone at the DRM levels.
    /// assert_eq!(set.group(Level::DrmDevice).groups, vec![vec![0], vec![1], vec![2]]);
    /// assert_eq!(set.group(Level::File).groups, vec![vec![0, 2], vec![1]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group(&self, level: Level) -> Groups {
        let mut w = Work::new(self.len());
        let items: Vec<usize> = (0..self.len())
            .filter(|&i| level.applies_to(self.ids[i].kind))
            .collect();
        match level {
            Level::File | Level::DmaBufObject => self.files(&mut w, &items, level),
            Level::DrmClient => self.clients(&mut w, &items),
            Level::DrmDevice => self.devices(&mut w, &items),
            Level::DmaBufStorage => {
                self.files(&mut w, &items, Level::DmaBufObject);
                self.storage(&mut w, &items);
            }
        }
        w.finish()
    }

    /// The file level (and the dma-buf object level, which is the same partition of
    /// dma-bufs): by inode, then by client id, then by kcmp's order or pairwise.
    fn files(&self, w: &mut Work, items: &[usize], level: Level) {
        let mut buckets: HashMap<(FdKind, (u64, u64)), Vec<usize>> = HashMap::new();
        for &i in items {
            buckets
                .entry((self.ids[i].kind, self.ids[i].inode))
                .or_default()
                .push(i);
        }
        if buckets.len() > 1 {
            w.mechanisms.insert(Mechanism::Fstat);
        }
        let mut buckets: Vec<Vec<usize>> = buckets.into_values().collect();
        buckets.sort();
        for bucket in buckets {
            if bucket.len() < 2 {
                continue;
            }
            let first = &self.ids[bucket[0]];
            if first.kind.is_dma_buf() && first.own_inode {
                // One inode of its own: one dma-buf, one struct file.
                for &i in &bucket[1..] {
                    w.union(bucket[0], i);
                }
                w.mechanisms.insert(Mechanism::Fstat);
                continue;
            }
            if first.kind.is_drm() {
                // Different clients are different files.
                let ids = self.client_ids();
                if bucket.iter().all(|&i| ids[i].is_some()) {
                    let mut sub: HashMap<u64, Vec<usize>> = HashMap::new();
                    for &i in &bucket {
                        sub.entry(ids[i].unwrap()).or_default().push(i);
                    }
                    if sub.len() > 1 {
                        w.mechanisms.insert(Mechanism::Fdinfo);
                    }
                    let mut sub: Vec<Vec<usize>> = sub.into_values().collect();
                    sub.sort();
                    for s in sub {
                        self.same_files(w, &s, level);
                    }
                    continue;
                }
            }
            self.same_files(w, &bucket, level);
        }
    }

    /// Descriptors of one inode: sorted by kcmp's order when kcmp works, else pairwise.
    fn same_files(&self, w: &mut Work, items: &[usize], level: Level) {
        if items.len() < 2 {
            return;
        }
        if self.state().availability(Mechanism::Kcmp) == Availability::Unavailable
            || !self.by_kcmp_order(w, items)
        {
            self.pairwise(w, items, level);
        }
    }

    /// Sorts `items` by kcmp's order and joins equal neighbours. `false`: kcmp failed (and
    /// is remembered missing when its errno says so); nothing was joined.
    fn by_kcmp_order(&self, w: &mut Work, items: &[usize]) -> bool {
        let fd = |i: usize| self.fds[i].as_fd();
        let mut sorted = items.to_vec();
        let mut failed = None;
        sorted.sort_by(|&i, &j| {
            if failed.is_some() {
                return std::cmp::Ordering::Equal;
            }
            sys::kcmp_order(fd(i), fd(j)).unwrap_or_else(|e| {
                failed = Some(e);
                std::cmp::Ordering::Equal
            })
        });
        if let Some(e) = failed {
            let errno = e.raw_os_error().unwrap_or(0);
            if crate::chain::missing(Mechanism::Kcmp).contains(&errno) {
                self.state().set_unavailable(Mechanism::Kcmp, errno);
            }
            return false;
        }
        self.state().set_available(Mechanism::Kcmp);
        w.mechanisms.insert(Mechanism::Kcmp);
        for p in sorted.windows(2) {
            if sys::kcmp_order(fd(p[0]), fd(p[1])).is_ok_and(|o| o == std::cmp::Ordering::Equal) {
                w.union(p[0], p[1]);
            }
        }
        true
    }

    /// Each item against one member of each group found so far. Items are of one kind and
    /// one inode (or one exporter): when a comparison finds that nothing can tell, nothing
    /// can for the rest either, and they are left undecided without asking (a chain of
    /// unknown pairs), so that a set where nothing can tell costs `O(n)`, not `O(n²)`.
    fn pairwise(&self, w: &mut Work, items: &[usize], level: Level) {
        let mut reps: Vec<usize> = vec![];
        for (k, &i) in items.iter().enumerate() {
            let mut joined = false;
            for &r in &reps {
                match self.ask(w, i, r, level) {
                    Answer::Same => {
                        w.union(r, i);
                        joined = true;
                        break;
                    }
                    Answer::Unknown => {
                        // Later items may be any group found so far: link them all.
                        w.unknown.extend(reps.iter().map(|&r| (i, r)));
                        for p in items[k..].windows(2) {
                            w.unknown.push((p[0], p[1]));
                        }
                        return;
                    }
                    _ => {}
                }
            }
            if !joined {
                reps.push(i);
            }
        }
    }

    /// DRM clients: by `drm-client-id` where shown, else as the files.
    fn clients(&self, w: &mut Work, items: &[usize]) {
        let ids = self.client_ids();
        let (with, without): (Vec<usize>, Vec<usize>) =
            items.iter().partition(|&&i| ids[i].is_some());
        let mut by_id: HashMap<u64, usize> = HashMap::new();
        for &i in &with {
            let first = *by_id.entry(ids[i].unwrap()).or_insert(i);
            w.union(first, i);
        }
        if !with.is_empty() {
            w.mechanisms.insert(Mechanism::Fdinfo);
        }
        self.files(w, &without, Level::DrmClient);
    }

    /// DRM devices: by the sysfs device of each node, else pairwise.
    fn devices(&self, w: &mut Work, items: &[usize]) {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        enum Key {
            Sysfs(PathBuf),
            Node(u32, u32),
        }
        let sysfs_ok = self.state().probe(Mechanism::Sysfs) == Availability::Available;
        let mut per_node: HashMap<(u32, u32), Key> = HashMap::new();
        let mut by_key: HashMap<Key, usize> = HashMap::new();
        for &i in items {
            let FdKind::Drm { major, minor, .. } = self.ids[i].kind else {
                continue;
            };
            let key = per_node
                .entry((major, minor))
                .or_insert_with(|| match sysfs_ok.then(|| sysfs_device(major, minor)) {
                    Some(Ok(Some(dev))) => Key::Sysfs(dev),
                    _ => Key::Node(major, minor),
                })
                .clone();
            w.mechanisms.insert(match key {
                Key::Sysfs(_) => Mechanism::Sysfs,
                Key::Node(..) => Mechanism::Fstat,
            });
            let first = *by_key.entry(key).or_insert(i);
            w.union(first, i);
        }
        // A node without a sysfs device: ask the chain against every other device found.
        let mut keys: Vec<(Key, usize)> = by_key.into_iter().collect();
        keys.sort();
        for (k, (key, i)) in keys.iter().enumerate() {
            if let Key::Sysfs(_) = key {
                continue;
            }
            for (l, (other, j)) in keys.iter().enumerate() {
                let asked = l < k && matches!(other, Key::Node(..));
                if l == k || asked || w.find(*i) == w.find(*j) {
                    continue;
                }
                match self.ask(w, *i, *j, Level::DrmDevice) {
                    Answer::Same => w.union(*i, *j),
                    Answer::Unknown => w.unknown.push((*i, *j)),
                    _ => {}
                }
            }
        }
    }

    /// dma-buf storage, on top of the objects: by size, then by exporter; pairwise within an
    /// exporter that compares storage.
    fn storage(&self, w: &mut Work, items: &[usize]) {
        let reps: Vec<usize> = items.iter().copied().filter(|&i| w.find(i) == i).collect();
        let mut by_size: HashMap<u64, Vec<usize>> = HashMap::new();
        for &r in &reps {
            by_size.entry(self.ids[r].size).or_default().push(r);
        }
        let mut sizes: Vec<Vec<usize>> = by_size.into_values().collect();
        sizes.sort();
        for bucket in sizes {
            let mut by_exporter: HashMap<Option<String>, Vec<usize>> = HashMap::new();
            for &i in &bucket {
                by_exporter
                    .entry(self.dma_buf_exporter(i))
                    .or_default()
                    .push(i);
            }
            let mut exporters: Vec<Vec<usize>> = by_exporter.into_values().collect();
            exporters.sort();
            // Different exporters never compare their storage: unknown, without asking.
            for p in exporters.windows(2) {
                w.unknown.push((p[0][0], p[1][0]));
            }
            for ex in exporters {
                if ex.len() < 2 {
                    continue;
                }
                match self.ask(w, ex[0], ex[1], Level::DmaBufStorage) {
                    Answer::Unknown => {
                        // This exporter does not compare storage (no same_storage): every
                        // pair of it is unknown, without asking.
                        for p in ex.windows(2) {
                            w.unknown.push((p[0], p[1]));
                        }
                    }
                    _ => self.pairwise(w, &ex, Level::DmaBufStorage),
                }
            }
        }
    }

    /// The exporter of dma-buf `i` (`exp_name` in `/proc/self/fdinfo`, as
    /// `dma_buf_show_fdinfo()` prints it): `None` for other kinds, or when it cannot be read.
    pub fn dma_buf_exporter(&self, i: usize) -> Option<String> {
        if !self.ids[i].kind.is_dma_buf() {
            return None;
        }
        let text = fdinfo_text(self.fds[i].as_fd()).ok()?;
        crate::fdinfo::field(&text, "exp_name").map(str::to_owned)
    }
}
