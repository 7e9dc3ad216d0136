//! EDS tests, named by PROTOCOL.md ids: the §3.4 sizing table and its cross-checks, the
//! invariants E1–E5 of §3.5 and the attacks of §3.6 that apply to the election.

use proptest::prelude::*;

use super::assignment::{ShardMap, bucket_start, permutation_into, permutation_prg};
use super::election::{Effect, Election, ElectionError, Input, Phase, RANKS};
use super::sizing::*;
use super::ticket::{Ticket, TicketError, View};
use crate::crypto::hash::Domain;
use crate::crypto::vrf::{VrfProof, VrfPublicKey, VrfSecretKey};
use crate::prg::Prg;
use crate::types::{Epoch, Hash, ShardId};

// ---------------------------------------------------------------------------------------
// §3.4 sizing. Tolerance: the table prints two significant figures, so a computed value
// must round to the printed one (`{:.1e}` formatting equal); "~1e-k" entries are orders of
// magnitude, so their log10 must be within 0.5 of -k.

fn two_figures(x: f64) -> String {
    format!("{x:.1e}")
}

fn assert_two_figures(computed: f64, table: f64, what: &str) {
    assert_eq!(
        two_figures(computed),
        two_figures(table),
        "{what}: {computed:e}"
    );
}

#[test]
fn table_3_4_binomial_p_shard() {
    let table = LnFactorials::up_to(1000);
    let sizes = [25u64, 50, 70, 100, 200, 250, 400, 600, 800, 1000];
    // Negative entries are "~1e-k" (orders of magnitude); NaN is "—" (not printed).
    let nan = f64::NAN;
    let rows: [(f64, [f64; 10]); 5] = [
        (
            0.05,
            [
                1.9e-6, 1.5e-10, 2.2e-14, 1.3e-19, -36.0, -45.0, -71.0, -105.0, nan, nan,
            ],
        ),
        (
            0.125,
            [
                2.3e-3, 7.2e-5, 2.2e-6, 2.3e-8, 1.2e-14, 4.9e-18, 1.3e-27, 5.4e-40, nan, nan,
            ],
        ),
        (
            0.20,
            [
                4.7e-2, 1.4e-2, 3.7e-3, 7.4e-4, 5.3e-6, 3.3e-7, 1.8e-10, 1.4e-14, 5.5e-19, 2.3e-23,
            ],
        ),
        (
            0.25,
            [
                0.15, 9.8e-2, 5.2e-2, 2.8e-2, 4.4e-3, 1.4e-3, 8.7e-5, 3.0e-6, 7.0e-8, 1.7e-9,
            ],
        ),
        (
            0.30,
            [
                0.32, 0.32, 0.25, 0.22, 0.16, 0.12, 7.1e-2, 4.2e-2, 2.1e-2, 1.1e-2,
            ],
        ),
    ];
    for (f, row) in rows {
        for (s, want) in sizes.into_iter().zip(row) {
            let ln_p = ln_p_shard_binomial(&table, s, f, Threshold::Third);
            let what = format!("f={f} s={s}");
            if want.is_nan() {
                assert!(ln_p.is_finite() && ln_p < 0.0, "{what}");
            } else if want < 0.0 {
                let log10 = ln_p / std::f64::consts::LN_10;
                assert!((log10 - want).abs() < 0.5, "{what}: log10 {log10}");
            } else {
                assert_two_figures(ln_p.exp(), want, &what);
            }
        }
    }
}

#[test]
fn table_3_4_smallest_shard_size_for_one_in_a_million() {
    let table = LnFactorials::up_to(5000);
    let smallest = |f: f64| {
        (1..=5000u64)
            .find(|&s| ln_p_shard_binomial(&table, s, f, Threshold::Third) <= 1e-6f64.ln())
            .unwrap()
    };
    for (f, s) in [
        (0.05, 28),
        (0.10, 55),
        (0.125, 76),
        (0.20, 229),
        (0.25, 646),
        (0.30, 4345),
    ] {
        assert_eq!(smallest(f), s, "f={f}");
    }
}

