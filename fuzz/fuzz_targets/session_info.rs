//! Any bytes as a sender's session info (MESSAGE content 2, PROTOCOL.md 12.6): a name or an
//! error, never a panic; a name that is accepted is one `check_name` allows, and it survives
//! a round trip.
#![no_main]
use camwire::protocol::session_info::{check_name, SessionInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = SessionInfo::parse(data) {
        assert!(check_name(&info.name).is_ok(), "{:?}", info.name);
        assert_eq!(SessionInfo::parse(&info.to_json()).as_ref(), Ok(&info));
    }
});
