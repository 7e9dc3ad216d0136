//! Transactions: inputs (outpoints) signed by their owners, outputs (owner, amount).
//!
//! A transaction has a *body* (inputs and outputs) and *witnesses* (one ed25519
//! signature per distinct owner of its inputs). The id is `H(TxId ‖ body)`; every witness
//! signs the 32 id bytes, so witnesses do not change the id and one owner's signature
//! covers all of that owner's inputs. Several owners may contribute inputs to one
//! transaction (each signs).
//!
//! Checks are split by what they need, so the engine can run each where it is cheapest:
//! - [`Transaction::check_structure`] needs only the transaction (counts, duplicates,
//!   zero and overflowing amounts);
//! - signature verification needs the witnesses' keys ([`crate::crypto::sig`], batched);
//! - the state checks (inputs exist and are unspent, every input's owner signed, value
//!   balance) need the shard's UTXO set ([`crate::utxo::UtxoSet::check`]).
//!
//! Every failure is a [`Rejection`], an outcome counted by its [`RejectReason`], never a
//! panic.

use ed25519_dalek::{Signer, SigningKey};
use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, Reader, put_count};
use crate::crypto::hash::Domain;
use crate::types::{Amount, Hash, OutPoint, Owner, TxId};

/// Most inputs one transaction may spend.
pub const TX_INPUTS_MAX: usize = 16;
/// Most outputs one transaction may create.
pub const TX_OUTPUTS_MAX: usize = 16;
/// Most witnesses one transaction may carry (one per distinct input owner).
pub const TX_WITNESSES_MAX: usize = TX_INPUTS_MAX;

const OUTPUT_LEN: usize = 40;
const WITNESS_LEN: usize = 96;
/// Largest encoded body: two counts, the inputs and the outputs at their maxima.
const BODY_LEN_MAX: usize =
    2 + TX_INPUTS_MAX * OutPoint::ENCODED_LEN + 2 + TX_OUTPUTS_MAX * OUTPUT_LEN;

/// An output: `amount` spendable by `owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOut {
    /// Who may spend it.
    pub owner: Owner,
    /// How much it holds.
    pub amount: Amount,
}

/// One owner's signature over the transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Witness {
    /// The signing owner (its compressed public key).
    pub owner: Owner,
    /// ed25519 signature over the id bytes.
    pub signature: [u8; 64],
}

/// A transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Outputs spent, in order.
    pub inputs: Vec<OutPoint>,
    /// Outputs created, in order; output `i` becomes outpoint `(id, i)`.
    pub outputs: Vec<TxOut>,
    /// One signature per distinct owner of the inputs.
    pub witnesses: Vec<Witness>,
}

