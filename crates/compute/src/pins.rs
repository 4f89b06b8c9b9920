//! The model files a compute node may load, pinned by BLAKE3: which PyPI package and version
//! ships each one, where it sits inside the wheel, and the name it gets in the models dir.
//!
//! This file is the one home of the pins. It uses nothing but `core`, so `cargo xtask setup`
//! includes it by path (`#[path]`) to fetch and check the same files the loader later checks,
//! without building the inference runtime.

/// One file taken from a pinned PyPI package.
#[derive(Debug, Clone, Copy)]
pub struct PinnedFile {
    /// Its name in the models dir, e.g. `magika.onnx`.
    pub name: &'static str,
    /// The PyPI package that ships it.
    pub package: &'static str,
    /// The exact version of that package.
    pub version: &'static str,
    /// Its path inside the package's wheel.
    pub member: &'static str,
    /// BLAKE3 of its bytes, lower-case hex.
    pub blake3: &'static str,
}

/// magika's standard_v3_3 model (Apache-2.0): file-type detection from the first and last KiB.
pub const MAGIKA_MODEL: PinnedFile = PinnedFile {
    name: "magika.onnx",
    package: "magika",
    version: "1.0.3",
    member: "magika/models/standard_v3_3/model.onnx",
    blake3: "d70b1c8df3bf3e5da8fcf5b5e308cf19739cf0ef5bd5e3173101bad813e05eb9",
};

/// The model's preprocessing and labels (sizes, padding token, thresholds, label space).
pub const MAGIKA_CONFIG: PinnedFile = PinnedFile {
    name: "magika.config.json",
    package: "magika",
    version: "1.0.3",
    member: "magika/models/standard_v3_3/config.min.json",
    blake3: "09feafa916bea79b583278640911b5dbf6391655cf401a0a4ba731fc4844271f",
};

/// magika's knowledge base of content types: which labels are text (for the low-confidence
/// fallback to `txt` or `unknown`).
pub const MAGIKA_CONTENT_TYPES: PinnedFile = PinnedFile {
    name: "magika.content_types.json",
    package: "magika",
    version: "1.0.3",
    member: "magika/config/content_types_kb.min.json",
    blake3: "ed0c05a37795ff04ef64262c7b57c47e6818262da40d5b89a91c39b4f1692454",
};

/// Silero VAD (MIT), the 16 kHz "sequence" export: one run judges a block of up to 512
/// frames of 32 ms, carrying the LSTM state between blocks, where the streaming exports take
/// one frame per run (and branch on the sample rate with an `If`).
pub const SILERO_VAD: PinnedFile = PinnedFile {
    name: "silero-vad.onnx",
    package: "silero-vad",
    version: "6.2.3",
    member: "silero_vad/data/silero_vad_16k_sequence.onnx",
    blake3: "7f6520aff1e0f536debebab95649994b732c2763660e95b1073b08fdf72f24c9",
};

/// Every pinned file, in the order setup fetches them.
pub const ALL: [PinnedFile; 4] = [
    MAGIKA_MODEL,
    MAGIKA_CONFIG,
    MAGIKA_CONTENT_TYPES,
    SILERO_VAD,
];
