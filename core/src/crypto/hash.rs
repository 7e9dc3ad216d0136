//! The hash `H` of PROTOCOL.md: blake3 with domain separation per use (DESIGN.md §8).
//!
//! Every use of the hash names its [`Domain`]. Each domain hashes in blake3's keyed mode
//! under its own 32-byte key, `blake3::derive_key(KEY_CONTEXT, label)`, so a transaction
//! id can never collide with a Merkle node or a block header hash even when the bytes
//! are identical. Keyed mode costs nothing over plain hashing (a prefix tag would add
//! bytes to every hash, and the incremental hasher it needs is slower for short inputs
//! than the one-shot call); the keys are constants, checked against their derivation
//! by a test.

use crate::types::Hash;

/// The uses of `H`; each hashes under its own key.
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
    /// OptBlock header hash (what a believable validator signs).
    OptBlockHeader,
    /// Hash of a whole transaction, witnesses included (what an OptBlock commits to).
    TxWitnessed,
    /// Root of a FinalBlock's PoB body (finalized OptBlocks, fraud proofs, exclusions).
    PobBody,
    /// Hash of an Atomix entry (lock, reject, commit, abort): a leaf of `atomix_root`.
    AtomixEntry,
    /// Hash of a cross-shard transaction's declaration (its id and, per input, the
    /// declared shard and amount), which a lock entry commits to.
    AtomixDeclaration,
    /// Derivation of the PVSS key base `H` (independent of the basepoint `G`).
    PvssBase,
    /// Digest of a PVSS dealing's Feldman commitments.
    PvssCommitments,
    /// DLEQ challenge of an encrypted PVSS share.
    PvssEncryptedShare,
    /// DLEQ challenge of a decrypted PVSS share.
    PvssDecryptedShare,
    /// PVSS proof nonces and dealing polynomials.
    PvssNonce,
    /// Weights of a batched PVSS proof check.
    PvssBatch,
    /// Derivation of a DRP (PVSS and message-signing) key from its seed.
    DrpKey,
    /// Challenge of a DRP message signature.
    DrpSignature,
    /// Nonce of a DRP message signature.
    DrpSignatureNonce,
    /// DRP session id `SID` (PROTOCOL.md §2.2).
    DrpSession,
    /// Hash of a DRP message body (what its sender signs, and `H(I*)`).
    DrpMessage,
    /// The message the chosen-set CoSi signs: `SID ‖ chosen list`.
    DrpChosen,
    /// The DRP output `rnd = H(encode(Z))`.
    DrpOutput,
    /// What an incoming validator signs in its TransEpoch `Ready` message.
    TransEpochReady,
    /// Hash of a TransEpoch roster change (what a `RosterChange` block commits to).
    RosterChange,
}

/// The context string of [`Domain`] key derivation.
pub const KEY_CONTEXT: &str = "ioschain 2026-11 domain";

impl Domain {
    /// Every domain (for tests and documentation).
    pub const ALL: [Domain; 32] = [
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
        Domain::OptBlockHeader,
        Domain::TxWitnessed,
        Domain::PobBody,
        Domain::AtomixEntry,
        Domain::AtomixDeclaration,
        Domain::PvssBase,
        Domain::PvssCommitments,
        Domain::PvssEncryptedShare,
        Domain::PvssDecryptedShare,
        Domain::PvssNonce,
        Domain::PvssBatch,
        Domain::DrpKey,
        Domain::DrpSignature,
        Domain::DrpSignatureNonce,
        Domain::DrpSession,
        Domain::DrpMessage,
        Domain::DrpChosen,
        Domain::DrpOutput,
        Domain::TransEpochReady,
        Domain::RosterChange,
    ];

