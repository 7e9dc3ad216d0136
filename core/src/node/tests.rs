//! Unit tests per node step (issue 12, item 8): a `ShardNode` driven directly, with
//! logical time and no threads, by a small host in this file that performs its effects
//! (records decoded, acknowledgements given when the test says, re-submissions sent
//! when due).
//!
//! Every fixture is built here: client keys, a genesis, a stream of signed
//! transactions, the roster and a `ShardSetup` with small PoB parameters. A test that
//! needs a Byzantine validator gets it from [`node_with_byzantine`] alone (the one
//! place to re-point when Byzantine behaviour moves to the `Adversary` hook).

use ed25519_dalek::SigningKey;

use super::*;
use crate::crypto::hash::Domain;
use crate::pob::score::ScoreParams;
use crate::record::{Record as Decoded, decode_payload};
use crate::types::Amount;
use adversary::Honest;
use pob::Behaviour;

const MS: u64 = 1_000_000;
const ROSTER: usize = 8;
const CLIENTS: usize = 24;
const FUNDS: u64 = 1_000;
const CHALLENGE_WINDOW_NS: u64 = 40 * MS;
const FINAL_INTERVAL_NS: u64 = 20 * MS;

fn client(i: usize) -> SigningKey {
    SigningKey::from_bytes(
        &Domain::Prg
            .hash_parts(&[b"test-client", &(i as u64).to_le_bytes()])
            .0,
    )
}

fn owner(i: usize) -> Owner {
    Owner(client(i).verifying_key().to_bytes())
}

/// Client `i`'s genesis output.
fn funds(i: usize) -> OutPoint {
    OutPoint {
        tx: TxId(Domain::Prg.hash_parts(&[b"test-genesis", &(i as u64).to_le_bytes()])),
        index: 0,
    }
}

fn genesis() -> Vec<(OutPoint, TxOut)> {
    (0..CLIENTS)
        .map(|i| {
            let out = TxOut {
                owner: owner(i),
                amount: Amount(FUNDS),
            };
            (funds(i), out)
        })
        .collect()
}

/// Client `from` pays its genesis funds to client `to`.
fn pay(from: usize, to: usize) -> Transaction {
    let out = TxOut {
        owner: owner(to),
        amount: Amount(FUNDS),
    };
    Transaction::signed(vec![funds(from)], vec![out], &[&client(from)])
}

/// `pay(i, i + 1)` for every client: independent transactions.
fn payments() -> Vec<Transaction> {
    (0..CLIENTS).map(|i| pay(i, (i + 1) % CLIENTS)).collect()
}

fn params() -> PobParams {
    PobParams {
        believable: 2,
        league_min: 2,
        p: 0.5,
        all_samplers: false,
        opt_block_tx_max: 64,
        opt_block_interval_ns: 5 * MS,
        final_interval_ns: FINAL_INTERVAL_NS,
        challenge_window_ns: CHALLENGE_WINDOW_NS,
        epoch_final_blocks: 1_000,
        reroute_timeout_ns: 50 * MS,
        stake: 1_000_000_000,
        score: ScoreParams::default(),
        byzantine: None,
    }
}

fn setup(pob: PobParams) -> ShardSetup {
    let roster_keys: Vec<ValidatorKey> = (0..ROSTER as u8)
        .map(|i| ValidatorKey::from_seed(&[i + 1; 32]))
        .collect();
    let members: Vec<_> = roster_keys
        .iter()
        .map(|k| (k.public(), k.prove_possession()))
        .collect();
    let roster = Roster::new(&members).expect("distinct keys");
    ShardSetup {
        id: ShardId(0),
        shard_count: 1,
        federation: Arc::new(Federation::new(vec![roster.clone()])),
        roster_keys,
        roster,
        nonce_seed: [7; 32],
        seed: 11,
        verify_batch_max: 256,
        verify_batch_min: 1,
        verify_wait_ns: 0,
        block_tx_max: 64,
        block_interval_ns: 5 * MS,
        spent_retention: 1_024,
        pob,
        adversary: Box::new(Honest),
        t_unlock_blocks: 3,
        stopwatch: Box::new(meter::Unmetered),
    }
}

