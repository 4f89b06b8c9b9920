//! The lease a worker asks for when it takes a job: validators (`POST /v1/validation/jobs/next`)
//! and compute nodes (`POST /v1/compute/jobs/next`) send the same body under the same bounds.

use serde::Deserialize;

use crate::auth::Signed;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// How long a worker holds a job unless it asks for another time.
pub const DEFAULT_LEASE_SECS: u64 = 120;

/// The body of a `…/jobs/next` request (may be empty).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NextJob {
    /// How long to hold the job, 5 to 3600 seconds.
    #[serde(default)]
    lease_seconds: Option<u64>,
}

/// The lease `signed` asks for, in milliseconds: its `lease_seconds` (5 to 3600), or
/// [`DEFAULT_LEASE_SECS`] for an empty body.
pub fn requested_ms(signed: &Signed) -> ApiResult<i64> {
    let request: NextJob = if signed.body.iter().all(u8::is_ascii_whitespace) {
        NextJob::default()
    } else {
        signed.json()?
    };
    let secs = request.lease_seconds.unwrap_or(DEFAULT_LEASE_SECS);
    if !(5..=3600).contains(&secs) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidLease,
            "lease_seconds: 5 to 3600",
        ));
    }
    // At most 3600 s: the conversion cannot fail.
    Ok(i64::try_from(secs).unwrap_or(3600) * 1000)
}
