//! The async driver: runs [`Transactions`] over real [`Transports`].
//!
//! The state machines stay sans-IO; this module owns what they leave out:
//! the clock, the timer task, and the sockets. Received messages are fed
//! from the transport's receive tasks, the transaction user's requests and
//! responses from any thread. The layer sits behind one lock that is held
//! only while a state machine steps; transmits are sent and events handed
//! to the transaction user after it is released, so the user may call back
//! into the driver from its event handler.
//!
//! UDP transmits leave at once through [`Transports::try_send`], from
//! whatever thread produced them; anything that needs to wait (a stream, a
//! connection to open, a full socket buffer) goes to a task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use sipjet_message::Message;
use sipjet_transport::{
    ConnectionId, Destination, Flow, Handler, Incoming, Protocol, Transports, response_destination,
};
use tokio::sync::{Notify, mpsc};

use crate::{
    Event, Kind, State, TimerConfig, TransactionError, TransactionId, Transactions, Transmit,
};

/// Where a transaction's messages go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A request came in on this flow; responses to it go where RFC 3261
    /// §18.2.2 says, from their top Via and this flow.
    Received(Flow),
    /// A request this side sends goes to this destination.
    Sent(Destination),
}

impl Peer {
    /// The flow a received request came on.
    pub fn flow(&self) -> Option<&Flow> {
        match self {
            Peer::Received(f) => Some(f),
            Peer::Sent(_) => None,
        }
    }
}

/// The layer above the transactions (the "transaction user"): the core.
pub trait TransactionUser: Send + Sync + 'static {
    /// One event. Called without any lock held, from a receive task, the
    /// timer task, or the thread that called the driver; it must not
    /// block.
    fn on_event(&self, driver: &Driver, event: Event<Peer>);
}

struct Inner {
    layer: Mutex<Transactions<Peer>>,
    transports: OnceLock<Transports>,
    user: Arc<dyn TransactionUser>,
    runtime: tokio::runtime::Handle,
    /// Wakes the timer task when a deadline earlier than the one it sleeps
    /// towards appears.
    wake: Notify,
    /// The deadline the timer task sleeps towards, in nanoseconds after
    /// `epoch` (`u64::MAX`: none).
    sleeping_until: AtomicU64,
    epoch: Instant,
    /// One ordered queue, and one task, per stream destination with
    /// messages in flight: messages on a connection must leave in the
    /// order they were produced (a 180 before its 200).
    stream_queues: Mutex<HashMap<StreamKey, mpsc::UnboundedSender<Transmit<Destination>>>>,
    /// Live transactions after the latest step, read without the lock
    /// (an overload gate asks on every request).
    live: AtomicUsize,
}

type StreamKey = (Protocol, SocketAddr, Option<ConnectionId>);

/// A stream queue's task ends after this long without a message.
const STREAM_QUEUE_IDLE: Duration = Duration::from_secs(5);

/// Runs the transaction layer of one stack instance. Cloning gives
/// another handle to the same driver.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<Inner>,
}

/// What one step of the layer produced, taken out under the lock and
/// acted on after it.
struct Step {
    transmits: Vec<Transmit<Peer>>,
    events: Vec<Event<Peer>>,
    next: Option<Instant>,
}

impl Driver {
    /// A driver for `user`, with its timer task on the current tokio
    /// runtime (call it from inside one). Connect transports with
    /// [`Driver::attach`] before messages flow.
    pub fn new(timers: TimerConfig, user: Arc<dyn TransactionUser>) -> Driver {
        let inner = Arc::new(Inner {
            layer: Mutex::new(Transactions::new(timers)),
            transports: OnceLock::new(),
            user,
            runtime: tokio::runtime::Handle::current(),
            wake: Notify::new(),
            sleeping_until: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            stream_queues: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
        });
        inner.runtime.spawn(timer_task(Arc::downgrade(&inner)));
        Driver { inner }
    }

    /// Connects the transports messages are sent on. The transports' handler
    /// should be [`Driver::handler`]. A second call is ignored.
    pub fn attach(&self, transports: Transports) {
        let _ = self.inner.transports.set(transports);
    }

    /// The handler to give [`Transports::start`].
    pub fn handler(&self) -> Arc<dyn Handler> {
        Arc::new(DriverHandler(Arc::downgrade(&self.inner)))
    }

    /// The transports, once attached.
    pub fn transports(&self) -> Option<&Transports> {
        self.inner.transports.get()
    }

