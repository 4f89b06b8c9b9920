//! Where a node keeps shards: the [`ShardStore`] trait, [`DiskStore`] (content-addressed files)
//! and [`MemoryStore`] (for tests, with fault injection).
//!
//! Stores are synchronous; the HTTP layer calls them from `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use datahub_core::ShardId;

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The shard was stored (or a corrupt copy of it was replaced).
    Created,
    /// A good copy of the shard was already there; nothing changed.
    AlreadyPresent,
}

/// How much a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of shard data.
    pub bytes: u64,
    /// Number of shards.
    pub shards: u64,
}

/// Why a store operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The bytes do not hash to the id they were given under.
    WrongId,
    /// The range asked for is not within the shard.
    RangeOutOfBounds,
    /// The disk under the store has no room for the write (`ENOSPC`, or a quota). Nothing was
    /// stored, and nothing half-written is left.
    Full {
        /// What the store was doing.
        context: String,
    },
    /// The underlying storage failed.
    Io {
        /// What the store was doing.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongId => f.write_str("the bytes do not hash to the shard id"),
            Self::RangeOutOfBounds => f.write_str("the range is outside the shard"),
            Self::Full { context } => write!(f, "{context}: the disk is full"),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| match source.kind() {
        // A full disk is not a broken node: the caller places the shard elsewhere.
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StoreError::Full { context },
        _ => StoreError::Io { context, source },
    }
}

/// A place to keep shards by id.
///
/// **Invariant:** `put` stores nothing unless `blake3(bytes) == id`. Reads return what is stored,
/// which may have rotted since: callers that serve bytes check them against the id (the HTTP
/// layer does, on every read).
pub trait ShardStore: Send + Sync + 'static {
    /// Stores `bytes` under `id`, after checking that they hash to it.
    fn put(&self, id: &ShardId, bytes: &[u8]) -> Result<PutOutcome, StoreError>;
    /// The stored bytes of `id`, if there are any.
    fn get(&self, id: &ShardId) -> Result<Option<Vec<u8>>, StoreError>;
    /// `len` stored bytes of `id` from `offset`, if the shard is there (unverified: only a
    /// range proof can show a range is right).
    fn get_range(&self, id: &ShardId, offset: u64, len: u64)
    -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes `id`; whether it was there.
    fn delete(&self, id: &ShardId) -> Result<bool, StoreError>;
    /// Whether `id` is stored.
    fn contains(&self, id: &ShardId) -> Result<bool, StoreError>;
    /// Bytes and shards held.
    fn usage(&self) -> Result<Usage, StoreError>;
    /// Bytes the medium under the store can still take, when it can tell (a disk shared with
    /// other data fills up whatever the node's own capacity says).
    fn free_space(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

/// Reads a shard id from its text form: exactly 64 lower-case hex digits, nothing else.
pub fn parse_shard_id(text: &str) -> Option<ShardId> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = lower_hex_digit(*hi)? << 4 | lower_hex_digit(*lo)?;
    }
    Some(ShardId(out))
}

fn lower_hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; carry on with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Shards as files in content-addressed folders: `<root>/shards/ab/cd/<64 hex digits>`, where
/// `ab` and `cd` are the id's first two bytes.
///
/// Writes are atomic: the bytes go to a temporary file in the shard's own folder, which is
/// flushed to disk (`fsync`), renamed over the final name, and the folder is flushed too, so a
/// crash leaves either no file under the id or the whole shard. Temporary files left by a crash
/// are removed when the store is opened.
#[derive(Debug)]
pub struct DiskStore {
    shards_dir: PathBuf,
    /// Usage, and the lock that orders renames and deletes with it.
    usage: Mutex<Usage>,
    next_temp: AtomicU64,
}

const TEMP_PREFIX: &str = ".tmp-";

impl DiskStore {
    /// Opens (creating if need be) the store under `root`, counts what it holds, and removes
    /// temporary files a crash left behind.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let shards_dir = root.join("shards");
        fs::create_dir_all(&shards_dir)
            .map_err(io_error(format!("creating {}", shards_dir.display())))?;
        let usage = scan(&shards_dir)?;
        Ok(Self {
            shards_dir,
            usage: Mutex::new(usage),
            next_temp: AtomicU64::new(0),
        })
    }

    /// The folder the shards live in.
    pub fn shards_dir(&self) -> &Path {
        &self.shards_dir
    }

    /// The folder and the file of `id`.
    pub fn path_of(&self, id: &ShardId) -> (PathBuf, PathBuf) {
        let name = id.to_string();
        let dir = self
            .shards_dir
            .join(name.get(0..2).unwrap_or("00"))
            .join(name.get(2..4).unwrap_or("00"));
        let file = dir.join(&name);
        (dir, file)
    }

    fn temp_path(&self, dir: &Path, id: &ShardId) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        dir.join(format!("{TEMP_PREFIX}{id}-{}-{n}", std::process::id()))
    }
}

