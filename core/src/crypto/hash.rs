//! The hash `H` of PROTOCOL.md: blake3 with a domain-separation prefix per use
//! (DESIGN.md §8).
//!
//! Every use of the hash names its [`Domain`]; the domain's tag is hashed first, so a
//! transaction id can never collide with a Merkle node or a block header hash even when
//! the bytes that follow are identical.

use crate::types::Hash;

/// The uses of `H`. Each has a distinct, NUL-terminated tag (so no tag is a prefix of
/// another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// Transaction id: `H(TxId ‖ body)`.
    TxId,
    /// Merkle leaf: `H(MerkleLeaf ‖ leaf)`.
    MerkleLeaf,
    /// Merkle inner node: `H(MerkleNode ‖ left ‖ right)`.
    MerkleNode,
    /// Root of a tree with no leaves.
    MerkleEmpty,
    /// Block header hash.
    BlockHeader,
    /// Root of a UTXO state.
    StateRoot,
    /// Owner-keyed shard mapping (PROTOCOL.md §1.5).
    ShardOf,
    /// Deterministic stream generator `PRG(seed)`.
    Prg,
    /// CoSi challenge `c = H(R ‖ A ‖ signers ‖ msg)`.
    CosiChallenge,
    /// CoSi nonce derivation.
    CosiNonce,
    /// CoSi proof of possession of a validator key.
    CosiPossession,
    /// Derivation of a validator's secret scalar from its seed.
    ValidatorKey,
}

impl Domain {
    /// The tag hashed in front of the data.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            Domain::TxId => b"ioschain/tx-id\0",
            Domain::MerkleLeaf => b"ioschain/merkle-leaf\0",
            Domain::MerkleNode => b"ioschain/merkle-node\0",
            Domain::MerkleEmpty => b"ioschain/merkle-empty\0",
            Domain::BlockHeader => b"ioschain/block-header\0",
            Domain::StateRoot => b"ioschain/state-root\0",
            Domain::ShardOf => b"ioschain/shard-of\0",
            Domain::Prg => b"ioschain/prg\0",
            Domain::CosiChallenge => b"ioschain/cosi-challenge\0",
            Domain::CosiNonce => b"ioschain/cosi-nonce\0",
            Domain::CosiPossession => b"ioschain/cosi-possession\0",
            Domain::ValidatorKey => b"ioschain/validator-key\0",
        }
    }

    /// A hasher with this domain's tag already absorbed; feed it the data.
    pub fn hasher(self) -> blake3::Hasher {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.tag());
        hasher
    }

    /// `H(domain ‖ data)`.
    pub fn hash(self, data: &[u8]) -> Hash {
        let mut hasher = self.hasher();
        hasher.update(data);
        Hash(*hasher.finalize().as_bytes())
    }

    /// `H(domain ‖ parts[0] ‖ parts[1] ‖ …)`.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.update(part);
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// 64 bytes of output (for wide reduction to a scalar), `H(domain ‖ parts…)` in XOF mode.
    pub fn wide(self, parts: &[&[u8]]) -> [u8; 64] {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.update(part);
        }
        let mut out = [0u8; 64];
        hasher.finalize_xof().fill(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_and_none_is_a_prefix_of_another() {
        let all = [
            Domain::TxId,
            Domain::MerkleLeaf,
            Domain::MerkleNode,
            Domain::MerkleEmpty,
            Domain::BlockHeader,
            Domain::StateRoot,
            Domain::ShardOf,
            Domain::Prg,
            Domain::CosiChallenge,
            Domain::CosiNonce,
            Domain::CosiPossession,
            Domain::ValidatorKey,
        ];
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                if i != j {
                    assert!(!b.tag().starts_with(a.tag()), "{a:?} prefixes {b:?}");
                }
            }
        }
    }

    #[test]
    fn same_bytes_in_different_domains_hash_differently() {
        let data = [7u8; 64];
        assert_ne!(Domain::TxId.hash(&data), Domain::MerkleNode.hash(&data));
    }

    #[test]
    fn hash_parts_equals_hash_of_concatenation() {
        let a = [1u8; 10];
        let b = [2u8; 20];
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        assert_eq!(Domain::Prg.hash_parts(&[&a, &b]), Domain::Prg.hash(&joined));
    }
}
