//! The fault-injection and observation side of [`Cluster`]: controls that answer, delay, edit or drop
//! requests, the shortcuts built on them (failing fetches, throttling), and the request log tests assert on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::ApiKey;

use crate::cluster::Cluster;
use crate::control::{Action, Control, ControlId, RequestInfo};
use crate::messages::TopicRef;
use crate::state::LoggedRequest;

impl Cluster {
    // ----- controls -----

    fn add_control(
        &self,
        times: Option<u64>,
        f: impl FnMut(&RequestInfo<'_>) -> Action + Send + 'static,
    ) -> ControlId {
        let id = ControlId(self.inner.next_control.fetch_add(1, Ordering::SeqCst));
        let control = Arc::new(Control::new(id, times, Box::new(f)));
        self.inner
            .all_controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, control.clone());
        self.inner
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(control);
        id
    }

    /// Adds a persistent control: `f` sees every request (after the ones added before it passed) and
    /// decides what happens. It runs on the broker's connection task: keep it quick, and do not call
    /// control methods of the cluster from inside it (changing the cluster's state is fine).
    pub fn control(&self, f: impl FnMut(&RequestInfo<'_>) -> Action + Send + 'static) -> ControlId {
        self.add_control(None, f)
    }

    /// Adds a control that is removed after it fired once (passing does not count).
    pub fn control_once(&self, f: impl FnMut(&RequestInfo<'_>) -> Action + Send + 'static) -> ControlId {
        self.add_control(Some(1), f)
    }

    /// Adds a control that is removed after it fired `times` times.
    pub fn control_times(
        &self,
        times: u64,
        f: impl FnMut(&RequestInfo<'_>) -> Action + Send + 'static,
    ) -> ControlId {
        self.add_control(Some(times), f)
    }

    /// Removes a control (no-op if it is gone already).
    pub fn remove_control(&self, id: ControlId) {
        self.inner
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| c.id != id);
    }

    /// How many times a control fired so far (also after it was used up or removed).
    pub fn fired(&self, id: ControlId) -> u64 {
        self.inner
            .all_controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map_or(0, |c| c.fired.load(Ordering::SeqCst))
    }

    /// Whether a one-shot or counted control is used up (or was removed).
    pub fn control_done(&self, id: ControlId) -> bool {
        !self
            .inner
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|c| c.id == id)
    }

    /// `times` Fetch answers that include `partition` of `topic` carry `code` for it instead of data
    /// (other partitions of the same response are untouched).
    pub fn fail_fetch(&self, topic: &TopicRef, partition: i32, code: ErrorCode, times: u64) -> ControlId {
        self.fail_fetch_on(None, topic, partition, code, times)
    }

    /// [`fail_fetch`](Self::fail_fetch) at one broker only: `times` Fetch answers of `broker` that
    /// include `partition` of `topic` carry `code` for it (e.g. at a preferred read replica, see
    /// [`prefer_read_replica`](Self::prefer_read_replica)).
    pub fn fail_fetch_at(
        &self,
        broker: i32,
        topic: &TopicRef,
        partition: i32,
        code: ErrorCode,
        times: u64,
    ) -> ControlId {
        self.fail_fetch_on(Some(broker), topic, partition, code, times)
    }

    fn fail_fetch_on(
        &self,
        broker: Option<i32>,
        topic: &TopicRef,
        partition: i32,
        code: ErrorCode,
        times: u64,
    ) -> ControlId {
        let topic = topic.clone();
        let scope = self.inner.clone();
        self.control_times(times, move |req| {
            let at = broker.is_none_or(|b| b == req.broker);
            if !at || !crate::broker::fetch_includes(&scope, req, &topic.name, partition) {
                return Action::pass();
            }
            let topic = topic.clone();
            Action::edit(move |resp| resp.set_fetch_error(&topic, partition, code))
        })
    }

    /// Whether a Fetch request will be answered for `partition` of `topic` (it lists it, or its fetch
    /// session holds it and it is not forgotten). For use inside controls.
    pub fn fetch_includes(&self, req: &RequestInfo<'_>, topic: &str, partition: i32) -> bool {
        crate::broker::fetch_includes(&self.inner, req, topic, partition)
    }

    // ----- observation -----

    /// Throttles `api` on `broker` (KIP-219) until the control is removed: each response says
    /// `throttle_time_ms` and the broker holds back the connection's next request for that long, as
    /// a broker enforcing a client quota does.
    pub fn throttle(&self, broker: i32, api: ApiKey, throttle: Duration) -> ControlId {
        let ms = i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX);
        self.control(move |req| {
            if req.broker == broker && req.api_key() == api {
                Action::edit(move |r| r.set_throttle_time_ms(ms))
            } else {
                Action::pass()
            }
        })
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.inner.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many requests of `api` any broker received.
    pub fn request_count(&self, api: ApiKey) -> usize {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.api_key() == api)
            .count()
    }

    /// How many requests of `api` `broker` received.
    pub fn request_count_to(&self, broker: i32, api: ApiKey) -> usize {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.api_key() == api && r.broker == broker)
            .count()
    }

    /// How many connections `broker` accepted.
    pub fn connections(&self, broker: i32) -> u64 {
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&broker)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until the control fired at least `times` times, at most `timeout`. Returns whether it did.
    pub async fn wait_fired(&self, id: ControlId, times: u64, timeout: Duration) -> bool {
        self.wait_for(timeout, |_| self.fired(id) >= times).await
    }

    /// Waits until `done` holds for the request log (checked now and after every request), at most
    /// `timeout`. Returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&[LoggedRequest]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let logged = self.inner.logged.notified();
            if done(&self.inner.log.lock().unwrap_or_else(|e| e.into_inner())) {
                return true;
            }
            tokio::select! {
                () = logged => {}
                () = tokio::time::sleep_until(deadline) => {
                    return done(&self.inner.log.lock().unwrap_or_else(|e| e.into_inner()));
                }
            }
        }
    }
}
