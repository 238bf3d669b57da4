//! The member's events applied to the fetch engine (on the group task), and the membership
//! callbacks run on the application's task (`poll`, `recv`, `close`), in the order the changes
//! happened.

use std::time::Instant;

use kafkaroo_group::TopicPartition;
use kafkaroo_group::member::{CommitKind, GroupEvent, MemberState};
use tracing::{debug, info, warn};

use super::listener::RebalanceContext;
use super::{Callback, GroupShared, Inner};
use crate::commit::outcome_result;
use crate::error::Error;
use crate::telemetry::group_error_type;

impl GroupShared {
    /// Applies the member's events to the fetch engine and queues the callbacks for the
    /// application's task. Called with the group state locked, on the group task.
    pub(super) fn apply_events(&self, inner: &mut Inner) {
        let mut wake_app = false;
        while let Some(event) = inner.member.poll_event() {
            let now = Instant::now();
            match event {
                GroupEvent::StateChanged { from, to, cause } => {
                    debug!(?from, ?to, ?cause, "group member state changed");
                    let generation = inner.member.generation();
                    if let Some(took) = inner.spans.state_changed(to, generation, now) {
                        inner.rebalances += 1;
                        self.engine.telemetry.rebalanced(took, cause);
                    }
                    if matches!(to, MemberState::Stable | MemberState::Unjoined) {
                        // Partitions revoked in the rebalance that just ended and not assigned back.
                        inner.stopped.clear();
                    }
                    self.engine.telemetry.member_state(to, generation);
                    self.engine.telemetry.assigned(inner.member.assignment().len());
                }
                GroupEvent::Assigned {
                    generation,
                    partitions,
                } => {
                    info!(generation, count = partitions.len(), "partitions assigned");
                    // Assigned at once (as in Java), so that `on_assigned` can pause or seek them; they
                    // are not fetched before their committed offsets are known (or a seek sets one).
                    let mut st = self.engine.lock();
                    // Paused since it was revoked (retained), or since this member learned of the
                    // rebalance (gained; with KIP-848 an assignment may come without one: now).
                    let learned = inner.spans.rebalance_started().unwrap_or(now);
                    for tp in &partitions {
                        if let (p, true) = st.add_partition(tp, &self.engine.telemetry) {
                            p.await_committed();
                            let timer = match inner.stopped.remove(tp) {
                                Some(since) => self.engine.telemetry.pause_timer(true, since),
                                None => self.engine.telemetry.pause_timer(false, learned),
                            };
                            p.time_pause(timer);
                        }
                    }
                    drop(st);
                    self.engine.telemetry.assigned(inner.member.assignment().len());
                    inner.callbacks.push_back(Callback::Assigned(partitions));
                    wake_app = true;
                }
                GroupEvent::OffsetsFetched { offsets } => {
                    let isolation = self.engine.config.isolation_level;
                    let mut st = self.engine.lock();
                    for c in offsets {
                        let tp = c.partition.clone();
                        let position = c.offset;
                        let epoch = c.leader_epoch.filter(|e| *e >= 0);
                        if let (Some(p), Some(committed)) = (st.partitions.get_mut(&tp), position) {
                            p.set_committed(committed, isolation);
                        }
                        match st.partitions.get_mut(&tp) {
                            // A seek (in `on_assigned`) overrides the committed offset.
                            Some(p) if p.is_awaiting_committed() => p.start_from_committed(position, epoch),
                            Some(_) => {}
                            None if inner.member.owns(&tp) => {
                                let (p, _) = st.add_partition(&tp, &self.engine.telemetry);
                                p.start_from_committed(position, epoch);
                                if let Some(committed) = position {
                                    p.set_committed(committed, isolation);
                                }
                            }
                            None => {}
                        }
                    }
                    drop(st);
                    self.engine.driver_wake.notify_one();
                    self.engine.resolved.notify_waiters();
                }
                GroupEvent::Revoked { partitions } => {
                    info!(count = partitions.len(), "partitions revoked");
                    inner
                        .stopped
                        .extend(partitions.iter().map(|tp| (tp.clone(), now)));
                    // Nothing of them is handed out from now on; what was handed out is final.
                    let positions = self.purge(&partitions);
                    inner
                        .revoking_positions
                        .extend(positions.iter().map(|p| (p.partition.clone(), p.clone())));
                    inner
                        .callbacks
                        .push_back(Callback::Revoked(partitions, positions));
                    wake_app = true;
                }
                GroupEvent::Lost { partitions, reason } => {
                    warn!(count = partitions.len(), %reason, "partitions lost");
                    inner
                        .stopped
                        .extend(partitions.iter().map(|tp| (tp.clone(), now)));
                    self.purge(&partitions);
                    self.engine.telemetry.assigned(inner.member.assignment().len());
                    inner.callbacks.push_back(Callback::Lost(partitions));
                    wake_app = true;
                }
                GroupEvent::CommitResult(outcome) => {
                    if !outcome.is_ok() {
                        warn!(failed = ?outcome.failed, "commit failed");
                        let error_type = outcome
                            .failed
                            .first()
                            .map_or("other", |(_, e)| group_error_type(e));
                        self.engine.telemetry.commit_failed(error_type);
                    }
                    let id = outcome.id;
                    if let Some(sent) = inner.committing.remove(&id) {
                        self.committed(&sent, &outcome.committed);
                    }
                    if inner.auto_commit == Some(id) {
                        inner.auto_commit = None;
                    }
                    if let Some(tx) = inner.waiters.remove(&id) {
                        let _ = tx.send(outcome_result(outcome));
                    }
                    if inner.revoke_commits.remove(&id)
                        && inner.revoke_commits.is_empty()
                        && inner.revoke_waiting
                    {
                        inner.revoke_waiting = false;
                        inner.member.revocation_done(now);
                        // `run_callbacks` stopped at the revocation: the callbacks queued behind it
                        // (the new assignment, which the member's next join waits for) need the
                        // application's task even when no record arrives to wake it.
                        wake_app |= !inner.callbacks.is_empty();
                    }
                }
                GroupEvent::Fatal(e) => {
                    warn!(error = %e, "group membership failed");
                    let e = Error::from_group(e);
                    for (_, tx) in inner.waiters.drain() {
                        let _ = tx.send(Err(e.clone()));
                    }
                    inner.committing.clear();
                    inner.fatal = Some(e);
                    wake_app = true;
                    self.changed.notify_waiters();
                }
                GroupEvent::Closed => {
                    inner.closed = true;
                    self.changed.notify_waiters();
                }
            }
        }
        if wake_app {
            // A `poll` waiting for data runs the callbacks.
            self.engine.data_ready.notify_one();
            self.changed.notify_waiters();
        }
    }