fn node_with(pob: PobParams) -> ShardNode {
    ShardNode::new(setup(pob), &genesis())
}

/// An honest shard with two believable validators.
fn honest_node() -> ShardNode {
    node_with(params())
}

/// The tests' adversary: corrupts the first believable validator of the first epoch,
/// which then misbehaves with `behaviour` (`bad-signature` or `equivocate`) at every
/// opportunity.
struct Always {
    behaviour: Behaviour,
    culprit: Option<ValidatorId>,
}

impl Adversary for Always {
    fn corrupt(
        &mut self,
        _: Epoch,
        league: &[ValidatorId],
        _: &[ValidatorId],
        _: &dyn Fn(ValidatorId) -> bool,
    ) -> Vec<ValidatorId> {
        match (self.culprit, league.first()) {
            (None, Some(&first)) => {
                self.culprit = Some(first);
                vec![first]
            }
            _ => Vec::new(),
        }
    }

    fn routed(&mut self, _: ValidatorId, _: u64) -> Routed {
        Routed::Accept
    }

    fn forge(&mut self, v: ValidatorId, _: u64, tx: &Transaction) -> Option<Transaction> {
        (self.behaviour == Behaviour::BadSignature && self.culprit == Some(v)).then(|| {
            let mut forged = tx.clone();
            forged.witnesses[0].signature[0] ^= 0x01;
            forged
        })
    }

    fn seal(&mut self, v: ValidatorId, _: u64, _: Option<&Transaction>) -> Sealed {
        if self.behaviour == Behaviour::Equivocate && self.culprit == Some(v) {
            Sealed::Equivocate
        } else {
            Sealed::Honest
        }
    }
}

/// The one way tests get a Byzantine validator: a shard over `stream` whose first
/// believable validator misbehaves with `behaviour` at every opportunity (the
/// [`Always`] adversary), and whose normal validator samples every signature (a forgery
/// is found for sure). Returns the node and the culprit's roster index.
fn node_with_byzantine(behaviour: Behaviour) -> (ShardNode, ValidatorId) {
    let pob = PobParams { p: 1.0, ..params() };
    let mut setup = setup(pob);
    setup.adversary = Box::new(Always {
        behaviour,
        culprit: None,
    });
    let node = ShardNode::new(setup, &genesis());
    let culprit = node.validators.leagues.believable()[0];
    assert_eq!(node.validators.byzantine, vec![culprit]);
    (node, culprit)
}

/// The host of the tests: the clients of the stream, performing the node's effects at
/// logical times.
struct Host {
    node: ShardNode,
    /// The clients' transactions, by stream position.
    stream: Vec<Arc<Transaction>>,
    now: u64,
    /// Acknowledge every record as soon as it is asked for.
    persist: bool,
    outcomes: Vec<(u64, Outcome)>,
    /// Decoded records with the time the node asked for them.
    records: Vec<(u64, Decoded)>,
    /// Records not acknowledged yet (height).
    pending: Vec<u64>,
    finals: Vec<(u64, u32)>,
    resend: Vec<Retry>,
}

impl Host {
    fn new(node: ShardNode, stream: &[Transaction]) -> Host {
        Host {
            node,
            stream: stream.iter().cloned().map(Arc::new).collect(),
            now: 0,
            persist: true,
            outcomes: Vec::new(),
            records: Vec::new(),
            pending: Vec::new(),
            finals: Vec::new(),
            resend: Vec::new(),
        }
    }

    fn submit(&mut self, index: u32) {
        self.node.submit(Submission {
            tx: Arc::clone(&self.stream[index as usize]),
            index,
            intended: self.now,
            retry: 0,
            urgent: false,
        });
    }

