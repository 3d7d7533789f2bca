//! `SimFs`: an in-memory file system that models what a power cut does to unsynced data.
//!
//! # The model
//!
//! Every file (inode) has a *volatile* content (what reads see now) and a *durable* content
//! (what survives a power cut for sure). [`Vfs::fsync`] copies volatile to durable for that
//! file. The directory likewise has a volatile view (names → inodes) and a durable view;
//! creations, renames and removals are recorded, in order, as *pending directory operations*
//! that only [`Vfs::fsync_dir`] makes durable. `fsync` of a file does **not** make its name
//! durable.
//!
//! A crash is armed with [`SimFs::crash_at`]`(n)`: the `n`-th write-class operation (write,
//! append, fsync, fsync_dir, rename, remove: each one is a *write point*) is interrupted. A
//! data or directory operation at the crash point reaches the volatile state (it was under
//! way), an `fsync` at the crash point makes nothing durable; the operation returns
//! [`VfsError::Crashed`] and so does every later operation, reads included.
//!
//! [`SimFs::after_crash`] then builds the file system a reboot would find, according to a
//! [`CrashPolicy`]: unsynced data is dropped, kept, or kept in part (a prefix of what was
//! appended, optionally with garbage at its end: a torn sector), and a prefix (in order) of the
//! pending directory operations persists, as a journaling file system commits its metadata in
//! order.
//!
//! Transient faults: [`SimFs::fail_at`] makes one write point fail with a typed error and no
//! effect (the machine keeps running), [`SimFs::set_capacity`] models a full disk.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::vfs::{Vfs, VfsError, check_name};

/// What survives of unsynced data when the simulated machine loses power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Only what was made durable survives: every unsynced byte and directory change is lost.
    DropUnsynced,
    /// Everything survives, as if the caches were flushed just before the power cut.
    KeepAll,
    /// For each file, a pseudo-random prefix of its unsynced appended bytes survives (for a
    /// rewritten file, a pseudo-random prefix of the new content over the old one); a
    /// pseudo-random prefix of the pending directory operations survives. With `garbage`,
    /// the surviving unsynced tail of each file ends in pseudo-random bytes (a torn sector).
    /// With `reorder`, each pending directory operation survives or not independently of
    /// the others (no ordering between metadata operations, as POSIX allows).
    Torn {
        /// Seed of the choices, so each variant is reproducible.
        seed: u64,
        /// Corrupt the end of each surviving unsynced tail.
        garbage: bool,
        /// Directory operations persist as an arbitrary subset instead of a prefix.
        reorder: bool,
    },
}

/// A transient fault injected at one write point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// The operation fails with [`VfsError::NoSpace`] and has no effect.
    NoSpace,
    /// The operation fails with [`VfsError::Io`] and has no effect.
    Io,
}

#[derive(Debug, Clone, Default)]
struct Inode {
    volatile: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link {
        name: String,
        ino: usize,
    },
    Rename {
        from: String,
        to: String,
        ino: usize,
    },
    Unlink {
        name: String,
    },
}

impl DirOp {
    fn apply(&self, dir: &mut BTreeMap<String, usize>) {
        match self {
            DirOp::Link { name, ino } => {
                dir.insert(name.clone(), *ino);
            }
            DirOp::Rename { from, to, ino } => {
                if dir.get(from) == Some(ino) {
                    dir.remove(from);
                }
                dir.insert(to.clone(), *ino);
            }
            DirOp::Unlink { name } => {
                dir.remove(name);
            }
        }
    }
}

#[derive(Debug, Default)]
struct SimState {
    inodes: Vec<Inode>,
    dir: BTreeMap<String, usize>,
    durable_dir: BTreeMap<String, usize>,
    pending: Vec<DirOp>,
    write_points: u64,
    crash_at: Option<u64>,
    /// With `crash_at`: the write or append cut there is torn after this many bytes (modulo
    /// its length plus one).
    crash_offset: Option<usize>,
    crashed: bool,
    faults: BTreeMap<u64, SimFault>,
    capacity: Option<usize>,
}

