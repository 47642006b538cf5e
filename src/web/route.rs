//! What a browser's request asks for and whether it may have it: a pure function of the
//! method, the request target and the `Cookie` header, so that every rule of the web view is
//! tested (and fuzzed) without a socket. hyper has already parsed the request line and the
//! headers; the query is read with `form_urlencoded` and the cookies with `cookie`.

use crate::protocol::link::crypto::WebToken;

/// The cookie that carries the token after the page was opened with `?token=`.
pub const TOKEN_COOKIE: &str = "camwire_token";
/// Longest sender name taken from a query; longer ones cannot exist.
pub const MAX_SENDER_NAME: usize = 64;

/// What the request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: the page.
    Page,
    /// `/stream.mjpg`: MJPEG of the newest sender, or of the one named.
    Stream {
        /// `?sender=NAME`.
        sender: Option<String>,
    },
    /// `/snapshot.jpg`: the newest frame, of the newest sender or the one named.
    Snapshot {
        /// `?sender=NAME`.
        sender: Option<String>,
    },
    /// `/stats`: the statistics as JSON.
    Stats,
    /// Any other path.
    NotFound,
    /// A method other than GET or HEAD.
    MethodNotAllowed,
}

/// Whether the request may have what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key is configured: the web view is open to whoever reaches the port.
    Open,
    /// The right token came in the query: the answer sets the cookie, so that the page's own
    /// requests (the stream, the numbers) carry it without it in every link.
    GrantedByQuery,
    /// The right token came in the cookie.
    GrantedByCookie,
    /// A key is configured and no right token came.
    Denied,
}

impl Access {
    /// True unless denied.
    pub fn allowed(self) -> bool {
        self != Access::Denied
    }
}

/// A request, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What it asks for.
    pub route: Route,
    /// Whether it may.
    pub access: Access,
}

/// Reads a request: `method` as sent, `path_and_query` the request target (`/stream.mjpg?
/// sender=a`), `cookie` every `Cookie` header's value. `token` is the configured key's web
/// token, if any.
pub fn read_request(
    method: &str,
    path_and_query: &str,
    cookies: &[&[u8]],
    token: Option<&WebToken>,
) -> Request {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    let mut sender = None;
    let mut query_token = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            // The first of each wins: a second cannot override what a link said.
            "sender" if sender.is_none() && v.len() <= MAX_SENDER_NAME => {
                sender = Some(v.into_owned())
            }
            "token" if query_token.is_none() => query_token = Some(v.into_owned()),
            _ => {}
        }
    }
    let route = if method != "GET" && method != "HEAD" {
        Route::MethodNotAllowed
    } else {
        match path {
            "/" | "/index.html" => Route::Page,
            "/stream.mjpg" => Route::Stream { sender },
            "/snapshot.jpg" => Route::Snapshot { sender },
            "/stats" => Route::Stats,
            _ => Route::NotFound,
        }
    };
    let access = match token {
        None => Access::Open,
        Some(t) if query_token.is_some_and(|q| t.matches(q.as_bytes())) => Access::GrantedByQuery,
        Some(t) if cookie_token(cookies).is_some_and(|c| t.matches(c.as_bytes())) => {
            Access::GrantedByCookie
        }
        Some(_) => Access::Denied,
    };
    Request { route, access }
}

/// The token cookie's value, if a `Cookie` header has one.
fn cookie_token(headers: &[&[u8]]) -> Option<String> {
    headers
        .iter()
        .filter_map(|h| std::str::from_utf8(h).ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == TOKEN_COOKIE)
        .map(|c| c.value().to_owned())
}

/// The `Set-Cookie` value that keeps `token` for the page's own requests: never sent to
/// another site, never read by scripts.
pub fn token_cookie(token: &WebToken) -> String {
    format!(
        "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        token.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::key::Key;

    fn token() -> WebToken {
        WebToken::new(&Key::from_bytes([7; 32]))
    }

    fn get(target: &str) -> Route {
        read_request("GET", target, &[], None).route
    }

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(get("/"), Route::Page);
        assert_eq!(get("/index.html"), Route::Page);
        assert_eq!(get("/stream.mjpg"), Route::Stream { sender: None });
        assert_eq!(get("/snapshot.jpg"), Route::Snapshot { sender: None });
        assert_eq!(get("/stats"), Route::Stats);
        assert_eq!(get("/stats/"), Route::NotFound);
        assert_eq!(get("/../etc/passwd"), Route::NotFound);
        assert_eq!(get(""), Route::NotFound);
        assert_eq!(
            read_request("POST", "/", &[], None).route,
            Route::MethodNotAllowed
        );
        assert_eq!(
            read_request("HEAD", "/stats", &[], None).route,
            Route::Stats
        );
    }

    #[test]
    fn sender_is_read_from_the_query_decoded_and_bounded() {
        assert_eq!(
            get("/stream.mjpg?sender=front%20door&x=1"),
            Route::Stream {
                sender: Some("front door".into())
            }
        );
        assert_eq!(
            get("/snapshot.jpg?sender=a&sender=b"),
            Route::Snapshot {
                sender: Some("a".into())
            }
        );
        let long = format!("/stream.mjpg?sender={}", "x".repeat(MAX_SENDER_NAME + 1));
        assert_eq!(get(&long), Route::Stream { sender: None });
    }

    #[test]
    fn without_a_key_everything_is_open() {
        let r = read_request("GET", "/?token=whatever", &[], None);
        assert_eq!(r.access, Access::Open);
    }

    #[test]
    fn with_a_key_only_the_right_token_opens() {
        let t = token();
        let good = t.as_str().to_owned();
        let q = |target: &str| read_request("GET", target, &[], Some(&t)).access;
        assert_eq!(q("/"), Access::Denied);
        assert_eq!(q("/stream.mjpg?token="), Access::Denied);
        assert_eq!(q(&format!("/?token={}", &good[..31])), Access::Denied);
        assert_eq!(q(&format!("/?token={good}0")), Access::Denied);
        assert_eq!(q(&format!("/?token={good}")), Access::GrantedByQuery);
        assert_eq!(
            q(&format!("/stream.mjpg?sender=a&token={good}")),
            Access::GrantedByQuery
        );
        // Another key's token opens nothing.
        let other = WebToken::new(&Key::from_bytes([8; 32]));
        assert_ne!(other.as_str(), good);
        assert_eq!(q(&format!("/?token={}", other.as_str())), Access::Denied);
    }

    #[test]
    fn the_cookie_the_page_sets_opens_the_stream() {
        let t = token();
        let set = token_cookie(&t);
        let pair = set.split(';').next().unwrap().to_owned();
        let header = format!("theme=dark; {pair}; other=1");
        let r = read_request("GET", "/stream.mjpg", &[header.as_bytes()], Some(&t));
        assert_eq!(r.access, Access::GrantedByCookie);
        let wrong = format!("{TOKEN_COOKIE}=00");
        let r = read_request(
            "GET",
            "/stream.mjpg",
            &[b"junk\xff\xfe", wrong.as_bytes()],
            Some(&t),
        );
        assert_eq!(r.access, Access::Denied);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    }

    #[test]
    fn same_key_same_token() {
        assert_eq!(token().as_str(), token().as_str());
        assert_eq!(token().as_str().len(), 32);
        assert!(token().as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
