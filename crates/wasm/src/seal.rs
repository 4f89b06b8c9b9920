//! Sealing and opening objects for JavaScript: `sealBytes`, `sealBlob`, `openBytes`,
//! `openSealed`, and the streaming `Sealer` and `Opener` classes they are built from.
//!
//! Shards come back per segment: `shards[segment][slot]`, `k + m` slots per segment, data
//! shards first, each named by `shardIds[segment][slot]` (BLAKE3, bare lower-case hex, as the
//! manifest and the storage nodes name them). Opening takes the same shape, with `null` or
//! `undefined` where a shard is missing; any `k` good shards per segment suffice.
//!
//! Errors are JS `Error`s: `name` is `SealError`, `OpenError`, `ManifestError`, `KeyError`,
//! `InputError` or `RandomnessError`; `code` the exact reason (`DecryptionFailed`,
//! `NotEnoughShards`, …). Every authentication failure is `OpenError` / `DecryptionFailed`.

use datahub_core::erasure::SegmentError;
use datahub_core::manifest::{MAX_SEGMENT_LEN, Params};
use datahub_core::{
    EncodedSegment, Manifest, ObjectId, OpenError, Opener as CoreOpener, PublicKey, SealError,
    Sealer as CoreSealer, SecretKey,
};
use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::js::{entropy, error_from, input_error, js_error, parse_hex_loose};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** How to seal. Defaults: 4 data + 2 parity shards over 4 MiB segments. */
export interface SealOptions {
  /** `k`: data shards per segment (1..=128); any `k` shards of a segment rebuild it. */
  dataShards?: number;
  /** `m`: parity shards per segment (1..=128). */
  parityShards?: number;
  /** Bytes of sealed stream per segment, 1 KiB..=64 MiB. */
  segmentLen?: number;
  /**
   * 32 bytes to seal with instead of `crypto.getRandomValues`: only to reproduce test vectors.
   * Sealing twice with the same entropy reuses every key.
   */
  entropy?: Uint8Array;
}
/** One segment's shards: `k + m` of them, data shards first. */
export interface SealedSegment {
  /** The segment's position, from 0. */
  index: number;
  shards: Uint8Array[];
  /** BLAKE3 of each shard, lower-case hex without `0x`. */
  shardIds: string[];
}
/** A whole sealed object. */
export interface SealedObject {
  /** BLAKE3 of `manifest`, lower-case hex without `0x`: the object's name. */
  objectId: string;
  /** The manifest: parameters, lengths and every shard id. */
  manifest: Uint8Array;
  /** `shards[segment][slot]`. */
  shards: Uint8Array[][];
  /** `shardIds[segment][slot]`. */
  shardIds: string[][];
}
/** What `Sealer.finish` returns: the manifest and the segments completed by the final chunk. */
export interface SealerFinish {
  objectId: string;
  manifest: Uint8Array;
  segments: SealedSegment[];
}
/** Progress of `sealBlob`. */
export interface SealProgress {
  /** Plaintext bytes read from the Blob so far. */
  bytesRead: number;
  /** The Blob's size. */
  totalBytes: number;
  /** Segments handed to `onSegment` so far. */
  segments: number;
}
/** Options of `sealBlob`. */
export interface SealBlobOptions extends SealOptions {
  /**
   * Called with each segment as soon as it is sealed, in order; sealing waits for a returned
   * Promise (upload the shards there: memory stays bounded by a segment). Without it, every
   * segment is kept and returned, as `sealBytes` does.
   */
  onSegment?: (segment: SealedSegment) => void | Promise<void>;
  /** Called after each slice of the Blob is sealed. */
  onProgress?: (progress: SealProgress) => void;
  /** Bytes read from the Blob at a time; defaults to the segment length. */
  sliceLen?: number;
}
/** What `sealBlob` resolves to. `shards` and `shardIds` only when no `onSegment` was given. */
export interface SealedBlob {
  objectId: string;
  manifest: Uint8Array;
  segmentCount: number;
  shards?: Uint8Array[][];
  shardIds?: string[][];
}
/** A shard as `openBytes` takes it: missing ones as `null` or `undefined`. */
export type ShardSlot = Uint8Array | null | undefined;
"#;

