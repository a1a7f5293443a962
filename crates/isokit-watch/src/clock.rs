//! Moments as isokit prints them: RFC 3339 in UTC, and ages.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serializer;
use time::OffsetDateTime;

/// `2026-05-07T21:09:35Z`, or with `.871` milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339 {
    pub time: SystemTime,
    pub millis: bool,
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = OffsetDateTime::from(self.time);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            time.year(),
            u8::from(time.month()),
            time.day(),
            time.hour(),
            time.minute(),
            time.second()
        )?;
        if self.millis {
            write!(f, ".{:03}", time.millisecond())?;
        }
        f.write_str("Z")
    }
}

pub(crate) fn serialize_millis<S: Serializer>(
    time: &SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&Rfc3339 {
        time: *time,
        millis: true,
    })
}

pub(crate) fn serialize_optional_millis<S: Serializer>(
    time: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serialize_millis(time, serializer),
        None => serializer.serialize_none(),
    }
}

/// How long ago `then` was, seen from `now` (zero for a moment ahead of
/// it: clocks differ a little).
pub(crate) fn age(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// `45 s`, `3 min`, `2 h 5 min`: an age, as precise as a person needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ago(pub Duration);

impl fmt::Display for Ago {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs();
        match seconds {
            0..120 => write!(f, "{seconds} s"),
            120..7200 => write!(f, "{} min", seconds / 60),
            _ => write!(f, "{} h {} min", seconds / 3600, seconds % 3600 / 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn moments_read_in_utc() {
        let time = UNIX_EPOCH + Duration::from_millis(1_778_188_175_871);
        let text = |millis| Rfc3339 { time, millis }.to_string();
        assert_eq!(text(false), "2026-05-07T21:09:35Z");
        assert_eq!(text(true), "2026-05-07T21:09:35.871Z");
    }

    #[test]
    fn ages_read_as_precise_as_needed() {
        let ago = |seconds| Ago(Duration::from_secs(seconds)).to_string();
        assert_eq!(ago(45), "45 s");
        assert_eq!(ago(119), "119 s");
        assert_eq!(ago(600), "10 min");
        assert_eq!(ago(7_500), "2 h 5 min");
        let now = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(age(now + Duration::from_secs(3), now), Duration::ZERO);
        assert_eq!(age(UNIX_EPOCH, now), Duration::from_secs(100));
    }
}
