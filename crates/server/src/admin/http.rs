//! The admin listener: HTTP/1.1 on one TCP socket, the JSON routes and
//! `/metrics`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    ALLOW, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, ORIGIN, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::access::{self, Access, BrowserSigns};
use super::console::{self, Asset};
use super::metrics::{self, Snapshot};
use super::series::Series;
use super::views::{self, ErrorView, LoggerView, View};
use super::{events, live};
use crate::capture::ladder;
use crate::server::Server;

/// Connections served at once; more are closed as they come, so that a
/// flood of idle connections cannot take the process's file descriptors.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's header section.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body read (`POST /api/logger` needs a dozen bytes).
const MAX_BODY: usize = 4096;
/// How long to wait before accepting again after `accept` failed (out of
/// file descriptors, say), rather than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const JSON: &str = "application/json";

/// A response body: whole, or the event stream.
type Body = BoxBody<Bytes, Infallible>;
pub(super) type Answer = Response<Body>;

/// Accepts connections until the task is aborted; aborting it drops the
/// set of connection tasks, which ends them too.
pub(super) async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    token: Option<String>,
    series: Arc<Series>,
) {
    let token: Option<Arc<str>> = token.map(Arc::from);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "admin interface: cannot accept");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if connections.len() >= MAX_CONNECTIONS {
            tracing::warn!(%peer, "admin interface: too many connections; closing");
            continue;
        }
        let server = Arc::clone(&server);
        let token = token.clone();
        let series = Arc::clone(&series);
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let server = Arc::clone(&server);
                let token = token.clone();
                let series = Arc::clone(&series);
                async move {
                    let answered = answer(request, peer, &server, token.as_deref(), &series).await;
                    Ok::<_, Infallible>(answered)
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "admin interface: connection ended");
            }
        });
    }
}

pub(super) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Answer {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, value: &impl Serialize) -> Answer {
    match serde_json::to_vec(value) {
        Ok(body) => response(status, JSON, body),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: &str) -> Answer {
    let body = serde_json::to_vec(&ErrorView {
        error: message.to_string(),
    })
    .unwrap_or_default();
    response(status, JSON, body)
}

/// The routes and the methods each takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    View(View),
    Logger,
    Metrics,
    Asset(&'static Asset),
    Overview,
    Flows,
    /// `/api/flows/CALLID`.
    Flow,
    Security,
    Events,
    /// `/api/dialplan/CONTEXT[/NUMBER]`.
    Dialplan,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path {
            "/api/logger" => Some(Route::Logger),
            "/metrics" => Some(Route::Metrics),
            _ if path.starts_with(DIALPLAN_PATH) => Some(Route::Dialplan),
            "/api/overview" => Some(Route::Overview),
            "/api/flows" => Some(Route::Flows),
            "/api/security" => Some(Route::Security),
            "/api/events" => Some(Route::Events),
            _ if path.len() > FLOW_PREFIX.len() && path.starts_with(FLOW_PREFIX) => {
                Some(Route::Flow)
            }
            _ => console::asset(path)
                .map(Route::Asset)
                .or_else(|| View::from_path(path).map(Route::View)),
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Logger => method == Method::GET || method == Method::POST,
            _ => method == Method::GET,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            Route::Logger => "GET, POST",
            _ => "GET",
        }
    }
}

const FLOW_PREFIX: &str = "/api/flows/";

async fn answer(
    request: Request<Incoming>,
    peer: SocketAddr,
    server: &Server,
    token: Option<&str>,
    series: &Series,
) -> Answer {
    let authorization = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if access::authorize(peer.ip(), token, authorization) == Access::Unauthorized {
        tracing::warn!(%peer, path = request.uri().path(), "admin interface: request refused");
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required from this address",
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sipjet\""),
        );
        return r;
    }
    let authority = request.uri().authority().map(|a| a.as_str().as_bytes());
    let signs = BrowserSigns {
        host: authority.or_else(|| request.headers().get(HOST).map(HeaderValue::as_bytes)),
        origin: request.headers().get(ORIGIN).map(HeaderValue::as_bytes),
        fetch_site: request
            .headers()
            .get("sec-fetch-site")
            .map(HeaderValue::as_bytes),
        post: request.method() == Method::POST,
        content_type: request
            .headers()
            .get(CONTENT_TYPE)
            .map(HeaderValue::as_bytes),
    };
    if let Err(refusal) = access::screen(&signs, access::carries_token(token, authorization)) {
        tracing::warn!(%peer, path = request.uri().path(), %refusal,
            "admin interface: request refused");
        let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
        return error(status, &refusal.to_string());
    }
    let Some(route) = Route::of(request.uri().path()) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no such resource: {}", request.uri().path()),
        );
    };
    if !route.allows(request.method()) {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "{} does not take {}",
                request.uri().path(),
                request.method()
            ),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(route.allow_header()));
        return r;
    }
    match route {
        Route::View(view) => view_of(view, server),
        Route::Asset(asset) => console::serve(asset),
        Route::Overview => {
            let capture = live::CaptureView::of(server.capture.ring().as_deref());
            json(
                StatusCode::OK,
                &live::overview(
                    &Snapshot::of(server),
                    server.started.elapsed(),
                    transports_of(server),
                    capture,
                    series.points(),
                ),
            )
        }
        Route::Flows => match live::flow_query(request.uri().query()) {
            Ok((query, limit)) => {
                let found = server
                    .capture
                    .ring()
                    .map(|r| r.search(&query, limit))
                    .unwrap_or_default();
                json(StatusCode::OK, &live::flows(found))
            }
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        },
        Route::Flow => flow_of(request.uri().path(), server),
        Route::Security => json(
            StatusCode::OK,
            &live::security(crate::security::recent_events()),
        ),
        Route::Events => events::stream(server),
        Route::Dialplan => dialplan_of(request.uri().path(), server),
        Route::Metrics => response(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            metrics::render(&Snapshot::of(server)),
        ),
        Route::Logger if request.method() == Method::POST => {
            switch_logger(request, peer.ip(), server).await
        }
        Route::Logger => json(
            StatusCode::OK,
            &LoggerView {
                on: server.sip_trace.load(Ordering::Relaxed),
            },
        ),
    }
}