/// Counts the shards under `shards_dir` and removes temporary files.
fn scan(shards_dir: &Path) -> Result<Usage, StoreError> {
    let mut usage = Usage::default();
    let read =
        |dir: &Path| fs::read_dir(dir).map_err(io_error(format!("reading {}", dir.display())));
    for level1 in read(shards_dir)? {
        let level1 = level1.map_err(io_error("scanning shards"))?;
        if !level1.path().is_dir() {
            continue;
        }
        for level2 in read(&level1.path())? {
            let level2 = level2.map_err(io_error("scanning shards"))?;
            if !level2.path().is_dir() {
                continue;
            }
            for entry in read(&level2.path())? {
                let entry = entry.map_err(io_error("scanning shards"))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(TEMP_PREFIX) {
                    // Left by a crash mid-write; never visible under an id.
                    let _ = fs::remove_file(entry.path());
                    continue;
                }
                let meta = entry.metadata().map_err(io_error("scanning shards"))?;
                if meta.is_file() && parse_shard_id(&name).is_some() {
                    usage.bytes += meta.len();
                    usage.shards += 1;
                }
            }
        }
    }
    Ok(usage)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    // Flushing a folder makes a rename or removal in it durable (POSIX; a no-op elsewhere).
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("syncing {}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(format!("reading {}", path.display()))(e)),
    }
}

impl ShardStore for DiskStore {
    fn put(&self, id: &ShardId, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
        if !id.matches(bytes) {
            return Err(StoreError::WrongId);
        }
        let (dir, path) = self.path_of(id);
        // A good copy already there: nothing to write.
        if read_file(&path)?.is_some_and(|old| id.matches(&old)) {
            return Ok(PutOutcome::AlreadyPresent);
        }
        fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        let temp = self.temp_path(&dir, id);
        let write = || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&temp);
            return Err(io_error(format!("writing {}", temp.display()))(e));
        }
        let mut usage = lock(&self.usage);
        // Another put of the same id may have landed while this one wrote.
        let old = fs::metadata(&path).ok().map(|m| m.len());
        if old.is_some() {
            match read_file(&path) {
                Ok(Some(existing)) if id.matches(&existing) => {
                    let _ = fs::remove_file(&temp);
                    return Ok(PutOutcome::AlreadyPresent);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = fs::remove_file(&temp);
                    return Err(e);
                }
            }
        }
        if let Err(e) = fs::rename(&temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(io_error(format!("renaming into {}", path.display()))(e));
        }
        sync_dir(&dir)?;
        match old {
            // A corrupt copy was replaced.
            Some(old_len) => usage.bytes = usage.bytes.saturating_sub(old_len) + bytes.len() as u64,
            None => {
                usage.bytes += bytes.len() as u64;
                usage.shards += 1;
            }
        }
        Ok(PutOutcome::Created)
    }

    fn get(&self, id: &ShardId) -> Result<Option<Vec<u8>>, StoreError> {
        read_file(&self.path_of(id).1)
    }

    fn get_range(
        &self,
        id: &ShardId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(id).1;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(format!("opening {}", path.display()))(e)),
        };
        let size = file
            .metadata()
            .map_err(io_error(format!("reading {}", path.display())))?
            .len();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(StoreError::RangeOutOfBounds);
        }
        let len = usize::try_from(len).map_err(|_| StoreError::RangeOutOfBounds)?;
        let mut out = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut out))
            .map_err(io_error(format!("reading {}", path.display())))?;
        Ok(Some(out))
    }

    fn delete(&self, id: &ShardId) -> Result<bool, StoreError> {
        let (dir, path) = self.path_of(id);
        let mut usage = lock(&self.usage);
        let len = match fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(format!("reading {}", path.display()))(e)),
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(format!("removing {}", path.display()))(e)),
        }
        sync_dir(&dir)?;
        usage.bytes = usage.bytes.saturating_sub(len);
        usage.shards = usage.shards.saturating_sub(1);
        Ok(true)
    }

    fn contains(&self, id: &ShardId) -> Result<bool, StoreError> {
        Ok(self.path_of(id).1.is_file())
    }

    fn usage(&self) -> Result<Usage, StoreError> {
        Ok(*lock(&self.usage))
    }

    #[cfg(unix)]
    fn free_space(&self) -> Result<Option<u64>, StoreError> {
        let stats = rustix::fs::statvfs(&self.shards_dir).map_err(|e| {
            io_error(format!(
                "reading free space of {}",
                self.shards_dir.display()
            ))(e.into())
        })?;
        // What an unprivileged writer may use: blocks kept for root are not the node's.
        Ok(Some(stats.f_bavail.saturating_mul(stats.f_frsize)))
    }
}