/// Why a transaction was rejected. Variants carry what a user needs to find the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Rejection {
    /// The bytes were not a transaction.
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    /// No inputs.
    #[error("no inputs")]
    NoInputs,
    /// No outputs.
    #[error("no outputs")]
    NoOutputs,
    /// No witnesses.
    #[error("no witnesses")]
    NoWitnesses,
    /// More inputs, outputs or witnesses than allowed.
    #[error("{what}: {count} is above the maximum {max}")]
    TooMany {
        /// Inputs, outputs or witnesses.
        what: &'static str,
        /// The count.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The same outpoint appears twice among the inputs.
    #[error("input {outpoint:?} appears twice")]
    DuplicateInput {
        /// The repeated input.
        outpoint: OutPoint,
    },
    /// The same owner signs twice.
    #[error("{owner:?} has two witnesses")]
    DuplicateWitness {
        /// The repeated owner.
        owner: Owner,
    },
    /// An output of zero.
    #[error("output {index} has amount zero")]
    ZeroAmount {
        /// The output's index.
        index: u32,
    },
    /// Output amounts overflow when summed.
    #[error("output amounts overflow")]
    AmountOverflow,
    /// A witness's signature does not verify (or its key is not a curve point).
    #[error("bad signature by {owner:?}")]
    BadSignature {
        /// The owner whose signature failed.
        owner: Owner,
    },
    /// An input that does not exist in this shard and never did.
    #[error("unknown input {outpoint:?}")]
    UnknownInput {
        /// The input.
        outpoint: OutPoint,
    },
    /// An input already spent by a final transaction.
    #[error("input {outpoint:?} already spent by {spent_by:?}")]
    DoubleSpend {
        /// The input.
        outpoint: OutPoint,
        /// The transaction that spent it.
        spent_by: TxId,
    },
    /// An input locked by a pending cross-shard transaction.
    #[error("input {outpoint:?} is locked by {locked_by:?}")]
    InputLocked {
        /// The input.
        outpoint: OutPoint,
        /// The transaction holding the lock.
        locked_by: TxId,
    },
    /// An input's owner did not sign.
    #[error("{owner:?} owns an input but did not sign")]
    MissingWitness {
        /// The owner.
        owner: Owner,
    },
    /// A witness by someone who owns none of the inputs.
    #[error("{owner:?} signed but owns no input")]
    UnusedWitness {
        /// The owner.
        owner: Owner,
    },
    /// Outputs exceed inputs.
    #[error("outputs {outputs:?} exceed inputs {inputs:?}")]
    Overspend {
        /// Sum of the inputs.
        inputs: Amount,
        /// Sum of the outputs.
        outputs: Amount,
    },
}

/// The reason of a [`Rejection`] without its details, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// See [`Rejection::Malformed`] and the structural variants.
    Malformed,
    /// See [`Rejection::BadSignature`].
    BadSignature,
    /// See [`Rejection::UnknownInput`].
    UnknownInput,
    /// See [`Rejection::DoubleSpend`].
    DoubleSpend,
    /// See [`Rejection::InputLocked`].
    InputLocked,
    /// See [`Rejection::MissingWitness`] and [`Rejection::UnusedWitness`].
    WrongWitness,
    /// See [`Rejection::Overspend`].
    Overspend,
}

impl RejectReason {
    /// Every reason, in a fixed order (for tables and counters).
    pub const ALL: [RejectReason; 7] = [
        RejectReason::Malformed,
        RejectReason::BadSignature,
        RejectReason::UnknownInput,
        RejectReason::DoubleSpend,
        RejectReason::InputLocked,
        RejectReason::WrongWitness,
        RejectReason::Overspend,
    ];

    /// A stable snake_case name (used in run output).
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::UnknownInput => "unknown_input",
            RejectReason::DoubleSpend => "double_spend",
            RejectReason::InputLocked => "input_locked",
            RejectReason::WrongWitness => "wrong_witness",
            RejectReason::Overspend => "overspend",
        }
    }
}

impl Rejection {
    /// The reason, for counting.
    pub const fn reason(&self) -> RejectReason {
        match self {
            Rejection::Malformed(_)
            | Rejection::NoInputs
            | Rejection::NoOutputs
            | Rejection::NoWitnesses
            | Rejection::TooMany { .. }
            | Rejection::DuplicateInput { .. }
            | Rejection::DuplicateWitness { .. }
            | Rejection::ZeroAmount { .. }
            | Rejection::AmountOverflow => RejectReason::Malformed,
            Rejection::BadSignature { .. } => RejectReason::BadSignature,
            Rejection::UnknownInput { .. } => RejectReason::UnknownInput,
            Rejection::DoubleSpend { .. } => RejectReason::DoubleSpend,
            Rejection::InputLocked { .. } => RejectReason::InputLocked,
            Rejection::MissingWitness { .. } | Rejection::UnusedWitness { .. } => {
                RejectReason::WrongWitness
            }
            Rejection::Overspend { .. } => RejectReason::Overspend,
        }
    }
}

