//! Transactions that must be rejected: the invalid kinds `invalid_fraction` injects
//! ([`draft_invalid`]: a corrupted signature, an input that never existed, a re-spend, an
//! overspend) and the canaries ([`draw_canary`]: which slots carry one, and of which
//! kind). The drafting of an intra-shard slot (`draft_intra`) decides between them.

use std::collections::VecDeque;

use ioschain_core::crypto::hash::Domain;
use ioschain_core::tx::{RejectReason, Transaction, TxOut};
use ioschain_core::types::{Amount, OutPoint, Owner, TxId};

use super::{Coin, Draft, SignatureKind, Stream};
use crate::spec::WorkloadSpec;

/// The canaries' kinds: a corrupted signature, an input that never existed, an input the
/// stream already spent.
pub const CANARY_KINDS: [RejectReason; 3] = [
    RejectReason::BadSignature,
    RejectReason::UnknownInput,
    RejectReason::DoubleSpend,
];

/// With canaries on, each stream carries one of each kind within its first this many
/// intra-shard slots (after the first spend, for the double spend), so even a short run
/// releases them; the rest come at `canary_rate`.
pub const CANARY_EARLY: u64 = 512;

/// A double-spend canary re-spends the oldest of the stream's recent spends, and only
/// once the stream has made this many (so the spend it repeats is at least about
/// `CANARY_SPEND_AGE / inputs_per_tx` positions old).
///
/// Limit: the spend repeated is at most about `DOUBLE_SPEND_WINDOW / inputs_per_tx`
/// positions old (an engine need remember no more spent outputs). An engine so overloaded
/// that it re-orders a client's transactions by more than that (re-routes behind a
/// backlog of seconds) can apply the canary first and reject the original: the run then
/// fails `canaries` and `outcomes_as_expected` along with the drain. The fix is the
/// client sending its transactions in order of finality (the node issue's clients).
pub const CANARY_SPEND_AGE: usize = 256;

/// `draft_invalid` kind: a double spend of the oldest spend in the window.
pub(super) const OLDEST_DOUBLE_SPEND: u64 = 4;

/// Whether the intra-shard slot at `position` holds a canary, and of which kind: the
/// kinds still owed while `position` is below [`CANARY_EARLY`] (each with a chance that
/// spreads them over those slots), then one of [`CANARY_KINDS`] at `canary_rate`. A
/// double spend needs an earlier spend of the stream to repeat. Draws nothing when
/// canaries are off, so other workloads keep their streams.
pub(super) fn draw_canary(
    spec: &WorkloadSpec,
    stream: &mut Stream,
    position: u64,
) -> Option<RejectReason> {
    if spec.canary_rate <= 0.0 {
        return None;
    }
    let possible = |reason: &RejectReason| {
        *reason != RejectReason::DoubleSpend || stream.spent.len() >= CANARY_SPEND_AGE
    };
    if let Some(slot) = stream.canaries_owed.iter().position(possible) {
        // Spread over the first slots, all placed by the horizon (if the stream is
        // shorter, by its end).
        let horizon = CANARY_EARLY.min(spec.txs_per_shard);
        let owed = stream.canaries_owed.len() as u64;
        let left = horizon.saturating_sub(position);
        if left <= owed || stream.prg.below(left) < owed {
            return Some(stream.canaries_owed.remove(slot));
        }
    }
    if stream.prg.unit() < spec.canary_rate {
        let reason = CANARY_KINDS[stream.prg.below(CANARY_KINDS.len() as u64) as usize];
        return Some(if possible(&reason) {
            reason
        } else {
            RejectReason::UnknownInput
        });
    }
    None
}

#[allow(clippy::too_many_arguments)]
pub(super) fn draft_invalid(
    kind: u64,
    spec: &WorkloadSpec,
    n_tx: u64,
    sender: usize,
    recipient: usize,
    accounts: &[u32],
    owners: &[Owner],
    wallets: &[VecDeque<Coin>],
    spent: &VecDeque<(OutPoint, usize)>,
) -> (Draft, RejectReason) {
    let need = spec.inputs_per_tx as usize;
    let to = owners[accounts[recipient] as usize];
    let own: Vec<Coin> = wallets[sender].iter().take(need).copied().collect();
    let own_total: u64 = own.iter().map(|coin| coin.amount).sum();
    let draft = |inputs: Vec<OutPoint>, amount: u64, signer: usize, corrupt: bool| {
        let tx = Transaction {
            inputs,
            outputs: vec![TxOut {
                owner: to,
                amount: Amount(amount),
            }],
            witnesses: Vec::with_capacity(1),
        };
        let id = tx.id();
        Draft {
            tx,
            id,
            signers: vec![accounts[signer]],
            signature: if corrupt {
                SignatureKind::Corrupt
            } else {
                SignatureKind::Honest
            },
        }
    };
    let own_inputs = || own.iter().map(|coin| coin.outpoint).collect::<Vec<_>>();
    match kind {
        0 => (
            draft(own_inputs(), own_total, sender, true),
            RejectReason::BadSignature,
        ),
        1 => {
            let never = OutPoint {
                tx: TxId(Domain::Prg.hash_parts(&[
                    b"ioschain/unknown-input",
                    &spec.seed.to_le_bytes(),
                    &n_tx.to_le_bytes(),
                ])),
                index: 0,
            };
            (
                draft(vec![never], 1, sender, false),
                RejectReason::UnknownInput,
            )
        }
        2 | OLDEST_DOUBLE_SPEND if !spent.is_empty() => {
            // A canary re-spends the oldest spend in the window: an engine that re-orders
            // a little (re-routes, exposure deferrals) has long applied that one.
            let at = if kind == OLDEST_DOUBLE_SPEND {
                0
            } else {
                (n_tx as usize) % spent.len()
            };
            let (outpoint, owner) = spent[at];
            (
                draft(vec![outpoint], 1, owner, false),
                RejectReason::DoubleSpend,
            )
        }
        _ => (
            draft(own_inputs(), own_total + 1, sender, false),
            RejectReason::Overspend,
        ),
    }
}
