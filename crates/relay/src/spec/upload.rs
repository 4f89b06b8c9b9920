//! A campaign's `upload` rules: what an upload must be, shown to contributors and checked by
//! their client and by validators. The one parser (and its defaults) is the protocol's
//! [`UploadRules::parse`]; the relay only checks that a definition's rules parse.

use datahub_protocol::{ImageType, UploadRules};
use serde_json::Value as Json_;

use super::Kind;

/// The image types an `image_upload` campaign may ask for.
pub const UPLOAD_IMAGE_TYPES: [&str; 3] = [
    ImageType::Png.mime(),
    ImageType::Jpeg.mime(),
    ImageType::Webp.mime(),
];

/// Checks a campaign's `upload` rules (see [`UploadRules::parse`]): `null` is none; other
/// kinds than the upload ones take none.
pub fn check_upload_rules(kind: Kind, rules: &Json_) -> Result<(), String> {
    UploadRules::parse(kind, Some(rules)).map(drop)
}
