//! Jobs per second per core for each model, and the models' sizes.
//!
//! `cargo run -p datahub-compute --release --example bench` (after `cargo xtask setup`; needs
//! espeak-ng and sox for the recordings). One thread runs the jobs one after another; the rate
//! per core is jobs per second of that thread's CPU time. A node with N cores runs N jobs at
//! once (each model is `Sync`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use datahub_compute::{FileType, Model, Vad, default_models_dir, pins};

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

fn main() {
    let dir = default_models_dir();
    let scratch =
        std::env::temp_dir().join(format!("datahub-compute-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();

    println!("model files in {}:", dir.display());
    for file in pins::ALL {
        let size = std::fs::metadata(dir.join(file.name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "  {:<28} {:>9} bytes  ({} {})",
            file.name, size, file.package, file.version
        );
    }

    let started = Instant::now();
    let filetype = FileType::load(&dir).expect("run `cargo xtask setup` first");
    let filetype_load = started.elapsed();
    let started = Instant::now();
    let vad = Vad::load(&dir).expect("run `cargo xtask setup` first");
    let vad_load = started.elapsed();
    println!("load: filetype {filetype_load:.2?}, vad {vad_load:.2?}");

    let speech = tool(
        "espeak-ng",
        &[
            "--stdout",
            "The quick brown fox jumps over the lazy dog. Data hub pays for every recording \
             that a model and a person agree on.",
        ],
    );
    let ten_seconds = sox(
        &scratch,
        "noise-10s.wav",
        &["synth", "10", "whitenoise", "vol", "0.3"],
    );
    let inputs: Vec<(&str, &dyn Model, Vec<u8>)> = vec![
        ("filetype png 64x48", &filetype, fixtures::png(64, 48)),
        ("filetype zip", &filetype, fixtures::zip()),
        ("filetype wav (speech)", &filetype, speech.clone()),
        ("vad speech (espeak-ng, 22.05 kHz)", &vad, speech),
        ("vad white noise 10 s (16 kHz)", &vad, ten_seconds),
    ];
    println!();
    println!(
        "{:<36} {:>12} {:>10} {:>12}  prediction",
        "job", "jobs/s/core", "ms/job", "jobs/s wall"
    );
    for (name, model, object) in &inputs {
        let (rate, wall_rate, prediction) = measure(*model, object);
        println!(
            "{name:<36} {rate:>12.1} {:>10.2} {wall_rate:>12.1}  {} {:?}",
            1000.0 / rate,
            prediction.label,
            prediction.scores
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Runs the job for about two seconds (after one warm-up run). Returns jobs per second of
/// this thread's CPU time, which is the rate per core whatever else the machine runs (the
/// figures were taken on a shared, busy machine), and jobs per second of wall time.
fn measure(model: &dyn Model, object: &[u8]) -> (f64, f64, datahub_protocol::Prediction) {
    let prediction = model.run(object).unwrap();
    let started = Instant::now();
    let cpu_before = thread_cpu_seconds();
    let mut jobs = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        let again = model.run(object).unwrap();
        assert!(again.agrees_with(&prediction, 0.0));
        jobs += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, thread_cpu_seconds()) {
        (Some(before), Some(after)) if after > before => after - before,
        _ => wall,
    };
    (f64::from(jobs) / cpu, f64::from(jobs) / wall, prediction)
}

/// This thread's user + system time from /proc (Linux; clock ticks of 1/100 s).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name in parentheses: state is the first, utime the 12th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn tool(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}: run `cargo xtask setup`"));
    assert!(output.status.success(), "{program} {args:?} failed");
    output.stdout
}

fn sox(scratch: &std::path::Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path: PathBuf = scratch.join(name);
    let path = path.to_str().unwrap();
    let mut all = vec!["-n", "-r", "16000", "-c", "1", "-b", "16", path];
    all.extend(args);
    tool("sox", &all);
    std::fs::read(path).unwrap()
}
