//! Small conversions shared by the exported API: errors with a stable `name` and `code`, hex.

use wasm_bindgen::JsValue;

/// A JS `Error` with a stable `name` and `code`.
pub(crate) fn js_error(name: &str, code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(name);
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

/// The variant name of an error enum, from its `Debug` form (`HighS`, `WrongDomain { .. }`).
pub(crate) fn code_of(debug: &str) -> String {
    debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

pub(crate) fn error_from<E: core::fmt::Debug + core::fmt::Display>(name: &str, e: &E) -> JsValue {
    js_error(name, &code_of(&format!("{e:?}")), &e.to_string())
}

pub(crate) fn input_error(code: &str, message: &str) -> JsValue {
    js_error("InputError", code, message)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub(crate) fn parse_hex(text: &str) -> Option<Vec<u8>> {
    parse_hex_digits(text.strip_prefix("0x")?)
}

/// Hex digits without a prefix.
pub(crate) fn parse_hex_digits(digits: &str) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let pair = core::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

/// 32 bytes from the platform's secure generator (`crypto.getRandomValues`).
pub(crate) fn entropy() -> Result<[u8; 32], JsValue> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        js_error(
            "RandomnessError",
            "Unavailable",
            &format!("no secure randomness available: {e}"),
        )
    })?;
    Ok(bytes)
}

/// `0x` hex or bare hex, as keys and ids are written by different tools.
pub(crate) fn parse_hex_loose(text: &str) -> Option<Vec<u8>> {
    if text.starts_with("0x") {
        parse_hex(text)
    } else {
        parse_hex(&format!("0x{text}"))
    }
}
