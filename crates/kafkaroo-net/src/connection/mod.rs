//! One TCP connection to one broker.
//!
//! ```text
//!  send::<R>() ──encode──► writer task ──► socket ──► broker
//!      ▲                                                │
//!      └── oneshot ◄── in-flight map ◄── reader task ◄──┘  (frames routed by correlation id)
//! ```
//!
//! Many requests may be in flight at once (pipelining); the broker answers them in order, the reader routes
//! each response frame to its waiter by correlation id. Any failure of the connection — I/O error, EOF,
//! a bad frame, an unknown correlation id, an undecodable response, a request timeout — *poisons* it:
//! every request in flight and every later one fails with that same error, and the owner reconnects.
//! Establishing a connection includes SASL authentication ([`authenticate`]), which drives the
//! connection it belongs to.

mod authenticate;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafkaroo_wire::messages::ApiVersionsRequest;
use kafkaroo_wire::protocol::{Message, Request};
use kafkaroo_wire::{BrokerVersions, ErrorCode, FrameDecoder, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, trace, warn};

use crate::error::{Error, Result};
use crate::instruments::ConnectionInstruments;
use crate::security::SecurityConfig;
use crate::throttle::Throttled;
use crate::transport::{ReadHalf, WriteHalf};

/// Settings of a single connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Sent in every request header; shows in broker logs and quotas.
    pub client_id: String,
    /// Frames larger than this are refused and close the connection.
    pub max_frame_size: usize,
    /// How long a request may wait for its response before the connection is closed.
    pub request_timeout: Duration,
    /// How long establishing the connection may take: TCP, TLS, ApiVersions and SASL together.
    pub connect_timeout: Duration,
    /// TLS and SASL (`security.protocol`, `ssl.*`, `sasl.*`).
    pub security: SecurityConfig,
    /// Highest version to use per API key (`kafkaroo.api.version.max`): for a broker whose newest
    /// version of an API misbehaves, and for tests that walk every version. A cap below every version
    /// both sides speak makes that API's requests fail with [`Error::Version`].
    pub max_versions: BTreeMap<i16, i16>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            client_id: "kafkaroo".to_owned(),
            max_frame_size: kafkaroo_wire::DEFAULT_MAX_FRAME_SIZE,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            security: SecurityConfig::default(),
            max_versions: BTreeMap::new(),
        }
    }
}

struct Pending {
    api: &'static str,
    reply: oneshot::Sender<Result<Bytes>>,
}

#[derive(Default)]
struct State {
    next_correlation_id: i32,
    in_flight: HashMap<i32, Pending>,
    poisoned: Option<Error>,
    throttled_until: Option<Instant>,
    /// KIP-368: while the connection re-authenticates, only SASL requests may be sent; others wait.
    reauthenticating: bool,
}

struct Shared {
    addr: String,
    instruments: ConnectionInstruments,
    state: Mutex<State>,
    closed: Notify,
    /// Woken when a re-authentication ends, for the requests it held back.
    reauthenticated: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave State inconsistent in a way that matters more
        // than losing the connection, so recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every request in flight with `error` and refuses new ones. The first error wins.
    fn poison(&self, error: Error) {
        let pending = {
            let mut state = self.lock();
            if state.poisoned.is_some() {
                return;
            }
            debug!(server.address = %self.addr, %error, in_flight = state.in_flight.len(), "connection failed");
            state.poisoned = Some(error.clone());
            std::mem::take(&mut state.in_flight)
        };
        self.instruments.closed();
        for (_, p) in pending {
            let _ = p.reply.send(Err(error.clone()));
        }
        self.closed.notify_waiters();
        self.closed.notify_one();
    }
}

struct Inner {
    shared: Arc<Shared>,
    frames: mpsc::UnboundedSender<Bytes>,
    versions: OnceLock<BrokerVersions>,
    config: ConnectionConfig,
    broker_id: Option<i32>,
    /// The reader and writer, and the re-authentication task when there is one.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.instruments.closed();
        for t in self.tasks.get_mut().unwrap_or_else(|e| e.into_inner()).iter() {
            t.abort();
        }
    }
}

