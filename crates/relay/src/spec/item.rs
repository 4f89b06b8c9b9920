//! The items of a campaign: JSON objects of a few known string fields.

use serde_json::Value as Json_;

const ITEM_FIELDS: [&str; 6] = ["text", "image_url", "object", "claim", "prompt", "id"];

/// Checks one item (or a golden item's item); the message is the field's problem.
pub(super) fn check_item(item: &Json_) -> Result<(), String> {
    let object = item.as_object().ok_or("must be a JSON object")?;
    if object.is_empty() {
        return Err("needs text, image_url, object, claim or prompt".into());
    }
    for (key, value) in object {
        if !ITEM_FIELDS.contains(&key.as_str()) {
            return Err(format!("unknown field {key:?} (allowed: {ITEM_FIELDS:?})"));
        }
        let text = value.as_str().ok_or(format!("{key} must be a string"))?;
        if text.len() > 10_000 {
            return Err(format!("{key}: at most 10000 bytes"));
        }
        if key == "image_url" && !is_image_url(text) {
            return Err(
                "image_url must be an https URL or a path on the relay (\"/demo/cat.svg\": one leading /, no . or .. segment, no backslash or control character); plain http is refused: serve the image over https".into(),
            );
        }
        if key == "object" && (text.len() != 64 || hex::decode(text).is_err()) {
            return Err("object must be a sealed object id (64 hex digits)".into());
        }
    }
    Ok(())
}

/// An absolute https URL with a host, or a root-relative path that clients resolve against the relay's
/// own origin and that cannot climb out of it: `/` then no second `/`, no `.` or `..` segment
/// (percent-encoded ones included: URL parsers decode `%2e`), no backslash (which browsers
/// read as `/`), no control character.
fn is_image_url(text: &str) -> bool {
    // Plain http is refused: a contributor's browser would fetch it in the clear (anyone on the
    // path sees who looks at what, and can swap the image) and the page's CSP blocks it anyway.
    if let Some(rest) = text.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        return !host.is_empty() && !text.chars().any(|c| c.is_control() || c.is_whitespace());
    }
    let Some(path) = text.strip_prefix('/') else {
        return false;
    };
    if path.starts_with('/') || text.contains('\\') || text.chars().any(char::is_control) {
        return false;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').all(|segment| {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        dots != "." && dots != ".."
    })
}