fn put_output(out: &mut [u8], output: &TxOut) {
    out[..32].copy_from_slice(&output.owner.0);
    out[32..40].copy_from_slice(&output.amount.0.to_le_bytes());
}

impl Transaction {
    /// Writes the body encoding into `buf` and returns its length. Callers keep the
    /// counts within bounds (checked by [`Transaction::check_structure`] or by decoding);
    /// a transaction built past them panics here, which is a caller bug.
    fn write_body(&self, buf: &mut [u8; BODY_LEN_MAX]) -> usize {
        assert!(self.inputs.len() <= TX_INPUTS_MAX && self.outputs.len() <= TX_OUTPUTS_MAX);
        let mut at = 0;
        buf[at..at + 2].copy_from_slice(&(self.inputs.len() as u16).to_le_bytes());
        at += 2;
        for input in &self.inputs {
            buf[at..at + 32].copy_from_slice(&input.tx.0.0);
            buf[at + 32..at + 36].copy_from_slice(&input.index.to_le_bytes());
            at += OutPoint::ENCODED_LEN;
        }
        buf[at..at + 2].copy_from_slice(&(self.outputs.len() as u16).to_le_bytes());
        at += 2;
        for output in &self.outputs {
            put_output(&mut buf[at..at + OUTPUT_LEN], output);
            at += OUTPUT_LEN;
        }
        at
    }

    /// The id: `H(TxId ‖ body)`. Computed on the stack, without allocation.
    pub fn id(&self) -> TxId {
        let mut buf = [0u8; BODY_LEN_MAX];
        let len = self.write_body(&mut buf);
        TxId(Domain::TxId.hash(&buf[..len]))
    }