    /// One poll at the current time, its effects performed, then 1 ms passes.
    fn step(&mut self) {
        let now = self.now;
        let due: Vec<Retry> = self
            .resend
            .iter()
            .filter(|r| r.due_ns <= now)
            .cloned()
            .collect();
        self.resend.retain(|r| r.due_ns > now);
        for retry in due {
            self.node.submit(Submission {
                urgent: true,
                ..retry.submission
            });
        }
        self.node.poll(now);
        self.perform();
        if self.persist {
            self.acknowledge();
        }
        self.now += MS;
    }

    fn run_for(&mut self, ns: u64) {
        let end = self.now + ns;
        while self.now < end {
            self.step();
        }
    }

    /// Acknowledges every record asked for so far.
    fn acknowledge(&mut self) {
        if let Some(&height) = self.pending.last() {
            self.pending.clear();
            self.node.on_persisted(self.now, height, Vec::new());
            self.perform();
        }
    }

    fn perform(&mut self) {
        let now = self.now;
        let roster_len = self.node.roster.len();
        let fx = self.node.effects();
        for outcome in fx.outcomes.drain(..) {
            if let Outcome::Retry(retry) = &outcome {
                self.resend.push(retry.clone());
            }
            self.outcomes.push((now, outcome));
        }
        for record in fx.records.drain(..) {
            let payload = &record.bytes[8..record.bytes.len() - crate::record::CHECKSUM_LEN];
            let decoded = decode_payload(payload, roster_len).expect("the node's records decode");
            assert_eq!(decoded.header.height.0, record.height);
            self.pending.push(record.height);
            self.records.push((now, decoded));
        }
        self.finals
            .extend(fx.finals.drain(..).map(|(index, _)| (now, index)));
    }

    /// Stream positions made final, in order.
    fn final_indices(&self) -> Vec<u32> {
        self.finals.iter().map(|&(_, index)| index).collect()
    }

    /// When each transaction was made provisional (the last time, if more than once).
    fn provisional_at(&self) -> FxHashMap<TxId, u64> {
        self.outcomes
            .iter()
            .filter_map(|(at, o)| match o {
                Outcome::Provisional { id, .. } => Some((*id, *at)),
                _ => None,
            })
            .collect()
    }
}

/// The stream positions of `txs` (each must be the stream's own transaction, as
/// signed by its client).
fn positions(stream: &[Transaction], txs: &[Transaction]) -> Vec<u32> {
    txs.iter()
        .map(|tx| {
            stream
                .iter()
                .position(|s| s == tx)
                .unwrap_or_else(|| panic!("{:?} is not a stream transaction as signed", tx.id()))
                as u32
        })
        .collect()
}

#[test]
fn a_final_block_never_covers_an_opt_block_younger_than_the_challenge_window() {
    let stream = payments();
    let mut host = Host::new(honest_node(), &stream);
    // A transaction every 3 ms: at every FinalBlock some OptBlocks are younger than the
    // window.
    for index in 0..CLIENTS as u32 {
        host.submit(index);
        host.run_for(3 * MS);
    }
    host.run_for(4 * CHALLENGE_WINDOW_NS);
    let signed_at = host.provisional_at();
    let mut covered = 0;
    let mut left_young = 0;
    for (at, record) in &host.records {
        assert_eq!(
            record.pob.direct, 0,
            "every transaction had a believable validator"
        );
        // The record's transactions are its OptBlocks' (none excluded), in order.
        let mut txs = record.txs.iter();
        for header in &record.pob.refs {
            let block: Vec<&Transaction> =
                txs.by_ref().take(header.header.tx_count as usize).collect();
            let sealed = signed_at[&block[0].id()];
            assert!(block.iter().all(|tx| signed_at[&tx.id()] == sealed));
            assert!(
                sealed + CHALLENGE_WINDOW_NS <= *at,
                "FinalBlock at {at} ns covers an OptBlock signed at {sealed} ns"
            );
            covered += 1;
        }
        assert!(txs.next().is_none());
        // OptBlocks signed by then and left for a later FinalBlock.
        left_young += signed_at
            .values()
            .filter(|&&s| s < *at && s + CHALLENGE_WINDOW_NS > *at)
            .count();
    }
    assert!(covered >= 2, "{covered} OptBlocks finalized");
    assert!(
        left_young > 0,
        "no FinalBlock had a young OptBlock to leave out"
    );
    assert_eq!(
        host.final_indices(),
        (0..CLIENTS as u32).collect::<Vec<_>>()
    );
}

