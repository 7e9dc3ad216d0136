//! TransEpoch tests (the module's `#[cfg(test)]` test module: no production code here),
//! named by PROTOCOL.md ids: the invariants T1–T5 of §4.3 and the
//! failure cases of §4.4 that the state machine handles (late joiners, forged or
//! misdirected `Ready` messages, changes that do not follow the plan).

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rustc_hash::FxHashSet;

use super::*;
use crate::codec::{Decode, Encode};
use crate::eds::ShardMap;
use crate::prg::Prg;
use crate::types::{Epoch, Hash, Height, ShardId};

fn rnd(label: &str) -> Hash {
    Hash(Prg::new(&[b"transepoch-test", label.as_bytes()]).bytes32())
}

fn key(v: u32) -> SigningKey {
    SigningKey::from_bytes(&Prg::new(&[b"transepoch-key", &v.to_le_bytes()]).bytes32())
}

fn public(v: u32) -> [u8; 32] {
    key(v).verifying_key().to_bytes()
}

fn rosters(map: &ShardMap) -> Vec<Vec<u32>> {
    (0..map.shards())
        .map(|j| map.roster(ShardId(j as u32)).to_vec())
        .collect()
}

/// Epoch 1's rosters (from one `rnd`) and epoch 2's (from another), 4 shards of 72.
fn two_epochs() -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    (
        rosters(&ShardMap::new(&rnd("epoch 1"), 288, 4)),
        rosters(&ShardMap::new(&rnd("epoch 2"), 288, 4)),
    )
}

fn head(height: u64) -> Hash {
    Hash(Prg::new(&[b"head", &height.to_le_bytes()]).bytes32())
}

const SWAP: u64 = 20_000_000;
/// `Δ_swap` in blocks: the simulations finalize a block every millisecond.
const SWAP_BLOCKS: u64 = 20;

fn transition(plan: &Plan, old: &[Vec<u32>], shard: u32) -> Transition {
    let history = RosterHistory::new(ShardId(shard), Height(0), &old[shard as usize]);
    Transition::new(
        plan,
        ShardId(shard),
        Schedule {
            start_ns: 0,
            swap_ns: SWAP,
            swap_blocks: SWAP_BLOCKS,
        },
        history,
        (Height(0), head(0)),
        public,
    )
    .expect("the plan is for these rosters")
}

// ---------------------------------------------------------------------------------------
// Step 1: the batch size.

#[test]
fn t3_batch_size_is_log2_of_the_shard_capped_below_a_third() {
    assert_eq!(batch_size(72, 0), Ok(7));
    assert_eq!(batch_size(600, 0), Ok(10));
    assert_eq!(batch_size(64, 0), Ok(6));
    assert_eq!(batch_size(65, 0), Ok(7));
    // ⌈log2 10⌉ = 4, but ⌊9/3⌋ = 3 caps it; a margin of 1 leaves 2.
    assert_eq!(batch_size(10, 0), Ok(3));
    assert_eq!(batch_size(10, 1), Ok(2));
    assert_eq!(batch_size(4, 0), Ok(1));
    assert_eq!(
        batch_size(3, 0),
        Err(PlanError::ShardTooSmall { size: 3, margin: 0 })
    );
    assert_eq!(
        batch_size(72, 23),
        Err(PlanError::ShardTooSmall {
            size: 72,
            margin: 23
        })
    );
    for s in 4..2000 {
        let k = batch_size(s, 0).unwrap();
        assert!(k >= 1 && 3 * k < s, "s={s} k={k}");
    }
}

// ---------------------------------------------------------------------------------------
// T4: the plan.