/// A request handed to the writer by [`Connection::start_request`], whose response is still to come.
#[derive(Debug)]
#[must_use = "the response is discarded unless awaited with `response`"]
pub struct PendingResponse<R> {
    conn: Connection,
    version: i16,
    /// When the request was handed to the writer (the request duration metric).
    sent: Instant,
    reply: oneshot::Receiver<Result<Bytes>>,
    request: std::marker::PhantomData<fn() -> R>,
}

impl<R> PendingResponse<R>
where
    R: Request,
    R::Response: Throttled,
{
    /// The connection the request went out on.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Waits for the response, at most the connection's request timeout from now.
    pub async fn response(self) -> Result<R::Response> {
        let timeout = self.conn.inner.config.request_timeout;
        let frame = self
            .conn
            .await_reply(R::KEY, self.sent, self.reply, timeout)
            .await?;
        self.conn.decode_frame::<R>(self.version, frame)
    }
}

/// A handle to one broker connection. Cheap to clone; the connection closes when the last handle drops.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.inner.shared.addr)
            .field("broker_id", &self.inner.broker_id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `addr`: TCP, the TLS handshake when the security protocol uses TLS, the ApiVersions
    /// handshake (KIP-511 client name and version; falls back to the broker's highest ApiVersions version
    /// when it answers UNSUPPORTED_VERSION), then SASL authentication when the protocol uses SASL. All of
    /// it within `connect_timeout`.
    pub async fn connect(addr: &str, broker_id: Option<i32>, config: ConnectionConfig) -> Result<Self> {
        let timeout = config.connect_timeout;
        let deadline = Instant::now() + timeout;
        let (read, write) = crate::transport::open(addr, config.security.tls.as_ref(), timeout).await?;
        let conn = Self::from_halves(read, write, addr, broker_id, config);
        let setup = async {
            conn.handshake().await?;
            if let Some(sasl) = conn.inner.config.security.sasl.clone() {
                let lifetime = authenticate::authenticate(&conn, &sasl).await?;
                authenticate::schedule_reauthentication(&conn, sasl, lifetime);
            }
            Ok::<_, Error>(())
        };
        // One budget for all of it: what TCP and TLS took is not given again to ApiVersions and SASL.
        match tokio::time::timeout_at(deadline, setup).await {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(e)) => {
                conn.close();
                Err(e)
            }
            Err(_) => {
                conn.close();
                Err(Error::Timeout {
                    addr: addr.to_owned(),
                    api: "connection setup (ApiVersions and SASL)",
                    after: timeout,
                })
            }
        }
    }

    /// Wraps an established stream without a handshake (tests drive the handshake themselves).
    pub fn from_stream(
        stream: TcpStream,
        addr: &str,
        broker_id: Option<i32>,
        config: ConnectionConfig,
    ) -> Self {
        let (read, write) = crate::transport::split_tcp(stream);
        Self::from_halves(read, write, addr, broker_id, config)
    }

    fn from_halves(
        read: ReadHalf,
        write: WriteHalf,
        addr: &str,
        broker_id: Option<i32>,
        config: ConnectionConfig,
    ) -> Self {
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            instruments: ConnectionInstruments::opened(&config.client_id, addr),
            state: Mutex::new(State::default()),
            closed: Notify::new(),
            reauthenticated: Notify::new(),
        });
        let (frames, frames_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            read,
            shared.clone(),
            FrameDecoder::new(config.max_frame_size),
        ));
        let writer = tokio::spawn(write_loop(write, shared.clone(), frames_rx));
        Self {
            inner: Arc::new(Inner {
                shared,
                frames,
                versions: OnceLock::new(),
                config,
                broker_id,
                tasks: Mutex::new(vec![reader.abort_handle(), writer.abort_handle()]),
            }),
        }
    }

    async fn handshake(&self) -> Result<()> {
        let cap = self.inner.config.max_versions.get(&ApiVersionsRequest::KEY);
        // Below v0 there is nothing to send; the cap was validated where it was configured.
        let ours = cap.map_or(ApiVersionsRequest::VERSIONS.max, |&c| {
            c.clamp(0, ApiVersionsRequest::VERSIONS.max)
        });
        let mut version = ours;
        for _ in 0..2 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str(kafkaroo_wire::CLIENT_SOFTWARE_NAME))
                .with_client_software_version(StrBytes::from_static_str(
                    kafkaroo_wire::CLIENT_SOFTWARE_VERSION,
                ));
            let response = self
                .send_version(&request, version, self.inner.config.request_timeout)
                .await?;
            if response.error_code == ErrorCode::UNSUPPORTED_VERSION.0 {
                let broker_max = response
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiVersionsRequest::KEY)
                    .map_or(0, |k| k.max_version);
                debug!(server.address = %self.addr(), asked = version, broker_max, "ApiVersions downgrade");
                version = broker_max.min(ours);
                continue;
            }
            Error::check("ApiVersions", response.error_code, None)?;
            let _ = self.inner.versions.set(BrokerVersions::from_response(&response));
            return Ok(());
        }
        Err(Error::Broker {
            api: "ApiVersions",
            code: ErrorCode::UNSUPPORTED_VERSION,
            message: None,
        })
    }

    /// The broker address.
    pub fn addr(&self) -> &str {
        &self.inner.shared.addr
    }

    /// The broker's node id, when known.
    pub fn broker_id(&self) -> Option<i32> {
        self.inner.broker_id
    }

    /// What the broker said it supports (empty before the handshake).
    pub fn versions(&self) -> &BrokerVersions {
        static EMPTY: OnceLock<BrokerVersions> = OnceLock::new();
        self.inner
            .versions
            .get()
            .unwrap_or_else(|| EMPTY.get_or_init(BrokerVersions::default))
    }

    /// The version [`Connection::send`] would use for `R`: the highest both sides speak, at most the
    /// configured cap ([`ConnectionConfig::max_versions`]).
    pub fn negotiated_version<R: Request>(&self) -> Result<i16> {
        let cap = self.inner.config.max_versions.get(&R::KEY).copied();
        self.versions()
            .negotiate_capped(R::KEY, R::VERSIONS, cap)
            .map_err(|source| Error::Version {
                addr: self.addr().to_owned(),
                source,
            })
    }

    /// Whether the connection has failed or was closed; such a connection refuses every request.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.lock().poisoned.is_some()
    }

    /// Number of requests waiting for a response.
    pub fn in_flight(&self) -> usize {
        self.inner.shared.lock().in_flight.len()
    }

    /// Closes the connection: requests in flight fail with [`Error::LocallyClosed`].
    pub fn close(&self) {
        self.inner.shared.poison(Error::LocallyClosed {
            addr: self.addr().to_owned(),
        });
    }

    /// Sends `request` at the highest version both sides speak and waits for its response, at most the
    /// configured request timeout.
    ///
    /// Cancellation safe in the sense that dropping the future never corrupts the connection: the frame
    /// is handed whole to the writer task, and a response nobody waits for is discarded.
    pub async fn send<R>(&self, request: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: Throttled,
    {
        let version = self.negotiated_version::<R>()?;
        self.send_version(request, version, self.inner.config.request_timeout)
            .await
    }

    /// Like [`Connection::send`] with an explicit version and timeout (JoinGroup needs a timeout above the
    /// rebalance timeout; the conformance suite walks every version).
    pub async fn send_version<R>(&self, request: &R, version: i16, timeout: Duration) -> Result<R::Response>
    where
        R: Request,
        R::Response: Throttled,
    {
        let frame = self.request_frame(request, version, timeout).await?;
        self.decode_frame::<R>(version, frame)
    }

    /// Sends `request` and returns the raw response frame (header included), undecoded. The fetch engine
    /// uses this to wrap the frame in its memory accounting before the records in it are sliced out;
    /// finish with [`Connection::decode_frame`].
    ///
    /// Cancellation safe: dropping the future never corrupts the connection (see [`Connection::send`]).
    pub async fn request_frame<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes> {
        let reply_rx = self.hand_to_writer(request, version).await?;
        self.await_reply(R::KEY, Instant::now(), reply_rx, timeout).await
    }

    /// Hands `request` to the writer (after any throttle delay or re-authentication) and returns its
    /// response to await later: requests started one after the other, each started once the previous
    /// call returned, reach the broker in that order. An idempotent producer relies on it, since a
    /// partition's batches must arrive in sequence order while several are in flight.
    pub async fn start_request<R>(&self, request: &R) -> Result<PendingResponse<R>>
    where
        R: Request,
        R::Response: Throttled,
    {
        let version = self.negotiated_version::<R>()?;
        let reply = self.hand_to_writer(request, version).await?;
        Ok(PendingResponse {
            conn: self.clone(),
            version,
            sent: Instant::now(),
            reply,
            request: std::marker::PhantomData,
        })
    }

    async fn hand_to_writer<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<oneshot::Receiver<Result<Bytes>>> {
        self.wait_for_throttle().await;
        loop {
            let reauthenticated = self.inner.shared.reauthenticated.notified();
            tokio::pin!(reauthenticated);
            reauthenticated.as_mut().enable();
            if let Some(rx) = self.enqueue(request, version, false)? {
                return Ok(rx);
            }
            reauthenticated.await;
        }
    }

    /// Sends a SASL request even while the connection re-authenticates (KIP-368).
    pub(crate) async fn request_frame_during_authentication<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<Bytes> {
        let reply_rx = self
            .enqueue(request, version, true)?
            .expect("authentication requests are never held back");
        self.await_reply(
            R::KEY,
            Instant::now(),
            reply_rx,
            self.inner.config.request_timeout,
        )
        .await
    }

    /// Encodes `request` and hands it to the writer; `None` when it must wait for a re-authentication
    /// to end (the caller waits for `reauthenticated` and tries again).
    fn enqueue<R: Request>(
        &self,
        request: &R,
        version: i16,
        authenticating: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Bytes>>>> {
        let api = kafkaroo_wire::api_name(R::KEY);
        let (reply_tx, reply_rx) = oneshot::channel();
        let mut state = self.inner.shared.lock();
        if let Some(e) = &state.poisoned {
            return Err(e.clone());
        }
        if state.reauthenticating && !authenticating {
            return Ok(None);
        }
        let correlation_id = state.next_correlation_id;
        state.next_correlation_id = state.next_correlation_id.wrapping_add(1) & i32::MAX;
        let mut buf = BytesMut::new();
        kafkaroo_wire::encode_request(
            &mut buf,
            correlation_id,
            Some(&self.inner.config.client_id),
            version,
            request,
        )?;
        // The client id lets a test attribute each request to the consumer that sent it.
        let client = &self.inner.config.client_id;
        trace!(server.address = %self.addr(), client.id = %client, api, version, correlation_id, bytes = buf.len(), "send");
        state
            .in_flight
            .insert(correlation_id, Pending { api, reply: reply_tx });
        // Sent while holding the lock so frames reach the writer in correlation-id order.
        if self.inner.frames.send(buf.freeze()).is_err() {
            drop(state);
            self.inner.shared.poison(Error::LocallyClosed {
                addr: self.addr().to_owned(),
            });
        }
        Ok(Some(reply_rx))
    }

    async fn await_reply(
        &self,
        key: i16,
        sent: Instant,
        reply_rx: oneshot::Receiver<Result<Bytes>>,
        timeout: Duration,
    ) -> Result<Bytes> {
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(result)) => {
                if result.is_ok() {
                    let api = kafkaroo_wire::api_name(key);
                    self.inner.shared.instruments.answered(api, sent.elapsed());
                }
                result
            }
            Ok(Err(_)) => Err(self.poison_error()),
            Err(_) => {
                let api = kafkaroo_wire::api_name(key);
                let error = Error::Timeout {
                    addr: self.addr().to_owned(),
                    api,
                    after: timeout,
                };
                warn!(server.address = %self.addr(), api, ?timeout, "request timed out; closing the connection");
                self.inner.shared.poison(error.clone());
                Err(error)
            }
        }
    }

    /// Starts or ends a re-authentication: while it runs, requests other than SASL ones wait.
    pub(crate) fn set_reauthenticating(&self, on: bool) {
        self.inner.shared.lock().reauthenticating = on;
        if !on {
            self.inner.shared.reauthenticated.notify_waiters();
        }
    }

    /// Fails the connection with `error` (a failed re-authentication).
    pub(crate) fn fail(&self, error: Error) {
        self.inner.shared.poison(error);
    }

    /// Keeps `task` (the re-authentication timer) alive exactly as long as the connection.
    pub(crate) fn own_task(&self, task: tokio::task::AbortHandle) {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }

    /// A handle that does not keep the connection open.
    pub(crate) fn downgrade(&self) -> WeakConnection {
        WeakConnection(Arc::downgrade(&self.inner))
    }

    /// Decodes a frame returned by [`Connection::request_frame`] and applies its throttle time. A frame
    /// that does not decode closes the connection.
    pub fn decode_frame<R>(&self, version: i16, frame: Bytes) -> Result<R::Response>
    where
        R: Request,
        R::Response: Throttled,
    {
        match kafkaroo_wire::decode_response::<R>(version, frame) {
            Ok((_, response)) => {
                self.note_throttle(R::KEY, response.throttle_time_ms());
                Ok(response)
            }
            Err(source) => {
                self.inner
                    .shared
                    .instruments
                    .decode_failed(kafkaroo_wire::api_name(R::KEY));
                let error = Error::Decode {
                    addr: self.addr().to_owned(),
                    source,
                };
                self.inner.shared.poison(error.clone());
                Err(error)
            }
        }
    }

    fn poison_error(&self) -> Error {
        self.inner
            .shared
            .lock()
            .poisoned
            .clone()
            .unwrap_or_else(|| Error::LocallyClosed {
                addr: self.addr().to_owned(),
            })
    }

    /// KIP-219: a throttled broker answers immediately and expects the client to hold back its next
    /// request for `throttle_time_ms`.
    fn note_throttle(&self, key: i16, throttle_ms: i32) {
        if throttle_ms > 0 {
            let api = kafkaroo_wire::api_name(key);
            self.inner.shared.instruments.throttled(api, throttle_ms);
            debug!(server.address = %self.addr(), throttle_ms, "broker throttled us");
            let until = Instant::now() + Duration::from_millis(throttle_ms as u64);
            let mut state = self.inner.shared.lock();
            state.throttled_until = Some(state.throttled_until.map_or(until, |t| t.max(until)));
        }
    }

    async fn wait_for_throttle(&self) {
        let until = self.inner.shared.lock().throttled_until;
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }

    /// The instant until which requests are held back because the broker throttled us, if in the future.
    pub fn throttled_until(&self) -> Option<Instant> {
        self.inner
            .shared
            .lock()
            .throttled_until
            .filter(|t| *t > Instant::now())
    }
}