#[test]
fn transactions_are_final_only_after_the_host_acknowledges_the_record() {
    let stream = payments();
    let mut host = Host::new(honest_node(), &stream);
    host.persist = false;
    // Two waves, a FinalBlock interval apart: two FinalBlocks wait for the host.
    for index in 0..4 {
        host.submit(index);
    }
    host.run_for(FINAL_INTERVAL_NS + 5 * MS);
    for index in 4..8 {
        host.submit(index);
    }
    let mut first_record_at = None;
    while host.now < 10 * CHALLENGE_WINDOW_NS {
        host.step();
        if first_record_at.is_none() && !host.records.is_empty() {
            first_record_at = Some(host.now);
        }
    }
    let first = first_record_at.expect("a FinalBlock was built");
    assert!(
        host.finals.is_empty(),
        "final before any acknowledgement: {:?}",
        host.finals
    );
    assert!(host.now > first + 4 * FINAL_INTERVAL_NS, "the host waited");
    assert!(host.records.len() >= 2, "{} records", host.records.len());
    // Acknowledging the first record makes exactly its transactions final, in order.
    let (_, record) = &host.records[0];
    assert!(!record.txs.is_empty());
    let height = record.header.height.0;
    let expected = positions(&stream, &record.txs);
    host.node.on_persisted(host.now, height, Vec::new());
    host.perform();
    assert_eq!(host.final_indices(), expected);
    // The rest once the rest is acknowledged; every transaction final once.
    let all: Vec<u32> = host
        .records
        .iter()
        .flat_map(|(_, r)| positions(&stream, &r.txs))
        .collect();
    host.pending.retain(|&h| h > height);
    host.acknowledge();
    assert_eq!(host.final_indices(), all);
    let mut sorted = all.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..8).collect::<Vec<_>>());
}

/// Every proof the shard's FinalBlocks carry.
fn logged_proofs(host: &Host) -> Vec<&FraudProof> {
    host.records
        .iter()
        .flat_map(|(_, r)| &r.pob.proofs)
        .collect()
}

/// Roster indices of the banned validators.
fn banned(node: &ShardNode) -> Vec<ValidatorId> {
    node.validators
        .records
        .iter()
        .filter(|r| r.banned)
        .map(|r| r.id)
        .collect()
}

/// Every stream position final exactly once.
fn assert_each_final_once(host: &Host, count: usize) {
    let mut finals = host.final_indices();
    finals.sort_unstable();
    assert_eq!(finals, (0..count as u32).collect::<Vec<_>>());
}

/// Every client of [`payments`] submits to a shard whose first believable validator
/// misbehaves with `behaviour`, for ten challenge windows; only that validator is
/// banned. Returns the host, the culprit's OptBlock key and the stream.
fn run_with_byzantine(behaviour: Behaviour) -> (Host, [u8; 32], Vec<Transaction>) {
    let stream = payments();
    let (node, culprit) = node_with_byzantine(behaviour);
    let culprit_key = node.validators.opt_public[culprit.0 as usize];
    let mut host = Host::new(node, &stream);
    for index in 0..CLIENTS as u32 {
        host.submit(index);
    }
    host.run_for(10 * CHALLENGE_WINDOW_NS);
    assert_eq!(
        banned(&host.node),
        vec![culprit],
        "only the culprit is banned"
    );
    (host, culprit_key, stream)
}