enum Step {
    /// Perform the operation normally.
    Run,
    /// Perform the operation's volatile effect (fsync: nothing), then report the crash.
    Crash,
}

impl SimState {
    fn step(&mut self, name: &str) -> Result<Step, VfsError> {
        if self.crashed {
            return Err(VfsError::Crashed);
        }
        self.write_points += 1;
        if self.crash_at == Some(self.write_points) {
            self.crashed = true;
            return Ok(Step::Crash);
        }
        match self.faults.remove(&self.write_points) {
            Some(SimFault::NoSpace) => Err(VfsError::NoSpace(name.to_owned())),
            Some(SimFault::Io) => Err(VfsError::Io {
                op: "simulated",
                name: name.to_owned(),
                detail: "injected I/O error".to_owned(),
            }),
            None => Ok(Step::Run),
        }
    }

    /// The bytes of `data` that a write or append interrupted by the crash leaves.
    fn torn<'d>(&self, step: &Step, data: &'d [u8]) -> &'d [u8] {
        match (step, self.crash_offset) {
            (Step::Crash, Some(off)) => &data[..off % (data.len() + 1)],
            _ => data,
        }
    }

    fn used_bytes(&self) -> usize {
        self.dir
            .values()
            .map(|&i| self.inodes[i].volatile.len())
            .sum()
    }

    fn check_space(&self, name: &str, extra: usize, freed: usize) -> Result<(), VfsError> {
        if let Some(cap) = self.capacity
            && self.used_bytes().saturating_sub(freed) + extra > cap
        {
            return Err(VfsError::NoSpace(name.to_owned()));
        }
        Ok(())
    }

    fn ino(&self, name: &str) -> Result<usize, VfsError> {
        self.dir
            .get(name)
            .copied()
            .ok_or_else(|| VfsError::NotFound(name.to_owned()))
    }

    fn finish(step: Step) -> Result<(), VfsError> {
        match step {
            Step::Run => Ok(()),
            Step::Crash => Err(VfsError::Crashed),
        }
    }
}

/// The simulated file system. Cloning yields another handle to the same file system.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    inner: Arc<Mutex<SimState>>,
}

/// A tiny deterministic generator for the crash choices (splitmix64).
#[derive(Debug)]
struct Choice(u64);

