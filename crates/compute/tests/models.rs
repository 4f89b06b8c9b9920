//! The real models on real inputs made at test time: speech from espeak-ng, silence and white
//! noise from sox, a PNG and a ZIP written here byte by byte.
//!
//! They need `cargo xtask setup` (the models in target/models, espeak-ng and sox). Without
//! them a local run prints why it skips; under CI (CI=true) it fails, so CI cannot pass by
//! skipping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use datahub_compute::{FileType, Model, Vad, default_models_dir, load_models, pins};
use datahub_protocol::Prediction;
use fixtures::{adler32, crc32, png, zip};

mod fixtures;

/// Agreement tolerance recommended for both models (docs/compute-models.md): two runs on one
/// machine give identical scores; across CPUs a frame near the 0.5 threshold may flip.
const TOLERANCE: f64 = 0.02;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `Some(())` when `what` is there; otherwise a skip line locally and a failure in CI.
fn need(present: bool, what: &str) -> Option<()> {
    if present {
        return Some(());
    }
    let message = format!("{what} is missing: run `cargo xtask setup`");
    assert!(!in_ci(), "{message} (CI must not skip these tests)");
    eprintln!("skip: {message}");
    None
}

struct Models {
    filetype: FileType,
    vad: Vad,
}

fn models() -> Option<&'static Models> {
    static MODELS: OnceLock<Option<Models>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            let dir = default_models_dir();
            need(dir.join(pins::SILERO_VAD.name).is_file(), "the models dir")?;
            Some(Models {
                filetype: FileType::load(&dir).unwrap(),
                vad: Vad::load(&dir).unwrap(),
            })
        })
        .as_ref()
}

