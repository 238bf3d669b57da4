//! `-o` offset specs, as kcat reads them.

use std::fmt;

/// Where consumption starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// `beginning`: the log start offset (kcat's default).
    Beginning,
    /// `end`: only records produced from now on.
    End,
    /// `stored`: the committed offset of the consumer group (`-X group.id` or `-G`).
    Stored,
    /// `N`: an absolute offset.
    Absolute(i64),
    /// `-N`: N records before the end, per partition (not before the log start).
    Tail(i64),
    /// `s@T`: the first record with a timestamp at or after T (ms).
    Timestamp(i64),
}

/// All `-o` options together: the last start spec wins, `e@T` sets a stop timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetSpec {
    pub(crate) start: Start,
    /// `e@T`: stop a partition at its first record with a timestamp at or after T (not printed).
    pub(crate) stop_timestamp: Option<i64>,
}

impl Default for OffsetSpec {
    fn default() -> Self {
        Self {
            start: Start::Beginning,
            stop_timestamp: None,
        }
    }
}

/// An `-o` value that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadOffset(pub(crate) String);

impl fmt::Display for BadOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid offset {:?}: expected beginning, end, stored, <N>, -<N>, s@<timestamp ms> or e@<timestamp ms>",
            self.0
        )
    }
}

impl std::error::Error for BadOffset {}

fn number(s: &str, whole: &str) -> Result<i64, BadOffset> {
    s.trim().parse().map_err(|_| BadOffset(whole.to_owned()))
}

impl OffsetSpec {
    /// Applies one `-o` value.
    pub(crate) fn apply(&mut self, value: &str) -> Result<(), BadOffset> {
        match value {
            "beginning" => self.start = Start::Beginning,
            "end" => self.start = Start::End,
            "stored" => self.start = Start::Stored,
            v if v.starts_with("s@") => self.start = Start::Timestamp(number(&v[2..], v)?),
            v if v.starts_with("e@") => self.stop_timestamp = Some(number(&v[2..], v)?),
            v => {
                let n = number(v, v)?;
                // kcat: a negative number is relative to the end; "-0" is the absolute offset 0.
                self.start = if n < 0 {
                    Start::Tail(n.checked_neg().ok_or_else(|| BadOffset(v.to_owned()))?)
                } else {
                    Start::Absolute(n)
                };
            }
        }
        Ok(())
    }

    /// Parses the `-o` values in order.
    pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, BadOffset> {
        let mut spec = Self::default();
        for v in values {
            spec.apply(v)?;
        }
        Ok(spec)
    }
}

/// The start offset for `-o -N`: `end - n`, not below `log_start`.
pub(crate) fn tail_offset(log_start: i64, end: i64, n: i64) -> i64 {
    end.saturating_sub(n).max(log_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(v: &str) -> Start {
        OffsetSpec::parse([v]).unwrap().start
    }

    #[test]
    fn forms() {
        assert_eq!(OffsetSpec::parse([]).unwrap().start, Start::Beginning);
        assert_eq!(start("beginning"), Start::Beginning);
        assert_eq!(start("end"), Start::End);
        assert_eq!(start("stored"), Start::Stored);
        assert_eq!(start("17"), Start::Absolute(17));
        assert_eq!(start("0"), Start::Absolute(0));
        assert_eq!(start("-0"), Start::Absolute(0));
        assert_eq!(start("-5"), Start::Tail(5));
        assert_eq!(start("s@1700000000000"), Start::Timestamp(1_700_000_000_000));
        let both = OffsetSpec::parse(["s@10", "e@20"]).unwrap();
        assert_eq!(both.start, Start::Timestamp(10));
        assert_eq!(both.stop_timestamp, Some(20));
        assert_eq!(
            OffsetSpec::parse(["end", "3"]).unwrap().start,
            Start::Absolute(3),
            "last wins"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "begin", "s@", "s@x", "e@1.5", "12abc", "--1"] {
            let err = OffsetSpec::parse([bad]).unwrap_err();
            assert!(err.to_string().contains("invalid offset"), "{bad}: {err}");
        }
        assert!(OffsetSpec::parse(["-9223372036854775808"]).is_err());
    }

    #[test]
    fn tail() {
        assert_eq!(tail_offset(0, 100, 10), 90);
        assert_eq!(tail_offset(0, 5, 10), 0);
        assert_eq!(tail_offset(40, 50, 20), 40);
        assert_eq!(tail_offset(0, 0, 3), 0);
    }
}