fn plan(n: u64, f: f64, s: u64, threshold: Threshold) -> Plan {
    Plan::evaluate(
        &LnFactorials::up_to(n),
        PlanInput {
            validators: n,
            adversary: f,
            shard_size: s,
            threshold,
            epochs_per_year: 365.0,
        },
    )
}

#[test]
fn cross_check_omniledger_70_validators_at_12_5_percent_16_shards() {
    // §3.4: P_epoch ≈ 3.4e-5, ≈ 80 years at one epoch a day; [OL] quotes ≈ 4e-5 and
    // 68.5 years: consistent within 20%.
    let plan = plan(16 * 70, 0.125, 70, Threshold::Third);
    assert_eq!(plan.shards, 16);
    assert_two_figures(plan.p_epoch_binomial(), 3.4e-5, "P_epoch");
    assert!((plan.years_to_failure_binomial() - 80.0).abs() < 1.0);
    assert!((plan.p_epoch_binomial() / 4e-5 - 1.0).abs() < 0.2);
    assert!((plan.years_to_failure_binomial() / 68.5 - 1.0).abs() < 0.2);
    // Without replacement the same shards fail less often.
    assert!(plan.p_epoch() < plan.p_epoch_binomial());
}

#[test]
fn cross_check_hypergeometric_1800_validators() {
    let p = plan(1800, 0.125, 72, Threshold::Third);
    assert_two_figures(p.p_shard_hypergeometric(), 2.1e-6, "N=1800 f=12.5% s=72");
    let p = plan(1800, 0.25, 600, Threshold::Third);
    assert_two_figures(p.p_shard_hypergeometric(), 8.5e-9, "N=1800 f=25% s=600");
    assert!(p.p_shard_hypergeometric() < p.p_shard_binomial());
}

#[test]
fn cross_check_rapidchain_4000_validators_committees_of_250_half() {
    let p = plan(4000, 1.0 / 3.0, 250, Threshold::Half);
    assert_eq!((p.bad, p.shards), (1333, 16));
    assert_two_figures(p.p_shard_hypergeometric(), 1.4e-8, "[RC] committee");
}

#[test]
fn cross_check_elastico_100_validators_at_25_percent() {
    let p = plan(1600, 0.25, 100, Threshold::Third);
    // [OL]'s critique of [EL]: 2.76% per committee (three figures here).
    assert_eq!(format!("{:.2e}", p.p_shard_binomial()), "2.76e-2");
    // 16 committees: expected failure within a handful of epochs (days).
    assert_eq!(p.shards, 16);
    assert!(p.years_to_failure_binomial() * 365.0 < 3.0);
}