    /// The hash of the whole encoding, witnesses included. The id leaves witnesses out
    /// (so signatures can cover it); anything that must commit to the signatures too —
    /// an OptBlock, whose signer answers for them — commits to this hash instead.
    pub fn witnessed_hash(&self) -> Hash {
        // The encoding streamed into the hasher: no allocation.
        let mut body = [0u8; BODY_LEN_MAX];
        let len = self.write_body(&mut body);
        let mut hasher = Domain::TxWitnessed.hasher();
        hasher.update(&body[..len]);
        hasher.update(&(self.witnesses.len() as u16).to_le_bytes());
        for witness in &self.witnesses {
            hasher.update(&witness.owner.0);
            hasher.update(&witness.signature);
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// Builds and signs a transaction: one witness per distinct key in `signers`, in the
    /// order given. Clients sign; the engine only verifies.
    pub fn signed(inputs: Vec<OutPoint>, outputs: Vec<TxOut>, signers: &[&SigningKey]) -> Self {
        let mut tx = Transaction {
            inputs,
            outputs,
            witnesses: Vec::with_capacity(signers.len()),
        };
        let id = tx.id();
        for key in signers {
            let owner = Owner(key.verifying_key().to_bytes());
            if tx.witnesses.iter().any(|w| w.owner == owner) {
                continue;
            }
            tx.witnesses.push(Witness {
                owner,
                signature: key.sign(&id.0.0).to_bytes(),
            });
        }
        tx
    }

    /// Checks that need nothing but the transaction: counts within bounds and non-zero,
    /// no input twice, no owner signing twice, no zero output, output sum without
    /// overflow. Returns the sum of the outputs.
    pub fn check_structure(&self) -> Result<Amount, Rejection> {
        check_count(
            "inputs",
            self.inputs.len(),
            TX_INPUTS_MAX,
            Rejection::NoInputs,
        )?;
        check_count(
            "outputs",
            self.outputs.len(),
            TX_OUTPUTS_MAX,
            Rejection::NoOutputs,
        )?;
        check_count(
            "witnesses",
            self.witnesses.len(),
            TX_WITNESSES_MAX,
            Rejection::NoWitnesses,
        )?;
        // Quadratic scans over at most 16 items beat hashing them.
        for (i, input) in self.inputs.iter().enumerate() {
            if self.inputs[..i].contains(input) {
                return Err(Rejection::DuplicateInput { outpoint: *input });
            }
        }
        for (i, witness) in self.witnesses.iter().enumerate() {
            if self.witnesses[..i].iter().any(|w| w.owner == witness.owner) {
                return Err(Rejection::DuplicateWitness {
                    owner: witness.owner,
                });
            }
        }
        let mut total = Amount::ZERO;
        for (index, output) in self.outputs.iter().enumerate() {
            if output.amount == Amount::ZERO {
                return Err(Rejection::ZeroAmount {
                    index: index as u32,
                });
            }
            total = total
                .checked_add(output.amount)
                .ok_or(Rejection::AmountOverflow)?;
        }
        Ok(total)
    }

    /// Encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        2 + self.inputs.len() * OutPoint::ENCODED_LEN
            + 2
            + self.outputs.len() * OUTPUT_LEN
            + 2
            + self.witnesses.len() * WITNESS_LEN
    }
}

fn check_count(
    what: &'static str,
    count: usize,
    max: usize,
    empty: Rejection,
) -> Result<(), Rejection> {
    if count == 0 {
        return Err(empty);
    }
    if count > max {
        return Err(Rejection::TooMany { what, count, max });
    }
    Ok(())
}

impl Encode for Transaction {
    /// Layout: `u16 n_in, n_in × outpoint(36), u16 n_out, n_out × (owner 32, amount u64),
    /// u16 n_wit, n_wit × (owner 32, signature 64)`. The first two parts are the body.
    fn encode(&self, out: &mut Vec<u8>) {
        let mut body = [0u8; BODY_LEN_MAX];
        let len = self.write_body(&mut body);
        out.reserve(len + 2 + self.witnesses.len() * WITNESS_LEN);
        out.extend_from_slice(&body[..len]);
        put_count(out, self.witnesses.len());
        for witness in &self.witnesses {
            out.extend_from_slice(&witness.owner.0);
            out.extend_from_slice(&witness.signature);
        }
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n_in = reader.count("inputs", TX_INPUTS_MAX, OutPoint::ENCODED_LEN)?;
        let mut inputs = Vec::with_capacity(n_in);
        for _ in 0..n_in {
            inputs.push(OutPoint::decode(reader)?);
        }
        let n_out = reader.count("outputs", TX_OUTPUTS_MAX, OUTPUT_LEN)?;
        let mut outputs = Vec::with_capacity(n_out);
        for _ in 0..n_out {
            outputs.push(TxOut {
                owner: Owner::decode(reader)?,
                amount: Amount::decode(reader)?,
            });
        }
        let n_wit = reader.count("witnesses", TX_WITNESSES_MAX, WITNESS_LEN)?;
        let mut witnesses = Vec::with_capacity(n_wit);
        for _ in 0..n_wit {
            witnesses.push(Witness {
                owner: Owner::decode(reader)?,
                signature: reader.array("signature")?,
            });
        }
        Ok(Transaction {
            inputs,
            outputs,
            witnesses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Hash;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn outpoint(n: u8) -> OutPoint {
        OutPoint {
            tx: TxId(Hash([n; 32])),
            index: u32::from(n),
        }
    }

    fn owner_of(key: &SigningKey) -> Owner {
        Owner(key.verifying_key().to_bytes())
    }

    fn simple_tx() -> Transaction {
        let alice = key(1);
        Transaction::signed(
            vec![outpoint(1), outpoint(2)],
            vec![TxOut {
                owner: owner_of(&key(2)),
                amount: Amount(10),
            }],
            &[&alice],
        )
    }

    #[test]
    fn id_ignores_witnesses() {
        let mut tx = simple_tx();
        let id = tx.id();
        tx.witnesses.clear();
        assert_eq!(tx.id(), id);
    }

    #[test]
    fn witnessed_hash_changes_with_a_signature_but_the_id_does_not() {
        let tx = simple_tx();
        let mut forged = tx.clone();
        forged.witnesses[0].signature[0] ^= 1;
        assert_eq!(tx.id(), forged.id());
        assert_ne!(tx.witnessed_hash(), forged.witnessed_hash());
        assert_eq!(
            tx.witnessed_hash(),
            Domain::TxWitnessed.hash(&tx.to_bytes())
        );
    }

    #[test]
    fn id_changes_with_any_body_field() {
        let tx = simple_tx();
        let mut other = tx.clone();
        other.outputs[0].amount = Amount(11);
        assert_ne!(tx.id(), other.id());
        let mut other = tx.clone();
        other.inputs[1].index += 1;
        assert_ne!(tx.id(), other.id());
    }

    #[test]
    fn encoding_round_trips_and_has_the_announced_length() {
        let tx = simple_tx();
        let bytes = tx.to_bytes();
        assert_eq!(bytes.len(), tx.encoded_len());
        assert_eq!(Transaction::from_bytes(&bytes), Ok(tx));
    }

    #[test]
    fn signed_adds_one_witness_per_distinct_owner() {
        let (a, b) = (key(1), key(2));
        let tx = Transaction::signed(
            vec![outpoint(1)],
            vec![TxOut {
                owner: owner_of(&a),
                amount: Amount(1),
            }],
            &[&a, &b, &a],
        );
        assert_eq!(tx.witnesses.len(), 2);
    }

    #[test]
    fn structure_rejects_duplicate_input() {
        let mut tx = simple_tx();
        tx.inputs[1] = tx.inputs[0];
        assert_eq!(
            tx.check_structure(),
            Err(Rejection::DuplicateInput {
                outpoint: outpoint(1)
            })
        );
    }

    #[test]
    fn structure_rejects_zero_and_overflowing_outputs() {
        let mut tx = simple_tx();
        tx.outputs[0].amount = Amount::ZERO;
        assert_eq!(
            tx.check_structure(),
            Err(Rejection::ZeroAmount { index: 0 })
        );
        let mut tx = simple_tx();
        tx.outputs.push(TxOut {
            owner: Owner([1; 32]),
            amount: Amount(u64::MAX),
        });
        assert_eq!(tx.check_structure(), Err(Rejection::AmountOverflow));
    }

    #[test]
    fn structure_rejects_empty_and_oversized_parts() {
        let mut tx = simple_tx();
        tx.inputs.clear();
        assert_eq!(tx.check_structure(), Err(Rejection::NoInputs));
        let mut tx = simple_tx();
        tx.witnesses.clear();
        assert_eq!(tx.check_structure(), Err(Rejection::NoWitnesses));
        let mut tx = simple_tx();
        tx.outputs = vec![tx.outputs[0]; TX_OUTPUTS_MAX + 1];
        assert!(matches!(
            tx.check_structure(),
            Err(Rejection::TooMany {
                what: "outputs",
                ..
            })
        ));
    }

    #[test]
    fn structure_rejects_duplicate_witness() {
        let mut tx = simple_tx();
        tx.witnesses.push(tx.witnesses[0]);
        assert!(matches!(
            tx.check_structure(),
            Err(Rejection::DuplicateWitness { .. })
        ));
    }

    #[test]
    fn decode_rejects_too_many_inputs() {
        let mut bytes = ((TX_INPUTS_MAX + 1) as u16).to_le_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(0u8, 2000));
        assert!(matches!(
            Transaction::from_bytes(&bytes),
            Err(DecodeError::TooMany { what: "inputs", .. })
        ));
    }

    #[test]
    fn every_rejection_maps_to_a_listed_reason() {
        let rejection = Rejection::Overspend {
            inputs: Amount(1),
            outputs: Amount(2),
        };
        assert!(RejectReason::ALL.contains(&rejection.reason()));
        assert_eq!(rejection.reason().as_str(), "overspend");
    }
}