#[test]
fn t4_the_plan_is_a_pure_function_of_rnd_and_the_assignments_as_sets() {
    let (old, new) = two_epochs();
    let plan = Plan::new(&rnd("transition"), Epoch(2), &old, &new, 0).unwrap();
    assert_eq!(plan.k, 7);
    // The same inputs listed in another order give the same plan.
    let mut old_shuffled = old.clone();
    let mut new_shuffled = new.clone();
    for (i, roster) in old_shuffled.iter_mut().chain(&mut new_shuffled).enumerate() {
        Prg::new(&[b"reorder", &(i as u32).to_le_bytes()]).shuffle(roster);
    }
    assert_eq!(
        Plan::new(
            &rnd("transition"),
            Epoch(2),
            &old_shuffled,
            &new_shuffled,
            0
        )
        .unwrap(),
        plan
    );
    // The lists are exactly the set differences.
    for (j, part) in plan.shards.iter().enumerate() {
        let (o, n): (FxHashSet<u32>, FxHashSet<u32>) = (
            old[j].iter().copied().collect(),
            new[j].iter().copied().collect(),
        );
        let mut leaving: Vec<u32> = o.difference(&n).copied().collect();
        let mut joining: Vec<u32> = n.difference(&o).copied().collect();
        let (mut l, mut jn) = (part.leaving.clone(), part.joining.clone());
        leaving.sort_unstable();
        joining.sort_unstable();
        l.sort_unstable();
        jn.sort_unstable();
        assert_eq!((l, jn), (leaving, joining), "shard {j}");
    }
    // Another rnd orders them differently.
    let other = Plan::new(&rnd("other"), Epoch(2), &old, &new, 0).unwrap();
    for j in 0..4 {
        assert_ne!(other.shards[j].leaving, plan.shards[j].leaving);
        assert_ne!(other.shards[j].joining, plan.shards[j].joining);
    }
    // 288 validators in 4 shards: a uniformly random re-assignment keeps about a quarter.
    assert!((180..=250).contains(&plan.moved()), "{}", plan.moved());
}

/// A leaver's batch is uniform over `rnd`: over 4,000 values of `rnd`, the batch in which
/// one fixed validator leaves is counted, and the counts are compared with the uniform
/// expectation by a chi-square statistic. With `B` batches it has `B − 1` degrees of
/// freedom; the bound is its 0.999 quantile, so an honest shuffle fails one run in a
/// thousand (the test is seeded: it either always passes or always fails), while a plan
/// that kept the rosters' order (the validator's rank in its old roster) puts it in one
/// batch every time and exceeds the bound by two orders of magnitude.
#[test]
fn t4_a_validator_cannot_know_its_batch_before_rnd() {
    let (old, new) = two_epochs();
    let base = Plan::new(&rnd("0"), Epoch(2), &old, &new, 0).unwrap();
    let who = base.shards[0].leaving[0];
    let batches = base.shards[0].leaving.len().div_ceil(base.k);
    let mut counts = vec![0u32; batches];
    let runs = 4000;
    for r in 0..runs {
        let plan = Plan::new(&rnd(&r.to_string()), Epoch(2), &old, &new, 0).unwrap();
        let position = plan.shards[0]
            .leaving
            .iter()
            .position(|&v| v == who)
            .unwrap();
        counts[position / plan.k] += 1;
    }
    // Expected count per batch: its share of the positions (the last batch may be short).
    let positions = base.shards[0].leaving.len() as f64;
    let chi2: f64 = counts
        .iter()
        .enumerate()
        .map(|(b, &c)| {
            let size = (base.k.min(base.shards[0].leaving.len() - b * base.k)) as f64;
            let expected = runs as f64 * size / positions;
            (f64::from(c) - expected).powi(2) / expected
        })
        .sum();
    // 0.999 quantiles of chi-square with 5..=9 degrees of freedom.
    let bound = [20.52, 22.46, 24.32, 26.12, 27.88][batches - 6];
    assert!(
        chi2 < bound,
        "chi2 {chi2:.1} over {batches} batches: {counts:?}"
    );
}

#[test]
fn a_plan_refuses_inconsistent_assignments() {
    let (old, new) = two_epochs();
    assert_eq!(
        Plan::new(&rnd("x"), Epoch(2), &old, &new[..3], 0),
        Err(PlanError::ShardCountChanged { old: 4, new: 3 })
    );
    let mut twice = new.clone();
    let v = twice[0][0];
    twice[1].push(v);
    assert_eq!(
        Plan::new(&rnd("x"), Epoch(2), &old, &twice, 0),
        Err(PlanError::Duplicate {
            validator: v,
            which: "new"
        })
    );
}

// ---------------------------------------------------------------------------------------
// T2: rosters by height.