    /// The label the domain's key is derived from.
    pub const fn label(self) -> &'static str {
        match self {
            Domain::TxId => "tx-id",
            Domain::MerkleLeaf => "merkle-leaf",
            Domain::MerkleNode => "merkle-node",
            Domain::MerkleEmpty => "merkle-empty",
            Domain::BlockHeader => "block-header",
            Domain::StateRoot => "state-root",
            Domain::ShardOf => "shard-of",
            Domain::Prg => "prg",
            Domain::CosiChallenge => "cosi-challenge",
            Domain::CosiNonce => "cosi-nonce",
            Domain::CosiPossession => "cosi-possession",
            Domain::ValidatorKey => "validator-key",
            Domain::OptBlockHeader => "opt-block-header",
            Domain::TxWitnessed => "tx-witnessed",
            Domain::PobBody => "pob-body",
            Domain::AtomixEntry => "atomix-entry",
            Domain::AtomixDeclaration => "atomix-declaration",
            Domain::PvssBase => "pvss-base",
            Domain::PvssCommitments => "pvss-commitments",
            Domain::PvssEncryptedShare => "pvss-encrypted-share",
            Domain::PvssDecryptedShare => "pvss-decrypted-share",
            Domain::PvssNonce => "pvss-nonce",
            Domain::PvssBatch => "pvss-batch",
            Domain::DrpKey => "drp-key",
            Domain::DrpSignature => "drp-signature",
            Domain::DrpSignatureNonce => "drp-signature-nonce",
            Domain::DrpSession => "drp-session",
            Domain::DrpMessage => "drp-message",
            Domain::DrpChosen => "drp-chosen",
            Domain::DrpOutput => "drp-output",
            Domain::TransEpochReady => "transepoch-ready",
            Domain::RosterChange => "roster-change",
        }
    }

    /// The domain's blake3 key: `derive_key(KEY_CONTEXT, label)`.
    pub const fn key(self) -> &'static [u8; 32] {
        match self {
            Domain::TxId => &[
                158, 17, 110, 207, 218, 125, 198, 31, 77, 68, 231, 26, 204, 63, 82, 159, 183, 37,
                164, 210, 242, 23, 19, 204, 193, 116, 51, 96, 195, 101, 193, 40,
            ],
            Domain::MerkleLeaf => &[
                135, 48, 67, 23, 148, 131, 240, 254, 223, 29, 53, 3, 33, 38, 130, 102, 193, 101,
                92, 244, 250, 233, 42, 249, 110, 156, 243, 45, 176, 173, 152, 21,
            ],
            Domain::MerkleNode => &[
                76, 75, 22, 60, 248, 184, 195, 66, 53, 131, 141, 231, 164, 75, 226, 170, 117, 128,
                30, 118, 112, 104, 155, 221, 216, 48, 107, 60, 93, 191, 137, 87,
            ],
            Domain::MerkleEmpty => &[
                32, 142, 131, 196, 18, 180, 47, 71, 242, 157, 47, 23, 249, 44, 219, 25, 56, 232,
                162, 149, 125, 255, 61, 242, 68, 150, 249, 237, 137, 16, 37, 44,
            ],
            Domain::BlockHeader => &[
                200, 85, 147, 147, 7, 90, 221, 184, 217, 61, 254, 213, 160, 249, 110, 90, 48, 73,
                94, 67, 122, 246, 115, 97, 91, 92, 16, 86, 180, 86, 138, 235,
            ],
            Domain::StateRoot => &[
                226, 172, 60, 154, 173, 118, 250, 153, 74, 15, 48, 139, 222, 176, 201, 180, 143,
                17, 205, 178, 175, 149, 33, 17, 241, 134, 13, 210, 20, 200, 188, 125,
            ],
            Domain::ShardOf => &[
                29, 28, 136, 90, 96, 73, 55, 24, 164, 116, 139, 186, 136, 44, 24, 206, 144, 219,
                71, 222, 217, 112, 184, 30, 126, 82, 93, 19, 12, 94, 129, 227,
            ],
            Domain::Prg => &[
                82, 91, 239, 228, 88, 238, 225, 54, 99, 47, 17, 13, 35, 186, 31, 130, 116, 162,
                195, 151, 215, 134, 138, 49, 183, 116, 18, 229, 84, 35, 200, 78,
            ],
            Domain::CosiChallenge => &[
                152, 171, 161, 255, 40, 212, 212, 32, 82, 30, 113, 149, 160, 31, 37, 230, 72, 46,
                43, 196, 254, 34, 188, 51, 4, 84, 223, 156, 69, 254, 55, 22,
            ],
            Domain::CosiNonce => &[
                14, 232, 1, 31, 189, 7, 64, 59, 15, 8, 116, 191, 187, 2, 14, 17, 43, 135, 247, 247,
                203, 72, 124, 169, 115, 206, 133, 241, 141, 52, 6, 69,
            ],
            Domain::CosiPossession => &[
                161, 27, 82, 105, 107, 197, 61, 34, 99, 87, 212, 137, 162, 33, 136, 45, 17, 63,
                132, 70, 172, 31, 248, 78, 56, 97, 245, 41, 228, 160, 224, 66,
            ],
            Domain::TxWitnessed => &[
                131, 24, 57, 47, 194, 202, 120, 103, 79, 204, 254, 235, 217, 15, 196, 113, 24, 127,
                178, 171, 172, 44, 66, 148, 29, 238, 158, 89, 115, 82, 221, 12,
            ],
            Domain::PobBody => &[
                161, 78, 59, 88, 1, 118, 10, 99, 28, 209, 76, 231, 199, 27, 191, 249, 169, 98, 66,
                205, 56, 72, 108, 1, 49, 13, 154, 254, 29, 237, 232, 135,
            ],
            Domain::OptBlockHeader => &[
                169, 74, 224, 95, 249, 122, 151, 180, 216, 26, 76, 209, 156, 150, 115, 188, 50,
                229, 120, 207, 112, 64, 222, 74, 125, 39, 26, 22, 115, 107, 138, 104,
            ],
            Domain::ValidatorKey => &[
                212, 178, 95, 175, 122, 117, 161, 39, 77, 63, 253, 186, 4, 184, 121, 223, 105, 66,
                37, 178, 201, 121, 4, 223, 37, 69, 237, 169, 238, 235, 212, 142,
            ],
            Domain::AtomixEntry => &[
                142, 229, 70, 240, 210, 231, 167, 46, 0, 88, 192, 81, 247, 127, 84, 48, 215, 56,
                197, 150, 107, 118, 60, 0, 82, 240, 6, 32, 97, 109, 68, 237,
            ],
            Domain::AtomixDeclaration => &[
                57, 218, 66, 0, 213, 164, 50, 12, 144, 230, 203, 217, 34, 78, 123, 221, 116, 96,
                143, 21, 55, 56, 121, 61, 80, 171, 7, 251, 131, 150, 65, 7,
            ],
            Domain::PvssBase => &[
                73, 88, 92, 144, 141, 217, 118, 85, 34, 11, 44, 104, 126, 191, 119, 78, 219, 169,
                155, 200, 56, 238, 6, 99, 176, 217, 1, 65, 184, 134, 255, 84,
            ],
            Domain::PvssCommitments => &[
                203, 36, 17, 63, 11, 11, 176, 239, 110, 138, 50, 63, 198, 98, 45, 180, 105, 27,
                221, 225, 99, 134, 32, 216, 177, 223, 243, 51, 135, 173, 146, 222,
            ],
            Domain::PvssEncryptedShare => &[
                78, 254, 161, 69, 23, 216, 236, 80, 139, 47, 56, 83, 4, 95, 91, 59, 107, 139, 227,
                10, 118, 222, 133, 49, 239, 90, 51, 147, 104, 152, 135, 28,
            ],
            Domain::PvssDecryptedShare => &[
                189, 134, 153, 21, 141, 73, 121, 254, 143, 158, 140, 18, 253, 5, 112, 236, 23, 249,
                240, 171, 86, 103, 89, 216, 194, 214, 30, 208, 99, 91, 211, 204,
            ],
            Domain::PvssNonce => &[
                79, 8, 53, 142, 235, 71, 179, 76, 62, 46, 152, 155, 179, 37, 100, 176, 125, 62,
                215, 131, 183, 178, 18, 183, 188, 109, 138, 38, 176, 160, 152, 244,
            ],
            Domain::PvssBatch => &[
                238, 106, 231, 131, 150, 35, 45, 32, 177, 94, 39, 5, 182, 137, 150, 118, 25, 50,
                83, 179, 216, 186, 101, 250, 124, 93, 82, 157, 18, 166, 13, 41,
            ],
            Domain::DrpKey => &[
                9, 38, 5, 179, 160, 82, 65, 92, 124, 172, 220, 101, 173, 204, 57, 133, 227, 85, 54,
                31, 65, 198, 148, 138, 120, 168, 121, 123, 38, 10, 21, 238,
            ],
            Domain::DrpSignature => &[
                199, 101, 200, 69, 182, 240, 254, 118, 1, 142, 230, 193, 204, 140, 171, 64, 46, 27,
                39, 7, 205, 36, 240, 120, 100, 37, 56, 90, 186, 10, 201, 134,
            ],
            Domain::DrpSignatureNonce => &[
                186, 255, 212, 178, 177, 230, 114, 221, 47, 134, 55, 184, 125, 3, 146, 194, 231,
                76, 174, 189, 221, 218, 247, 127, 175, 127, 83, 208, 66, 86, 161, 233,
            ],
            Domain::DrpSession => &[
                216, 61, 5, 196, 123, 95, 237, 161, 195, 106, 208, 218, 148, 127, 42, 46, 7, 15,
                83, 106, 107, 217, 98, 185, 192, 52, 192, 88, 179, 58, 136, 16,
            ],
            Domain::DrpMessage => &[
                230, 224, 197, 205, 232, 77, 132, 200, 101, 59, 7, 243, 237, 59, 40, 54, 63, 44,
                92, 122, 248, 73, 49, 52, 77, 17, 87, 21, 109, 56, 254, 44,
            ],
            Domain::DrpChosen => &[
                81, 93, 98, 81, 40, 194, 79, 157, 195, 169, 217, 119, 50, 79, 184, 93, 76, 12, 38,
                200, 126, 19, 144, 138, 206, 137, 173, 100, 67, 150, 25, 56,
            ],
            Domain::DrpOutput => &[
                100, 225, 250, 75, 138, 18, 164, 214, 240, 210, 64, 206, 58, 44, 156, 89, 132, 71,
                226, 188, 126, 8, 7, 26, 231, 8, 192, 41, 221, 23, 230, 46,
            ],
            Domain::TransEpochReady => &[
                190, 200, 25, 124, 157, 152, 180, 63, 235, 194, 114, 190, 236, 143, 146, 122, 105,
                63, 35, 59, 60, 98, 89, 40, 243, 205, 56, 130, 245, 40, 164, 111,
            ],
            Domain::RosterChange => &[
                155, 224, 23, 150, 63, 101, 96, 114, 96, 179, 111, 212, 108, 196, 40, 49, 104, 109,
                223, 87, 228, 203, 65, 232, 125, 90, 245, 114, 138, 20, 169, 1,
            ],
        }
    }

    /// A keyed hasher for this domain; feed it the data.
    pub fn hasher(self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(self.key())
    }

    /// `H_domain(data)`, one shot.
    #[inline]
    pub fn hash(self, data: &[u8]) -> Hash {
        Hash(*blake3::keyed_hash(self.key(), data).as_bytes())
    }

    fn absorb(self, parts: &[&[u8]]) -> blake3::Hasher {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.update(part);
        }
        hasher
    }

    /// `H_domain(parts[0] ‖ parts[1] ‖ …)`.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        Hash(*self.absorb(parts).finalize().as_bytes())
    }

    /// 64 bytes of output (for wide reduction to a scalar): `H_domain(parts…)` in XOF
    /// mode.
    pub fn wide(self, parts: &[&[u8]]) -> [u8; 64] {
        let mut out = [0u8; 64];
        self.absorb(parts).finalize_xof().fill(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_their_derivation_and_pairwise_distinct() {
        for (i, a) in Domain::ALL.iter().enumerate() {
            assert_eq!(
                a.key(),
                &blake3::derive_key(KEY_CONTEXT, a.label().as_bytes()),
                "{a:?}"
            );
            for b in &Domain::ALL[i + 1..] {
                assert_ne!(a.key(), b.key());
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