/// Shards in memory, for tests: it can be told to corrupt a shard, to fail every operation, or
/// to sit on a small disk.
#[derive(Debug, Default)]
pub struct MemoryStore {
    shards: Mutex<HashMap<ShardId, Vec<u8>>>,
    failing: std::sync::atomic::AtomicBool,
    disk: Mutex<Option<Disk>>,
}

/// The disk a [`MemoryStore`] pretends to sit on.
#[derive(Debug, Clone, Copy)]
pub struct Disk {
    /// Bytes of shards it holds at most; a put past that fails as `ENOSPC` would.
    pub bytes: u64,
    /// Whether it tells its free space ([`ShardStore::free_space`]); a quota, for one, does not.
    pub tells_free_space: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Flips bits of the stored byte `index` of `id` (as rot on a disk would); whether there was
    /// such a byte.
    pub fn corrupt(&self, id: &ShardId, index: usize) -> bool {
        let mut shards = lock(&self.shards);
        match shards.get_mut(id).and_then(|bytes| bytes.get_mut(index)) {
            Some(byte) => {
                *byte ^= 0x55;
                true
            }
            None => false,
        }
    }

    /// Stores `bytes` under `id` without any check (as a buggy or hostile disk might).
    pub fn insert_unchecked(&self, id: ShardId, bytes: Vec<u8>) {
        lock(&self.shards).insert(id, bytes);
    }

    /// From now on the store sits on `disk` (`None`: a disk that never fills).
    pub fn set_disk(&self, disk: Option<Disk>) {
        *lock(&self.disk) = disk;
    }

    /// From now on every operation fails with an I/O error (or works again, with `false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Io {
                context: "memory store told to fail".into(),
                source: io::Error::other("injected fault"),
            })
        } else {
            Ok(())
        }
    }
}

impl ShardStore for MemoryStore {
    fn put(&self, id: &ShardId, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
        self.check()?;
        if !id.matches(bytes) {
            return Err(StoreError::WrongId);
        }
        let mut shards = lock(&self.shards);
        if shards.get(id).is_some_and(|old| id.matches(old)) {
            return Ok(PutOutcome::AlreadyPresent);
        }
        if let Some(disk) = *lock(&self.disk) {
            let held: u64 = shards.values().map(|b| b.len() as u64).sum();
            if held.saturating_add(bytes.len() as u64) > disk.bytes {
                return Err(StoreError::Full {
                    context: "writing to the memory store's disk".into(),
                });
            }
        }
        shards.insert(*id, bytes.to_vec());
        Ok(PutOutcome::Created)
    }

    fn get(&self, id: &ShardId) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        Ok(lock(&self.shards).get(id).cloned())
    }

    fn get_range(
        &self,
        id: &ShardId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        let shards = lock(&self.shards);
        let Some(bytes) = shards.get(id) else {
            return Ok(None);
        };
        let start = usize::try_from(offset).map_err(|_| StoreError::RangeOutOfBounds)?;
        let len = usize::try_from(len).map_err(|_| StoreError::RangeOutOfBounds)?;
        let end = start.checked_add(len).ok_or(StoreError::RangeOutOfBounds)?;
        bytes
            .get(start..end)
            .map(|range| Some(range.to_vec()))
            .ok_or(StoreError::RangeOutOfBounds)
    }

    fn delete(&self, id: &ShardId) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.shards).remove(id).is_some())
    }

    fn contains(&self, id: &ShardId) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.shards).contains_key(id))
    }

    fn usage(&self) -> Result<Usage, StoreError> {
        self.check()?;
        let shards = lock(&self.shards);
        Ok(Usage {
            bytes: shards.values().map(|b| b.len() as u64).sum(),
            shards: shards.len() as u64,
        })
    }

    fn free_space(&self) -> Result<Option<u64>, StoreError> {
        self.check()?;
        let disk = *lock(&self.disk);
        let Some(disk) = disk.filter(|d| d.tells_free_space) else {
            return Ok(None);
        };
        let held: u64 = lock(&self.shards).values().map(|b| b.len() as u64).sum();
        Ok(Some(disk.bytes.saturating_sub(held)))
    }
}
