//! Manifest bytes from anywhere: parsing never panics, and what parses writes back identically.
#![no_main]

use datahub_core::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        assert_eq!(manifest.to_bytes(), data);
        for i in 0..manifest.segment_count() {
            let layout = manifest.segment(i).expect("segment within count");
            assert_eq!(manifest.shard_ids(i).len(), manifest.params().total_shards());
            assert!(layout.len > 0 && layout.shard_len * usize::from(manifest.params().data_shards) >= layout.len);
        }
    }
});
