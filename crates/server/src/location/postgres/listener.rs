//! The connection that listens for the other nodes' changes (`LISTEN`),
//! kept open for as long as the store, and opened again after a loss.
//!
//! A notification's payload is the origin of the change (a random name
//! each store takes when it opens) and the AOR changed, or the origin
//! alone for "read everything again". The change itself is not sent: a
//! binding may not fit in a payload, and the node that hears of a change
//! reads the AOR's current bindings from the database, so that however
//! notifications and commits interleave it ends on the committed state.
//! Notifications sent while the connection is down are lost, so each new
//! connection asks the worker for a full resync once it is listening.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::{AsyncMessage, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::{info, warn};

use super::super::error::StoreError;
use super::backoff::Backoff;
use super::{describe, fault, sql};

/// What the listener tells the worker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Heard {
    /// Another node changed the bindings of this AOR.
    Changed(String),
    /// Another node asks every node to read every binding again.
    Everything,
    /// The listening connection was lost: notifications may be missed
    /// until [`Listening`](Heard::Listening).
    Lost,
    /// Listening again after a loss: changes made meanwhile went unheard.
    Listening,
}

/// How often the listening connection is checked, so that a connection
/// that died without closing (a cable pulled, a firewall dropping it) is
/// noticed.
const PING_EVERY: Duration = Duration::from_secs(5);

/// How long a check may take before the connection is taken for dead.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection that listens, and the task that reads its messages.
pub(crate) struct Listening {
    client: Client,
    reader: tokio::task::JoinHandle<()>,
}

/// Connects and listens; notifications go to `heard` from then on.
pub(crate) async fn connect(
    config: &Config,
    tls: &MakeRustlsConnect,
    origin: &str,
    heard: &UnboundedSender<Heard>,
) -> Result<Listening, StoreError> {
    let during = "listening for the other nodes' changes";
    let (client, mut connection) = config.connect(tls.clone()).await.map_err(fault(during))?;
    let origin = origin.to_owned();
    let heard = heard.clone();
    let reader = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if let Some(news) = read_payload(n.payload(), &origin)
                        && heard.send(news).is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %describe(&e), "the location database's listening connection failed");
                    return;
                }
            }
        }
    });
    let listening = Listening { client, reader };
    let channel = sql::CHANNEL;
    listening
        .client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .map_err(fault(during))?;
    Ok(listening)
}

/// What a payload asks of this node; `None` for its own changes.
fn read_payload(payload: &str, own_origin: &str) -> Option<Heard> {
    match payload.split_once(' ') {
        Some((origin, _)) if origin == own_origin => None,
        Some((_, aor)) => Some(Heard::Changed(aor.to_owned())),
        None if payload == own_origin => None,
        None => Some(Heard::Everything),
    }
}

/// Keeps listening: waits for the connection to end (or to stop
/// answering), tells the worker, connects again with growing pauses, and
/// tells the worker once it listens again. Ends when the worker is gone.
pub(crate) async fn keep_listening(
    mut listening: Listening,
    config: Config,
    tls: MakeRustlsConnect,
    origin: String,
    heard: UnboundedSender<Heard>,
) {
    let mut backoff = Backoff::default();
    loop {
        watch(&mut listening).await;
        listening.reader.abort();
        if heard.send(Heard::Lost).is_err() {
            return;
        }
        listening = loop {
            backoff.wait().await;
            if heard.is_closed() {
                return;
            }
            match connect(&config, &tls, &origin, &heard).await {
                Ok(l) => break l,
                Err(e) => {
                    backoff.failed();
                    warn!(error = %e, retry_in = ?backoff.delay(), "cannot listen to the location database");
                }
            }
        };
        backoff.succeeded();
        info!("listening to the location database again");
        if heard.send(Heard::Listening).is_err() {
            return;
        }
    }
}

/// Returns once the connection has ended or stopped answering.
async fn watch(listening: &mut Listening) {
    let mut ticks = tokio::time::interval(PING_EVERY);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = &mut listening.reader => return,
            _ = ticks.tick() => {
                let ping = tokio::time::timeout(PING_TIMEOUT, listening.client.batch_execute("")).await;
                if !matches!(ping, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_an_aor_or_everything_and_own_changes_are_skipped() {
        assert_eq!(
            read_payload("0123abcd alice", "ffff0000"),
            Some(Heard::Changed("alice".into()))
        );
        assert_eq!(
            read_payload("0123abcd alice smith", "ffff0000"),
            Some(Heard::Changed("alice smith".into()))
        );
        assert_eq!(
            read_payload("0123abcd ", "ffff0000"),
            Some(Heard::Changed(String::new()))
        );
        assert_eq!(
            read_payload("0123abcd", "ffff0000"),
            Some(Heard::Everything)
        );
        assert_eq!(read_payload("ffff0000 alice", "ffff0000"), None);
        assert_eq!(read_payload("ffff0000", "ffff0000"), None);
    }
}
