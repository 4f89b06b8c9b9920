//! Media for upload tasks: recognising image bytes, recording the microphone as 16-bit PCM WAV
//! (what voice campaigns ask for: any tool reads it, and a validator can check its length and
//! level without a codec), and encoding that WAV.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The image type its first bytes say, whatever the file's name or the browser claims.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.get(..4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// Mono samples in [-1, 1] as a 16-bit PCM WAV file.
pub fn wav(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX - 36);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A recording in progress: the microphone through a script processor that copies samples.
/// (An AudioWorklet would need a module URL; wallet webviews run the script processor.)
pub struct Recorder {
    context: web_sys::AudioContext,
    stream: web_sys::MediaStream,
    processor: web_sys::ScriptProcessorNode,
    samples: Rc<RefCell<Vec<f32>>>,
    sample_rate: u32,
    _on_audio: Closure<dyn FnMut(web_sys::AudioProcessingEvent)>,
}

impl Recorder {
    /// Asks for the microphone and starts recording; `on_samples(seconds)` is called as audio
    /// arrives (about 12 times a second).
    pub async fn start(mut on_samples: impl FnMut(f64) + 'static) -> Result<Self, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let devices = window.navigator().media_devices()?;
        let constraints = web_sys::MediaStreamConstraints::new();
        constraints.set_audio(&JsValue::TRUE);
        let stream: web_sys::MediaStream =
            JsFuture::from(devices.get_user_media_with_constraints(&constraints)?)
                .await?
                .dyn_into()?;
        let context = web_sys::AudioContext::new()?;
        // Some webviews start the context suspended until a gesture; this runs inside one.
        let _ = context.resume().map(JsFuture::from);
        let sample_rate = context.sample_rate() as u32;
        let source = context.create_media_stream_source(&stream)?;
        let processor = context
            .create_script_processor_with_buffer_size_and_number_of_input_channels_and_number_of_output_channels(4096, 1, 1)?;
        let samples = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&samples);
        let on_audio = Closure::<dyn FnMut(web_sys::AudioProcessingEvent)>::new(
            move |event: web_sys::AudioProcessingEvent| {
                let Ok(buffer) = event.input_buffer() else {
                    return;
                };
                let Ok(channel) = buffer.get_channel_data(0) else {
                    return;
                };
                let seconds = {
                    let mut all = sink.borrow_mut();
                    all.extend_from_slice(&channel);
                    all.len() as f64 / f64::from(sample_rate.max(1))
                };
                on_samples(seconds);
            },
        );
        processor.set_onaudioprocess(Some(on_audio.as_ref().unchecked_ref()));
        source.connect_with_audio_node(&processor)?;
        // The processor runs only when connected to the output; it writes silence there.
        processor.connect_with_audio_node(&context.destination())?;
        Ok(Self {
            context,
            stream,
            processor,
            samples,
            sample_rate,
            _on_audio: on_audio,
        })
    }

    /// Stops and releases the microphone; returns the WAV file and its length in seconds.
    pub fn stop(self) -> (Vec<u8>, f64) {
        self.processor.set_onaudioprocess(None);
        let _ = self.processor.disconnect();
        for track in self.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                track.stop();
            }
        }
        let _: Option<Promise> = self.context.close().ok();
        let samples = self.samples.take();
        let seconds = samples.len() as f64 / f64::from(self.sample_rate.max(1));
        (wav(&samples, self.sample_rate), seconds)
    }
}

/// An image's size in pixels, decoded by the browser; `None` when it cannot decode it.
pub async fn image_size(bytes: &[u8], mime: &str) -> Option<(u32, u32)> {
    let blob = blob(bytes, mime).ok()?;
    let window = web_sys::window()?;
    let bitmap: web_sys::ImageBitmap =
        JsFuture::from(window.create_image_bitmap_with_blob(&blob).ok()?)
            .await
            .ok()?
            .dyn_into()
            .ok()?;
    let size = (bitmap.width(), bitmap.height());
    bitmap.close();
    Some(size)
}

/// The bytes as a Blob of type `mime`.
pub fn blob(bytes: &[u8], mime: &str) -> Result<web_sys::Blob, JsValue> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
}

/// A `blob:` URL for showing or playing the bytes (revoke it when done).
pub fn object_url(bytes: &[u8], mime: &str) -> Result<String, JsValue> {
    web_sys::Url::create_object_url_with_blob(&blob(bytes, mime)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn wav_has_a_pcm_header_and_clamped_samples() {
        let out = wav(&[0.0, 1.0, -1.0, 2.0], 16_000);
        assert_eq!(out.len(), 44 + 8);
        assert_eq!(&out[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 36 + 8);
        assert_eq!(&out[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(out[24..28].try_into().unwrap()), 16_000);
        assert_eq!(&out[36..40], b"data");
        let samples: Vec<i16> = out[44..]
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(samples, [0, 32767, -32767, 32767]);
    }

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"<svg"), None);
        assert_eq!(sniff_image(b""), None);
    }
}
