//! `DiskStore`: layout, atomic writes, concurrent puts, usage, and what a crash leaves behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs;
use std::sync::Arc;

use datahub_core::ShardId;
use datahub_node::store::{
    DiskStore, MemoryStore, PutOutcome, ShardStore, StoreError, Usage, parse_shard_id,
};

fn shard(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed))
        .collect()
}

#[test]
fn layout_put_get_range_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let bytes = shard(3000, 1);
    let id = ShardId::of(&bytes);
    assert_eq!(store.put(&id, &bytes).unwrap(), PutOutcome::Created);
    assert_eq!(store.put(&id, &bytes).unwrap(), PutOutcome::AlreadyPresent);

    let hex = id.to_string();
    let path = dir
        .path()
        .join("shards")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(&hex);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(store.path_of(&id).1, path);

    assert_eq!(store.get(&id).unwrap().unwrap(), bytes);
    assert_eq!(
        store.get_range(&id, 100, 50).unwrap().unwrap(),
        &bytes[100..150]
    );
    assert_eq!(store.get_range(&id, 3000, 0).unwrap().unwrap(), b"");
    assert!(matches!(
        store.get_range(&id, 2990, 11),
        Err(StoreError::RangeOutOfBounds)
    ));
    assert!(matches!(
        store.get_range(&id, u64::MAX, 2),
        Err(StoreError::RangeOutOfBounds)
    ));
    assert!(store.contains(&id).unwrap());
    assert_eq!(
        store.usage().unwrap(),
        Usage {
            bytes: 3000,
            shards: 1
        }
    );

    let missing = ShardId::of(b"missing");
    assert_eq!(store.get(&missing).unwrap(), None);
    assert_eq!(store.get_range(&missing, 0, 1).unwrap(), None);
    assert!(!store.delete(&missing).unwrap());

    assert!(store.delete(&id).unwrap());
    assert!(!path.exists());
    assert!(!store.contains(&id).unwrap());
    assert_eq!(store.usage().unwrap(), Usage::default());
}

#[test]
fn wrong_bytes_are_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let id = ShardId::of(b"right");
    assert!(matches!(store.put(&id, b"wrong"), Err(StoreError::WrongId)));
    assert!(!store.contains(&id).unwrap());
    assert_eq!(store.usage().unwrap(), Usage::default());
    let memory = MemoryStore::new();
    assert!(matches!(
        memory.put(&id, b"wrong"),
        Err(StoreError::WrongId)
    ));
}

#[test]
fn ids_are_64_lower_case_hex() {
    let good = ShardId::of(b"x");
    assert_eq!(parse_shard_id(&good.to_string()), Some(good));
    for bad in [
        good.to_string().to_uppercase(),
        good.to_string()[..63].to_owned(),
        format!("{good}0"),
        format!("0x{}", &good.to_string()[..62]),
        "../".repeat(21) + "a",
        String::new(),
        format!("{}g", &good.to_string()[..63]),
        format!("{}é", &good.to_string()[..62]),
    ] {
        assert_eq!(parse_shard_id(&bad), None, "{bad}");
    }
}

#[test]
fn reopening_counts_shards_and_removes_crash_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<ShardId> = {
        let store = DiskStore::open(dir.path()).unwrap();
        (0..5)
            .map(|i| {
                let bytes = shard(1000 + i, i as u8);
                let id = ShardId::of(&bytes);
                store.put(&id, &bytes).unwrap();
                id
            })
            .collect()
    };
    // A crash mid-write leaves a temporary file next to where the shard would go, never a
    // partial file under the id.
    let (folder, _) = DiskStore::open(dir.path()).unwrap().path_of(&ids[0]);
    let leftover = folder.join(".tmp-deadbeef-1-0");
    fs::write(&leftover, b"partial").unwrap();
    // Files that are not shards are not counted.
    fs::write(folder.join("README"), b"not a shard").unwrap();

    let store = DiskStore::open(dir.path()).unwrap();
    assert!(!leftover.exists());
    assert_eq!(
        store.usage().unwrap(),
        Usage {
            bytes: 1000 + 1001 + 1002 + 1003 + 1004,
            shards: 5
        }
    );
    for id in &ids {
        assert!(store.contains(id).unwrap());
    }
}

#[test]
fn a_corrupt_copy_is_replaced_by_a_put() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let bytes = shard(2000, 9);
    let id = ShardId::of(&bytes);
    store.put(&id, &bytes).unwrap();
    let path = store.path_of(&id).1;
    let mut rotten = bytes.clone();
    rotten[1500] ^= 1;
    fs::write(&path, &rotten).unwrap();
    // What is stored comes back as it is (the HTTP layer checks it before serving)...
    assert_eq!(store.get(&id).unwrap().unwrap(), rotten);
    // ...and a put of the right bytes replaces it.
    assert_eq!(store.put(&id, &bytes).unwrap(), PutOutcome::Created);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(store.usage().unwrap().shards, 1);
    assert_eq!(store.usage().unwrap().bytes, 2000);
}

#[test]
fn concurrent_puts_of_one_id_and_readers_see_whole_shards_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DiskStore::open(dir.path()).unwrap());
    let bytes = Arc::new(shard(4 << 20, 3));
    let id = ShardId::of(&bytes);
    let path = store.path_of(&id).1;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // A reader that looks at the final path the whole time: it must see nothing or the whole
    // shard, never a prefix.
    let reader = {
        let (path, stop, bytes) = (path.clone(), stop.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(found) = fs::read(&path) {
                    assert_eq!(found.len(), bytes.len(), "a partial file was visible");
                    assert!(found == *bytes);
                    seen += 1;
                }
            }
            // After the writers: the whole shard is there.
            assert!(fs::read(&path).unwrap() == *bytes);
            seen
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (store, bytes) = (store.clone(), bytes.clone());
            std::thread::spawn(move || store.put(&id, &bytes).unwrap())
        })
        .collect();
    let outcomes: Vec<PutOutcome> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _reads_that_saw_it = reader.join().unwrap();

    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == PutOutcome::Created)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        store.usage().unwrap(),
        Usage {
            bytes: 4 << 20,
            shards: 1
        }
    );
    // No temporary file is left in the shard's folder.
    let folder = store.path_of(&id).0;
    let names: Vec<_> = fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [id.to_string()]);
}

#[test]
fn memory_store_faults() {
    let store = MemoryStore::new();
    let bytes = shard(100, 1);
    let id = ShardId::of(&bytes);
    store.put(&id, &bytes).unwrap();
    assert!(store.corrupt(&id, 5));
    assert!(!store.corrupt(&id, 100));
    assert_ne!(store.get(&id).unwrap().unwrap(), bytes);
    // A put of the right bytes replaces a corrupt copy.
    assert_eq!(store.put(&id, &bytes).unwrap(), PutOutcome::Created);
    store.set_failing(true);
    assert!(matches!(store.get(&id), Err(StoreError::Io { .. })));
    store.set_failing(false);
    assert_eq!(store.get(&id).unwrap().unwrap(), bytes);
}