#[wasm_bindgen]
extern "C" {
    /// A `Blob` (or `File`), as browsers and Node.js have them.
    #[wasm_bindgen(typescript_type = "Blob")]
    pub type Blob;

    #[wasm_bindgen(method, getter)]
    fn size(this: &Blob) -> f64;

    #[wasm_bindgen(method)]
    fn slice(this: &Blob, start: f64, end: f64) -> Blob;

    #[wasm_bindgen(method, js_name = arrayBuffer)]
    fn array_buffer(this: &Blob) -> js_sys::Promise;
}

fn seal_error(e: &SealError) -> JsValue {
    error_from("SealError", e)
}

/// `OpenError`s with the exact reason as `code`, a segment's reason included.
fn open_error(e: &OpenError) -> JsValue {
    let code = match e {
        OpenError::Segment(inner) => match inner {
            SegmentError::NoSuchSegment(_) => "NoSuchSegment",
            SegmentError::WrongShardCount { .. } => "WrongShardCount",
            SegmentError::NotEnoughShards { .. } => "NotEnoughShards",
            SegmentError::Inconsistent(_) => "Inconsistent",
            _ => "Segment",
        },
        OpenError::NotSealed => "NotSealed",
        OpenError::UnsupportedVersion(_) => "UnsupportedVersion",
        OpenError::DecryptionFailed => "DecryptionFailed",
        OpenError::SegmentOutOfOrder { .. } => "SegmentOutOfOrder",
        OpenError::Incomplete => "Incomplete",
        _ => "OpenFailed",
    };
    js_error("OpenError", code, &e.to_string())
}

fn field(options: &JsValue, name: &str) -> Result<Option<JsValue>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(input_error("InvalidOptions", "options must be an object"));
    }
    let value = Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| input_error("InvalidOptions", &format!("could not read `{name}`")))?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

fn whole_number(options: &JsValue, name: &str, max: u32) -> Result<Option<u32>, JsValue> {
    let Some(value) = field(options, name)? else {
        return Ok(None);
    };
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=f64::from(max)).contains(&n) => Ok(Some(n as u32)),
        _ => Err(input_error(
            "InvalidOptions",
            &format!("`{name}` must be a whole number from 0 to {max}"),
        )),
    }
}

fn params(options: &JsValue) -> Result<Params, JsValue> {
    let mut params = Params::default();
    if let Some(k) = whole_number(options, "dataShards", 255)? {
        params.data_shards = k as u8;
    }
    if let Some(m) = whole_number(options, "parityShards", 255)? {
        params.parity_shards = m as u8;
    }
    if let Some(s) = whole_number(options, "segmentLen", u32::MAX)? {
        params.segment_len = s;
    }
    params
        .validate()
        .map_err(|e| seal_error(&SealError::BadParams(e)))?;
    Ok(params)
}

fn seal_entropy(options: &JsValue) -> Result<[u8; 32], JsValue> {
    match field(options, "entropy")? {
        None => entropy(),
        Some(value) if value.is_instance_of::<Uint8Array>() => Uint8Array::new(&value)
            .to_vec()
            .try_into()
            .map_err(|_| input_error("InvalidEntropy", "`entropy` must be 32 bytes")),
        Some(_) => Err(input_error(
            "InvalidEntropy",
            "`entropy` must be a Uint8Array of 32 bytes",
        )),
    }
}

fn recipients(keys: &[String]) -> Result<Vec<PublicKey>, JsValue> {
    keys.iter()
        .map(|text| {
            let bytes = parse_hex_loose(text).ok_or_else(|| {
                js_error(
                    "KeyError",
                    "InvalidPublicKey",
                    "a recipient must be a hex SEC1 public key (33 or 65 bytes)",
                )
            })?;
            PublicKey::from_sec1_bytes(&bytes).map_err(|e| error_from("KeyError", &e))
        })
        .collect()
}

