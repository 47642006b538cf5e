//! The sender's description of itself (PROTOCOL.md 12.6): a small JSON object carried as a
//! message of content [`crate::protocol::wire::Content::SessionInfo`], so that it is reliable,
//! ordered and, with a key, authenticated like every other message.
//!
//! Today it carries the sender's name (`cam-send --name`), by which a viewer tells its
//! senders apart across restarts: a restarted sender has a new session id and a new port,
//! but the same name.

use serde::{Deserialize, Serialize};

/// The longest name, in bytes of UTF-8: a tile label, a file name, a JSON field.
pub const MAX_NAME_LEN: usize = 64;

/// The largest description a viewer reads: the name and room for fields added later.
pub const MAX_INFO_LEN: usize = 1024;

/// Why a name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// No characters at all.
    #[error("the name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`] bytes.
    #[error("the name is {0} bytes long; at most {MAX_NAME_LEN} are allowed")]
    TooLong(usize),
    /// A control character (newline, tab, escape, ...), which would garble labels and logs.
    #[error("the name contains a control character")]
    Control,
}

/// Checks that `name` can label a sender: 1 to [`MAX_NAME_LEN`] bytes, no control
/// characters. Leading and trailing spaces are kept out too, since they are invisible in a
/// label and make two names look alike.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.len()));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(NameError::Control);
    }
    Ok(())
}

/// What a sender says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The sender's name.
    pub name: String,
}

impl SessionInfo {
    /// The description with `name`, which must pass [`check_name`].
    pub fn new(name: &str) -> Result<SessionInfo, NameError> {
        check_name(name)?;
        Ok(SessionInfo {
            name: name.to_owned(),
        })
    }

    /// The message body: a compact JSON object.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a struct of strings serializes")
    }

    /// Reads a description from the network; unknown fields are ignored (later senders may
    /// say more), a missing or unusable name is an error with the reason.
    pub fn parse(json: &[u8]) -> Result<SessionInfo, String> {
        if json.len() > MAX_INFO_LEN {
            return Err(format!(
                "session info of {} bytes is over the limit of {MAX_INFO_LEN}",
                json.len()
            ));
        }
        let info: SessionInfo =
            serde_json::from_slice(json).map_err(|e| format!("invalid session info: {e}"))?;
        check_name(&info.name).map_err(|e| format!("invalid sender name: {e}"))?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("door").is_ok());
        assert!(check_name("Küche 2").is_ok());
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("   "), Err(NameError::Empty));
        assert_eq!(check_name(" pad"), Err(NameError::Control));
        assert_eq!(check_name("a\nb"), Err(NameError::Control));
        assert_eq!(check_name("a\u{1b}[31m"), Err(NameError::Control));
        assert_eq!(check_name(&"x".repeat(65)), Err(NameError::TooLong(65)));
        assert!(check_name(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn round_trips_and_refuses_junk() {
        let i = SessionInfo::new("cam-1").unwrap();
        assert_eq!(i.to_json(), br#"{"name":"cam-1"}"#);
        assert_eq!(SessionInfo::parse(&i.to_json()).unwrap(), i);
        // Later fields are ignored.
        assert_eq!(
            SessionInfo::parse(br#"{"name":"cam-1","fps":30}"#).unwrap(),
            i
        );
        for bad in [
            &b"{}"[..],
            br#"{"name":""}"#,
            br#"{"name":7}"#,
            br#"{"name":"a\nb"}"#,
            b"[1,2]",
            b"\xff",
        ] {
            assert!(SessionInfo::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SessionInfo::parse(&vec![b' '; MAX_INFO_LEN + 1]).is_err());
    }
}
