//! [`Codec`]: how a domain event's fields become an event's data and back.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A boxed error from a codec.
pub type CodecError = Box<dyn std::error::Error + Send + Sync>;

/// Encodes and decodes event data. [`Json`] is the default; pick another
/// with `#[event(codec = MyCodec)]`.
pub trait Codec {
    /// Encodes `value`.
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError>;
    /// Decodes a value encoded by [`encode`](Self::encode).
    fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, CodecError>;
}

/// JSON through `serde_json`: readable in any tool that looks at the store.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Codec for Json {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
        Ok(serde_json::to_vec(value)?)
    }

    fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, CodecError> {
        Ok(serde_json::from_slice(data)?)
    }
}
