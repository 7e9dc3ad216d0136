//! Canonical binary encoding.
//!
//! Integers are little-endian with fixed widths; fixed-size values (hashes, keys,
//! outpoints, headers) have fixed layouts; variable parts are preceded by their count,
//! and every count has a named upper bound that the decoder enforces before it reads or
//! allocates anything. Every value has exactly one encoding: a decoder that accepts bytes
//! re-encodes them to the same bytes (property-tested), so hashes of encodings are
//! well defined.
//!
//! Decoding untrusted bytes never panics: every failure is a [`DecodeError`].

use thiserror::Error;

use crate::types::{Amount, Epoch, Hash, Height, OutPoint, Owner, ShardId, TxId};

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("input ended early: {what} needs {needed} more bytes, {remaining} left")]
    UnexpectedEnd {
        /// What was being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A count is above its bound.
    #[error("{what}: count {count} is above the maximum {max}")]
    TooMany {
        /// The counted thing.
        what: &'static str,
        /// The count read.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// Bytes were left after the value.
    #[error("{count} trailing bytes after the value")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {what}")]
    Invalid {
        /// The field.
        what: &'static str,
    },
}

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector (convenience; the hot path reuses buffers with
    /// [`Encode::encode`]).
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A value that can be decoded from untrusted bytes.
pub trait Decode: Sized {
    /// Reads one value from `reader`.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes exactly one value from `bytes`; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// A cursor over untrusted bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.bytes.len(),
            })
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::UnexpectedEnd {
                what,
                needed: n,
                remaining: self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A little-endian `u8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A `u16` count, checked against `max` and against the bytes left (each item needs at
    /// least `min_item_len` bytes), before the caller allocates for it.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_len: usize,
    ) -> Result<usize, DecodeError> {
        let count = usize::from(self.u16(what)?);
        if count > max {
            return Err(DecodeError::TooMany { what, count, max });
        }
        let needed = count.saturating_mul(min_item_len);
        if needed > self.bytes.len() {
            return Err(DecodeError::UnexpectedEnd {
                what,
                needed,
                remaining: self.bytes.len(),
            });
        }
        Ok(count)
    }
}

/// Writes a `u16` count. Callers keep counts within their named bounds, all below
/// `u16::MAX`.
pub fn put_count(out: &mut Vec<u8>, count: usize) {
    let count = u16::try_from(count).expect("counts are bounded well below u16::MAX");
    out.extend_from_slice(&count.to_le_bytes());
}

macro_rules! fixed_int_codec {
    ($ty:ty, $inner:ty, $read:ident, $what:literal) => {
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0.to_le_bytes());
            }
        }
        impl Decode for $ty {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self(reader.$read($what)?))
            }
        }
    };
}

fixed_int_codec!(Amount, u64, u64, "amount");
fixed_int_codec!(ShardId, u32, u32, "shard id");
fixed_int_codec!(Epoch, u64, u64, "epoch");
fixed_int_codec!(Height, u64, u64, "height");

impl Encode for Hash {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Hash {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hash(reader.array("hash")?))
    }
}

impl Encode for TxId {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Decode for TxId {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxId(Hash(reader.array("tx id")?)))
    }
}

impl Encode for Owner {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Owner {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Owner(reader.array("owner")?))
    }
}

impl Encode for OutPoint {
    fn encode(&self, out: &mut Vec<u8>) {
        self.tx.encode(out);
        out.extend_from_slice(&self.index.to_le_bytes());
    }
}

impl Decode for OutPoint {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OutPoint {
            tx: TxId::decode(reader)?,
            index: reader.u32("outpoint index")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_an_error_naming_the_field() {
        let err = OutPoint::from_bytes(&[0u8; 35]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnexpectedEnd {
                what: "outpoint index",
                needed: 4,
                remaining: 3
            }
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = Amount(5).to_bytes();
        bytes.push(0);
        assert_eq!(
            Amount::from_bytes(&bytes),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn count_above_bound_is_rejected_before_allocation() {
        let bytes = 500u16.to_le_bytes();
        let mut reader = Reader::new(&bytes);
        assert_eq!(
            reader.count("inputs", 16, 36),
            Err(DecodeError::TooMany {
                what: "inputs",
                count: 500,
                max: 16
            })
        );
    }

    #[test]
    fn count_larger_than_remaining_bytes_is_rejected() {
        let mut bytes = 3u16.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 10]);
        let mut reader = Reader::new(&bytes);
        assert!(matches!(
            reader.count("inputs", 16, 36),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn outpoint_round_trips() {
        let point = OutPoint {
            tx: TxId(Hash([3; 32])),
            index: 77,
        };
        let bytes = point.to_bytes();
        assert_eq!(bytes.len(), OutPoint::ENCODED_LEN);
        assert_eq!(OutPoint::from_bytes(&bytes), Ok(point));
    }
}
