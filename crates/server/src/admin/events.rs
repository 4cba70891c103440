//! `GET /api/events`: Server-Sent Events that tell the console when to
//! read again. Once a second the stream looks at a few counters (messages
//! captured, registrations, calls, security events, qualify results) and
//! sends them when they changed, so a busy server costs each console one
//! small event a second and an idle one nothing; the SIP path never
//! waits for it.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::{Body, Frame};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use tokio::sync::mpsc;

use super::http::Answer;
use crate::server::Server;

/// How often the counters are looked at.
const TICK: Duration = Duration::from_secs(1);
/// A comment is sent after this long without an event, so that proxies
/// and the browser keep the stream open.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// What an event carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Messages captured since start.
    pub captured: u64,
    /// Bindings held.
    pub registrations: usize,
    /// Calls attempted since start.
    pub calls: u64,
    /// Calls in progress.
    pub active_calls: usize,
    /// Security events since start.
    pub security_events: u64,
    /// Contacts qualify has a result for, and how many answered.
    pub qualified: (usize, usize),
}

impl Changes {
    fn of(server: &Server) -> Changes {
        let calls = server.calls.counts();
        Changes {
            captured: server.capture.ring().map_or(0, |r| r.captured()),
            registrations: server.location.len(),
            calls: calls.attempted,
            active_calls: calls.active,
            security_events: crate::security::SecurityEventKind::ALL
                .iter()
                .map(|k| k.count())
                .sum(),
            qualified: server.contact_status.summary(),
        }
    }
}

/// The body of an event stream: what the producing task sends, as it
/// comes.
struct EventBody(mpsc::Receiver<Bytes>);

impl Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// The stream for one console; it ends when the console goes away (or
/// the listener stops, which drops the connection).
pub fn stream(server: &Server) -> Answer {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let server = server.clone();
    tokio::spawn(async move {
        let mut last: Option<Changes> = None;
        let mut quiet = Duration::ZERO;
        loop {
            let now = Changes::of(&server);
            let frame = if last.as_ref() != Some(&now) {
                let json = serde_json::to_string(&now).unwrap_or_default();
                last = Some(now);
                Some(format!("data: {json}\n\n"))
            } else if quiet >= KEEPALIVE {
                Some(": keep-alive\n\n".to_string())
            } else {
                None
            };
            match frame {
                Some(f) => {
                    quiet = Duration::ZERO;
                    if tx.send(Bytes::from(f)).await.is_err() {
                        return;
                    }
                }
                None => quiet += TICK,
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let mut r = hyper::Response::new(EventBody(rx).boxed());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
