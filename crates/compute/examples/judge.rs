//! Runs every model on each file named and prints the predictions as JSON lines.
//!
//! `cargo run -p datahub-compute --example judge -- FILE...` (after `cargo xtask setup`). A
//! model that cannot judge a file (the VAD on a picture) prints its error instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use datahub_compute::{default_models_dir, load_models};

fn main() {
    let models = load_models(&default_models_dir()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for model in &models {
            match model.run(&bytes) {
                Ok(p) => println!(
                    "{{\"file\":{path:?},\"kind\":{:?},\"prediction\":{}}}",
                    model.kind(),
                    serde_json::to_string(&p).unwrap()
                ),
                Err(e) => println!(
                    "{{\"file\":{path:?},\"kind\":{:?},\"error\":{:?}}}",
                    model.kind(),
                    e.0
                ),
            }
        }
    }
}
