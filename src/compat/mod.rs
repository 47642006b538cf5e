//! Compatibility with formats that are not camwire's own.
//!
//! - [`tutorial`]: the classic Python/OpenCV "send an image over UDP" tutorial, sans-IO: its
//!   picture and JSON formats, and a receiver that never hangs on them.
//! - `tutorial_send` (with the `app` feature): `cam-send --compat tutorial`, the tutorial
//!   client's side; `tutorial_json` (with `app`): the tutorial server's JSON port in
//!   `cam-view --compat tutorial`.

pub mod tutorial;
#[cfg(feature = "app")]
pub mod tutorial_json;
#[cfg(feature = "app")]
pub mod tutorial_send;
