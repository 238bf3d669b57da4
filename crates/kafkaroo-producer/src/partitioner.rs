//! Which partition a record goes to, as the Java producer decides it: a keyed record by
//! `toPositive(murmur2(key)) % partitions` over all the topic's partitions (so a key always lands where
//! Java's producer puts it, and where librdkafka's `murmur2_random` does); a record without a key on
//! the topic's sticky partition, which changes once `batch.size` bytes went to it (KIP-794), to a
//! random partition that has a leader.

/// Java's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, little-endian words.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's producer picks for `key` in a topic of `partitions` partitions (`partitions`
/// must be positive).
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    // Java's toPositive: clear the sign bit (not abs, which differs for negative values).
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    (positive as usize % partitions.max(1)) as i32
}

/// Per-topic state of the sticky partitioner for records without a key.
#[derive(Debug, Default)]
pub(crate) struct Sticky {
    current: Option<i32>,
    produced: usize,
}

impl Sticky {
    /// The sticky partition, choosing a new one if there is none (tests).
    #[cfg(test)]
    pub(crate) fn partition(&mut self, available: &[i32], count: usize, random: f64) -> i32 {
        match self.current(count) {
            Some(p) => p,
            None => self.choose(available, count, random),
        }
    }

    /// The sticky partition, if there is one and it still exists.
    pub(crate) fn current(&self, count: usize) -> Option<i32> {
        self.current.filter(|p| *p >= 0 && (*p as usize) < count)
    }

    /// Chooses a new sticky partition from `available` (partitions with a leader; all of `0..count`
    /// when none has). `random` is uniform in `[0, 1)`.
    pub(crate) fn choose(&mut self, available: &[i32], count: usize, random: f64) -> i32 {
        let p = pick(available, count, self.current, random);
        self.current = Some(p);
        self.produced = 0;
        p
    }

    /// Counts `bytes` appended to the sticky partition; after `batch_size` of them the next record
    /// starts a new sticky partition.
    pub(crate) fn appended(&mut self, partition: i32, bytes: usize, batch_size: usize) {
        if self.current == Some(partition) {
            self.produced += bytes;
            if self.produced >= batch_size {
                self.current = self.current.map(|p| -p - 1); // "switch away from p" marker
            }
        }
    }
}

/// A random partition of `available` (or of `0..count`), avoiding the one encoded in `previous` by
/// [`Sticky::appended`] when there is another choice.
fn pick(available: &[i32], count: usize, previous: Option<i32>, random: f64) -> i32 {
    let avoid = previous.filter(|p| *p < 0).map(|p| -p - 1);
    let all: Vec<i32>;
    let choices = if available.is_empty() {
        all = (0..count as i32).collect();
        &all[..]
    } else {
        available
    };
    let candidates =
        choices.len() - usize::from(choices.len() > 1 && avoid.is_some_and(|a| choices.contains(&a)));
    let mut index =
        ((random.clamp(0.0, 0.999_999) * candidates as f64) as usize).min(candidates.saturating_sub(1));
    if let Some(a) = avoid.filter(|_| candidates < choices.len()) {
        let at = choices.iter().position(|p| *p == a).unwrap_or(usize::MAX);
        if index >= at {
            index += 1;
        }
    }
    choices.get(index).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with `org.apache.kafka.common.utils.Utils.murmur2` and `toPositive` from the
    /// kafka-clients 4.4.0 jar cached by the test harness: (key, murmur2, % 3, % 7, % 100).
    const JAVA: &[(&str, i32, i32, i32, i32)] = &[
        ("", 275646681, 0, 2, 81),
        ("a", -1563381124, 1, 5, 24),
        ("ab", 316155434, 2, 0, 34),
        ("abc", 479470107, 0, 4, 7),
        ("abcd", -1323649548, 2, 5, 0),
        ("hello", 2132663229, 0, 4, 29),
        ("key-0", 29210041, 1, 0, 41),
        ("key-1", 193331640, 0, 5, 40),
        ("key-17", 956945460, 0, 2, 60),
        ("kafkaroo", 275121467, 2, 5, 67),
        ("0", 971027396, 2, 3, 96),
        ("1", -1993445489, 0, 2, 59),
        ("128", -326012175, 2, 3, 73),
        ("été", -2101193575, 1, 4, 73),
        ("a longer key with 31 bytes!!!!", 621625841, 2, 4, 41),
    ];

    #[test]
    fn murmur2_matches_java() {
        for (key, hash, p3, p7, p100) in JAVA {
            assert_eq!(murmur2(key.as_bytes()), *hash, "{key:?}");
            assert_eq!(partition_for_key(key.as_bytes(), 3), *p3, "{key:?} % 3");
            assert_eq!(partition_for_key(key.as_bytes(), 7), *p7, "{key:?} % 7");
            assert_eq!(partition_for_key(key.as_bytes(), 100), *p100, "{key:?} % 100");
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(murmur2(&bytes), -1948347274);
        assert_eq!(partition_for_key(&bytes, 7), 3);
    }

    #[test]
    fn sticky_switches_after_a_batch_and_avoids_the_last_partition() {
        let mut s = Sticky::default();
        let p = s.partition(&[0, 1, 2], 3, 0.5);
        assert_eq!(p, 1);
        s.appended(p, 600, 1000);
        assert_eq!(s.partition(&[0, 1, 2], 3, 0.0), 1, "still sticky");
        s.appended(p, 600, 1000);
        for r in [0.0, 0.3, 0.6, 0.99] {
            let mut t = Sticky {
                current: s.current,
                produced: 0,
            };
            assert_ne!(
                t.partition(&[0, 1, 2], 3, r),
                1,
                "moves away from a full partition"
            );
        }
        let next = s.partition(&[0, 1, 2], 3, 0.99);
        assert_eq!(next, 2);
        // One partition only: it stays there.
        let mut one = Sticky::default();
        let p = one.partition(&[], 1, 0.7);
        one.appended(p, 10_000, 10);
        assert_eq!(one.partition(&[], 1, 0.7), 0);
        // Only partitions with a leader are chosen.
        let mut s = Sticky::default();
        for r in [0.0, 0.5, 0.99] {
            s.current = None;
            assert_eq!(s.partition(&[4], 6, r), 4);
        }
    }
}