fn secret_key(text: &str) -> Result<SecretKey, JsValue> {
    let bytes = parse_hex_loose(text)
        .map(zeroize::Zeroizing::new)
        .ok_or_else(|| {
            js_error(
                "KeyError",
                "InvalidSecretKey",
                "a secret key must be 64 hex digits, with or without 0x",
            )
        })?;
    SecretKey::from_bytes(&bytes).map_err(|e| error_from("KeyError", &e))
}

/// Lower-case hex without `0x`, as shard and object ids are written.
fn id_hex(bytes: &[u8; 32]) -> String {
    use core::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn shards_js(segment: &EncodedSegment) -> (Array, Array) {
    let shards = Array::new();
    let ids = Array::new();
    for shard in &segment.shards {
        shards.push(&Uint8Array::from(shard.bytes.as_slice()));
        ids.push(&JsValue::from_str(&id_hex(&shard.id.0)));
    }
    (shards, ids)
}

fn segment_js(segment: &EncodedSegment) -> JsValue {
    let (shards, ids) = shards_js(segment);
    let out = js_sys::Object::new();
    set(&out, "index", &JsValue::from(segment.index));
    set(&out, "shards", &shards);
    set(&out, "shardIds", &ids);
    out.into()
}

fn manifest_fields(out: &JsValue, manifest: &Manifest) {
    set(
        out,
        "objectId",
        &JsValue::from_str(&id_hex(&manifest.object_id().0)),
    );
    set(
        out,
        "manifest",
        &Uint8Array::from(manifest.to_bytes().as_slice()),
    );
}

fn segments_js(segments: &[EncodedSegment]) -> Array {
    segments.iter().map(segment_js).collect()
}

/// Seals `data` to `recipients` (hex SEC1 public keys, compressed or not) in one call.
///
/// Resolves to `{objectId, manifest, shards, shardIds}`, `shards[segment][slot]`.
#[wasm_bindgen(js_name = sealBytes, unchecked_return_type = "SealedObject")]
pub async fn seal_bytes(
    data: Uint8Array,
    recipients: Vec<String>,
    #[wasm_bindgen(unchecked_optional_param_type = "SealOptions")] options: JsValue,
) -> Result<JsValue, JsValue> {
    let params = params(&options)?;
    let entropy = zeroize::Zeroizing::new(seal_entropy(&options)?);
    let keys = self::recipients(&recipients)?;
    let mut sealer = CoreSealer::new(&keys, &entropy, params).map_err(|e| seal_error(&e))?;
    let (shards, ids) = (Array::new(), Array::new());
    let keep = |segments: Vec<EncodedSegment>| {
        for segment in &segments {
            let (s, i) = shards_js(segment);
            shards.push(&s);
            ids.push(&i);
        }
    };
    // A segment of plaintext at a time through one buffer, each segment's shards handed to JS
    // (and their memory freed for the next) as soon as they are made: copying the whole input
    // into wasm memory and keeping every shard until the end made sealing work on cold memory,
    // and cost a pass to wipe the whole plaintext copy.
    let total = data.length();
    let step = params.segment_len.max(1);
    let mut buffer = zeroize::Zeroizing::new(Vec::new());
    let mut at = 0;
    while at < total {
        let end = total.min(at.saturating_add(step));
        buffer.resize((end - at) as usize, 0);
        data.subarray(at, end).copy_to(&mut buffer);
        keep(sealer.update(&buffer).map_err(|e| seal_error(&e))?);
        at = end;
    }
    let (last, manifest) = sealer.finish().map_err(|e| seal_error(&e))?;
    keep(last);
    let out: JsValue = js_sys::Object::new().into();
    manifest_fields(&out, &manifest);
    set(&out, "shards", &shards);
    set(&out, "shardIds", &ids);
    Ok(out)
}

/// Reads one segment's shard slots from JS: an array of `Uint8Array | null | undefined`.
fn slots(segment: &JsValue) -> Result<Vec<Option<Vec<u8>>>, JsValue> {
    if !Array::is_array(segment) {
        return Err(input_error(
            "InvalidShards",
            "shards must be an array per segment of Uint8Array, null or undefined",
        ));
    }
    segment
        .unchecked_ref::<Array>()
        .iter()
        .map(|slot| {
            if slot.is_null() || slot.is_undefined() {
                Ok(None)
            } else if slot.is_instance_of::<Uint8Array>() {
                Ok(Some(Uint8Array::new(&slot).to_vec()))
            } else {
                Err(input_error(
                    "InvalidShards",
                    "a shard must be a Uint8Array, or null or undefined when missing",
                ))
            }
        })
        .collect()
}

fn parse_manifest(bytes: &[u8], object_id: Option<&str>) -> Result<Manifest, JsValue> {
    let parsed = match object_id {
        None => Manifest::parse(bytes),
        Some(text) => {
            let id: [u8; 32] = parse_hex_loose(text)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| input_error("InvalidObjectId", "an object id is 64 hex digits"))?;
            Manifest::parse_with_id(bytes, &ObjectId(id))
        }
    };
    parsed.map_err(|e| error_from("ManifestError", &e))
}

