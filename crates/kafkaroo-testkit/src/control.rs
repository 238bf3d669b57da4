//! Fault injection, in the spirit of franz-go's kfake `ControlKey`: a control sees every request before the
//! broker answers it and decides what happens: nothing special, an edited or replaced response, a delay,
//! silence, a broken connection or bytes that are not a valid frame.
//!
//! Controls are tried in the order they were added; the first that does not [`Action::pass`] wins. A
//! one-shot control ([`Cluster::control_once`](crate::Cluster::control_once)) is removed after it fired.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::{ApiKey, FetchRequest};

use crate::messages::{Request, Response, TopicRef};

/// What a control sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The node id of the broker that received it.
    pub broker: i32,
    /// Which connection (numbered from 1 per cluster, in accept order).
    pub connection: u64,
    /// The API version.
    pub version: i16,
    /// The correlation id from the header.
    pub correlation_id: i32,
    /// The decoded request.
    pub request: &'a Request,
}

impl RequestInfo<'_> {
    /// The API key.
    pub fn api_key(&self) -> ApiKey {
        self.request.api_key()
    }

    /// The Fetch request, if it is one.
    pub fn fetch(&self) -> Option<&FetchRequest> {
        self.request.as_fetch()
    }

    /// The answer a broker gives this request when it fails as a whole with `code` (e.g.
    /// COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, REQUEST_TIMED_OUT), in the request's version:
    /// the top-level error field, or every requested partition's. `None` for APIs other than the group
    /// APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch).
    pub fn error_response(&self, code: ErrorCode) -> Option<Response> {
        crate::group_wire::error_response(self.request, self.version, code)
    }

    /// Whether this is a Fetch whose partitions (the ones listed in it) include `partition` of `topic`.
    pub fn fetches(&self, topic: &TopicRef, partition: i32) -> bool {
        self.fetch().is_some_and(|f| {
            f.topics.iter().any(|t| {
                (t.topic.0.as_str() == topic.name || (t.topic_id == topic.id && !t.topic_id.is_nil()))
                    && t.partitions.iter().any(|p| p.partition == partition)
            })
        })
    }

    /// The fetch offset a Fetch asks for `partition` of `topic`, if it lists it.
    pub fn fetch_offset(&self, topic: &TopicRef, partition: i32) -> Option<i64> {
        self.fetch()?
            .topics
            .iter()
            .filter(|t| t.topic.0.as_str() == topic.name || (t.topic_id == topic.id && !t.topic_id.is_nil()))
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition == partition)
            .map(|p| p.fetch_offset)
    }
}

pub(crate) type EditFn = Box<dyn FnOnce(&mut Response) + Send>;

pub(crate) enum Kind {
    Pass,
    Handle,
    Edit(EditFn),
    Respond(Response),
    BlackHole,
    Close,
    CloseMidResponse,
    Raw(Bytes),
    CorrelationId(i32),
}

/// What a control decides for one request. Build one with the constructors; [`Action::after`] delays
/// whatever it does.
pub struct Action {
    pub(crate) kind: Kind,
    pub(crate) delay: Option<Duration>,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Pass => "pass",
            Kind::Handle => "handle",
            Kind::Edit(_) => "edit",
            Kind::Respond(_) => "respond",
            Kind::BlackHole => "black_hole",
            Kind::Close => "close",
            Kind::CloseMidResponse => "close_mid_response",
            Kind::Raw(_) => "raw",
            Kind::CorrelationId(_) => "correlation_id",
        };
        f.debug_struct("Action")
            .field("kind", &kind)
            .field("delay", &self.delay)
            .finish()
    }
}

impl Action {
    fn of(kind: Kind) -> Self {
        Self { kind, delay: None }
    }

    /// Not for this control: the next control decides (or the broker answers normally). A one-shot
    /// control that passes stays armed.
    pub fn pass() -> Self {
        Self::of(Kind::Pass)
    }

    /// Matched, answered normally (with [`Action::after`]: a slow broker). Counts as fired.
    pub fn handle() -> Self {
        Self::of(Kind::Handle)
    }

    /// The broker answers, then `edit` changes the response before it is encoded and sent.
    pub fn edit(edit: impl FnOnce(&mut Response) + Send + 'static) -> Self {
        Self::of(Kind::Edit(Box::new(edit)))
    }

    /// Sends `response` instead of the broker's answer (the broker's state is not touched).
    pub fn respond(response: Response) -> Self {
        Self::of(Kind::Respond(response))
    }

    /// Never answers. The connection stays open and answers nothing more either (requests are answered
    /// in order, so nothing can overtake the lost one): a stalled or partitioned broker.
    pub fn black_hole() -> Self {
        Self::of(Kind::BlackHole)
    }

    /// Closes the connection without answering.
    pub fn close() -> Self {
        Self::of(Kind::Close)
    }

    /// Writes the first half of the response frame, then closes the connection.
    pub fn close_mid_response() -> Self {
        Self::of(Kind::CloseMidResponse)
    }

    /// Writes `bytes` instead of the response frame (a bogus size, HTTP, garbage), then keeps serving.
    pub fn raw(bytes: impl Into<Bytes>) -> Self {
        Self::of(Kind::Raw(bytes.into()))
    }

    /// Answers normally but with this correlation id in the response header.
    pub fn correlation_id(id: i32) -> Self {
        Self::of(Kind::CorrelationId(id))
    }

    /// Waits `delay` before doing what the action says.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub(crate) fn is_pass(&self) -> bool {
        matches!(self.kind, Kind::Pass)
    }
}

/// Identifies a control, to remove it or ask how often it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControlId(pub(crate) u64);

type ControlFn = Box<dyn FnMut(&RequestInfo<'_>) -> Action + Send>;

pub(crate) struct Control {
    pub(crate) id: ControlId,
    /// How many more times it may fire (`None`: forever).
    remaining: Mutex<Option<u64>>,
    f: Mutex<ControlFn>,
    pub(crate) fired: AtomicU64,
}

impl Control {
    pub(crate) fn new(id: ControlId, times: Option<u64>, f: ControlFn) -> Self {
        Self {
            id,
            remaining: Mutex::new(times),
            f: Mutex::new(f),
            fired: AtomicU64::new(0),
        }
    }

    /// Runs the control; `None` when it passed or is used up. The second value says it is now used up.
    pub(crate) fn run(&self, info: &RequestInfo<'_>) -> (Option<Action>, bool) {
        let mut remaining = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        if *remaining == Some(0) {
            return (None, true);
        }
        let action = (self.f.lock().unwrap_or_else(|e| e.into_inner()))(info);
        if action.is_pass() {
            return (None, false);
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = remaining.as_mut() {
            *n -= 1;
        }
        (Some(action), *remaining == Some(0))
    }
}
