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
    pub(crate) tap: crate::tap::TapSlot,
}

impl Shared {
    /// Hands a valid received message to the tap.
    pub(crate) fn tap_received(
        &self,
        wire: &[u8],
        message: &sipjet_message::Message,
        flow: &crate::flow::Flow,
        at: std::time::SystemTime,
    ) {
        if let Some(tap) = &self.tap.0 {
            tap.on_message(crate::tap::Tapped {
                direction: crate::tap::Direction::Received,
                wire,
                message,
                flow,
                at,
            });
        }
    }
}
