//! `ioschain-benches`: benchmarks of the hot paths, in `benches/`, named
//! `module::op/param=value`. `core` is the criterion (wall-clock) tier, run with
//! `cargo bench -p ioschain-benches --bench core`; `instructions` is the gungraun
//! (instruction-count) tier that `scripts/regression.sh` gates on.
//!
//! This library holds the inputs both tiers build, so they measure the same things:
//! deterministic keys, signed batches, model transactions, UTXO sets, Merkle leaves and
//! a CoSi roster. Everything here is set-up: none of it runs inside a measurement.

use std::collections::VecDeque;

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::cosi::{Roster, Signers, ValidatorKey};
use ioschain_core::crypto::hash::Domain;
use ioschain_core::crypto::sig::VerificationKey;
use ioschain_core::tx::{Transaction, TxOut, Witness};
use ioschain_core::types::{Amount, Hash, OutPoint, Owner, TxId};
use ioschain_core::utxo::UtxoSet;

/// A deterministic ed25519 key: seed `i` in little-endian, zero-padded.
pub fn signing_key(i: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

/// The owner (public key) of [`signing_key`]`(i)`.
pub fn owner(i: u64) -> Owner {
    Owner(signing_key(i).verifying_key().to_bytes())
}

/// One entry of a signature batch: message, signature, key.
pub type SigEntry = ([u8; 32], [u8; 64], VerificationKey);

/// `n` honest entries: message `i` is `H_prg(i)`, signed by [`signing_key`]`(i)`.
pub fn signed_entries(n: usize) -> Vec<SigEntry> {
    (0..n as u64)
        .map(|i| {
            let key = signing_key(i);
            let message = *Domain::Prg.hash(&i.to_le_bytes()).as_bytes();
            (
                message,
                key.sign(&message).to_bytes(),
                VerificationKey::from(&key.verifying_key()),
            )
        })
        .collect()
}

/// The outpoint `(H_prg(i), index)`: the inputs of [`model_tx`] and the outputs
/// [`utxo_set`] creates.
pub fn prg_outpoint(i: u64, index: u32) -> OutPoint {
    OutPoint {
        tx: TxId(Domain::Prg.hash(&i.to_le_bytes())),
        index,
    }
}

/// A model transaction: two inputs and two outputs of one owner, one witness
/// (254 bytes encoded).
pub fn model_tx(i: u64) -> Transaction {
    let key = signing_key(i);
    let owner = Owner(key.verifying_key().to_bytes());
    Transaction::signed(
        vec![prg_outpoint(i, 0), prg_outpoint(i, 1)],
        vec![
            TxOut {
                owner,
                amount: Amount(70),
            },
            TxOut {
                owner,
                amount: Amount(30),
            },
        ],
        &[&key],
    )
}

/// A UTXO set with room for `2 × keys` outputs holding `keys` outputs of 100 owned by
/// `owner`, at [`prg_outpoint`]`(i, 0)` for `i` in `0..keys`; and those outpoints, in
/// order (the live outputs a bench spends from the front).
pub fn utxo_set(keys: u64, owner: Owner) -> (UtxoSet, VecDeque<OutPoint>) {
    let mut set = UtxoSet::with_capacity(keys as usize * 2);
    let mut live = VecDeque::with_capacity(keys as usize);
    for i in 0..keys {
        let outpoint = prg_outpoint(i, 0);
        set.create(
            outpoint,
            TxOut {
                owner,
                amount: Amount(100),
            },
        )
        .expect("distinct outpoints");
        live.push_back(outpoint);
    }
    (set, live)
}

/// A transaction spending `inputs` (outputs of 100 each, see [`utxo_set`]) into two
/// outputs of 100 to `witness.owner`. The witness is taken as given: `apply` does not
/// check signatures (they are verified in batches before).
pub fn spend(inputs: Vec<OutPoint>, witness: Witness) -> Transaction {
    let output = TxOut {
        owner: witness.owner,
        amount: Amount(100),
    };
    Transaction {
        inputs,
        outputs: vec![output, output],
        witnesses: vec![witness],
    }
}

/// `n` distinct Merkle leaves, `H_prg(i)`.
pub fn merkle_leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| Domain::Prg.hash(&i.to_le_bytes())).collect()
}

/// A CoSi roster of `n` validators with their keys, all of them as signers, and the
/// message a round signs.
#[derive(Debug)]
pub struct CosiFixture {
    /// The roster (proofs of possession checked).
    pub roster: Roster,
    /// One key per roster member, in roster order.
    pub keys: Vec<ValidatorKey>,
    /// Every member.
    pub signers: Signers,
    /// The message signed (a header hash).
    pub message: [u8; 32],
}

/// A [`CosiFixture`] of `n` validators with keys from seeds `0..n`.
pub fn cosi_fixture(n: usize) -> CosiFixture {
    let keys: Vec<ValidatorKey> = (0..n as u64)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            ValidatorKey::from_seed(&seed)
        })
        .collect();
    let members: Vec<_> = keys
        .iter()
        .map(|k| (k.public(), k.prove_possession()))
        .collect();
    let roster = Roster::new(&members).expect("distinct keys with proofs");
    CosiFixture {
        roster,
        keys,
        signers: Signers::all(n),
        message: *Domain::BlockHeader.hash(b"header").as_bytes(),
    }
}
