//! Incremental fetch sessions (KIP-227), per broker. Pure bookkeeping: which partitions the broker's
//! session holds with which fetch parameters, what the next request must carry (changed partitions and
//! forgotten ones), and how responses and errors move the session on.
//!
//! | session id | epoch | meaning                     |
//! |-----------:|------:|-----------------------------|
//! | 0          | -1    | full fetch, no session      |
//! | 0          | 0     | full fetch, create a session|
//! | id         | n > 0 | incremental fetch           |

use std::collections::BTreeMap;

use crate::record::TopicPartition;

/// What the session remembers about a partition: a change in any field means it must be resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionPartition {
    pub(crate) fetch_offset: i64,
    pub(crate) current_leader_epoch: i32,
    pub(crate) last_fetched_epoch: i32,
    pub(crate) log_start_offset: i64,
    pub(crate) max_bytes: i32,
    /// The engine's partition state this belongs to (see `plan`).
    pub(crate) incarnation: u64,
}

/// What one fetch request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRequest {
    pub(crate) session_id: i32,
    pub(crate) epoch: i32,
    /// Partitions to list in `topics` (all of them for a full fetch).
    pub(crate) send: Vec<TopicPartition>,
    /// Partitions to list in `forgotten_topics_data`.
    pub(crate) forget: Vec<TopicPartition>,
    pub(crate) full: bool,
}

#[derive(Debug, Default)]
pub(crate) struct FetchSession {
    enabled: bool,
    id: i32,
    next_epoch: i32,
    held: BTreeMap<TopicPartition, SessionPartition>,
}

