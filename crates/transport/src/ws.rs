//! SIP over WebSocket (RFC 7118): the handshakes, which must agree on the
//! `sip` subprotocol, and the receive loop, where each WebSocket message
//! carries exactly one SIP message.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::connection::{BoxIo, Closed, Connection, Payload, WsStream};
use crate::error::TransportError;
use crate::limits::Limits;
use crate::liveness::{self, Liveness};
use crate::protocol::Protocol;
use crate::shared::Shared;

const SUBPROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";
const SUBPROTOCOL: &str = "sip";

/// WebSocket limits derived from the SIP ones: one message holds one SIP
/// message, so it is never larger than a header section and a body.
pub(crate) fn config(limits: &Limits) -> WebSocketConfig {
    let max = limits
        .max_header_bytes
        .saturating_add(limits.max_body_bytes);
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// True when the client offers the `sip` subprotocol.
fn offers_sip(request: &Request) -> bool {
    request
        .headers()
        .get_all(SUBPROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL)
}

/// True when the request names no Origin (a client that is not a
/// browser) or one of `allowed` (`None`: any). Origins compare without
/// regard to case (RFC 6454 §6: scheme and host are lowercase).
fn origin_allowed(request: &Request, allowed: Option<&[String]>) -> bool {
    let Some(allowed) = allowed else {
        return true;
    };
    match request.headers().get("Origin") {
        None => true,
        Some(origin) => origin.to_str().is_ok_and(|o| {
            allowed
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o))
        }),
    }
}

/// The server side of the handshake; a client that does not offer the
/// `sip` subprotocol is refused with `400` (RFC 7118 §4.1), and a page of
/// an origin not in `allowed_origins` with `403` (RFC 6455 §4.2.2).
// The refusal's type is tungstenite's, fixed by its callback trait.
#[allow(clippy::result_large_err)]
pub(crate) async fn accept(
    io: BoxIo,
    config: WebSocketConfig,
    allowed_origins: Option<&[String]>,
) -> Result<WsStream, tungstenite::Error> {
    let check = |request: &Request, mut response: Response| {
        if !origin_allowed(request, allowed_origins) {
            let mut refusal =
                ErrorResponse::new(Some("this origin may not open a SIP WebSocket here".into()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        if offers_sip(request) {
            response
                .headers_mut()
                .insert(SUBPROTOCOL_HEADER, HeaderValue::from_static(SUBPROTOCOL));
            Ok(response)
        } else {
            let mut refusal =
                ErrorResponse::new(Some("the WebSocket subprotocol \"sip\" is required".into()));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            Err(refusal)
        }
    };
    tokio_tungstenite::accept_hdr_async_with_config(io, check, Some(config)).await
}

/// The client side of the handshake, offering the `sip` subprotocol;
/// tungstenite refuses a server that does not select it.
pub(crate) async fn connect(
    io: BoxIo,
    protocol: Protocol,
    addr: SocketAddr,
    server_name: Option<&str>,
    config: WebSocketConfig,
) -> Result<WsStream, TransportError> {
    let fail = |reason: String| TransportError::Handshake {
        protocol,
        addr,
        reason,
    };
    let scheme = if protocol.is_secure() { "wss" } else { "ws" };
    let uri = match server_name {
        Some(name) => format!("{scheme}://{name}:{}/", addr.port()),
        None => format!("{scheme}://{addr}/"),
    };
    let mut request = uri.into_client_request().map_err(|e| fail(e.to_string()))?;
    request
        .headers_mut()
        .insert(SUBPROTOCOL_HEADER, HeaderValue::from_static(SUBPROTOCOL));
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, io, Some(config))
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(ws)
}

/// Reads WebSocket messages until the connection ends; says why it ended.
/// A text `CRLF CRLF` is a keep-alive ping answered with `CRLF`, as SIP
/// stacks on WebSocket send them; this side pings with ping frames.
pub(crate) async fn serve(
    shared: &Shared,
    conn: &Connection,
    mut stream: SplitStream<WsStream>,
    mut liveness: Liveness,
) -> Closed {
    let limits = &shared.limits;
    let opts = limits.parse_options(false);
    loop {
        let next = match liveness::within_limits(stream.next(), &mut liveness, shared, conn).await {
            Ok(next) => next,
            Err(closed) => return closed,
        };
        let data: Bytes = match next {
            None | Some(Ok(WsMessage::Close(_))) => return Closed::ByPeer,
            Some(Err(tungstenite::Error::Capacity(e))) => {
                tracing::warn!(peer = %conn.remote, connection = %conn.id,
                    limit = "max_header_bytes + max_body_bytes",
                    value = limits.max_header_bytes.saturating_add(limits.max_body_bytes), error = %e,
                    "closing the connection: WebSocket message too large");
                return Closed::ReadFailed(std::io::Error::other(e));
            }
            Some(Err(e)) => return Closed::ReadFailed(crate::connection::ws_io_error(e)),
            Some(Ok(WsMessage::Text(text))) => text.into(),
            Some(Ok(WsMessage::Binary(data))) => data,
            Some(Ok(WsMessage::Pong(_))) => {
                liveness.pong();
                continue;
            }
            // Pings are answered by tungstenite itself.
            Some(Ok(WsMessage::Ping(_) | WsMessage::Frame(_))) => continue,
        };
        let result = match &data[..] {
            b"\r\n\r\n" => conn.send(Payload::Pong, limits.message_timeout).await,
            b"\r\n" => {
                liveness.pong();
                Ok(())
            }
            _ => {
                liveness.message();
                conn.receive(shared, data, &opts).await
            }
        };
        if let Err(e) = result {
            return e.into();
        }
    }
}
