//! What every receive task and sender shares.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::connection::ConnectionTable;
use crate::handler::Handler;
use crate::limits::Limits;
use crate::tls::TlsClientConfig;

pub(crate) struct Shared {
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) connections: ConnectionTable,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) tls_client: Option<TlsClientConfig>,
    pub(crate) ws_config: WebSocketConfig,
}
