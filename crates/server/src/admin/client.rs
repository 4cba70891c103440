//! The client side of the admin interface: what `sipjet show` and
//! `sipjet logger` do against a running server.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use super::TOKEN_ENV;
use super::table::{self, Row};
use super::views::{
    AorView, AuthView, CallView, ContactView, EndpointView, ErrorView, LoggerView, NodeView,
    RegistrationView, TransportView, UnidentifiedView, View,
};

/// How long one request may take, connecting included.
const PATIENCE: Duration = Duration::from_secs(10);

/// Why a command against the admin interface failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there (the server is not running, or listens
    /// elsewhere).
    #[error(
        "cannot reach the sipjet admin interface at {addr}: {source}; is the server running \
(`sipjet run`), with its admin interface on this address (--admin)?"
    )]
    Unreachable {
        /// The address tried.
        addr: SocketAddr,
        /// What the connection attempt gave.
        source: io::Error,
    },
    /// It did not answer in time.
    #[error("the sipjet admin interface at {0} did not answer within {PATIENCE:?}")]
    Timeout(SocketAddr),
    /// The HTTP exchange failed.
    #[error("the sipjet admin interface at {addr} broke off the exchange: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: hyper::Error,
    },
    /// It answered 401: a token is needed from this address.
    #[error(
        "the sipjet admin interface at {0} wants a token from this address: \
pass --admin-token or set {TOKEN_ENV}"
    )]
    Unauthorized(SocketAddr),
    /// It answered with another error.
    #[error("the sipjet admin interface answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error it gave.
        message: String,
    },
    /// It answered something that is not what the route gives.
    #[error("the sipjet admin interface answered something unexpected: {0}")]
    Unexpected(String),
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, when given.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// Talks to the admin interface at one address.
#[derive(Clone, Debug)]
pub struct AdminClient {
    addr: SocketAddr,
    token: Option<String>,
}

impl AdminClient {
    /// A client of the interface at `addr`, sending `token` when given
    /// (an empty one is not sent).
    pub fn new(addr: SocketAddr, token: Option<String>) -> AdminClient {
        AdminClient {
            addr,
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// `GET path`, whatever the status.
    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.request(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body, whatever the status.
    pub async fn post_json(&self, path: &str, body: Vec<u8>) -> Result<Reply, ClientError> {
        self.request(Method::POST, path, Some(body)).await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ClientError> {
        tokio::time::timeout(PATIENCE, self.exchange(method, path, body))
            .await
            .map_err(|_| ClientError::Timeout(self.addr))?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ClientError> {
        let addr = self.addr;
        let http = |source| ClientError::Http { addr, source };
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Unreachable { addr, source })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "admin client: connection ended");
            }
        });
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, addr.to_string());
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Unexpected(format!("cannot build the request: {e}")))?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(http)?
            .to_bytes();
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// The body of a 200 answer; any other status as an error.
    fn success(&self, reply: Reply) -> Result<Bytes, ClientError> {
        if reply.status == StatusCode::OK.as_u16() {
            return Ok(reply.body);
        }
        if reply.status == StatusCode::UNAUTHORIZED.as_u16() {
            return Err(ClientError::Unauthorized(self.addr));
        }
        let message = serde_json::from_slice::<ErrorView>(&reply.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&reply.body).into_owned());
        Err(ClientError::Refused {
            status: reply.status,
            message,
        })
    }

    /// What `sipjet show <view>` prints: the table, or the JSON as the
    /// server sent it when `json` is set.
    pub async fn show(&self, view: View, json: bool) -> Result<String, ClientError> {
        let body = self.success(self.get(view.path()).await?)?;
        if json {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            text.push('\n');
            return Ok(text);
        }
        match view {
            View::Endpoints => tabulate::<EndpointView>(&body),
            View::Auths => tabulate::<AuthView>(&body),
            View::Aors => tabulate::<AorView>(&body),
            View::Contacts => tabulate::<ContactView>(&body),
            View::Transports => tabulate::<TransportView>(&body),
            View::Unidentified => tabulate::<UnidentifiedView>(&body),
            View::Calls => tabulate::<CallView>(&body),
            View::Nodes => tabulate::<NodeView>(&body),
            View::Registrations => tabulate::<RegistrationView>(&body),
        }
    }

    /// What `context` of the running dialplan holds, or what `number`
    /// runs in it.
    pub async fn show_dialplan(
        &self,
        context: &str,
        number: Option<&str>,
        json: bool,
    ) -> Result<String, ClientError> {
        let mut path = format!("{}{context}", super::http::DIALPLAN_PATH);
        if let Some(n) = number {
            path.push('/');
            path.push_str(n);
        }
        let body = self.success(self.get(&path).await?)?;
        if json {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            text.push('\n');
            return Ok(text);
        }
        Ok(crate::dialplan::show::render(&decode(&body)?))
    }

    /// Whether the SIP trace is on.
    pub async fn logger(&self) -> Result<bool, ClientError> {
        let body = self.success(self.get("/api/logger").await?)?;
        Ok(decode::<LoggerView>(&body)?.on)
    }

    /// Switches the SIP trace; returns the state the server reports.
    pub async fn set_logger(&self, on: bool) -> Result<bool, ClientError> {
        let request = serde_json::to_vec(&LoggerView { on })
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let body = self.success(self.post_json("/api/logger", request).await?)?;
        Ok(decode::<LoggerView>(&body)?.on)
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Unexpected(e.to_string()))
}

fn tabulate<R: Row + DeserializeOwned>(body: &[u8]) -> Result<String, ClientError> {
    Ok(table::render(&decode::<Vec<R>>(body)?))
}
