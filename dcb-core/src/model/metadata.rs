//! [`Metadata`]: what an application says about an event beside its data.

use std::fmt;
use std::sync::Arc;

use crate::Position;

/// A small map of string keys to string values carried beside an event's
/// data: why it was appended and by whom — a correlation id, the event
/// that caused it, the user, anything the application wants.
///
/// Metadata is written atomically with its event and returned by reads,
/// but never matched by queries, never part of an append condition, and
/// not compared when an append with event ids repeats an earlier one (the
/// stored event keeps the metadata it was first appended with). Its size
/// counts in [`EventRecord::size`](crate::EventRecord::size) and is bounded
/// by [`Limits::max_metadata_size`](crate::Limits); keys are 1 to 256
/// bytes.
///
/// The map is sorted by key, holds each key once, and is cheap to clone.
/// An empty map costs no allocation.
///
/// ```
/// use dcb_core::Metadata;
///
/// let metadata = Metadata::new()
///     .with("user", "alice")
///     .with(Metadata::CORRELATION, "req-7f3a");
/// assert_eq!(metadata.get("user"), Some("alice"));
/// assert_eq!(metadata.correlation(), Some("req-7f3a"));
/// assert_eq!(
///     metadata.iter().collect::<Vec<_>>(),
///     [("correlation", "req-7f3a"), ("user", "alice")]
/// );
/// // A key given again replaces its value.
/// assert_eq!(metadata.with("user", "bob").get("user"), Some("bob"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Metadata(Option<Arc<[Entry]>>);

/// A key and its value.
type Entry = (Box<str>, Box<str>);

impl Metadata {
    /// The key of the correlation id: what ties together every event of
    /// one request, command or process.
    pub const CORRELATION: &'static str = "correlation";

    /// The key of the causation: the position of the event this one was
    /// appended in reaction to. [`EventRecord::caused_by`](crate::EventRecord::caused_by)
    /// sets it.
    pub const CAUSATION: &'static str = "causation";

    /// No metadata.
    #[must_use]
    pub const fn new() -> Metadata {
        Metadata(None)
    }

    /// This map with `key` set to `value` (replacing its value if `key` is
    /// already there).
    #[must_use]
    pub fn with(self, key: impl Into<String>, value: impl Into<String>) -> Metadata {
        let (key, value) = (key.into(), value.into());
        let mut entries = self.into_entries();
        match entries.binary_search_by(|(k, _)| (**k).cmp(&key)) {
            Ok(i) => entries[i].1 = value.into_boxed_str(),
            Err(i) => entries.insert(i, (key.into_boxed_str(), value.into_boxed_str())),
        }
        Metadata::from_sorted(entries)
    }

    /// This map with the entries of `defaults` whose keys it does not
    /// have: how the decide runner stamps a decision's metadata on events
    /// that may carry their own.
    #[must_use]
    pub fn or(self, defaults: &Metadata) -> Metadata {
        if defaults.is_empty() {
            return self;
        }
        if self.is_empty() {
            return defaults.clone();
        }
        let mut entries = self.into_entries();
        for (key, value) in defaults.iter() {
            if let Err(i) = entries.binary_search_by(|(k, _)| (**k).cmp(key)) {
                entries.insert(i, (key.into(), value.into()));
            }
        }
        Metadata::from_sorted(entries)
    }

    /// The value of `key`, if it is set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        let entries = self.entries();
        entries
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*entries[i].1)
    }

    /// The correlation id ([`CORRELATION`](Self::CORRELATION)), if set.
    #[must_use]
    pub fn correlation(&self) -> Option<&str> {
        self.get(Metadata::CORRELATION)
    }

    /// The position of the event that caused this one
    /// ([`CAUSATION`](Self::CAUSATION)), if set and a position.
    #[must_use]
    pub fn causation(&self) -> Option<Position> {
        self.get(Metadata::CAUSATION)?
            .parse::<u64>()
            .ok()
            .and_then(Position::new)
    }

    /// The entries in key order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.entries().iter().map(|(k, v)| (&**k, &**v))
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The size the limits apply to: the bytes of every key and value.
    #[must_use]
    pub fn size(&self) -> usize {
        self.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    fn entries(&self) -> &[Entry] {
        self.0.as_deref().unwrap_or(&[])
    }

    fn into_entries(self) -> Vec<Entry> {
        self.0.map(|entries| entries.to_vec()).unwrap_or_default()
    }

    /// Entries already sorted by key, each key once; empty is `None`.
    fn from_sorted(entries: Vec<Entry>) -> Metadata {
        Metadata((!entries.is_empty()).then(|| Arc::from(entries)))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    /// A map of the pairs; of a key given twice, the last value counts.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Metadata {
        let mut entries: Vec<Entry> = pairs
            .into_iter()
            .map(|(k, v)| (k.into().into_boxed_str(), v.into().into_boxed_str()))
            .collect();
        // Stable: of equal keys the last stays last, and is kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<Entry> = Vec::with_capacity(entries.len());
        for entry in entries {
            match unique.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        Metadata::from_sorted(unique)
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for Metadata {
    fn from(pairs: [(K, V); N]) -> Metadata {
        pairs.into_iter().collect()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Metadata, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_the_last_value_of_a_key_counts() {
        let metadata: Metadata = [("b", "1"), ("a", "2"), ("b", "3")].into();
        assert_eq!(
            metadata.iter().collect::<Vec<_>>(),
            [("a", "2"), ("b", "3")]
        );
        assert_eq!(metadata.size(), 4);
        assert_eq!(metadata.get("c"), None);
        assert!(Metadata::from_iter(Vec::<(String, String)>::new()).is_empty());
    }

    #[test]
    fn or_fills_only_missing_keys() {
        let own = Metadata::new().with("user", "alice");
        let defaults = Metadata::new()
            .with("user", "system")
            .with(Metadata::CORRELATION, "c-1");
        let both = own.clone().or(&defaults);
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            [("correlation", "c-1"), ("user", "alice")]
        );
        assert_eq!(Metadata::new().or(&defaults), defaults);
        assert_eq!(own.clone().or(&Metadata::new()), own);
    }

    #[test]
    fn causation_is_a_position_or_nothing() {
        assert_eq!(
            Metadata::new().with(Metadata::CAUSATION, "12").causation(),
            Position::new(12)
        );
        assert_eq!(
            Metadata::new().with(Metadata::CAUSATION, "0").causation(),
            None
        );
        assert_eq!(
            Metadata::new().with(Metadata::CAUSATION, "x").causation(),
            None
        );
    }

    #[test]
    fn serializes_as_a_map() {
        let metadata = Metadata::new().with("b", "2").with("a", "1");
        let json = serde_json::to_string(&metadata).unwrap();
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), metadata);
    }
}
