//! Any request the web view's HTTP parser lets through (method, target, Cookie headers), with
//! and without a key: a route and an access decision, never a panic; and without the token
//! nothing is granted when a key is set.
#![no_main]
use camwire::protocol::key::Key;
use camwire::protocol::link::crypto::WebToken;
use camwire::web::route::{read_request, Access};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn token() -> &'static WebToken {
    static T: OnceLock<WebToken> = OnceLock::new();
    T.get_or_init(|| WebToken::new(&Key::from_bytes([9; 32])))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // Fields separated by NUL: method, target, then Cookie header values.
    let mut fields = rest.split(|&b| b == 0);
    let method = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let target = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let cookies: Vec<&[u8]> = fields.collect();
    let keyed = flags & 1 == 1;
    let r = read_request(&method, &target, &cookies, keyed.then(token));
    if keyed {
        let has_token = target.contains(token().as_str())
            || cookies
                .iter()
                .any(|c| c.windows(32).any(|w| w == token().as_str().as_bytes()));
        assert!(has_token || r.access == Access::Denied, "granted without the token");
    } else {
        assert_eq!(r.access, Access::Open);
    }
});