#[test]
fn t2_a_block_is_checked_against_the_roster_in_force_at_its_height() {
    let members: Vec<u32> = (0..9).collect();
    let mut history = RosterHistory::new(ShardId(0), Height(5), &members);
    assert_eq!(quorum(9), 7);
    let change = RosterChange {
        epoch: Epoch(1),
        shard: ShardId(0),
        batch: 0,
        ready: vec![Ready::sign(Epoch(1), ShardId(0), 100, head(9), &key(100))],
        remove: vec![3],
    };
    history.apply(Height(10), &change).unwrap();
    // Height 10 carries the change and is still the old roster's: 100 cannot sign it, 3
    // can.
    assert_eq!(history.at(Height(10)), Some(&members[..]));
    assert_eq!(
        history.check_signers(Height(10), &[0, 1, 2, 4, 5, 6, 100]),
        Err(RosterError::NotMember {
            signer: 100,
            height: 10
        })
    );
    history
        .check_signers(Height(10), &[0, 1, 2, 3, 4, 5, 6])
        .unwrap();
    // From height 11, 100 is a member and 3 is not.
    assert_eq!(
        history.at(Height(11)),
        Some(&[0, 1, 2, 4, 5, 6, 7, 8, 100][..])
    );
    assert_eq!(
        history.check_signers(Height(11), &[0, 1, 2, 3, 4, 5, 6]),
        Err(RosterError::NotMember {
            signer: 3,
            height: 11
        })
    );
    history
        .check_signers(Height(11), &[0, 1, 2, 4, 5, 6, 100])
        .unwrap();
    // Repeats count once: six distinct signers are not a quorum of nine.
    assert_eq!(
        history.check_signers(Height(11), &[0, 1, 2, 4, 5, 6, 6]),
        Err(RosterError::NoQuorum {
            signed: 6,
            quorum: 7,
            height: 11
        })
    );
    assert_eq!(
        history.check_signers(Height(4), &[0]),
        Err(RosterError::Unknown(4))
    );
    // A change cannot be final at or before the last one, nor add a member or remove a
    // non-member.
    assert!(matches!(
        history.apply(Height(10), &change),
        Err(RosterError::OutOfOrder { .. })
    ));
    assert_eq!(
        history.apply(Height(12), &change),
        Err(RosterError::Membership {
            validator: 3,
            member: false
        })
    );
    history.prune_before(Height(11));
    assert_eq!(history.at(Height(10)), None);
    assert_eq!(history.at(Height(11)).map(<[u32]>::len), Some(9));
}

// ---------------------------------------------------------------------------------------
// T1, T3, T5: a whole transition of four shards.

/// When each joiner sends `Ready` in a simulated transition: after `delay` ns, or never.
fn ready_delay(v: u32) -> Option<u64> {
    match v % 13 {
        0 => None,                  // absent: given up after DEFERRALS_MAX batches
        1 => Some(SWAP + SWAP / 2), // slow: late for its first batch
        _ => Some(Prg::new(&[b"delay", &v.to_le_bytes()]).below(SWAP / 2)),
    }
}

struct ShardSim {
    /// Three members' machines: one hears every `Ready`; one none (it learns them from
    /// the changes); one neither hears a `Ready` nor reads its clock (it only sees final
    /// blocks).
    replicas: [Transition; 3],
    height: u64,
    /// Members that never sign in this shard.
    silent: FxHashSet<u32>,
    /// Validators that have stopped ([`Effect::Left`]).
    stopped: FxHashSet<u32>,
    /// The batch's joiners and when each first started fetching the state (a late one
    /// keeps fetching while it waits for its next batch).
    asked: Vec<(u32, u64)>,
    first_asked: rustc_hash::FxHashMap<u32, u64>,
    proposal: Option<RosterChange>,
    added: Vec<u32>,
    removed: Vec<u32>,
    given_up: Vec<u32>,
    blocks: u64,
    complete: bool,
}

