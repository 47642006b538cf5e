//! The HTTP shell: accepts connections, lets hyper read the requests, and answers each from
//! [`super::route`] and the [`Hub`]. One tokio thread serves every client; a stream is a small
//! task that hands the newest frame to hyper whenever hyper has written the previous one.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

use super::hub::Hub;
use super::mjpeg::{self, MjpegBody, WebBody};
use super::route::{self, Access, Route};
use crate::protocol::link::crypto::WebToken;

/// The page at `/`.
const PAGE: &str = include_str!("page.html");
/// Longest a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's buffer limit per connection: a JPEG larger than this waits for the socket before
/// hyper asks for the next one, so a slow client holds at most one frame here.
const WRITE_BUFFER: usize = 16 * 1024;
/// Unsent bytes the kernel keeps per socket (Linux): without it a slow client's socket buffer
/// grows to megabytes of old frames, seconds behind; with it the stream stays about a frame
/// behind the network at worst, and skips the rest.
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOT_SENT_LOW_WATER: u32 = 128 * 1024;

/// What every connection shares.
pub(super) struct Shared {
    pub hub: Arc<Hub>,
    pub token: Option<Arc<WebToken>>,
    pub max_clients: usize,
    pub stall: Duration,
}

impl Shared {
    /// Connections beyond this are closed unread: browsers open a few each (the stream, the
    /// numbers), and a flood of idle connections must not run the process out of files.
    fn max_connections(&self) -> usize {
        self.max_clients * 2 + 16
    }
}

/// Accepts connections until `shutdown` is notified.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: Arc<Notify>) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // Out of file descriptors and the like: let some connections close first.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.notified() => return,
        };
        let Some(guard) = Held::take(&shared.hub, Count::Connections, shared.max_connections())
        else {
            shared.hub.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        tune(&stream);
        tokio::spawn(connection(stream, shared.clone(), guard));
    }
}

fn tune(stream: &TcpStream) {
    // Frames are written whole; small writes (the part headers) must not wait for an ACK.
    let _ = stream.set_nodelay(true);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket2::SockRef::from(stream).set_tcp_notsent_lowat(NOT_SENT_LOW_WATER);
}

