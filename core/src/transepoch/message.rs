//! TransEpoch's two messages (PROTOCOL.md §4.2 step 3), with canonical encodings:
//!
//! - [`Ready`]`{e, j, validator, head_hash, pk, sig}`: an incoming validator says it has
//!   the shard's state up to the final block `head_hash`, signed with its ed25519 key
//!   (ZIP-215 verification, as every signature).
//! - [`RosterChange`]`{e, j, batch, ready, remove}`: the change a shard's consensus
//!   finalizes; the roster it yields is in force from the next height. It carries the
//!   `Ready` of every validator it adds, so any member (and anyone auditing the chain
//!   later) checks it from its bytes, whichever `Ready` messages reached it.
//!
//! The protocol's `Ready` also names the MSB the validator started from (`msb_hash`);
//! until MSBs exist (the MSB issue) the head it replayed to is what it proves.

use ed25519_dalek::{Signer, SigningKey};

use crate::codec::{Decode, DecodeError, Encode, Reader, put_count};
use crate::crypto::hash::Domain;
use crate::crypto::sig::verify_encoded;
use crate::types::{Epoch, Hash, ShardId};

/// Most validators a roster change adds or removes (a batch is `⌈log2 s⌉`, 17 for a shard
/// of 100,000).
pub const CHANGE_MAX: usize = 64;

/// An incoming validator is ready to serve its new shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The epoch being entered.
    pub epoch: Epoch,
    /// The shard it joins.
    pub shard: ShardId,
    /// The validator (its position in the ordered validator list).
    pub validator: u32,
    /// Hash of the shard's final block header it has the state of.
    pub head: Hash,
    /// Its ed25519 public key.
    pub signer: [u8; 32],
    /// Its signature over [`Ready::message`].
    pub signature: [u8; 64],
}

impl Ready {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 8 + 4 + 4 + 32 + 32 + 64;

    /// `Ready` for these fields, signed with `key`.
    pub fn sign(
        epoch: Epoch,
        shard: ShardId,
        validator: u32,
        head: Hash,
        key: &SigningKey,
    ) -> Self {
        let signer = key.verifying_key().to_bytes();
        let message = Self::message_of(epoch, shard, validator, head, &signer);
        Ready {
            epoch,
            shard,
            validator,
            head,
            signer,
            signature: key.sign(message.as_bytes()).to_bytes(),
        }
    }

    fn message_of(
        epoch: Epoch,
        shard: ShardId,
        validator: u32,
        head: Hash,
        signer: &[u8; 32],
    ) -> Hash {
        Domain::TransEpochReady.hash_parts(&[
            &epoch.0.to_le_bytes(),
            &shard.0.to_le_bytes(),
            &validator.to_le_bytes(),
            head.as_bytes(),
            signer,
        ])
    }

    /// What the signature covers: every field but the signature.
    pub fn message(&self) -> Hash {
        Self::message_of(
            self.epoch,
            self.shard,
            self.validator,
            self.head,
            &self.signer,
        )
    }

    /// Whether the signature verifies under `signer`.
    pub fn verify(&self) -> bool {
        verify_encoded(&self.signer, self.message().as_bytes(), &self.signature)
    }
}

impl Encode for Ready {
    fn encode(&self, out: &mut Vec<u8>) {
        self.epoch.encode(out);
        self.shard.encode(out);
        out.extend_from_slice(&self.validator.to_le_bytes());
        self.head.encode(out);
        out.extend_from_slice(&self.signer);
        out.extend_from_slice(&self.signature);
    }
}

impl Decode for Ready {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Ready {
            epoch: Epoch::decode(reader)?,
            shard: ShardId::decode(reader)?,
            validator: reader.u32("validator")?,
            head: Hash::decode(reader)?,
            signer: reader.array("signer")?,
            signature: reader.array("signature")?,
        })
    }
}

/// A change of one shard's roster, in one TransEpoch batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterChange {
    /// The epoch being entered.
    pub epoch: Epoch,
    /// The shard.
    pub shard: ShardId,
    /// The batch it completes.
    pub batch: u32,
    /// The `Ready` of each validator that joins, in the plan's order.
    pub ready: Vec<Ready>,
    /// Members that leave, in the plan's order.
    pub remove: Vec<u32>,
}

impl RosterChange {
    /// The hash a `RosterChange` block commits to.
    pub fn hash(&self) -> Hash {
        Domain::RosterChange.hash(&self.to_bytes())
    }

    /// The validators it adds.
    pub fn added(&self) -> impl Iterator<Item = u32> + '_ {
        self.ready.iter().map(|r| r.validator)
    }

    /// Whether it changes nobody (a batch whose joiners were all late).
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.remove.is_empty()
    }
}

fn encode_list(list: &[u32], out: &mut Vec<u8>) {
    debug_assert!(list.len() <= CHANGE_MAX);
    put_count(out, list.len());
    for v in list {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_list(reader: &mut Reader<'_>, what: &'static str) -> Result<Vec<u32>, DecodeError> {
    let count = reader.count(what, CHANGE_MAX, 4)?;
    (0..count).map(|_| reader.u32(what)).collect()
}

impl Encode for RosterChange {
    fn encode(&self, out: &mut Vec<u8>) {
        self.epoch.encode(out);
        self.shard.encode(out);
        out.extend_from_slice(&self.batch.to_le_bytes());
        put_count(out, self.ready.len());
        for ready in &self.ready {
            ready.encode(out);
        }
        encode_list(&self.remove, out);
    }
}

impl Decode for RosterChange {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RosterChange {
            epoch: Epoch::decode(reader)?,
            shard: ShardId::decode(reader)?,
            batch: reader.u32("batch")?,
            ready: {
                let count = reader.count("ready messages", CHANGE_MAX, Ready::ENCODED_LEN)?;
                (0..count)
                    .map(|_| Ready::decode(reader))
                    .collect::<Result<_, _>>()?
            },
            remove: decode_list(reader, "removed validators")?,
        })
    }
}