#[test]
fn a_fraud_proof_slashes_only_its_signer_and_the_forged_transaction_is_never_final() {
    let (host, culprit_key, stream) = run_with_byzantine(Behaviour::BadSignature);
    let proofs = logged_proofs(&host);
    assert!(!proofs.is_empty(), "the forgery was proven");
    let mut forged = Vec::new();
    for proof in proofs {
        let FraudProof::BadSignature(fraud) = proof else {
            panic!("unexpected proof {}", proof.kind());
        };
        assert_eq!(
            proof.culprit(),
            Ok(culprit_key),
            "a proof blames its signer"
        );
        forged.push(fraud.tx.clone());
    }
    for tx in &forged {
        let index = stream
            .iter()
            .position(|s| s.id() == tx.id())
            .expect("in the stream");
        assert_ne!(tx, &stream[index], "the proof holds the corrupted copy");
    }
    // The forged copies are excluded (the one proven, and the rest of the culprit's
    // unfinalized work by the full re-check), never final: every transaction a record
    // holds is the stream's, as its client signed it.
    let excluded: Vec<TxId> = (host.records.iter())
        .flat_map(|(_, r)| r.pob.excluded.iter().copied())
        .collect();
    assert!(forged.iter().all(|tx| excluded.contains(&tx.id())));
    for (_, record) in &host.records {
        positions(&stream, &record.txs);
        assert!(forged.iter().all(|tx| !record.txs.contains(tx)));
    }
    for id in &excluded {
        let index = stream
            .iter()
            .position(|s| s.id() == *id)
            .expect("a stream transaction") as u32;
        // Its client is told to send it again (the next attempt).
        assert!(
            host.outcomes
                .iter()
                .any(|(_, o)| matches!(o, Outcome::Retry(r)
                if r.submission.index == index && r.submission.retry == 1)),
            "client of {index} told to send again"
        );
    }
    // Sent again, through an honest validator, every transaction is final once.
    assert_each_final_once(&host, CLIENTS);
}

#[test]
fn an_equivocating_believable_validator_is_proven_and_slashed_alone() {
    // The detector's own test (pob::optblock) covers both arrival orders; here the
    // node turns an equivocation into a logged proof and a slash of its signer only.
    let (host, culprit_key, _) = run_with_byzantine(Behaviour::Equivocate);
    let proofs = logged_proofs(&host);
    let [FraudProof::Equivocation(proof)] = proofs.as_slice() else {
        panic!("expected one equivocation proof, got {proofs:?}");
    };
    assert_eq!(proof.verify(), Ok(culprit_key));
    assert!(proof.first.header.same_slot(&proof.second.header));
    assert_ne!(proof.first.header, proof.second.header);
    // The header the normal league applied is the one the FinalBlocks reference.
    let refs: Vec<SignedOptHeader> = host
        .records
        .iter()
        .flat_map(|(_, r)| r.pob.refs.iter().copied())
        .collect();
    assert!(refs.contains(&proof.first) && !refs.contains(&proof.second));
    assert_each_final_once(&host, CLIENTS);
}

#[test]
fn outcomes_come_in_the_order_the_node_reached_them_and_a_double_spend_in_a_batch_is_rejected() {
    let mut stream = payments();
    // In one batch: a bad signature, a payment, a second spend of the payment's input
    // (to another recipient), another payment.
    let mut bad = pay(2, 3);
    bad.witnesses[0].signature[0] ^= 1;
    let second_spend = pay(0, 5);
    stream[1] = bad;
    stream[2] = second_spend;
    let mut host = Host::new(honest_node(), &stream);
    for index in 0..4 {
        host.submit(index);
    }
    host.step();
    let kinds: Vec<(char, u32)> = host
        .outcomes
        .iter()
        .map(|(_, o)| match o {
            Outcome::Rejected(s, _) => ('R', s.index),
            Outcome::Provisional { index, .. } => ('P', *index),
            Outcome::Retry(r) => ('T', r.submission.index),
        })
        .collect();
    // Rejections as the batch is applied, in batch order; provisional confirmations
    // when the OptBlocks are signed at the end of the batch.
    assert_eq!(kinds[..2], [('R', 1), ('R', 2)], "{kinds:?}");
    let mut provisional: Vec<u32> = kinds[2..]
        .iter()
        .map(|&(k, i)| {
            assert_eq!(k, 'P', "{kinds:?}");
            i
        })
        .collect();
    provisional.sort_unstable();
    assert_eq!(provisional, [0, 3]);
    let reasons: Vec<Rejection> = host
        .outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Rejected(_, r) => Some(*r),
            _ => None,
        })
        .collect();
    assert_eq!(reasons[0], Rejection::BadSignature { owner: owner(2) });
    assert_eq!(
        reasons[1],
        Rejection::DoubleSpend {
            outpoint: funds(0),
            spent_by: stream[0].id(),
        },
        "the second spend is rejected, naming the first"
    );
    host.run_for(4 * CHALLENGE_WINDOW_NS);
    let mut finals = host.final_indices();
    finals.sort_unstable();
    assert_eq!(finals, [0, 3]);
}

