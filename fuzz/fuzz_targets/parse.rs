//! Any bytes: a datagram or an error, never a panic; and a datagram that parses re-encodes
//! to exactly the same bytes (one encoding per value, so nothing is silently normalised).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = camwire::protocol::wire::parse(data) {
        let mut out = vec![0u8; d.encoded_len()];
        let n = d.encode(&mut out).expect("a parsed datagram encodes");
        assert_eq!(&out[..n], data, "re-encoding changed the bytes");
    }
});