/// Opens an object from its manifest and its shards (`shards[segment][slot]`, `null` or
/// `undefined` where missing; any `k` good shards per segment suffice) with the secret key of
/// one of its recipients (64 hex digits, with or without `0x`).
///
/// Every shard is checked against its id first; the plaintext is returned only once every
/// chunk authenticated.
#[wasm_bindgen(js_name = openBytes)]
pub async fn open_bytes(
    manifest: Uint8Array,
    #[wasm_bindgen(unchecked_param_type = "ShardSlot[][]")] shards: Array,
    #[wasm_bindgen(js_name = secretKey)] secret_key: String,
) -> Result<Uint8Array, JsValue> {
    let manifest = parse_manifest(&manifest.to_vec(), None)?;
    let mut opener = CoreOpener::new(manifest, self::secret_key(&secret_key)?);
    let mut plaintext = zeroize::Zeroizing::new(Vec::new());
    for (index, segment) in shards.iter().enumerate() {
        let slots = slots(&segment)?;
        let refs: Vec<Option<&[u8]>> = slots.iter().map(Option::as_deref).collect();
        let index = u32::try_from(index).map_err(|_| open_error(&OpenError::Incomplete))?;
        plaintext.extend_from_slice(
            &opener
                .push_segment(index, &refs)
                .map_err(|e| open_error(&e))?,
        );
    }
    opener.finish().map_err(|e| open_error(&e))?;
    Ok(Uint8Array::from(plaintext.as_slice()))
}

/// Opens a whole sealed stream (header then payload: the segments' data shards, joined and
/// cut to the sealed length) with a recipient's secret key.
#[wasm_bindgen(js_name = openSealed)]
pub async fn open_sealed(
    sealed: Uint8Array,
    #[wasm_bindgen(js_name = secretKey)] secret_key: String,
) -> Result<Uint8Array, JsValue> {
    let key = self::secret_key(&secret_key)?;
    let plaintext =
        datahub_core::open_sealed(&sealed.to_vec(), &key).map_err(|e| open_error(&e))?;
    Ok(Uint8Array::from(plaintext.as_slice()))
}

/// Seals a stream piece by piece: `update` with plaintext as it comes, `finish` at the end.
/// Memory stays about one segment and its shards, if each `update` is at most a segment.
#[wasm_bindgen]
pub struct Sealer {
    inner: Option<CoreSealer>,
}

#[wasm_bindgen]
impl Sealer {
    /// Starts sealing to `recipients` (hex SEC1 public keys).
    #[wasm_bindgen(constructor)]
    pub fn new(
        recipients: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "SealOptions")] options: JsValue,
    ) -> Result<Sealer, JsValue> {
        let params = params(&options)?;
        let entropy = zeroize::Zeroizing::new(seal_entropy(&options)?);
        let keys = self::recipients(&recipients)?;
        let inner = CoreSealer::new(&keys, &entropy, params).map_err(|e| seal_error(&e))?;
        Ok(Self { inner: Some(inner) })
    }

    /// Seals more plaintext; returns the segments it completed.
    #[wasm_bindgen(unchecked_return_type = "SealedSegment[]")]
    pub fn update(&mut self, data: &[u8]) -> Result<Array, JsValue> {
        let sealer = self.inner.as_mut().ok_or_else(finished)?;
        let segments = sealer.update(data).map_err(|e| seal_error(&e))?;
        Ok(segments_js(&segments))
    }

    /// Seals the final chunk: `{objectId, manifest, segments}` with the last segments. The
    /// sealer cannot be used after.
    #[wasm_bindgen(unchecked_return_type = "SealerFinish")]
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        let sealer = self.inner.take().ok_or_else(finished)?;
        let (segments, manifest) = sealer.finish().map_err(|e| seal_error(&e))?;
        let out: JsValue = js_sys::Object::new().into();
        manifest_fields(&out, &manifest);
        set(&out, "segments", &segments_js(&segments));
        Ok(out)
    }
}