/// `ln Σ_{x=t}^{hi} e^{term(x)}` with no truncation and no mode logic: the reference.
fn full_sum(t: u64, hi: u64, term: impl Fn(u64) -> f64) -> f64 {
    if t > hi {
        return f64::NEG_INFINITY;
    }
    let terms: Vec<f64> = (t..=hi).map(term).collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + terms.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

#[test]
fn truncated_tails_equal_full_sums() {
    let table = LnFactorials::up_to(3000);
    for &(n, f) in &[
        (3000u64, 0.05),
        (3000, 0.25),
        (3000, 0.33),
        (3000, 0.6),
        (200, 0.3),
    ] {
        let bad = bad_count(n, f);
        for s in [1u64, 2, 3, 10, 37, 100, 199, 200] {
            for threshold in [Threshold::Third, Threshold::Half] {
                let t = threshold.bad_min(s);
                let binomial = full_sum(t, s, |x| {
                    table.ln_choose(s, x) + x as f64 * f.ln() + (s - x) as f64 * (-f).ln_1p()
                });
                let lo_ok = |x: u64| x <= bad && s - x <= n - bad;
                let hyper = full_sum(t, s.min(bad), |x| {
                    if lo_ok(x) {
                        table.ln_choose(bad, x) + table.ln_choose(n - bad, s - x)
                            - table.ln_choose(n, s)
                    } else {
                        f64::NEG_INFINITY
                    }
                });
                let got_b = ln_p_shard_binomial(&table, s, f, threshold);
                let got_h = ln_p_shard_hypergeometric(&table, n, bad, s, threshold);
                for (got, want) in [(got_b, binomial), (got_h, hyper)] {
                    let close = (got.exp() - want.exp()).abs() <= 1e-12 * want.exp().max(1e-300)
                        || (got - want).abs() < 1e-9;
                    assert!(close, "n={n} f={f} s={s} {threshold:?}: {got} vs {want}");
                }
            }
        }
    }
}

#[test]
fn no_overflow_at_100000_validators() {
    let n = 100_000;
    let table = LnFactorials::up_to(n);
    for s in [1u64, 600, 1000, 33_333, 50_000, n] {
        for f in [0.0, 0.125, 0.25, 0.34, 0.9] {
            let b = ln_p_shard_binomial(&table, s, f, Threshold::Third);
            let h = ln_p_shard_hypergeometric(&table, n, bad_count(n, f), s, Threshold::Third);
            for ln_p in [b, h] {
                assert!(!ln_p.is_nan() && ln_p <= 1e-12, "s={s} f={f}: {ln_p}");
            }
        }
    }
    // Without replacement, a shard of everyone holds exactly K bad members.
    let all = ln_p_shard_hypergeometric(&table, n, 33_334, n, Threshold::Third);
    assert_eq!(all, 0.0);
    let all = ln_p_shard_hypergeometric(&table, n, 33_333, n, Threshold::Third);
    assert_eq!(all, f64::NEG_INFINITY);
}

#[test]
fn hypergeometric_tends_to_binomial_when_shards_are_a_small_fraction() {
    let n = 1_000_000;
    let table = LnFactorials::up_to(n);
    let b = ln_p_shard_binomial(&table, 200, 0.2, Threshold::Third).exp();
    let h = ln_p_shard_hypergeometric(&table, n, bad_count(n, 0.2), 200, Threshold::Third).exp();
    assert!((h / b - 1.0).abs() < 0.01, "{h:e} vs {b:e}");
}

#[test]
fn smallest_shard_size_meets_the_target_and_no_smaller_one_does() {
    let n = 1800;
    let table = LnFactorials::up_to(n);
    let s = smallest_shard_size(&table, n, 0.125, Threshold::Third, 1e-6).unwrap();
    let p = |s| ln_p_shard_hypergeometric(&table, n, 225, s, Threshold::Third).exp();
    assert!(p(s) <= 1e-6);
    assert!((1..s).all(|smaller| p(smaller) > 1e-6));
    // §3.4's test-net profile: f = 12.5% ⇒ s ≈ 72–80.
    assert!((72..=80).contains(&s), "{s}");
    // At f = 1/3 no shard size of a 1/3-threshold BFT is safe.
    assert_eq!(
        smallest_shard_size(&table, 300, 1.0 / 3.0, Threshold::Third, 1e-6),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Tickets and the election (§3.3; E1, E2, E4; §3.6).

fn keys(count: u8) -> Vec<VrfSecretKey> {
    (0..count)
        .map(|i| VrfSecretKey::from_seed(&[i + 1; 32]))
        .collect()
}

fn config() -> Hash {
    Domain::Prg.hash(b"test config_e")
}

const EPOCH: Epoch = Epoch(7);

fn tickets(keys: &[VrfSecretKey], view: View) -> Vec<Ticket> {
    keys.iter()
        .map(|k| Ticket::draw(k, &config(), EPOCH, view))
        .collect()
}

fn election(keys: &[VrfSecretKey]) -> Election {
    let publics: Vec<VrfPublicKey> = keys.iter().map(VrfSecretKey::public).collect();
    Election::new(config(), EPOCH, &publics)
}

/// The validators ranked by ticket value, as an oracle independent of the election.
fn ranked(tickets: &[Ticket]) -> Vec<VrfPublicKey> {
    let mut by_value: Vec<_> = tickets
        .iter()
        .map(|t| (t.verify(&config()).unwrap(), t.validator))
        .collect();
    by_value.sort();
    by_value.into_iter().map(|(_, pk)| pk).collect()
}

fn feed_all(election: &mut Election, tickets: &[Ticket]) -> Vec<Result<(), ElectionError>> {
    let mut effects = Vec::new();
    let results = tickets
        .iter()
        .map(|t| election.handle(Input::Ticket(*t), &mut effects))
        .collect();
    assert!(effects.is_empty(), "tickets cause no effect");
    results
}

#[test]
fn e1_one_ticket_per_validator_epoch_and_view_verifiable_only_under_its_key() {
    let keys = keys(3);
    let a = Ticket::draw(&keys[0], &config(), EPOCH, View(0));
    // Deterministic: drawing again gives the same value (no grinding, §3.6).
    let again = Ticket::draw(&keys[0], &config(), EPOCH, View(0));
    assert_eq!(a.verify(&config()), again.verify(&config()));
    // Another view, epoch or configuration is another ticket value.
    let y = a.verify(&config()).unwrap();
    for other in [
        Ticket::draw(&keys[0], &config(), EPOCH, View(1)),
        Ticket::draw(&keys[0], &config(), Epoch(8), View(0)),
        Ticket::draw(&keys[0], &Hash::ZERO, EPOCH, View(0)),
    ] {
        assert_ne!(other.proof.output(), y);
    }
    // Under another key it does not verify.
    let stolen = Ticket {
        validator: keys[1].public(),
        ..a
    };
    assert!(matches!(
        stolen.verify(&config()),
        Err(TicketError::Proof(_))
    ));
    // The election takes one ticket per validator and view.
    let mut e = election(&keys);
    let results = feed_all(&mut e, &[a, again]);
    assert_eq!(results[0], Ok(()));
    assert_eq!(
        results[1],
        Err(ElectionError::Ticket(TicketError::Duplicate(a.validator)))
    );
}

#[test]
fn e2_same_tickets_in_any_order_give_the_same_leader_and_backups() {
    let keys = keys(9);
    let all = tickets(&keys, View(0));
    let want: Vec<_> = ranked(&all).into_iter().take(RANKS).collect();
    let mut orders = vec![all.clone()];
    let mut reversed = all.clone();
    reversed.reverse();
    orders.push(reversed);
    let mut shuffled = all.clone();
    Prg::new(&[b"e2 order"]).shuffle(&mut shuffled);
    orders.push(shuffled);
    for order in orders {
        let mut e = election(&keys);
        assert!(feed_all(&mut e, &order).iter().all(Result::is_ok));
        let mut effects = Vec::new();
        e.handle(Input::GossipWindowClosed, &mut effects).unwrap();
        assert_eq!(e.candidates().collect::<Vec<_>>(), want);
        assert_eq!(
            effects,
            [Effect::LeaderChosen {
                view: View(0),
                rank: 0,
                leader: want[0]
            }]
        );
    }
}

#[test]
fn attack_forged_ticket_is_rejected_and_does_not_displace_the_leader() {
    let keys = keys(5);
    let honest = tickets(&keys, View(0));
    let mut e = election(&keys);
    let outsider = VrfSecretKey::from_seed(&[99; 32]);
    // An outsider's valid ticket: not a validator of the epoch.
    let foreign = Ticket::draw(&outsider, &config(), EPOCH, View(0));
    // A validator's key with the outsider's proof: forged.
    let victim = honest[0].validator;
    let forged = Ticket {
        validator: victim,
        ..foreign
    };
    // A proof with one flipped bit of s: malformed or invalid.
    let mut bytes = honest[1].proof.to_bytes();
    bytes[50] ^= 1;
    let flipped = VrfProof::from_bytes(&bytes).map(|proof| Ticket { proof, ..honest[1] });
    // A ticket drawn for another configuration.
    let wrong_config = Ticket::draw(&keys[2], &Hash::ZERO, EPOCH, View(0));
    let results = feed_all(&mut e, &[foreign, forged, wrong_config]);
    assert_eq!(
        results[0],
        Err(ElectionError::Ticket(TicketError::NotAValidator(
            outsider.public()
        )))
    );
    assert!(matches!(
        results[1],
        Err(ElectionError::Ticket(TicketError::Proof(_)))
    ));
    assert!(matches!(
        results[2],
        Err(ElectionError::Ticket(TicketError::Proof(_)))
    ));
    if let Ok(flipped) = flipped {
        assert!(matches!(
            feed_all(&mut e, &[flipped])[0],
            Err(ElectionError::Ticket(TicketError::Proof(_)))
        ));
    }
    // The forged ticket did not use up the victim's slot: the honest tickets all count.
    assert!(feed_all(&mut e, &honest).iter().all(Result::is_ok));
    let mut effects = Vec::new();
    e.handle(Input::GossipWindowClosed, &mut effects).unwrap();
    let want: Vec<_> = ranked(&honest).into_iter().take(RANKS).collect();
    assert_eq!(e.candidates().collect::<Vec<_>>(), want);
}

#[test]
fn attack_late_and_wrong_view_tickets_are_ignored() {
    let keys = keys(4);
    let all = tickets(&keys, View(0));
    let mut e = election(&keys);
    feed_all(&mut e, &all[..2]);
    e.handle(Input::GossipWindowClosed, &mut Vec::new())
        .unwrap();
    assert_eq!(
        feed_all(&mut e, &all[2..3])[0],
        Err(ElectionError::Ticket(TicketError::Late))
    );
    let early = Ticket::draw(&keys[3], &config(), EPOCH, View(1));
    assert!(matches!(
        feed_all(&mut e, &[early])[0],
        Err(ElectionError::Ticket(TicketError::WrongView { .. }))
    ));
    let old_epoch = Ticket::draw(&keys[3], &config(), Epoch(6), View(0));
    assert!(matches!(
        feed_all(&mut e, &[old_epoch])[0],
        Err(ElectionError::Ticket(TicketError::WrongEpoch { .. }))
    ));
}

/// Runs views until one settles, timing out every leader in `withholding`; returns the
/// effects and the settled leader.
fn run_epoch(keys: &[VrfSecretKey], withholding: &[VrfPublicKey]) -> (Vec<Effect>, VrfPublicKey) {
    let mut e = election(keys);
    let mut effects = Vec::new();
    for _ in 0..100 {
        let view = e.view();
        for t in tickets(keys, view) {
            let _ = e.handle(Input::Ticket(t), &mut effects);
        }
        e.handle(Input::GossipWindowClosed, &mut effects).unwrap();
        while let Phase::Drp { rank } = e.phase() {
            let leader = e.candidates().nth(rank).unwrap();
            if withholding.contains(&leader) {
                e.handle(Input::DrpTimeout, &mut effects).unwrap();
            } else {
                let rnd = Domain::Prg.hash(&leader.to_bytes());
                e.handle(Input::DrpCompleted { rnd }, &mut effects).unwrap();
            }
        }
        if let Phase::Settled { leader, .. } = e.phase() {
            return (effects, leader);
        }
    }
    panic!("no leader settled in 100 views");
}

#[test]
fn attack_leader_withholding_fails_over_to_backups_then_the_next_view() {
    let keys = keys(8);
    let view0 = ranked(&tickets(&keys, View(0)));
    // The leader and both backups of view 0 withhold the DRP.
    let withholding = &view0[..3];
    let (effects, settled) = run_epoch(&keys, withholding);
    let expected_start = [
        Effect::LeaderChosen {
            view: View(0),
            rank: 0,
            leader: view0[0],
        },
        Effect::LeaderFailed {
            epoch: EPOCH,
            view: View(0),
            leader: view0[0],
        },
        Effect::LeaderChosen {
            view: View(0),
            rank: 1,
            leader: view0[1],
        },
        Effect::LeaderFailed {
            epoch: EPOCH,
            view: View(0),
            leader: view0[1],
        },
        Effect::LeaderChosen {
            view: View(0),
            rank: 2,
            leader: view0[2],
        },
        Effect::LeaderFailed {
            epoch: EPOCH,
            view: View(0),
            leader: view0[2],
        },
        Effect::ViewStarted { view: View(1) },
    ];
    assert_eq!(effects[..7], expected_start);
    // View 1 ranks fresh tickets of the validators not excluded.
    let view1: Vec<_> = ranked(&tickets(&keys, View(1)))
        .into_iter()
        .filter(|pk| !withholding.contains(pk))
        .collect();
    assert_eq!(settled, view1[0]);
    assert_eq!(
        effects[7],
        Effect::LeaderChosen {
            view: View(1),
            rank: 0,
            leader: view1[0]
        }
    );
    assert!(matches!(effects.last(), Some(Effect::Settled { leader, .. }) if *leader == settled));
}

#[test]
fn attack_adversary_that_wins_the_lottery_and_aborts_keeps_control_about_f_to_the_a() {
    // §3.6: an adversary holding a fraction f of the validators wins the lottery about f
    // of the time; aborting only hands the DRP to the next ticket, so it keeps control
    // for a attempts with probability about f^a (exactly 3/12 · 2/11 for a = 2 here,
    // drawing without replacement). 300 epochs; tolerance 4σ of each proportion.
    let keys = keys(12);
    let bad: Vec<VrfPublicKey> = keys[..3].iter().map(VrfSecretKey::public).collect();
    let publics: Vec<VrfPublicKey> = keys.iter().map(VrfSecretKey::public).collect();
    let epochs = 300u64;
    let (mut won, mut kept_twice) = (0u64, 0u64);
    for epoch in 0..epochs {
        let mut e = Election::new(config(), Epoch(epoch), &publics);
        let mut effects = Vec::new();
        for k in &keys {
            let ticket = Ticket::draw(k, &config(), Epoch(epoch), View(0));
            e.handle(Input::Ticket(ticket), &mut effects).unwrap();
        }
        e.handle(Input::GossipWindowClosed, &mut effects).unwrap();
        let mut attempts = 0;
        while let Phase::Drp { rank } = e.phase() {
            let leader = e.candidates().nth(rank).unwrap();
            if !bad.contains(&leader) {
                break;
            }
            attempts += 1;
            e.handle(Input::DrpTimeout, &mut effects).unwrap();
            assert!(e.is_excluded(&leader));
        }
        won += u64::from(attempts >= 1);
        kept_twice += u64::from(attempts >= 2);
    }
    let within = |count: u64, p: f64| {
        let sigma = (p * (1.0 - p) / epochs as f64).sqrt();
        ((count as f64 / epochs as f64) - p).abs() < 4.0 * sigma
    };
    assert!(within(won, 0.25), "won {won} of {epochs}");
    assert!(
        within(kept_twice, 3.0 / 12.0 * 2.0 / 11.0),
        "kept twice {kept_twice}"
    );
}

#[test]
fn e4_a_failed_leader_is_never_selected_again_in_the_epoch() {
    let keys = keys(10);
    let publics: Vec<_> = keys.iter().map(VrfSecretKey::public).collect();
    // All but one validator withhold: the election must walk through every one of them,
    // each chosen at most once, before the honest one settles.
    let honest = publics[4];
    let withholding: Vec<_> = publics.iter().copied().filter(|pk| *pk != honest).collect();
    let (effects, settled) = run_epoch(&keys, &withholding);
    assert_eq!(settled, honest);
    let chosen: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::LeaderChosen { leader, .. } => Some(*leader),
            _ => None,
        })
        .collect();
    let distinct: std::collections::BTreeSet<_> = chosen.iter().collect();
    assert_eq!(distinct.len(), chosen.len(), "a leader was chosen twice");
    assert_eq!(chosen.last(), Some(&honest));
    let failed = effects
        .iter()
        .filter(|e| matches!(e, Effect::LeaderFailed { .. }))
        .count();
    assert_eq!(failed, chosen.len() - 1);
}

#[test]
fn e4_an_excluded_validators_next_ticket_is_refused() {
    let keys = keys(4);
    let mut e = election(&keys);
    feed_all(&mut e, &tickets(&keys, View(0)));
    let mut effects = Vec::new();
    e.handle(Input::GossipWindowClosed, &mut effects).unwrap();
    for _ in 0..RANKS {
        e.handle(Input::DrpTimeout, &mut effects).unwrap();
    }
    assert_eq!(e.view(), View(1));
    let results = feed_all(&mut e, &tickets(&keys, View(1)));
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(ElectionError::Ticket(TicketError::Excluded(_)))))
        .count();
    assert_eq!(refused, RANKS);
}

