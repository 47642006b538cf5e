//! Unit tests of the screenshot parser the window test relies on (the tests live in the module).
#[allow(dead_code)]
#[path = "support/xwd.rs"]
mod xwd;