#[test]
fn t1_t3_t5_a_transition_keeps_every_shard_finalizing_with_at_most_k_changes_per_batch() {
    let (old, new) = two_epochs();
    let plan = Plan::new(&rnd("transition"), Epoch(2), &old, &new, 0).unwrap();
    let k = plan.k;
    let mut sims: Vec<ShardSim> = (0..4u32)
        .map(|j| {
            // Silence exactly as many members as a 72-member roster can spare (72 −
            // quorum 49 = 23): those that stay in the shard, and the leavers of its last
            // batch. Then one non-participating member more in the roster in force stalls
            // the shard, so a leaver that stops before its change is final, or a joiner
            // counted before it is added, fails the test.
            let (old_j, new_j) = (&old[j as usize], &new[j as usize]);
            let spare = old_j.len() - quorum(old_j.len());
            let mut silent: Vec<u32> = old_j
                .iter()
                .copied()
                .filter(|v| new_j.contains(v))
                .collect();
            let leaving = &plan.shards[j as usize].leaving;
            silent.truncate(spare);
            silent.extend(&leaving[leaving.len() - (spare - silent.len())..]);
            ShardSim {
                replicas: [
                    transition(&plan, &old, j),
                    transition(&plan, &old, j),
                    transition(&plan, &old, j),
                ],
                height: 0,
                silent: silent.into_iter().collect(),
                stopped: FxHashSet::default(),
                asked: Vec::new(),
                first_asked: Default::default(),
                proposal: None,
                added: Vec::new(),
                removed: Vec::new(),
                given_up: Vec::new(),
                blocks: 0,
                complete: false,
            }
        })
        .collect();
    let tick = 1_000_000u64;
    let mut now = 0;
    while sims.iter().any(|s| !s.complete) {
        assert!(now < 200 * SWAP, "the transition does not end");
        for (j, sim) in sims.iter_mut().enumerate() {
            let shard = ShardId(j as u32);
            for replica in &mut sim.replicas[..2] {
                replica.handle(Input::Tick { now_ns: now }).unwrap();
            }
            // Joiners that are ready by now send Ready to replica 0 only.
            let head_now = head(1000 * j as u64 + sim.height);
            let mut still = Vec::new();
            for (v, since) in sim.asked.drain(..) {
                match ready_delay(v) {
                    Some(d) if now >= since + d => {
                        let ready = Ready::sign(Epoch(2), shard, v, head_now, &key(v));
                        // Late ones are refused (their batch closed); nothing changes.
                        let _ = sim.replicas[0].handle(Input::Ready(ready));
                    }
                    _ => still.push((v, since)),
                }
            }
            sim.asked = still;
            // Effects: both replicas must ask for the same batches.
            let fx0 = std::mem::take(sim.replicas[0].effects());
            let fx1 = std::mem::take(sim.replicas[1].effects());
            for effect in fx0 {
                match effect {
                    Effect::BatchStarted { join, leave, .. } => {
                        assert!(join.len() <= k && leave.len() <= k, "T3");
                        sim.asked = join
                            .iter()
                            .map(|&v| (v, *sim.first_asked.entry(v).or_insert(now)))
                            .collect();
                    }
                    Effect::Propose(change) => sim.proposal = Some(change),
                    Effect::Left { validator, .. } => {
                        sim.stopped.insert(validator);
                    }
                    Effect::GivenUp { validator } => sim.given_up.push(validator),
                    Effect::Complete => sim.complete = true,
                    Effect::Joined { .. } | Effect::Deferred { .. } => {}
                }
            }
            assert!(
                fx1.iter()
                    .all(|e| !matches!(e, Effect::Left { .. } | Effect::Joined { .. })),
                "effects of a final change come with the Final input"
            );
            // One block per tick if a quorum of the roster in force participates (T5).
            let h = Height(sim.height + 1);
            let roster = sim.replicas[0].roster().at(h).unwrap().to_vec();
            let participating = roster
                .iter()
                .filter(|v| !sim.silent.contains(v) && !sim.stopped.contains(v))
                .count();
            assert!(
                participating >= quorum(roster.len()),
                "T5: shard {j} stalls at height {}: {participating} of {} participate",
                h.0,
                roster.len()
            );
            // T1: never fewer than s − k members, all synchronized (old members that
            // stay, or joiners whose Ready a final change carried).
            assert!(roster.len() + k >= 72, "T1");
            assert!(
                roster
                    .iter()
                    .all(|v| old[j].contains(v) || sim.added.contains(v)),
                "T1: an unsynchronized member"
            );
            let change = sim.proposal.take();
            if let Some(change) = &change {
                assert!(change.ready.len() <= k && change.remove.len() <= k, "T3");
                sim.added.extend(change.added());
                sim.removed.extend(&change.remove);
            }
            sim.height = h.0;
            sim.blocks += 1;
            for replica in &mut sim.replicas {
                replica
                    .handle(Input::Final {
                        height: h,
                        head: head(1000 * j as u64 + h.0),
                        change: change.clone(),
                    })
                    .unwrap();
            }
            // The replicas agree on every roster, whichever Ready messages they saw and
            // whatever their clocks say.
            assert_eq!(sim.replicas[0].roster(), sim.replicas[1].roster());
            assert_eq!(sim.replicas[0].roster(), sim.replicas[2].roster());
            sim.replicas[1].effects().clear();
            sim.replicas[2].effects().clear();
        }
        now += tick;
    }
    for (j, sim) in sims.iter().enumerate() {
        // T3: each validator added and removed at most once.
        let (mut a, mut r) = (sim.added.clone(), sim.removed.clone());
        a.sort_unstable();
        r.sort_unstable();
        let (la, lr) = (a.len(), r.len());
        a.dedup();
        r.dedup();
        assert_eq!((a.len(), r.len()), (la, lr), "T3: shard {j}");
        // The final roster is the new one, except the absent joiners given up and the
        // members they were to replace.
        let part = &plan.shards[j];
        let absent: Vec<u32> = part
            .joining
            .iter()
            .copied()
            .filter(|v| ready_delay(*v).is_none())
            .collect();
        let mut given_up = sim.given_up.clone();
        given_up.sort_unstable();
        let mut expected_absent = absent.clone();
        expected_absent.sort_unstable();
        assert_eq!(given_up, expected_absent, "shard {j}");
        let roster = sim.replicas[0].roster().current();
        assert_eq!(roster.len(), 72, "shard {j}");
        for v in &new[j] {
            assert_eq!(roster.contains(v), !absent.contains(v), "shard {j}: {v}");
        }
        assert_eq!(
            roster.iter().filter(|v| !new[j].contains(v)).count(),
            absent.len(),
            "shard {j}: each absent joiner's partner keeps its seat"
        );
        assert!(sim.blocks > 0);
    }
}