impl FetchSession {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            id: 0,
            next_epoch: 0,
            held: BTreeMap::new(),
        }
    }

    /// The request for the partitions to fetch now, with their parameters.
    pub(crate) fn plan(&self, wanted: &BTreeMap<TopicPartition, SessionPartition>) -> SessionRequest {
        if !self.enabled {
            return SessionRequest {
                session_id: 0,
                epoch: -1,
                send: wanted.keys().cloned().collect(),
                forget: Vec::new(),
                full: true,
            };
        }
        // A partition removed and added back between two requests (revoked and re-assigned) looks
        // unchanged to the session, and the broker answers only partitions whose data or watermarks
        // changed: the new state would never learn its watermarks. A full fetch in a new session
        // answers every partition.
        let recreated = wanted
            .iter()
            .any(|(tp, p)| self.held.get(tp).is_some_and(|h| h.incarnation != p.incarnation));
        if self.id == 0 || recreated {
            return SessionRequest {
                session_id: 0,
                epoch: 0,
                send: wanted.keys().cloned().collect(),
                forget: Vec::new(),
                full: true,
            };
        }
        let send = wanted
            .iter()
            .filter(|(tp, p)| self.held.get(*tp) != Some(p))
            .map(|(tp, _)| tp.clone())
            .collect();
        let forget = self
            .held
            .keys()
            .filter(|tp| !wanted.contains_key(*tp))
            .cloned()
            .collect();
        SessionRequest {
            session_id: self.id,
            epoch: self.next_epoch,
            send,
            forget,
            full: false,
        }
    }

    /// The broker answered the request `sent` (planned from `wanted`) without a session-level error.
    pub(crate) fn on_response(
        &mut self,
        sent: &SessionRequest,
        response_session_id: i32,
        wanted: BTreeMap<TopicPartition, SessionPartition>,
    ) {
        if !self.enabled {
            return;
        }
        if sent.full {
            if response_session_id == 0 {
                // The broker declined a session (e.g. its cache is full): stay on full fetches.
                self.reset();
                return;
            }
            self.id = response_session_id;
            self.next_epoch = 1;
        } else {
            self.next_epoch = if self.next_epoch == i32::MAX {
                1
            } else {
                self.next_epoch + 1
            };
        }
        self.held = wanted;
    }

    /// The session is gone (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, a broken
    /// connection): the next request is a full fetch creating a new one.
    pub(crate) fn reset(&mut self) {
        self.id = 0;
        self.next_epoch = 0;
        self.held.clear();
    }

    #[cfg(test)]
    pub(crate) fn id(&self) -> i32 {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(offset: i64) -> SessionPartition {
        SessionPartition {
            fetch_offset: offset,
            current_leader_epoch: 0,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            max_bytes: 1024,
            incarnation: 1,
        }
    }

    fn tp(i: i32) -> TopicPartition {
        TopicPartition::new("t", i)
    }

    #[test]
    fn full_then_incremental_with_changes_and_forgotten_partitions() {
        let mut s = FetchSession::new(true);
        let wanted: BTreeMap<_, _> = [(tp(0), p(0)), (tp(1), p(5))].into();
        let first = s.plan(&wanted);
        assert_eq!((first.session_id, first.epoch, first.full), (0, 0, true));
        assert_eq!(first.send, vec![tp(0), tp(1)]);
        s.on_response(&first, 42, wanted.clone());
        assert_eq!(s.id(), 42);

        // Nothing changed: an incremental fetch with no partitions.
        let second = s.plan(&wanted);
        assert_eq!((second.session_id, second.epoch, second.full), (42, 1, false));
        assert!(second.send.is_empty() && second.forget.is_empty());
        s.on_response(&second, 42, wanted);

        // Partition 0 advanced, partition 1 is no longer wanted (paused or buffered), 2 is new.
        let wanted: BTreeMap<_, _> = [(tp(0), p(10)), (tp(2), p(0))].into();
        let third = s.plan(&wanted);
        assert_eq!(third.epoch, 2);
        assert_eq!(third.send, vec![tp(0), tp(2)]);
        assert_eq!(third.forget, vec![tp(1)]);
        s.on_response(&third, 42, wanted.clone());

        // A session error resets to a full fetch that creates a new session.
        s.reset();
        let fourth = s.plan(&wanted);
        assert_eq!((fourth.session_id, fourth.epoch, fourth.full), (0, 0, true));
        assert_eq!(fourth.send, vec![tp(0), tp(2)]);
    }

    #[test]
    fn a_partition_added_back_between_requests_forces_a_full_fetch() {
        let mut s = FetchSession::new(true);
        let wanted: BTreeMap<_, _> = [(tp(0), p(7)), (tp(1), p(3))].into();
        let first = s.plan(&wanted);
        s.on_response(&first, 42, wanted.clone());
        // Same parameters, but partition 1 is a new incarnation (revoked and re-assigned).
        let mut again = wanted.clone();
        again.get_mut(&tp(1)).unwrap().incarnation = 2;
        let r = s.plan(&again);
        assert_eq!((r.session_id, r.epoch, r.full), (0, 0, true), "{r:?}");
        assert_eq!(r.send, vec![tp(0), tp(1)]);
        s.on_response(&r, 43, again.clone());
        assert_eq!(s.id(), 43);
        let next = s.plan(&again);
        assert_eq!((next.session_id, next.epoch, next.full), (43, 1, false));
        assert!(next.send.is_empty());
    }

    #[test]
    fn disabled_sessions_always_send_full_fetches_without_a_session() {
        let mut s = FetchSession::new(false);
        let wanted: BTreeMap<_, _> = [(tp(0), p(0))].into();
        let r = s.plan(&wanted);
        assert_eq!((r.session_id, r.epoch, r.full), (0, -1, true));
        s.on_response(&r, 0, wanted.clone());
        assert_eq!(s.plan(&wanted).epoch, -1);
    }

    #[test]
    fn broker_declining_a_session_keeps_full_fetches() {
        let mut s = FetchSession::new(true);
        let wanted: BTreeMap<_, _> = [(tp(0), p(0))].into();
        let r = s.plan(&wanted);
        s.on_response(&r, 0, wanted.clone());
        let again = s.plan(&wanted);
        assert_eq!((again.session_id, again.epoch, again.full), (0, 0, true));
    }
}
