//! Protocol-wide value types: hashes, ids, outpoints, amounts, shard ids, epochs,
//! heights and validator ids. Every type here is `Copy` and has a fixed encoded size.

use std::fmt;

use crate::crypto::hash::Domain;

/// A 32-byte blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash (the "previous hash" of a shard's first block).
    pub const ZERO: Hash = Hash([0; 32]);

    /// The digest's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 bytes as a little-endian integer (for sampling and bucketing).
    pub fn prefix_u64(&self) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(first)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for byte in bytes {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight bytes identify a hash in logs and test failures.
        write_hex(f, &self.0[..8])?;
        f.write_str("…")
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// A transaction id: `H(TxId ‖ body)` (see [`crate::tx`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TxId(pub Hash);

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx:{:?}", self.0)
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A reference to one output of a transaction: the UTXO key.
///
/// Hashing (for hash maps) feeds only the first 8 bytes of the id and the index: the id
/// is a blake3 output, so its prefix is already uniform, and the UTXO map's lookups are
/// on the hot path. Like any unkeyed map hash, this lets a client who grinds ids aim at
/// one bucket; a deployment facing such clients would key the map's hasher per node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct OutPoint {
    /// The transaction that created the output.
    pub tx: TxId,
    /// The output's position in that transaction.
    pub index: u32,
}

impl std::hash::Hash for OutPoint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.tx.0.prefix_u64() ^ u64::from(self.index).rotate_left(32));
    }
}

impl OutPoint {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 36;
}

/// An owner: the compressed ed25519 public key that must sign to spend an output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Owner(pub [u8; 32]);

impl Owner {
    /// The shard that holds this owner's outputs: `H(owner) mod shard_count`
    /// (owner-keyed mapping, PROTOCOL.md §1.5), so a single-owner spend is single-shard.
    ///
    /// `shard_count` must be at least 1.
    pub fn shard(&self, shard_count: u32) -> ShardId {
        assert!(shard_count > 0, "shard_count must be at least 1");
        let digest = Domain::ShardOf.hash(&self.0);
        // The modulo bias of a 64-bit value reduced mod a 32-bit count is below 2^-32.
        ShardId((digest.prefix_u64() % u64::from(shard_count)) as u32)
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("owner:")?;
        write_hex(f, &self.0[..6])?;
        f.write_str("…")
    }
}

/// An amount of the ledger's unit. Arithmetic on amounts is always checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Amount(pub u64);

impl Amount {
    /// No value.
    pub const ZERO: Amount = Amount(0);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if `other > self`.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// A shard's index, `0..shard_count`.
    ShardId(u32)
);
id_type!(
    /// An epoch number.
    Epoch(u64)
);
id_type!(
    /// A block height within a shard's chain (the first block has height 0).
    Height(u64)
);
id_type!(
    /// A validator's index in its roster.
    ValidatorId(u32)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_mapping_is_deterministic_and_in_range() {
        for i in 0u8..=255 {
            let owner = Owner([i; 32]);
            let shard = owner.shard(7);
            assert!(shard.0 < 7);
            assert_eq!(shard, owner.shard(7));
        }
    }

    #[test]
    fn shard_mapping_spreads_owners_over_every_shard() {
        let mut counts = [0u32; 4];
        for i in 0u32..4000 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            counts[Owner(key).shard(4).0 as usize] += 1;
        }
        // 1000 expected per shard; a fair hash stays well within ±15%.
        for count in counts {
            assert!((850..=1150).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn one_shard_maps_everything_to_shard_zero() {
        assert_eq!(Owner([9; 32]).shard(1), ShardId(0));
    }
}
