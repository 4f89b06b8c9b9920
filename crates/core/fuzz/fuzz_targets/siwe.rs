//! SIWE (EIP-4361) parsing, session-grant reading and RFC 3339 times never panic, and whatever
//! parses writes back (canonically) to text that parses to the same fields.
#![no_main]

use datahub_core::eth::{SessionGrant, SiweMessage, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = SiweMessage::parse(text) {
        let canonical = message.to_string();
        let again = SiweMessage::parse(&canonical).expect("canonical form parses");
        assert_eq!(again, message);
        let _ = SessionGrant::from_resources(&message.resources);
    }
    if let Ok(at) = Timestamp::parse_rfc3339(text) {
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()), Ok(at));
    }
});
