//! The body of `POST /v1/campaigns`: whatever bytes come, reading them as a campaign spec and
//! validating it against the default settings never panics, and a spec that validates still
//! validates, to the same amounts, after a trip through JSON.
#![no_main]

use datahub_relay::Config;
use datahub_relay::campaigns::CampaignSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<CampaignSpec>(data) else {
        return;
    };
    let config = Config::default();
    if let Ok(amounts) = spec.validate_for(&config) {
        let text = serde_json::to_vec(&spec).expect("a parsed spec serializes");
        let again: CampaignSpec = serde_json::from_slice(&text).expect("its JSON parses");
        assert_eq!(again.validate_for(&config).ok(), Some(amounts));
    }
});
