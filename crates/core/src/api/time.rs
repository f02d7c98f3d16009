//! Times on the wire: RFC 3339 in UTC, to the second
//! (`2026-11-30T05:40:27Z`). The store keeps nanoseconds (they order
//! events); answers carry whole seconds, which is what a person or a
//! script reading them needs. Reading accepts any RFC 3339 time.
//!
//! Use with `#[serde(with = "crate::api::time::seconds")]` on a
//! `Timestamp`, or `…::time::seconds_opt` on an `Option<Timestamp>`.

use jiff::Timestamp;

/// `t` without its fraction of a second (truncated, never rounded up: a
/// time shown is never later than the event).
pub fn to_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// A stored RFC 3339 text as the API shows it; a text that is not a time
/// is kept as it is.
pub fn text_to_second(stored: &str) -> String {
    match stored.parse::<Timestamp>() {
        Ok(t) => to_second(t).to_string(),
        Err(_) => stored.to_string(),
    }
}

pub mod seconds {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&super::to_second(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(d)
    }
}

pub mod seconds_opt {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(&super::to_second(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        Option::<Timestamp>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super::seconds")]
        at: Timestamp,
        #[serde(default, with = "super::seconds_opt")]
        until: Option<Timestamp>,
    }

    #[test]
    fn answers_carry_whole_seconds_and_read_any_rfc3339() {
        let at: Timestamp = "2026-11-30T05:40:27.987654321Z".parse().unwrap();
        let json = serde_json::to_string(&T {
            at,
            until: Some(at),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"at":"2026-11-30T05:40:27Z","until":"2026-11-30T05:40:27Z"}"#
        );
        let none = serde_json::to_string(&T { at, until: None }).unwrap();
        assert_eq!(none, r#"{"at":"2026-11-30T05:40:27Z","until":null}"#);
        let back: T = serde_json::from_str(r#"{"at":"2026-11-30T05:40:27.5+01:00"}"#).unwrap();
        assert_eq!(back.at.to_string(), "2026-11-30T04:40:27.5Z");
        assert_eq!(back.until, None);
        assert_eq!(
            super::text_to_second("2026-11-30T05:40:27.1Z"),
            "2026-11-30T05:40:27Z"
        );
        assert_eq!(super::text_to_second("not a time"), "not a time");
    }
}