// ---------------------------------------------------------------------------------------
// §4.4: refused Ready messages and changes.

/// Shard 0 of the plan with its first batch started (Syncing), and the batch's joiners
/// and leavers.
fn started() -> (Transition, Vec<u32>, Vec<u32>) {
    let (old, new) = two_epochs();
    let plan = Plan::new(&rnd("transition"), Epoch(2), &old, &new, 0).unwrap();
    let mut t = transition(&plan, &old, 0);
    t.handle(Input::Tick { now_ns: 0 }).unwrap();
    let Some(Effect::BatchStarted { join, leave, .. }) = t.effects().pop() else {
        panic!("batch 0 starts at time 0")
    };
    (t, join, leave)
}

#[test]
fn forged_misdirected_stale_and_repeated_ready_messages_are_refused() {
    let (mut t, join, _) = started();
    let (v, other) = (join[0], join[1]);
    let good = Ready::sign(Epoch(2), ShardId(0), v, head(0), &key(v));
    let cases = [
        (
            Ready::sign(Epoch(3), ShardId(0), v, head(0), &key(v)),
            ReadyError::WrongEpoch(3),
        ),
        (
            Ready::sign(Epoch(2), ShardId(1), v, head(0), &key(v)),
            ReadyError::WrongShard(1),
        ),
        (
            Ready::sign(Epoch(2), ShardId(0), 9999, head(0), &key(9999)),
            ReadyError::NotInBatch(9999),
        ),
        // Signed by another validator's key for v.
        (
            Ready::sign(Epoch(2), ShardId(0), v, head(0), &key(other)),
            ReadyError::WrongKey(v),
        ),
        // A head the shard never finalized (or not since the batch began).
        (
            Ready::sign(Epoch(2), ShardId(0), v, head(77), &key(v)),
            ReadyError::UnknownHead(v),
        ),
        // The right key, a signature over something else.
        (
            Ready {
                head: head(0),
                ..Ready::sign(Epoch(2), ShardId(0), v, head(77), &key(v))
            },
            ReadyError::BadSignature(v),
        ),
    ];
    for (ready, error) in cases {
        assert_eq!(
            t.handle(Input::Ready(ready)),
            Err(TransitionError::Ready(error))
        );
    }
    assert!(t.effects().is_empty());
    t.handle(Input::Ready(good)).unwrap();
    assert_eq!(
        t.handle(Input::Ready(good)),
        Err(TransitionError::Ready(ReadyError::Duplicate(v)))
    );
}