impl Choice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`.
    fn upto(&mut self, max: usize) -> usize {
        let m = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        usize::try_from(self.next() % m).unwrap_or(max)
    }
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A poisoned lock only means a test thread panicked; the state is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Arm a crash at the `n`-th write point counted from now (1 = the next one).
    pub fn crash_at(&self, n: u64) {
        let mut st = self.lock();
        st.crash_at = Some(st.write_points + n);
        st.crash_offset = None;
    }

    /// Arm a crash at the `n`-th write point counted from now that tears the operation: when
    /// that write point is a `write` or an `append`, only the first `offset % (len + 1)` bytes
    /// of its `len` data bytes reach the file before the power goes (any other operation is
    /// cut as by [`SimFs::crash_at`]). With [`CrashPolicy::KeepAll`] exactly those bytes
    /// survive, so every byte offset of every write is a reachable crash position.
    pub fn crash_inside(&self, n: u64, offset: usize) {
        let mut st = self.lock();
        st.crash_at = Some(st.write_points + n);
        st.crash_offset = Some(offset);
    }

    /// Make the `n`-th write point counted from now fail with `fault` and no effect.
    pub fn fail_at(&self, n: u64, fault: SimFault) {
        let mut st = self.lock();
        let at = st.write_points + n;
        st.faults.insert(at, fault);
    }

    /// Limit the total size of the files (`None`: unlimited). Writes that would exceed it
    /// fail with [`VfsError::NoSpace`] and no effect.
    pub fn set_capacity(&self, bytes: Option<usize>) {
        self.lock().capacity = bytes;
    }

    /// The number of write points executed so far.
    pub fn write_points(&self) -> u64 {
        self.lock().write_points
    }

    /// Whether the armed crash has happened.
    pub fn has_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// The file system a reboot finds: a new, independent `SimFs` holding the durable view
    /// chosen by `policy` (see the module docs). Works whether or not the crash happened
    /// (a power cut at an arbitrary moment).
    pub fn after_crash(&self, policy: CrashPolicy) -> SimFs {
        let st = self.lock();
        let mut choice = Choice(match policy {
            CrashPolicy::Torn { seed, .. } => seed ^ 0xA5A5_5A5A_0F0F_F0F0,
            _ => 0,
        });
        let mut dir = st.durable_dir.clone();
        match policy {
            CrashPolicy::DropUnsynced => {}
            CrashPolicy::KeepAll => st.pending.iter().for_each(|op| op.apply(&mut dir)),
            CrashPolicy::Torn { reorder: false, .. } => {
                let keep = choice.upto(st.pending.len());
                st.pending
                    .iter()
                    .take(keep)
                    .for_each(|op| op.apply(&mut dir));
            }
            CrashPolicy::Torn { reorder: true, .. } => {
                for op in &st.pending {
                    if choice.next() & 1 == 1 {
                        op.apply(&mut dir);
                    }
                }
            }
        }
        let mut out = SimState::default();
        let mut renumber = BTreeMap::new();
        for (name, &ino) in &dir {
            let new_ino = *renumber.entry(ino).or_insert_with(|| {
                let content = survivor(&st.inodes[ino], policy, &mut choice);
                out.inodes.push(Inode {
                    volatile: content.clone(),
                    durable: content,
                });
                out.inodes.len() - 1
            });
            out.dir.insert(name.clone(), new_ino);
        }
        out.durable_dir = out.dir.clone();
        SimFs {
            inner: Arc::new(Mutex::new(out)),
        }
    }

    /// The current (volatile) content of a file, bypassing crash accounting; for tests that
    /// corrupt files on purpose.
    pub fn peek(&self, name: &str) -> Option<Vec<u8>> {
        let st = self.lock();
        st.dir.get(name).map(|&i| st.inodes[i].volatile.clone())
    }

    /// Replace the content of a file durably, bypassing crash accounting; for tests that
    /// corrupt files on purpose. Creates the file when absent.
    pub fn poke(&self, name: &str, data: &[u8]) {
        let mut st = self.lock();
        let ino = match st.dir.get(name) {
            Some(&i) => i,
            None => {
                st.inodes.push(Inode::default());
                let i = st.inodes.len() - 1;
                st.dir.insert(name.to_owned(), i);
                st.durable_dir.insert(name.to_owned(), i);
                i
            }
        };
        st.inodes[ino] = Inode {
            volatile: data.to_vec(),
            durable: data.to_vec(),
        };
    }
}

/// The content of one inode after the power cut.
fn survivor(inode: &Inode, policy: CrashPolicy, choice: &mut Choice) -> Vec<u8> {
    let (vol, dur) = (&inode.volatile, &inode.durable);
    if vol == dur {
        return dur.clone();
    }
    let garbage = match policy {
        CrashPolicy::DropUnsynced => return dur.clone(),
        CrashPolicy::KeepAll => return vol.clone(),
        CrashPolicy::Torn { garbage, .. } => garbage,
    };
    let (mut out, tail_start) = if vol.starts_with(dur) {
        // Appended data: a prefix of the new bytes reached the medium.
        let extra = choice.upto(vol.len() - dur.len());
        (vol[..dur.len() + extra].to_vec(), dur.len())
    } else {
        // Rewritten file: the first `k` bytes are new, the rest (if any) is old.
        let k = choice.upto(vol.len());
        let mut v = vol[..k].to_vec();
        if dur.len() > k {
            v.extend_from_slice(&dur[k..]);
        }
        (v, 0)
    };
    let tail = out.len().saturating_sub(tail_start);
    if garbage && tail > 0 {
        let n = 1 + choice.upto(tail.min(32) - 1);
        let len = out.len();
        for b in &mut out[len - n..] {
            *b = choice.next().to_le_bytes()[0];
        }
    }
    out
}

impl Vfs for SimFs {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, VfsError> {
        check_name(name)?;
        let st = self.lock();
        if st.crashed {
            return Err(VfsError::Crashed);
        }
        Ok(st.dir.get(name).map(|&i| st.inodes[i].volatile.clone()))
    }

    fn list(&self) -> Result<Vec<String>, VfsError> {
        let st = self.lock();
        if st.crashed {
            return Err(VfsError::Crashed);
        }
        Ok(st.dir.keys().cloned().collect())
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<(), VfsError> {
        check_name(name)?;
        let mut st = self.lock();
        let step = st.step(name)?;
        let data = st.torn(&step, data);
        let existing = st.dir.get(name).copied();
        if matches!(step, Step::Run) {
            let freed = existing.map_or(0, |i| st.inodes[i].volatile.len());
            st.check_space(name, data.len(), freed)?;
        }
        match existing {
            Some(i) => st.inodes[i].volatile = data.to_vec(),
            None => {
                st.inodes.push(Inode {
                    volatile: data.to_vec(),
                    durable: Vec::new(),
                });
                let ino = st.inodes.len() - 1;
                st.dir.insert(name.to_owned(), ino);
                st.pending.push(DirOp::Link {
                    name: name.to_owned(),
                    ino,
                });
            }
        }
        SimState::finish(step)
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<(), VfsError> {
        check_name(name)?;
        let mut st = self.lock();
        let step = st.step(name)?;
        let data = st.torn(&step, data);
        let ino = st.ino(name)?;
        if matches!(step, Step::Run) {
            st.check_space(name, data.len(), 0)?;
        }
        st.inodes[ino].volatile.extend_from_slice(data);
        SimState::finish(step)
    }

    fn fsync(&self, name: &str) -> Result<(), VfsError> {
        check_name(name)?;
        let mut st = self.lock();
        let step = st.step(name)?;
        let ino = st.ino(name)?;
        if matches!(step, Step::Run) {
            let inode = &mut st.inodes[ino];
            inode.durable = inode.volatile.clone();
        }
        SimState::finish(step)
    }

    fn fsync_dir(&self) -> Result<(), VfsError> {
        let mut st = self.lock();
        let step = st.step(".")?;
        if matches!(step, Step::Run) {
            st.durable_dir = st.dir.clone();
            st.pending.clear();
        }
        SimState::finish(step)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), VfsError> {
        check_name(from)?;
        check_name(to)?;
        let mut st = self.lock();
        let step = st.step(from)?;
        let ino = st.ino(from)?;
        st.dir.remove(from);
        st.dir.insert(to.to_owned(), ino);
        st.pending.push(DirOp::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
            ino,
        });
        SimState::finish(step)
    }

    fn remove(&self, name: &str) -> Result<(), VfsError> {
        check_name(name)?;
        let mut st = self.lock();
        let step = st.step(name)?;
        st.ino(name)?;
        st.dir.remove(name);
        st.pending.push(DirOp::Unlink {
            name: name.to_owned(),
        });
        SimState::finish(step)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unsynced_data_and_names_are_lost_on_drop() {
        let fs = SimFs::new();
        fs.write("a", b"one").unwrap();
        fs.fsync("a").unwrap();
        // The name was never made durable: the file is gone after the crash.
        assert_eq!(fs.after_crash(CrashPolicy::DropUnsynced).peek("a"), None);
        fs.fsync_dir().unwrap();
        fs.append("a", b"two").unwrap();
        let after = fs.after_crash(CrashPolicy::DropUnsynced);
        assert_eq!(after.peek("a").unwrap(), b"one");
        let kept = fs.after_crash(CrashPolicy::KeepAll);
        assert_eq!(kept.peek("a").unwrap(), b"onetwo");
    }

    #[test]
    fn rename_needs_dir_fsync() {
        let fs = SimFs::new();
        fs.write("a", b"old").unwrap();
        fs.fsync("a").unwrap();
        fs.fsync_dir().unwrap();
        fs.write("t", b"new").unwrap();
        fs.fsync("t").unwrap();
        fs.rename("t", "a").unwrap();
        assert_eq!(
            fs.after_crash(CrashPolicy::DropUnsynced).peek("a").unwrap(),
            b"old"
        );
        assert_eq!(
            fs.after_crash(CrashPolicy::KeepAll).peek("a").unwrap(),
            b"new"
        );
        fs.fsync_dir().unwrap();
        assert_eq!(
            fs.after_crash(CrashPolicy::DropUnsynced).peek("a").unwrap(),
            b"new"
        );
    }

    #[test]
    fn torn_appends_are_prefixes_or_garbage_tails() {
        let fs = SimFs::new();
        fs.write("j", b"HEAD").unwrap();
        fs.fsync("j").unwrap();
        fs.fsync_dir().unwrap();
        fs.append("j", b"0123456789").unwrap();
        let mut seen_partial = false;
        for seed in 0..32 {
            let c = fs
                .after_crash(CrashPolicy::Torn {
                    seed,
                    garbage: false,
                    reorder: false,
                })
                .peek("j")
                .unwrap();
            assert!(b"HEAD0123456789".starts_with(&c), "{c:?}");
            seen_partial |= c.len() > 4 && c.len() < 14;
            let g = fs
                .after_crash(CrashPolicy::Torn {
                    seed,
                    garbage: true,
                    reorder: false,
                })
                .peek("j")
                .unwrap();
            assert!(g.starts_with(b"HEAD") && g.len() <= 14);
        }
        assert!(seen_partial);
    }

    #[test]
    fn crash_point_fails_everything_after() {
        let fs = SimFs::new();
        fs.crash_at(2);
        fs.write("a", b"x").unwrap();
        assert_eq!(fs.fsync("a"), Err(VfsError::Crashed));
        assert_eq!(fs.read("a"), Err(VfsError::Crashed));
        assert_eq!(fs.write("b", b"y"), Err(VfsError::Crashed));
        assert!(fs.has_crashed());
        // The interrupted fsync made nothing durable.
        assert_eq!(fs.after_crash(CrashPolicy::DropUnsynced).peek("a"), None);
    }

    #[test]
    fn a_crash_inside_a_write_leaves_exactly_the_torn_prefix() {
        for off in [0usize, 1, 3, 5, 6, 13] {
            let fs = SimFs::new();
            fs.write("j", b"HEAD").unwrap();
            fs.fsync("j").unwrap();
            fs.fsync_dir().unwrap();
            fs.crash_inside(1, off);
            assert_eq!(fs.append("j", b"12345"), Err(VfsError::Crashed));
            let want = &b"HEAD12345"[..4 + off % 6];
            assert_eq!(
                fs.after_crash(CrashPolicy::KeepAll).peek("j").unwrap(),
                want
            );
            assert_eq!(
                fs.after_crash(CrashPolicy::DropUnsynced).peek("j").unwrap(),
                b"HEAD"
            );
            // A rewrite torn at `off`: the new content's prefix only.
            let fs = SimFs::new();
            fs.crash_inside(1, off);
            assert_eq!(fs.write("k", b"abcde"), Err(VfsError::Crashed));
            let kept = fs.after_crash(CrashPolicy::KeepAll);
            assert_eq!(kept.peek("k").unwrap(), &b"abcde"[..off % 6]);
        }
        // `crash_at` clears a torn offset armed before.
        let fs = SimFs::new();
        fs.crash_inside(5, 1);
        fs.crash_at(1);
        assert_eq!(fs.write("a", b"xyz"), Err(VfsError::Crashed));
        assert_eq!(
            fs.after_crash(CrashPolicy::KeepAll).peek("a").unwrap(),
            b"xyz"
        );
    }

    #[test]
    fn faults_and_capacity_have_no_effect() {
        let fs = SimFs::new();
        fs.write("a", b"abc").unwrap();
        fs.fail_at(1, SimFault::Io);
        assert!(matches!(fs.append("a", b"d"), Err(VfsError::Io { .. })));
        assert_eq!(fs.peek("a").unwrap(), b"abc");
        fs.set_capacity(Some(4));
        assert_eq!(fs.append("a", b"de"), Err(VfsError::NoSpace("a".into())));
        assert_eq!(fs.peek("a").unwrap(), b"abc");
        fs.append("a", b"d").unwrap();
        // Rewriting a file frees its old content first.
        fs.write("a", b"wxyz").unwrap();
    }
}