    fn lock(&self) -> MutexGuard<'_, Transactions<Peer>> {
        // A step cannot panic halfway through (the layer is tested never
        // to), so a poisoned lock still guards a consistent layer.
        self.inner.layer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds a received message to the layer.
    pub fn handle_incoming(&self, incoming: Incoming) {
        let reliable = incoming.flow.protocol.is_reliable();
        let step = self.step(|layer| {
            layer.handle_incoming(
                incoming.message,
                Peer::Received(incoming.flow),
                reliable,
                Instant::now(),
            );
            Ok(())
        });
        self.finish(step.map(|(s, ())| s).ok());
    }

    /// Starts a client transaction for `request` (whose top Via carries
    /// the branch) towards `dest`.
    pub fn send_request(
        &self,
        request: Message,
        dest: Destination,
    ) -> Result<TransactionId, TransactionError> {
        self.send_request_then(request, dest, |_| ())
    }

    /// As [`Driver::send_request`], calling `created` with the new
    /// transaction's id before anything is transmitted, so that the caller
    /// can be ready for an event that arrives at once (a transport failure
    /// reported on this very thread).
    pub fn send_request_then(
        &self,
        request: Message,
        dest: Destination,
        created: impl FnOnce(TransactionId),
    ) -> Result<TransactionId, TransactionError> {
        let reliable = dest.protocol.is_reliable();
        let (step, id) = self.step(|layer| {
            layer.send_request(request, Peer::Sent(dest), reliable, Instant::now())
        })?;
        created(id);
        self.finish(Some(step));
        Ok(id)
    }

    /// The tokio runtime the driver's tasks run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// Sends a response on a server transaction.
    pub fn respond(&self, id: TransactionId, response: Message) -> Result<(), TransactionError> {
        let (step, ()) = self.step(|layer| layer.respond(id, response, Instant::now()))?;
        self.finish(Some(step));
        Ok(())
    }

    /// Answers a server transaction with a final response and keeps no
    /// state for it (see [`Transactions::respond_stateless`]).
    pub fn respond_stateless(
        &self,
        id: TransactionId,
        response: Message,
    ) -> Result<(), TransactionError> {
        let (step, ()) =
            self.step(|layer| layer.respond_stateless(id, response, Instant::now()))?;
        self.finish(Some(step));
        Ok(())
    }

    /// Sends a message outside any transaction: an ACK for a 2xx, or a
    /// stateless response (to a request that created no transaction, such
    /// as an ACK, or one refused before a transaction was worth keeping).
    pub fn send_stateless(&self, message: Message, peer: Peer) {
        self.transmit(Transmit {
            id: None,
            message,
            dest: peer,
        });
    }

    /// True when a received request belongs to a live server transaction
    /// (a retransmission, or an ACK for a non-2xx): an overload gate must
    /// let those through, or a request already accepted would be refused
    /// when its retransmission arrives.
    pub fn matches_transaction(&self, request: &Message) -> bool {
        match crate::TransactionKey::of_request(request) {
            Some(key) => self.lock().find(&key).is_some(),
            None => false,
        }
    }

    /// The state of a transaction, while it lives.
    pub fn state(&self, id: TransactionId) -> Option<State> {
        self.lock().state(id)
    }

    /// The kind of a transaction, while it lives.
    pub fn kind(&self, id: TransactionId) -> Option<Kind> {
        self.lock().kind(id)
    }

    /// Gives up on a transaction (see [`Transactions::abandon`]).
    pub fn abandon(&self, id: TransactionId) {
        if let Ok((step, ())) = self.step(|layer| {
            layer.abandon(id);
            Ok(())
        }) {
            self.finish(Some(step));
        }
    }