/// A [`Connection`] that does not keep it open (for its own background tasks).
pub(crate) struct WeakConnection(std::sync::Weak<Inner>);

impl WeakConnection {
    pub(crate) fn upgrade(&self) -> Option<Connection> {
        self.0.upgrade().map(|inner| Connection { inner })
    }
}

/// How the reader task's reading of one frame ended.
enum ReadEnd {
    /// The peer closed the connection; `mid_frame` if it did so inside a frame.
    Closed { mid_frame: bool },
    /// The size prefix was refused (nothing of the claimed size was allocated).
    Frame(kafkaroo_wire::FrameError),
    /// The stream failed.
    Io(std::io::Error),
}

/// Reads one frame into a buffer of exactly its size: the 4-byte size prefix first, then the body
/// straight from the stream into that buffer, never past its end.
///
/// Nothing is read ahead, so a frame shares its allocation with no other frame: records handed to the
/// application are slices of their response, and the memory budget, which counts the response's
/// length, counts exactly the memory those slices keep alive (ARCHITECTURE.md, "Memory"). The price is
/// one extra read per frame for the prefix; with TLS the reads come from a buffer below rustls.
async fn read_frame(read: &mut ReadHalf, decoder: &FrameDecoder) -> std::result::Result<Bytes, ReadEnd> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match read.read(&mut prefix[filled..]).await {
            Ok(0) => {
                return Err(ReadEnd::Closed {
                    mid_frame: filled > 0,
                });
            }
            Ok(n) => filled += n,
            Err(e) => return Err(ReadEnd::Io(e)),
        }
    }
    let size = decoder.check_size(prefix).map_err(ReadEnd::Frame)?;
    let mut body = BytesMut::with_capacity(size);
    while body.len() < size {
        // `read_buf` fills the spare capacity, which is exactly what the frame still lacks.
        match read.read_buf(&mut body).await {
            Ok(0) => return Err(ReadEnd::Closed { mid_frame: true }),
            Ok(_) => {}
            Err(e) => return Err(ReadEnd::Io(e)),
        }
    }
    Ok(body.freeze())
}