fn has(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// Where the made inputs go: cargo's scratch dir for integration tests, inside target/, so
/// nothing piles up in the system's temp dir. Each test writes files of its own names.
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compute-models");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// espeak-ng's voice (22050 Hz, 16-bit mono WAV).
fn speech() -> Option<Vec<u8>> {
    need(has("espeak-ng"), "espeak-ng")?;
    Some(run(
        "espeak-ng",
        &[
            "--stdout",
            "The quick brown fox jumps over the lazy dog. Data hub pays for every recording.",
        ],
    ))
}

/// A sound made by sox from nothing (`sox -n`), written to a file and read back.
fn sox(name: &str, args: &[&str]) -> Option<Vec<u8>> {
    need(has("sox"), "sox")?;
    let path = scratch().join(name);
    let path = path.to_str().unwrap();
    let mut all = vec!["-n", "-r", "16000", "-c", "1", "-b", "16", path];
    all.extend(args);
    run("sox", &all);
    Some(std::fs::read(path).unwrap())
}

fn judged_twice(model: &dyn Model, object: &[u8]) -> Prediction {
    let first = model.run(object).unwrap();
    let second = model.run(object).unwrap();
    assert!(
        first.agrees_with(&second, TOLERANCE),
        "{first:?} vs {second:?}"
    );
    first
}

fn score(prediction: &Prediction, name: &str) -> f64 {
    prediction.scores[name]
}

#[test]
fn speech_is_speech() {
    let (Some(models), Some(speech)) = (models(), speech()) else {
        return;
    };
    let p = judged_twice(&models.vad, &speech);
    assert_eq!(p.label, "speech", "{p:?}");
    assert!(score(&p, "speech_ratio") > 0.5, "{p:?}");
}

#[test]
fn speech_resampled_to_44k_stereo_is_still_speech() {
    let (Some(models), Some(speech)) = (models(), speech()) else {
        return;
    };
    need(has("sox"), "sox");
    let dir = scratch();
    let (from, to) = (dir.join("speech.wav"), dir.join("speech-44k.wav"));
    std::fs::write(&from, &speech).unwrap();
    run(
        "sox",
        &[
            from.to_str().unwrap(),
            "-r",
            "44100",
            "-c",
            "2",
            to.to_str().unwrap(),
        ],
    );
    let stereo = models.vad.run(&std::fs::read(&to).unwrap()).unwrap();
    let mono = models.vad.run(&speech).unwrap();
    assert_eq!(stereo.label, "speech");
    // Resampled twice over, the same words: most frames judged alike.
    assert!(
        (score(&stereo, "speech_ratio") - score(&mono, "speech_ratio")).abs() < 0.1,
        "{stereo:?} vs {mono:?}"
    );
}

#[test]
fn silence_and_white_noise_are_not_speech() {
    let Some(models) = models() else {
        return;
    };
    for (name, args) in [
        ("silence.wav", &["trim", "0", "3"][..]),
        ("noise.wav", &["synth", "3", "whitenoise", "vol", "0.5"][..]),
        ("hum.wav", &["synth", "3", "sine", "50", "vol", "0.5"][..]),
    ] {
        let Some(sound) = sox(name, args) else {
            return;
        };
        let p = judged_twice(&models.vad, &sound);
        assert_eq!(p.label, "no_speech", "{name}: {p:?}");
        assert!(score(&p, "speech_ratio") < 0.05, "{name}: {p:?}");
    }
}

#[test]
fn vad_refuses_what_is_not_a_wav_with_a_clear_error() {
    let Some(models) = models() else {
        return;
    };
    let error = models.vad.run(&png(32, 32)).unwrap_err();
    assert!(error.0.contains("not a WAV file"), "{error}");
}

#[test]
fn a_png_is_png_and_a_zip_named_png_is_zip() {
    let Some(models) = models() else {
        return;
    };
    std::fs::write(scratch().join("fixture.png"), png(64, 48)).unwrap();
    std::fs::write(scratch().join("fixture-zip.png"), zip()).unwrap();
    let p = judged_twice(&models.filetype, &png(64, 48));
    assert_eq!(p.label, "png", "{p:?}");
    // The name is not an input: only the bytes are judged, so a ZIP saved as photo.png is zip.
    let p = judged_twice(&models.filetype, &zip());
    assert_eq!(p.label, "zip", "{p:?}");
    assert!(score(&p, "probability") > 0.5, "{p:?}");
}

#[test]
fn a_wav_is_wav() {
    let (Some(models), Some(speech)) = (models(), speech()) else {
        return;
    };
    let p = judged_twice(&models.filetype, &speech);
    assert_eq!(p.label, "wav", "{p:?}");
    let Some(silence) = sox("silence-ft.wav", &["trim", "0", "1"]) else {
        return;
    };
    // Digital silence is all zero bytes after the header; magika still calls it wav.
    let p = judged_twice(&models.filetype, &silence);
    assert_eq!(p.label, "wav", "{p:?}");
}

#[test]
fn tiny_and_whitespace_objects_follow_magikas_rules_without_the_model() {
    let Some(models) = models() else {
        return;
    };
    let label = |bytes: &[u8]| models.filetype.run(bytes).unwrap().label;
    assert_eq!(label(b""), "empty");
    assert_eq!(label(b"hi"), "txt");
    assert_eq!(label(&[0xff, 0xfe, 0x00]), "unknown");
    // Eight bytes, but after stripping whitespace fewer than eight remain.
    assert_eq!(label(b"   \n\n  ab  \t  "), "txt");
}

#[test]
fn load_models_names_setup_when_the_dir_is_empty_or_a_file_is_not_the_pinned_one() {
    let dir = scratch().join("models-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let message = |dir: &Path| match load_models(dir) {
        Ok(_) => panic!("loaded models from {}", dir.display()),
        Err(error) => error.0,
    };
    let missing = message(&dir);
    assert!(missing.contains("cargo xtask setup"), "{missing}");
    assert!(missing.contains("magika.onnx"), "{missing}");

    // A file of the right name with other bytes (a swapped or corrupted model) is refused
    // before tract parses a byte of it.
    std::fs::write(dir.join(pins::MAGIKA_MODEL.name), b"not the pinned model").unwrap();
    let tampered = message(&dir);
    assert!(tampered.contains("not the pinned"), "{tampered}");
    assert!(tampered.contains("cargo xtask setup"), "{tampered}");
}

#[test]
fn load_models_gives_both_models_and_their_capabilities() {
    let Some(_) = models() else {
        return;
    };
    let models = load_models(&default_models_dir()).unwrap();
    let capabilities: Vec<_> = models.iter().map(|m| m.capability()).collect();
    assert_eq!(capabilities.len(), 2);
    assert_eq!(capabilities[0].kind, "filetype");
    assert_eq!(capabilities[0].model, pins::MAGIKA_MODEL.blake3);
    assert_eq!(capabilities[1].kind, "vad");
    assert_eq!(capabilities[1].model, pins::SILERO_VAD.blake3);
    assert!(capabilities[1].runtime.starts_with("tract-onnx "));
}

/// The hand-made files are what real tools read: checked here so a wrong label above means a
/// wrong model, not a broken fixture.
#[test]
fn the_fixtures_are_valid_files() {
    let png = png(64, 48);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The CRC of IHDR over "IHDR" and its 13 bytes, as a decoder checks it.
    assert_eq!(
        u32::from_be_bytes(png[29..33].try_into().unwrap()),
        crc32(&png[12..29])
    );
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    let zip = zip();
    assert_eq!(&zip[..4], b"PK\x03\x04");
    assert_eq!(&zip[zip.len() - 22..zip.len() - 18], b"PK\x05\x06");
}