#[test]
fn a_change_that_does_not_follow_the_plan_is_refused() {
    let (t, join, leave) = started();
    let ready = |v: u32| Ready::sign(Epoch(2), ShardId(0), v, head(0), &key(v));
    // Joiners 0 and 2 ready: leavers 0 and 2 leave, with every unpaired one.
    let unpaired: Vec<u32> = leave.iter().skip(join.len()).copied().collect();
    let honest = RosterChange {
        epoch: Epoch(2),
        shard: ShardId(0),
        batch: 0,
        ready: vec![ready(join[0]), ready(join[2])],
        remove: [vec![leave[0], leave[2]], unpaired.clone()].concat(),
    };
    // Joiners 1 and 3… are left out: valid from SWAP_BLOCKS on chain, not before.
    t.check(Height(SWAP_BLOCKS), &honest).unwrap();
    assert_eq!(
        t.check(Height(SWAP_BLOCKS - 1), &honest),
        Err(TransitionError::WrongChange {
            batch: 0,
            why: "leaves joiners out before Δ_swap has passed on chain"
        })
    );
    let wrong = |change: RosterChange, why: &str| {
        let error = t.check(Height(SWAP_BLOCKS), &change).unwrap_err();
        assert!(
            matches!(&error, TransitionError::WrongChange { why: w, .. } if *w == why),
            "{error}"
        );
    };
    // Removing the partner of a joiner that is not ready (break before make).
    wrong(
        RosterChange {
            remove: [vec![leave[0], leave[1], leave[2]], unpaired.clone()].concat(),
            ..honest.clone()
        },
        "removes other members than its joiners release",
    );
    // Keeping a leaver the plan releases.
    wrong(
        RosterChange {
            remove: [vec![leave[0]], unpaired.clone()].concat(),
            ..honest.clone()
        },
        "removes other members than its joiners release",
    );
    wrong(
        RosterChange {
            ready: vec![ready(join[2]), ready(join[0])],
            ..honest.clone()
        },
        "Ready messages out of batch order",
    );
    wrong(
        RosterChange {
            batch: 1,
            ..honest.clone()
        },
        "epoch, shard or batch",
    );
    // A forged Ready inside a change is refused like one sent alone.
    let mut forged = ready(join[0]);
    forged.signature[0] ^= 1;
    assert_eq!(
        t.check(
            Height(SWAP_BLOCKS),
            &RosterChange {
                ready: vec![forged, ready(join[2])],
                ..honest.clone()
            }
        ),
        Err(TransitionError::Ready(ReadyError::BadSignature(join[0])))
    );
    // Adding a validator the batch does not take.
    let outsider = leave[0];
    assert_eq!(
        t.check(
            Height(SWAP_BLOCKS),
            &RosterChange {
                ready: vec![ready(outsider)],
                ..honest
            }
        ),
        Err(TransitionError::Ready(ReadyError::NotInBatch(outsider)))
    );
}

#[test]
fn a_byzantine_leader_cannot_give_joiners_up_by_closing_batches_early() {
    let (mut t, join, leave) = started();
    // A change with none of the joiners, one block into the batch: as if Δ_swap had
    // passed. Refused (even as a final block: the host must stop, nothing changes).
    let unpaired: Vec<u32> = leave.iter().skip(join.len()).copied().collect();
    let early = RosterChange {
        epoch: Epoch(2),
        shard: ShardId(0),
        batch: 0,
        ready: Vec::new(),
        remove: unpaired,
    };
    let refused = Err(TransitionError::WrongChange {
        batch: 0,
        why: "leaves joiners out before Δ_swap has passed on chain",
    });
    assert_eq!(t.check(Height(1), &early), refused);
    let before = t.roster().clone();
    assert_eq!(
        t.handle(Input::Final {
            height: Height(1),
            head: head(1),
            change: Some(early.clone()),
        }),
        refused
    );
    assert_eq!((t.batch(), t.roster()), (0, &before));
    assert!(t.effects().is_empty());
    // SWAP_BLOCKS into the batch, the same change is what an honest leader proposes when
    // no joiner came.
    t.check(Height(SWAP_BLOCKS), &early).unwrap();
}

#[test]
fn members_refuse_a_change_once_the_plan_is_done_whatever_their_clocks() {
    // Nobody moves: the queues are empty from the start.
    let (old, _) = two_epochs();
    let plan = Plan::new(&rnd("still"), Epoch(2), &old, &old, 0).unwrap();
    let mut ticked = transition(&plan, &old, 0);
    let idle = transition(&plan, &old, 0);
    ticked.handle(Input::Tick { now_ns: 0 }).unwrap();
    assert!(ticked.is_complete() && !idle.is_complete());
    let empty = RosterChange {
        epoch: Epoch(2),
        shard: ShardId(0),
        batch: 0,
        ready: Vec::new(),
        remove: Vec::new(),
    };
    let refused = Err(TransitionError::WrongChange {
        batch: 0,
        why: "nothing is left to change",
    });
    assert_eq!(ticked.check(Height(100), &empty), refused);
    assert_eq!(idle.check(Height(100), &empty), refused);
}