fn finished() -> JsValue {
    js_error(
        "SealError",
        "Finished",
        "this sealer has finished: start a new one",
    )
}

/// Opens an object segment by segment, as its shards arrive.
#[wasm_bindgen]
pub struct Opener {
    inner: Option<CoreOpener>,
}

#[wasm_bindgen]
impl Opener {
    /// Starts opening the object `manifest` describes with a recipient's secret key. If
    /// `objectId` is given, the manifest must hash to it.
    #[wasm_bindgen(constructor)]
    pub fn new(
        manifest: &[u8],
        #[wasm_bindgen(js_name = secretKey)] secret_key: &str,
        #[wasm_bindgen(js_name = objectId)] object_id: Option<String>,
    ) -> Result<Opener, JsValue> {
        let manifest = parse_manifest(manifest, object_id.as_deref())?;
        Ok(Self {
            inner: Some(CoreOpener::new(manifest, self::secret_key(secret_key)?)),
        })
    }

    /// Segments in the object.
    #[wasm_bindgen(getter, js_name = segmentCount)]
    pub fn segment_count(&self) -> u32 {
        self.inner
            .as_ref()
            .map_or(0, |o| o.manifest().segment_count())
    }

    /// Takes segment `index`'s shard slots (`k + m`, `null` where missing) and returns the
    /// plaintext it completes. Segments must come in order.
    #[wasm_bindgen(js_name = pushSegment)]
    pub fn push_segment(
        &mut self,
        index: u32,
        #[wasm_bindgen(unchecked_param_type = "ShardSlot[]")] shards: JsValue,
    ) -> Result<Uint8Array, JsValue> {
        let opener = self.inner.as_mut().ok_or_else(opener_finished)?;
        let slots = slots(&shards)?;
        let refs: Vec<Option<&[u8]>> = slots.iter().map(Option::as_deref).collect();
        let plaintext = opener
            .push_segment(index, &refs)
            .map_err(|e| open_error(&e))?;
        Ok(Uint8Array::from(plaintext.as_slice()))
    }

    /// Checks that every segment was given and the whole stream authenticated. Plaintext
    /// released before this succeeds may belong to an object cut short.
    pub fn finish(&mut self) -> Result<(), JsValue> {
        let opener = self.inner.take().ok_or_else(opener_finished)?;
        opener.finish().map_err(|e| open_error(&e))
    }
}

fn opener_finished() -> JsValue {
    js_error(
        "OpenError",
        "Finished",
        "this opener has finished: start a new one",
    )
}

fn call(callback: &Option<js_sys::Function>, arg: &JsValue) -> Result<JsValue, JsValue> {
    match callback {
        Some(f) => f.call1(&JsValue::NULL, arg),
        None => Ok(JsValue::UNDEFINED),
    }
}

fn callback(options: &JsValue, name: &str) -> Result<Option<js_sys::Function>, JsValue> {
    match field(options, name)? {
        None => Ok(None),
        Some(f) if f.is_function() => Ok(Some(f.into())),
        Some(_) => Err(input_error(
            "InvalidOptions",
            &format!("`{name}` must be a function"),
        )),
    }
}

/// Where `sealBlob` puts the segments it seals.
enum Delivery {
    /// To the caller's `onSegment`, one at a time, waiting for each Promise it returns.
    Callback(js_sys::Function),
    /// Kept for the result.
    Keep { shards: Array, ids: Array },
}