#[test]
fn drp_inputs_outside_a_run_are_refused() {
    let keys = keys(2);
    let mut e = election(&keys);
    let mut effects = Vec::new();
    assert!(matches!(
        e.handle(Input::DrpTimeout, &mut effects),
        Err(ElectionError::NoDrpExpected(Phase::Gossip))
    ));
    // No ticket at all: the window closes onto the next view.
    e.handle(Input::GossipWindowClosed, &mut effects).unwrap();
    assert_eq!(effects, [Effect::ViewStarted { view: View(1) }]);
}

// ---------------------------------------------------------------------------------------
// The shard map (E3, E5).

fn rnd(i: u64) -> Hash {
    Domain::Prg.hash(&i.to_le_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn e3_shard_map_is_a_pure_partition_with_sizes_within_one(
        seed in any::<u64>(), n in 1usize..400, m_pick in any::<usize>()
    ) {
        let m = 1 + m_pick % n;
        let map = ShardMap::new(&rnd(seed), n, m);
        prop_assert_eq!(&map, &ShardMap::new(&rnd(seed), n, m));
        let mut seen = vec![0u32; n];
        let sizes: Vec<usize> = (0..m).map(|j| map.roster(ShardId(j as u32)).len()).collect();
        for j in 0..m {
            for &v in map.roster(ShardId(j as u32)) {
                seen[v as usize] += 1;
                prop_assert_eq!(map.shard_of(v as usize), ShardId(j as u32));
            }
        }
        prop_assert!(seen.iter().all(|&c| c == 1), "every validator in exactly one shard");
        let (lo, hi) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
        prop_assert!(hi - lo <= 1);
        // The remainder goes to the first buckets.
        prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        prop_assert_eq!(sizes.iter().sum::<usize>(), n);
    }
}

#[test]
fn e3_different_randomness_gives_a_different_map() {
    assert_ne!(
        ShardMap::new(&rnd(1), 100, 4),
        ShardMap::new(&rnd(2), 100, 4)
    );
    assert_eq!(bucket_start(10, 3, 0), 0);
    assert_eq!(bucket_start(10, 3, 1), 4);
    assert_eq!(bucket_start(10, 3, 3), 10);
}

/// Largest Pearson chi-square statistic over the shards: `epochs` permutations (made by
/// `permute`) of `N = 60` validators into 3 shards of 20, the adversary holding the first
/// 15 positions of the ordered list; each shard's bad count against the hypergeometric
/// pmf, bins with fewer than 5 expected pooled into the tails. Returns the statistic and
/// the degrees of freedom.
fn composition_chi_square(epochs: u64, permute: impl Fn(&Hash, &mut Vec<u32>)) -> (f64, usize) {
    const N: u64 = 60;
    const M: usize = 3;
    const S: u64 = 20;
    const BAD: u64 = 15;
    let table = LnFactorials::up_to(N);
    let pmf: Vec<f64> = (0..=S.min(BAD))
        .map(|x| {
            (table.ln_choose(BAD, x) + table.ln_choose(N - BAD, S - x) - table.ln_choose(N, S))
                .exp()
        })
        .collect();
    let mut counts = vec![vec![0u64; pmf.len()]; M];
    let mut order = Vec::new();
    for epoch in 0..epochs {
        permute(&rnd(epoch), &mut order);
        for (j, shard) in counts.iter_mut().enumerate() {
            let roster = &order[bucket_start(N as usize, M, j)..bucket_start(N as usize, M, j + 1)];
            let bad = roster.iter().filter(|&&v| u64::from(v) < BAD).count();
            shard[bad] += 1;
        }
    }
    // Bins: pool from each end while the expected count is below 5.
    let expected: Vec<f64> = pmf.iter().map(|p| p * epochs as f64).collect();
    let lo = expected.iter().position(|&e| e >= 5.0).unwrap();
    let hi = expected.iter().rposition(|&e| e >= 5.0).unwrap();
    let bins = hi - lo + 1;
    let worst = counts
        .iter()
        .map(|observed| {
            (lo..=hi)
                .map(|x| {
                    let (o, e) = if x == lo {
                        (
                            observed[..=lo].iter().sum::<u64>(),
                            expected[..=lo].iter().sum(),
                        )
                    } else if x == hi {
                        (
                            observed[hi..].iter().sum::<u64>(),
                            expected[hi..].iter().sum(),
                        )
                    } else {
                        (observed[x], expected[x])
                    };
                    (o as f64 - e).powi(2) / e
                })
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    (worst, bins - 1)
}

/// The chi-square critical value at upper-tail probability 1e-4 (Wilson–Hilferty; z =
/// 3.719), accurate to about 1% for the 9–12 degrees of freedom here.
fn chi_square_critical_1e4(df: usize) -> f64 {
    let k = df as f64;
    let c = 2.0 / (9.0 * k);
    k * (1.0 - c + 3.719 * c.sqrt()).powi(3)
}

// Tolerance: each of the 3 shards passes a chi-square test at significance 1e-4 (3e-4 for
// the family), 20,000 epochs. A correct shuffle fails it for 3 seeds in 10,000. It is
// tight enough: an off-by-one Fisher–Yates (`j < i`, Sattolo's algorithm, which yields
// only cyclic permutations: no validator ever keeps its place) moves the mean bad count
// of shard 0 from 5.00 to 4.83, which at 20,000 epochs puts its statistic near 220, six
// times the critical value of 38 (next test; a correct shuffle scores 13 with these seeds).
const E5_EPOCHS: u64 = 20_000;

#[test]
fn e5_shard_composition_matches_the_hypergeometric_model() {
    let (chi, df) =
        composition_chi_square(E5_EPOCHS, |rnd, order| permutation_into(rnd, 60, order));
    let critical = chi_square_critical_1e4(df);
    assert!(
        chi < critical,
        "chi-square {chi:.1} ≥ {critical:.1} (df {df})"
    );
}

#[test]
fn e5_the_same_test_rejects_an_off_by_one_shuffle() {
    let sattolo = |rnd: &Hash, order: &mut Vec<u32>| {
        order.clear();
        order.extend(0..60u32);
        let mut prg = permutation_prg(rnd);
        for i in (1..order.len()).rev() {
            let j = prg.below(i as u64) as usize; // the bug: should be below(i + 1)
            order.swap(i, j);
        }
    };
    let (chi, df) = composition_chi_square(E5_EPOCHS, sattolo);
    let critical = chi_square_critical_1e4(df);
    assert!(
        chi > 3.0 * critical,
        "biased shuffle passed: {chi:.1} vs {critical:.1} (df {df})"
    );
}
