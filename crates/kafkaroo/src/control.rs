//! What the application does to its assigned partitions (pause, resume, seek), on the fetch engine's
//! state. Shared by [`Consumer`](crate::Consumer) and the [`RebalanceContext`](crate::RebalanceContext)
//! a rebalance listener gets.
//!
//! Pause keeps what was fetched (as Java's consumer does since KAFKA-7548): the buffered data of a
//! paused partition stays, is not handed out while it is paused, and is handed out after `resume`
//! without being fetched again; a fetch in flight when it was paused lands in the buffer too. Records
//! `recv` had taken out of a poll batch are held back with the partition and come first after
//! `resume`. A seek drops all of it. When the memory budget is spent and nothing else would free
//! memory (no fetch in flight, nothing left for `poll`), the data kept for paused partitions is
//! dropped (and fetched again after `resume`, `EngineState::evict_paused`), so it cannot stop the
//! other partitions.

use crate::engine::{EngineState, OffsetSpec, Shared};
use crate::error::Error;
use crate::record::TopicPartition;

/// Every partition of `tps` must be assigned; nothing changes otherwise.
fn check_assigned(st: &EngineState, tps: &[TopicPartition]) -> Result<(), Error> {
    match tps.iter().find(|tp| !st.partitions.contains_key(*tp)) {
        Some(tp) => Err(Error::NotAssigned {
            partition: tp.clone(),
        }),
        None => Ok(()),
    }
}

/// Moves each of `tps` to `position`, or with `None` to `reset` (after dropping its buffered,
/// in-flight and held data).
fn reposition(
    shared: &Shared,
    tps: &[TopicPartition],
    position: Option<i64>,
    reset: Option<OffsetSpec>,
) -> Result<(), Error> {
    let mut st = shared.lock();
    check_assigned(&st, tps)?;
    for tp in tps {
        // Records `recv` still holds for the partition go back to the log (position rewound), then
        // the new position applies.
        st.take_back_undelivered(tp);
        let version = st.bump_version();
        let p = st.partitions.get_mut(tp).expect("checked above");
        p.reposition(version, position, reset, shared.config.isolation_level);
    }
    drop(st);
    shared.driver_wake.notify_one();
    Ok(())
}

/// [`Consumer::seek`](crate::Consumer::seek).
pub(crate) fn seek(shared: &Shared, tp: &TopicPartition, offset: i64) -> Result<(), Error> {
    if offset < 0 {
        return Err(Error::Config(format!(
            "cannot seek {tp} to negative offset {offset}"
        )));
    }
    reposition(shared, std::slice::from_ref(tp), Some(offset), None)
}

/// Seeks `tps` to the beginning, the end or a timestamp, resolved by the engine.
pub(crate) fn seek_spec(shared: &Shared, tps: &[TopicPartition], spec: OffsetSpec) -> Result<(), Error> {
    reposition(shared, tps, None, Some(spec))
}

/// [`Consumer::pause`](crate::Consumer::pause): stops fetching and handing out `tps`, keeping what
/// was fetched.
pub(crate) fn pause(shared: &Shared, tps: &[TopicPartition]) -> Result<(), Error> {
    let mut st = shared.lock();
    check_assigned(&st, tps)?;
    for tp in tps {
        let mine = |r: &crate::record::ConsumerRecord| r.partition == tp.partition && *r.topic == *tp.topic;
        let held: Vec<_> = st.undelivered.iter().filter(|r| mine(r)).cloned().collect();
        st.undelivered.retain(|r| !mine(r));
        st.partitions.get_mut(tp).expect("checked above").pause(held);
    }
    drop(st);
    shared.driver_wake.notify_one();
    Ok(())
}

/// [`Consumer::resume`](crate::Consumer::resume): hands out what was kept, then fetches from there.
pub(crate) fn resume(shared: &Shared, tps: &[TopicPartition]) -> Result<(), Error> {
    let mut st = shared.lock();
    check_assigned(&st, tps)?;
    let mut ready = false;
    for tp in tps {
        let p = st.partitions.get_mut(tp).expect("checked above");
        let held = p.resume();
        ready |= p.has_buffered() || !held.is_empty();
        // No record of a paused partition is in `undelivered`: the held ones keep their order.
        st.undelivered.extend(held);
    }
    drop(st);
    shared.driver_wake.notify_one();
    if ready {
        shared.data_ready.notify_one();
    }
    Ok(())
}

/// The paused partitions.
pub(crate) fn paused(shared: &Shared) -> Vec<TopicPartition> {
    shared
        .lock()
        .partitions
        .iter()
        .filter(|(_, p)| p.is_paused())
        .map(|(tp, _)| tp.clone())
        .collect()
}