/// Serves one connection until it closes, its stream stalls, or the server stops.
async fn connection(stream: TcpStream, shared: Arc<Shared>, _guard: Held) {
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = kill.clone();
        service_fn(move |req| {
            let r = answer(&shared, &req, &kill);
            async move { Ok::<_, Infallible>(r) }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(WRITE_BUFFER)
        .writev(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

/// The answer to one request.
fn answer(shared: &Shared, req: &Request<Incoming>, kill: &Arc<Notify>) -> Response<WebBody> {
    let cookies: Vec<&[u8]> = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let r = route::read_request(
        req.method().as_str(),
        target,
        &cookies,
        shared.token.as_deref(),
    );
    if !r.access.allowed() {
        return text(
            StatusCode::FORBIDDEN,
            "this camwire viewer has a key: open the link with ?token= that cam-view printed when \
             it started (the page then remembers it)",
        );
    }
    let hub = &shared.hub;
    let mut resp = match r.route {
        Route::Page => with_type(
            Response::new(WebBody::whole(PAGE)),
            "text/html; charset=utf-8",
        ),
        Route::Stats => with_type(
            Response::new(WebBody::whole(Bytes::from(hub.stats().to_string()))),
            "application/json",
        ),
        Route::Snapshot { sender } => match hub.latest(sender.as_deref()) {
            Some(shot) => with_type(Response::new(WebBody::Whole(Some(shot.jpeg))), "image/jpeg"),
            None => no_picture(hub, sender.as_deref()),
        },
        Route::Stream { sender } => stream(shared, sender.as_deref(), kill),
        Route::NotFound => text(
            StatusCode::NOT_FOUND,
            "not found: this camwire viewer serves /, /stream.mjpg, /snapshot.jpg and /stats",
        ),
        Route::MethodNotAllowed => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
    };
    let h = resp.headers_mut();
    // Everything here is live: no cache may keep it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if r.access == Access::GrantedByQuery {
        if let Some(t) = &shared.token {
            if let Ok(v) = HeaderValue::from_str(&route::token_cookie(t)) {
                h.insert(header::SET_COOKIE, v);
            }
        }
    }
    resp
}

/// `/stream.mjpg`: takes a client place, and starts the task that feeds the body.
fn stream(shared: &Shared, sender: Option<&str>, kill: &Arc<Notify>) -> Response<WebBody> {
    let hub = &shared.hub;
    let Some(mut slot) = hub.subscribe(sender) else {
        return no_picture(hub, sender);
    };
    let Some(place) = Held::take(hub, Count::Streams, shared.max_clients) else {
        hub.refused.fetch_add(1, Ordering::Relaxed);
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too many viewers: this cam-view serves at most {} streams at once \
                 (--http-max-clients); try again later",
                shared.max_clients
            ),
        );
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let (hub, stall, kill) = (hub.clone(), shared.stall, kill.clone());
    tokio::spawn(async move {
        let _place = place;
        loop {
            // The frame in the slot now (a new client sees a picture at once), then each
            // newer one as the client takes the one before: whatever arrived meanwhile is
            // skipped.
            let shot = slot.borrow_and_update().clone();
            if let Some(shot) = shot {
                match tokio::time::timeout(stall, tx.send(shot.jpeg)).await {
                    Ok(Ok(())) => {
                        hub.parts.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(_)) => return,
                    Err(_) => {
                        // The client has not taken a frame for the stall time: close its
                        // connection and give its place to someone else.
                        hub.stalled.fetch_add(1, Ordering::Relaxed);
                        kill.notify_one();
                        return;
                    }
                }
            }
            tokio::select! {
                r = slot.changed() => if r.is_err() { return },
                _ = tx.closed() => return,
            }
        }
    });
    let mut r = with_type(
        Response::new(WebBody::Mjpeg(MjpegBody::new(rx))),
        mjpeg::CONTENT_TYPE,
    );
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// No frame to give: no such sender (404), or no sender yet (503, try again).
fn no_picture(hub: &Hub, sender: Option<&str>) -> Response<WebBody> {
    match sender {
        Some(name) => {
            let known: Vec<String> = hub.senders().iter().map(|s| s.to_string()).collect();
            text(
                StatusCode::NOT_FOUND,
                &format!(
                    "no sender named {name:?}; senders now: {}",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        }
        None => {
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no picture yet: no sender has sent a frame to this viewer",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

fn text(status: StatusCode, msg: &str) -> Response<WebBody> {
    let mut r = with_type(
        Response::new(WebBody::whole(format!("{msg}\n"))),
        "text/plain; charset=utf-8",
    );
    *r.status_mut() = status;
    r
}

fn with_type(mut r: Response<WebBody>, content_type: &'static str) -> Response<WebBody> {
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Which of the hub's counts a [`Held`] place is in.
#[derive(Clone, Copy)]
enum Count {
    Connections,
    Streams,
}

/// A place under a limit, given back when dropped.
struct Held {
    hub: Arc<Hub>,
    count: Count,
}

impl Held {
    fn counter(hub: &Hub, count: Count) -> &AtomicUsize {
        match count {
            Count::Connections => &hub.connections,
            Count::Streams => &hub.streams,
        }
    }

    /// A place if fewer than `limit` are held.
    fn take(hub: &Arc<Hub>, count: Count, limit: usize) -> Option<Held> {
        let c = Held::counter(hub, count);
        c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .ok()?;
        Some(Held {
            hub: hub.clone(),
            count,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        Held::counter(&self.hub, self.count).fetch_sub(1, Ordering::AcqRel);
    }
}