#[test]
fn a_late_joiner_is_retried_next_batch_and_its_partner_stays_until_then() {
    let (mut t, join, leave) = started();
    // Only joiner 1 is ready; Δ_swap passes.
    let v = join[1];
    t.handle(Input::Ready(Ready::sign(
        Epoch(2),
        ShardId(0),
        v,
        head(0),
        &key(v),
    )))
    .unwrap();
    // Δ_swap passes on the clock, but not yet on chain: the batch stays open.
    t.handle(Input::Tick { now_ns: SWAP }).unwrap();
    assert!(t.effects().is_empty());
    for h in 1..SWAP_BLOCKS {
        t.handle(Input::Final {
            height: Height(h),
            head: head(h),
            change: None,
        })
        .unwrap();
    }
    t.handle(Input::Tick { now_ns: SWAP }).unwrap();
    let Some(Effect::Propose(change)) = t.effects().pop() else {
        panic!("Δ_swap passed on the clock and on chain: the batch closes")
    };
    assert_eq!(change.added().collect::<Vec<_>>(), vec![v]);
    assert!(change.remove.contains(&leave[1]) && !change.remove.contains(&leave[0]));
    t.handle(Input::Final {
        height: Height(SWAP_BLOCKS),
        head: head(SWAP_BLOCKS),
        change: Some(change),
    })
    .unwrap();
    let effects = std::mem::take(t.effects());
    assert!(effects.contains(&Effect::Left {
        validator: leave[1],
        from: Height(SWAP_BLOCKS + 1)
    }));
    assert!(effects.contains(&Effect::Deferred {
        validator: join[0],
        batch: 1
    }));
    assert!(!effects.contains(&Effect::Left {
        validator: leave[0],
        from: Height(SWAP_BLOCKS + 1)
    }));
    // Batch 1 starts at Δ_swap and leads with the late joiner and its partner.
    t.handle(Input::Tick { now_ns: SWAP }).unwrap();
    let Some(Effect::BatchStarted {
        batch: 1,
        join: next_join,
        leave: next_leave,
    }) = t.effects().pop()
    else {
        panic!("batch 1 starts")
    };
    assert_eq!(next_join[0], join[0]);
    assert_eq!(next_leave[0], leave[0]);
}

// ---------------------------------------------------------------------------------------
// Codecs.

fn any_ready() -> impl Strategy<Value = Ready> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 32]>(),
        any::<u8>(),
    )
        .prop_map(|(e, j, v, h, k)| {
            Ready::sign(Epoch(e), ShardId(j), v, Hash(h), &key(u32::from(k)))
        })
}

proptest! {
    #[test]
    fn ready_and_roster_change_round_trip(
        ready in proptest::collection::vec(any_ready(), 0..4),
        remove in proptest::collection::vec(any::<u32>(), 0..CHANGE_MAX),
        batch in any::<u32>(),
    ) {
        for r in &ready {
            prop_assert!(r.verify());
            prop_assert_eq!(Ready::from_bytes(&r.to_bytes()).unwrap(), *r);
            prop_assert_eq!(r.to_bytes().len(), Ready::ENCODED_LEN);
        }
        let change = RosterChange { epoch: Epoch(2), shard: ShardId(1), batch, ready, remove };
        let bytes = change.to_bytes();
        prop_assert_eq!(RosterChange::from_bytes(&bytes).unwrap(), change.clone());
        // Any truncation is an error, never a panic or another change.
        for cut in 0..bytes.len() {
            prop_assert!(RosterChange::from_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = RosterChange::from_bytes(&bytes);
        let _ = Ready::from_bytes(&bytes);
    }
}

#[test]
fn a_change_listing_more_than_change_max_is_refused_before_allocation() {
    let mut bytes = RosterChange {
        epoch: Epoch(2),
        shard: ShardId(0),
        batch: 0,
        ready: Vec::new(),
        remove: Vec::new(),
    }
    .to_bytes();
    // The remove count is the last two bytes.
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(&((CHANGE_MAX + 1) as u16).to_le_bytes());
    assert!(matches!(
        RosterChange::from_bytes(&bytes),
        Err(crate::codec::DecodeError::TooMany { .. })
    ));
}