/// Where the dialplan view is; the context and the number follow.
pub const DIALPLAN_PATH: &str = "/api/dialplan/";

/// What a context holds, or what a number runs in it.
fn dialplan_of(path: &str, server: &Server) -> Answer {
    let Some(plan) = &server.dialplan else {
        return error(StatusCode::NOT_FOUND, "the server runs no dialplan");
    };
    let tail = path.strip_prefix(DIALPLAN_PATH).unwrap_or_default();
    let mut parts = tail.splitn(2, '/');
    let context = parts.next().unwrap_or_default();
    let number = parts.next().filter(|n| !n.is_empty());
    match crate::dialplan::show::describe(plan, context, number) {
        Some(view) => json(StatusCode::OK, &view),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("the dialplan has no context [{context}]"),
        ),
    }
}

/// A view's records, as JSON.
fn view_of(view: View, server: &Server) -> Answer {
    let config = &server.model.config;
    let now = SystemTime::now();
    let records = match view {
        View::Endpoints => serde_json::to_vec(&views::endpoints(config)),
        View::Auths => serde_json::to_vec(&views::auths(config)),
        View::Aors => serde_json::to_vec(&views::aors(config, server.location.as_ref(), now)),
        View::Contacts => serde_json::to_vec(&views::contacts(
            config,
            server.location.as_ref(),
            &|aor, contact| server.contact_status.get(aor, contact),
            now,
        )),
        View::Transports => serde_json::to_vec(&transports_of(server)),
        View::Unidentified => serde_json::to_vec(&views::unidentified(
            server.unidentified.list(),
            config.global.unidentified_request_period,
            Instant::now(),
        )),
        View::Nodes => serde_json::to_vec(&views::nodes(server.cluster.nodes(now), now)),
        View::Calls => {
            let (active, recent) = server.calls.list();
            serde_json::to_vec(&views::calls(active, recent, now))
        }
        View::Registrations => {
            serde_json::to_vec(&views::registrations(server.registrations.list(), now))
        }
    };
    match records {
        Ok(body) => response(StatusCode::OK, JSON, body),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
        ),
    }
}

fn transports_of(server: &Server) -> Vec<views::TransportView> {
    let bound = server
        .stack
        .transports()
        .map(|t| t.local_addrs())
        .unwrap_or_default();
    views::transports(&server.model.config, &bound)
}

/// `/api/flows/CALLID`: the ladder of one flow.
fn flow_of(path: &str, server: &Server) -> Answer {
    let Some(call_id) = live::percent_decode(&path[FLOW_PREFIX.len()..], false) else {
        return error(StatusCode::BAD_REQUEST, "the Call-ID is not well encoded");
    };
    let records = server
        .capture
        .ring()
        .and_then(|r| r.flow(&call_id, live::MAX_FLOW_MESSAGES));
    match records {
        Some(records) => json(StatusCode::OK, &ladder::ladder(&call_id, &records)),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no captured flow has Call-ID {call_id:?}"),
        ),
    }
}

async fn switch_logger(request: Request<Incoming>, peer: IpAddr, server: &Server) -> Answer {
    let collected = tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(request.into_body(), MAX_BODY).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            );
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the body did not come within {BODY_TIMEOUT:?}"),
            );
        }
    };
    let wanted: LoggerView = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"on\": true}} or {{\"on\": false}}: {e}"),
            );
        }
    };
    let was = server.sip_trace.swap(wanted.on, Ordering::Relaxed);
    if was != wanted.on {
        tracing::info!(%peer, on = wanted.on, "SIP trace switched");
    }
    json(StatusCode::OK, &wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_their_methods() {
        assert_eq!(Route::of("/api/logger"), Some(Route::Logger));
        assert_eq!(Route::of("/metrics"), Some(Route::Metrics));
        assert_eq!(
            Route::of("/api/contacts"),
            Some(Route::View(View::Contacts))
        );
        assert_eq!(Route::of("/api/flows"), Some(Route::Flows));
        assert_eq!(Route::of("/api/flows/abc%40host"), Some(Route::Flow));
        assert!(matches!(Route::of("/"), Some(Route::Asset(_))));
        assert!(!Route::Events.allows(&Method::POST));
        for path in [
            "/api",
            "/api/",
            "/api/endpoints/",
            "/METRICS",
            "/index.html",
        ] {
            assert_eq!(Route::of(path), None, "{path}");
        }
        assert!(Route::Logger.allows(&Method::POST));
        assert!(Route::Logger.allows(&Method::GET));
        assert!(!Route::Logger.allows(&Method::DELETE));
        assert!(!Route::Metrics.allows(&Method::POST));
        assert!(!Route::View(View::Aors).allows(&Method::PUT));
    }
}