async fn read_loop(mut read: ReadHalf, shared: Arc<Shared>, decoder: FrameDecoder) {
    let error = loop {
        let frame = tokio::select! {
            frame = read_frame(&mut read, &decoder) => frame,
            () = shared.closed.notified() => return,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(ReadEnd::Closed { mid_frame }) => {
                break Error::Closed {
                    addr: shared.addr.clone(),
                    mid_frame,
                };
            }
            Err(ReadEnd::Frame(source)) => {
                break Error::Frame {
                    addr: shared.addr.clone(),
                    source,
                };
            }
            Err(ReadEnd::Io(e)) => break crate::transport::stream_error(&shared.addr, e),
        };
        let correlation_id = match kafkaroo_wire::peek_correlation_id(&frame) {
            Ok(id) => id,
            Err(source) => {
                break Error::Decode {
                    addr: shared.addr.clone(),
                    source,
                };
            }
        };
        let pending = shared.lock().in_flight.remove(&correlation_id);
        let Some(p) = pending else {
            break Error::UnknownCorrelationId {
                addr: shared.addr.clone(),
                correlation_id,
            };
        };
        trace!(server.address = %shared.addr, api = p.api, correlation_id, bytes = frame.len(), "recv");
        let _ = p.reply.send(Ok(frame));
    };
    shared.poison(error);
}

async fn write_loop(mut write: WriteHalf, shared: Arc<Shared>, mut frames: mpsc::UnboundedReceiver<Bytes>) {
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            () = shared.closed.notified() => None,
        };
        let Some(frame) = frame else {
            let _ = write.shutdown().await;
            return;
        };
        // Frames queued behind this one go out before the flush; over TLS the flush is what puts the
        // records on the socket (for TCP it is free).
        let mut written = write.write_all(&frame).await;
        while written.is_ok() {
            match frames.try_recv() {
                Ok(next) => written = write.write_all(&next).await,
                Err(_) => break,
            }
        }
        if let Err(e) = written.and(write.flush().await) {
            shared.poison(crate::transport::stream_error(&shared.addr, e));
            return;
        }
    }
}