    /// Live transactions, as the latest step left them.
    pub fn len(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// True when no transaction lives.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs one operation on the layer and takes out what it produced.
    fn step<T>(
        &self,
        op: impl FnOnce(&mut Transactions<Peer>) -> Result<T, TransactionError>,
    ) -> Result<(Step, T), TransactionError> {
        let mut layer = self.lock();
        let value = op(&mut layer);
        self.inner.live.store(layer.len(), Ordering::Relaxed);
        let value = value?;
        let mut step = Step {
            transmits: Vec::new(),
            events: Vec::new(),
            next: layer.poll_timeout(),
        };
        while let Some(t) = layer.poll_transmit() {
            step.transmits.push(t);
        }
        while let Some(e) = layer.poll_event() {
            step.events.push(e);
        }
        Ok((step, value))
    }

    /// Acts on a step: wakes the timer task if needed, transmits, and hands
    /// events to the transaction user, in that order (a response goes out
    /// before the user hears of what caused it).
    fn finish(&self, step: Option<Step>) {
        let Some(step) = step else { return };
        if let Some(next) = step.next {
            let at = self.nanos(next);
            if at < self.inner.sleeping_until.load(Ordering::Acquire) {
                self.inner.wake.notify_one();
            }
        }
        for t in step.transmits {
            self.transmit(t);
        }
        for e in step.events {
            self.inner.user.on_event(self, e);
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1)
    }

    fn transmit(&self, t: Transmit<Peer>) {
        let Some(transports) = self.inner.transports.get() else {
            tracing::error!("a message was to be sent before any transport was attached");
            return;
        };
        let dest = match &t.dest {
            Peer::Sent(d) => d.clone(),
            Peer::Received(flow) => match t.message.via() {
                Ok(via) => response_destination(&via, flow),
                Err(e) => {
                    tracing::warn!(error = %e, %flow, "cannot route a response without a readable Via");
                    return;
                }
            },
        };
        if let Some(result) = transports.try_send(&t.message, &dest) {
            if let Err(e) = result {
                self.failed(t.id, &dest, &e);
            }
            return;
        }
        self.queue_for_stream(Transmit {
            id: t.id,
            message: t.message,
            dest,
        });
    }

    /// Queues a transmit behind the others for the same destination; a
    /// task per destination sends them one after the other.
    fn queue_for_stream(&self, t: Transmit<Destination>) {
        let key: StreamKey = (t.dest.protocol, t.dest.addr, t.dest.connection);
        let mut queues = self
            .inner
            .stream_queues
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let t = match queues.get(&key) {
            Some(tx) => match tx.send(t) {
                Ok(()) => return,
                Err(mpsc::error::SendError(t)) => t,
            },
            None => t,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(t);
        queues.insert(key, tx);
        drop(queues);
        self.inner
            .runtime
            .spawn(stream_sender(self.clone(), key, rx));
    }

    /// A transport failure: the transaction fails (RFC 3261 §17.1.4,
    /// §17.2.4).
    fn failed(
        &self,
        id: Option<TransactionId>,
        dest: &Destination,
        error: &sipjet_transport::TransportError,
    ) {
        tracing::warn!(transaction = ?id, protocol = %dest.protocol, addr = %dest.addr, %error, "sending failed");
        if let Some(id) = id {
            let step = self.step(|layer| {
                layer.transport_error(id);
                Ok(())
            });
            self.finish(step.map(|(s, ())| s).ok());
        }
    }

    fn on_timer(&self) {
        let step = self.step(|layer| {
            layer.handle_timeout(Instant::now());
            Ok(())
        });
        self.finish(step.map(|(s, ())| s).ok());
    }
}

/// Sends one destination's stream messages in order; ends when idle,
/// first taking its queue off the map (under the lock every sender takes,
/// so nothing can be queued after) and sending what is left.
async fn stream_sender(
    driver: Driver,
    key: StreamKey,
    mut rx: mpsc::UnboundedReceiver<Transmit<Destination>>,
) {
    let Some(transports) = driver.inner.transports.get().cloned() else {
        return;
    };
    let send = |t: Transmit<Destination>| {
        let (driver, transports) = (driver.clone(), transports.clone());
        async move {
            if let Err(e) = transports.send(&t.message, &t.dest).await {
                driver.failed(t.id, &t.dest, &e);
            }
        }
    };
    while let Ok(Some(t)) = tokio::time::timeout(STREAM_QUEUE_IDLE, rx.recv()).await {
        send(t).await;
    }
    driver
        .inner
        .stream_queues
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    while let Ok(t) = rx.try_recv() {
        send(t).await;
    }
}

/// The transports' handler: hands every valid message to the driver. It
/// holds the driver weakly so that transports and driver do not keep each
/// other alive.
struct DriverHandler(Weak<Inner>);

impl Handler for DriverHandler {
    fn on_message(&self, incoming: Incoming) {
        if let Some(inner) = self.0.upgrade() {
            Driver { inner }.handle_incoming(incoming);
        }
    }
}

/// Sleeps until the layer's next deadline (or until woken by an earlier
/// one), then lets the layer handle its timeouts. Ends once every other
/// handle to the driver is gone.
async fn timer_task(inner: Weak<Inner>) {
    /// Longest sleep without a deadline, so a dropped driver is noticed.
    const IDLE: Duration = Duration::from_secs(1);
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let driver = Driver { inner: strong };
    loop {
        let next = driver.lock().poll_timeout();
        let sleep_until = next.unwrap_or_else(|| Instant::now() + IDLE);
        driver
            .inner
            .sleeping_until
            .store(driver.nanos(sleep_until), Ordering::Release);
        let woken = tokio::select! {
            () = tokio::time::sleep_until(sleep_until.into()) => false,
            () = driver.inner.wake.notified() => true,
        };
        driver
            .inner
            .sleeping_until
            .store(u64::MAX, Ordering::Release);
        if Arc::strong_count(&driver.inner) == 1 {
            return;
        }
        if !woken || next.is_some_and(|n| n <= Instant::now()) {
            driver.on_timer();
        }
    }
}