    /// A commit of `sent` succeeded for the partitions in `accepted`: their committed offsets (and the
    /// lag from them) are these now.
    fn committed(&self, sent: &[(TopicPartition, i64)], accepted: &[TopicPartition]) {
        let isolation = self.engine.config.isolation_level;
        let mut st = self.engine.lock();
        for (tp, offset) in sent.iter().filter(|(tp, _)| accepted.contains(tp)) {
            if let Some(p) = st.partitions.get_mut(tp) {
                p.set_committed(*offset, isolation);
            }
        }
    }

    /// Runs queued membership callbacks on the application's task: the listener, then the commits
    /// that must land before revoked partitions are released. Called by `poll`, `recv` and `close`.
    pub(crate) fn run_callbacks(&self) {
        loop {
            let (callback, mut listener) = {
                let mut inner = self.lock();
                // One revocation at a time: the member acknowledges each before the next one.
                if inner.revoke_waiting {
                    return;
                }
                let Some(callback) = inner.callbacks.pop_front() else {
                    return;
                };
                if matches!(callback, Callback::Revoked(..)) {
                    inner.collecting_revoke_commits = true;
                }
                let listener = inner.listener.take();
                (callback, listener)
            };
            // The listener runs without the lock held, so it may commit, pause or seek.
            if let Some(l) = listener.as_mut() {
                let mut ctx = RebalanceContext::new(self);
                match &callback {
                    Callback::Assigned(tps) => l.on_assigned_with(&mut ctx, tps),
                    Callback::Revoked(tps, _) => l.on_revoked_with(&mut ctx, tps),
                    Callback::Lost(tps) => l.on_lost_with(&mut ctx, tps),
                }
            }
            let mut inner = self.lock();
            if inner.listener.is_none() {
                inner.listener = listener;
            }
            inner.collecting_revoke_commits = false;
            let now = Instant::now();
            match callback {
                Callback::Assigned(_) => inner.member.assignment_done(now),
                Callback::Revoked(tps, positions) => {
                    inner.commits.forget(&tps);
                    for tp in &tps {
                        inner.revoking_positions.remove(tp);
                    }
                    if self.engine.config.enable_auto_commit && !positions.is_empty() {
                        let deadline = now + self.engine.config.request_timeout;
                        match inner.commit(positions, CommitKind::Sync { deadline }, now) {
                            Ok(id) => {
                                inner.revoke_commits.insert(id);
                            }
                            Err(e) => {
                                warn!(error = %e, "commit on revoke refused");
                                self.engine.telemetry.commit_failed(group_error_type(&e));
                            }
                        }
                    }
                    if inner.revoke_commits.is_empty() {
                        inner.member.revocation_done(now);
                    } else {
                        inner.revoke_waiting = true;
                    }
                }
                Callback::Lost(tps) => {
                    inner.commits.forget(&tps);
                    for tp in &tps {
                        inner.revoking_positions.remove(tp);
                    }
                }
            }
            drop(inner);
            self.wake.notify_one();
        }
    }
}
