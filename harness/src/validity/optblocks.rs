//! `optblock_roots_rebuilt`: every OptBlock a FinalBlock references is rebuilt from the
//! log and its `tx_root` recomputed, instead of trusting that the engine's normal
//! league compared them.
//!
//! Derived from: the record's logged transactions (covered by the FinalBlock header's
//! `tx_root`, which the certificate signs), the signed OptBlock headers of its PoB body
//! (covered by `pob_root`), and the record's annex (not certified: where the normal
//! league's own batches sit among the OptBlocks, and the excluded transactions' bodies
//! with their positions). Walking the record's sequence of finalized blocks in order,
//! each position of a block is either the next logged transaction or an excluded one of
//! the annex; the leaves are their witnessed hashes ([`Transaction::witnessed_hash`],
//! what the believable validator signed), and their Merkle root must equal the signed
//! header's `tx_root`. So the annex cannot lie without breaking a signed root, and every
//! excluded body must match an id a certified PoB body lists as excluded (in this record
//! or an earlier one: a transaction is excluded before its OptBlock is finalized), each
//! id used once. Also checked: the normal league's own batches add up to the body's
//! `direct` count, every logged transaction is in exactly one block, and (in a drained
//! run) every excluded id was matched by a body.
//!
//! The walk also hands each rebuilt OptBlock's transactions (logged or excluded) to a
//! visitor: `samples.rs` checks the published samples against them.

use std::collections::HashMap;

use ioschain_core::merkle;
use ioschain_core::pob::optblock::SignedOptHeader;
use ioschain_core::tx::Transaction;
use ioschain_core::types::{Hash, ShardId, TxId};

use crate::blocklog::Record;

/// The rebuild of one shard's referenced OptBlocks, record by record.
#[derive(Debug, Default)]
pub(super) struct OptRoots {
    /// Ids listed as excluded by certified PoB bodies, not yet matched by an annex body.
    pending: HashMap<TxId, u32>,
    /// OptBlocks whose root was rebuilt and matched.
    pub rebuilt: u64,
    /// Excluded transactions whose bodies went into a rebuilt root.
    pub excluded_bodies: u64,
    pub problems: Vec<String>,
}

impl OptRoots {
    /// Rebuilds the OptBlocks `record` references (see the module doc), handing each
    /// one's index among the references, signed header and transactions (each with
    /// whether it is logged, else excluded) to `visit`.
    pub fn on_record(
        &mut self,
        shard: ShardId,
        record: &Record,
        visit: &mut impl FnMut(usize, &SignedOptHeader, &[(&Transaction, bool)]),
    ) {
        let mut found = Vec::new();
        self.rebuild(record, &mut |what| found.push(what), visit);
        let height = record.header.height;
        self.problems.extend(
            found
                .into_iter()
                .map(|what| format!("block {height} of shard {shard}: {what}")),
        );
    }

    fn rebuild<'r>(
        &mut self,
        record: &'r Record,
        problem: &mut impl FnMut(String),
        visit: &mut impl FnMut(usize, &SignedOptHeader, &[(&'r Transaction, bool)]),
    ) {
        for id in &record.pob.excluded {
            *self.pending.entry(*id).or_default() += 1;
        }
        let annex = &record.annex;
        let total = record.pob.refs.len() + annex.direct.len();
        let direct_sum: u64 = annex.direct.iter().map(|(_, len)| u64::from(*len)).sum();
        if direct_sum != u64::from(record.pob.direct) {
            problem(format!(
                "the annex's own batches hold {direct_sum} transactions, the PoB body says {}",
                record.pob.direct
            ));
        }
        let mut logged = record.txs.iter();
        let mut excluded = annex.excluded.iter().peekable();
        let mut direct = annex.direct.iter().peekable();
        let mut refs = record.pob.refs.iter();
        let mut leaves: Vec<Hash> = Vec::new();
        let mut txs: Vec<(&Transaction, bool)> = Vec::new();
        let mut ref_index = 0usize;
        for k in 0..total as u32 {
            let (len, signed) = match direct.peek() {
                Some(&&(block, len)) if block == k => {
                    direct.next();
                    (len, None)
                }
                _ => match refs.next() {
                    Some(signed) => (signed.header.tx_count, Some(signed)),
                    None => {
                        problem(format!(
                            "the annex places an own batch at {:?}, past the {total} finalized blocks",
                            direct.peek()
                        ));
                        return;
                    }
                },
            };
            leaves.clear();
            txs.clear();
            for position in 0..len {
                let (tx, logged): (&Transaction, bool) = match excluded.peek() {
                    Some(e) if (e.block, e.position) == (k, position) => {
                        let e = excluded.next().expect("peeked");
                        let id = e.tx.id();
                        match self.pending.get_mut(&id) {
                            Some(n) if *n > 0 => {
                                *n -= 1;
                                self.excluded_bodies += 1;
                            }
                            _ => problem(format!(
                                "the annex's excluded transaction {id:?} (block {k}, position {position}) is not listed as excluded by a certified PoB body"
                            )),
                        }
                        (&e.tx, false)
                    }
                    _ => match logged.next() {
                        Some(tx) => (tx, true),
                        None => {
                            problem(format!(
                                "finalized block {k} has {len} transactions, the log runs out at position {position}"
                            ));
                            return;
                        }
                    },
                };
                leaves.push(tx.witnessed_hash());
                txs.push((tx, logged));
            }
            if let Some(signed) = signed {
                visit(ref_index, signed, &txs);
                ref_index += 1;
                if merkle::root(&leaves) == signed.header.tx_root {
                    self.rebuilt += 1;
                } else {
                    problem(format!(
                        "OptBlock {} of league index {} (epoch {}): the root rebuilt from the logged and excluded transactions is not its signed tx_root",
                        signed.header.seq, signed.header.league_index, signed.header.epoch.0
                    ));
                }
            }
        }
        if let Some(e) = excluded.next() {
            problem(format!(
                "the annex excludes position {} of block {}, outside every finalized block (or out of order)",
                e.position, e.block
            ));
        }
        let left = logged.len();
        if left > 0 {
            problem(format!(
                "{left} logged transactions are in no finalized block"
            ));
        }
    }

    /// At the end of the log: in a drained run every excluded id has had its body.
    pub fn finish(&mut self, shard: ShardId, drained: bool) {
        let unmatched: u32 = self.pending.values().sum();
        if drained && unmatched > 0 {
            self.problems.push(format!(
                "shard {shard}: {unmatched} transactions listed as excluded are in no finalized block's annex"
            ));
        }
    }
}