#[test]
fn with_fewer_eligible_believable_validators_than_league_min_one_league_finalizes() {
    // Only the richest validator has the least stake to be eligible: one, below
    // `league_min` (2).
    let pob = params();
    let setup = setup(pob.clone());
    let stakes = Validators::genesis(setup.seed, setup.id, ROSTER, pob.stake)
        .records
        .iter()
        .map(|r| r.stake)
        .collect::<Vec<_>>();
    let richest = *stakes.iter().max().unwrap();
    assert_eq!(stakes.iter().filter(|&&s| s == richest).count(), 1);
    let pob = PobParams {
        score: ScoreParams {
            min_stake: richest,
            ..pob.score
        },
        ..pob
    };
    let mut host = Host::new(node_with(pob), &payments());
    assert!(
        matches!(host.node.validators.leagues, Leagues::Single { .. }),
        "{:?}",
        host.node.validators.leagues
    );
    assert_eq!(host.node.pob.single_league_epochs, 1);
    for index in 0..CLIENTS as u32 {
        host.submit(index);
        host.run_for(2 * MS);
    }
    host.run_for(4 * CHALLENGE_WINDOW_NS);
    for (_, record) in &host.records {
        assert!(record.pob.refs.is_empty(), "no OptBlock in one league");
        assert_eq!(record.pob.direct as usize, record.txs.len());
    }
    assert_eq!(host.node.pob.opt_blocks, 0);
    // Final in the order the league ordered them (here, the order sent).
    assert_eq!(
        host.final_indices(),
        (0..CLIENTS as u32).collect::<Vec<_>>()
    );
}

/// A stopwatch that moves 1 µs at every reading.
struct Ticking(std::sync::atomic::AtomicU64);

impl meter::Stopwatch for Ticking {
    fn ns(&self) -> u64 {
        self.0
            .fetch_add(1_000, std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn the_role_meter_charges_each_step_of_an_honest_shard_to_its_role() {
    let stream = payments();
    let mut setup = setup(params());
    setup.stopwatch = Box::new(Ticking(std::sync::atomic::AtomicU64::new(0)));
    let mut host = Host::new(ShardNode::new(setup, &genesis()), &stream);
    for index in 0..stream.len() as u32 {
        host.submit(index);
    }
    host.run_for(10 * CHALLENGE_WINDOW_NS);
    assert_eq!(host.final_indices().len(), stream.len());
    let meter = &host.node.meter;
    // The steps a shard's validators take, each switched at least once (the ticking
    // stopwatch charges 1 µs per switch); the host's roles are the host's to switch.
    for role in [
        meter::Role::Ordering,
        meter::Role::Checking,
        meter::Role::Sampling,
        meter::Role::Leader,
        meter::Role::Signing,
        meter::Role::Coordinator,
    ] {
        assert!(meter.of(role) > 0, "{role:?} never charged: {meter:?}");
    }
    assert_eq!(meter.of(meter::Role::Clients), 0, "{meter:?}");
}