async fn deliver(segments: &Array, to: &Delivery, count: &mut u32) -> Result<(), JsValue> {
    for segment in segments.iter() {
        *count += 1;
        match to {
            Delivery::Callback(f) => {
                let result = f.call1(&JsValue::NULL, &segment)?;
                // Any thenable is waited for, as `await` would.
                if result.is_object() && get_function(&result, "then").is_some() {
                    JsFuture::from(js_sys::Promise::resolve(&result)).await?;
                }
            }
            Delivery::Keep { shards, ids } => {
                shards.push(&Reflect::get(&segment, &"shards".into())?);
                ids.push(&Reflect::get(&segment, &"shardIds".into())?);
            }
        }
    }
    Ok(())
}

fn get_function(target: &JsValue, name: &str) -> Option<js_sys::Function> {
    Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .filter(JsValue::is_function)
        .map(Into::into)
}

/// Seals a `Blob` or `File` slice by slice (`blob.slice(a, b).arrayBuffer()`), never holding
/// the whole of it (the next slice is read while one is sealed): each segment goes to
/// `onSegment` as soon as it is sealed, and sealing waits for the Promise it returns. Resolves to `{objectId, manifest, segmentCount}` (plus `shards`
/// and `shardIds` when no `onSegment` is given).
#[wasm_bindgen(js_name = sealBlob, unchecked_return_type = "SealedBlob")]
pub async fn seal_blob(
    blob: Blob,
    recipients: Vec<String>,
    #[wasm_bindgen(unchecked_optional_param_type = "SealBlobOptions")] options: JsValue,
) -> Result<JsValue, JsValue> {
    let params = params(&options)?;
    let slice_len = whole_number(&options, "sliceLen", MAX_SEGMENT_LEN)?
        .filter(|&n| n > 0)
        .unwrap_or(params.segment_len);
    let on_segment = callback(&options, "onSegment")?;
    let on_progress = callback(&options, "onProgress")?;
    let mut sealer = Sealer::new(recipients, options)?;
    let delivery = match on_segment {
        Some(f) => Delivery::Callback(f),
        None => Delivery::Keep {
            shards: Array::new(),
            ids: Array::new(),
        },
    };
    let mut segment_count: u32 = 0;

    let total = blob.size();
    let read = |start: f64| {
        let end = (start + f64::from(slice_len)).min(total);
        (end, blob.slice(start, end).array_buffer())
    };
    // The next slice is read while this one is sealed: one slice more in memory, and reading
    // (slow for Blobs backed by the browser process) overlaps the work.
    let mut next = (total > 0.0).then(|| read(0.0));
    let mut buffer = Vec::new();
    while let Some((offset, reading)) = next.take() {
        let bytes = JsFuture::from(reading).await?;
        if offset < total {
            next = Some(read(offset));
        }
        let array = Uint8Array::new(&bytes);
        buffer.resize(array.length() as usize, 0);
        array.copy_to(&mut buffer);
        // The ArrayBuffer is garbage once copied into wasm memory.
        drop(array);
        let segments = sealer.update(&buffer)?;
        deliver(&segments, &delivery, &mut segment_count).await?;
        let progress: JsValue = js_sys::Object::new().into();
        set(&progress, "bytesRead", &JsValue::from(offset));
        set(&progress, "totalBytes", &JsValue::from(total));
        set(&progress, "segments", &JsValue::from(segment_count));
        call(&on_progress, &progress)?;
    }
    buffer.fill(0);
    let finish = sealer.finish()?;
    let last: Array = Reflect::get(&finish, &"segments".into())?.unchecked_into();
    deliver(&last, &delivery, &mut segment_count).await?;
    let out: JsValue = js_sys::Object::new().into();
    set(
        &out,
        "objectId",
        &Reflect::get(&finish, &"objectId".into())?,
    );
    set(
        &out,
        "manifest",
        &Reflect::get(&finish, &"manifest".into())?,
    );
    set(&out, "segmentCount", &JsValue::from(segment_count));
    if let Delivery::Keep { shards, ids } = &delivery {
        set(&out, "shards", shards);
        set(&out, "shardIds", ids);
    }
    Ok(out)
}
