//! One verdict per signature (ZIP-215): every grouping of the same entries — alone, one
//! batch, random orders, random splits, with and without the key cache — gives each entry
//! the verdict `verify_one` gives it, and that verdict is ed25519-zebra's (an independent
//! ZIP-215 implementation) and the one the entry was built to have.
//!
//! Entries mix honest signatures with crafted edge cases (workloads' `edge` module):
//! keys and `R` with torsion components of order 2, 4 and 8, small-order keys and `R`,
//! non-canonical encodings of `A` and `R`, `S ≥ L`, hashes over other bytes than those
//! sent, and signatures valid only under the cofactored equation.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::sig::{BatchVerifier, KeyCache, VerificationKey, verify_one};
use ioschain_core::prg::Prg;
use ioschain_core::types::Owner;
use ioschain_workloads::edge::{
    EdgeSignature, NOT_A_POINT, add_group_order, noncanonical_encodings, sign_raw, torsion_point,
};
use proptest::prelude::*;

/// One crafted entry: key bytes, message, signature, and the verdict ZIP-215 must give.
#[derive(Clone, Debug)]
struct Case {
    key: [u8; 32],
    message: [u8; 32],
    signature: [u8; 64],
    valid: bool,
}

/// The small-order points (orders 1, 2, 4, 8, and the other order-4 point) and every
/// encoding of each, canonical or not.
fn small_order_encodings() -> Vec<(EdwardsPoint, [u8; 32])> {
    let points = [
        torsion_point(1),
        torsion_point(2),
        torsion_point(4),
        -torsion_point(4),
        torsion_point(8),
        -torsion_point(8),
    ];
    let mut out = Vec::new();
    for point in points {
        out.push((point, point.compress().to_bytes()));
        for bytes in noncanonical_encodings(&point) {
            out.push((point, bytes));
        }
    }
    out
}

fn scalar_from(prg: &mut Prg) -> Scalar {
    let mut wide = [0u8; 64];
    prg.fill(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// One side of a Schnorr equation, `(secret, encoding)`, picked by `selector` among
/// `cases` kinds: `[x]B` canonical, `[x]B + T` (T of order 2, 4 or 8), or a small-order
/// point in any of its encodings (secret 0).
fn point_side(
    selector: u8,
    cases: u8,
    x: Scalar,
    small: &[(EdwardsPoint, [u8; 32])],
) -> (Scalar, [u8; 32]) {
    let pick = usize::from(selector / cases);
    match selector % cases {
        0 => (x, (ED25519_BASEPOINT_POINT * x).compress().to_bytes()),
        1 => {
            let torsion = torsion_point([2, 4, 8][pick % 3]);
            (
                x,
                (ED25519_BASEPOINT_POINT * x + torsion)
                    .compress()
                    .to_bytes(),
            )
        }
        _ => (Scalar::ZERO, small[pick % small.len()].1),
    }
}

/// Builds the case named by `choice` (key side, `R` side, and what is broken), using
/// `prg` for keys, nonces and the message.
fn craft(choice: [u8; 4], prg: &mut Prg) -> Case {
    let small = small_order_encodings();
    let mut message = [0u8; 32];
    prg.fill(&mut message);
    // Key side (a, A bytes) and R side (r, R bytes); small-order keys are drawn more
    // often than small-order R (`cases` 4 against 3).
    let (a, key) = point_side(choice[0], 4, scalar_from(prg), &small);
    let (r, r_bytes) = point_side(choice[1], 3, scalar_from(prg), &small);
    let mut signature = sign_raw(a, &key, r, &r_bytes, &message);
    let mut valid = true;
    match choice[2] % 8 {
        // S + L: not canonical.
        0 => {
            let s: [u8; 32] = signature[32..].try_into().unwrap();
            signature[32..].copy_from_slice(&add_group_order(&s));
            valid = false;
        }
        // k hashed over the canonical re-encoding of R (or of A): differs exactly when
        // the encoding sent was not canonical, and matters only when a ≠ 0 (a
        // small-order key makes k·a vanish: S = r then holds for every k).
        1 => {
            let point = curve25519_dalek::edwards::CompressedEdwardsY(r_bytes)
                .decompress()
                .unwrap();
            let canonical = point.compress().to_bytes();
            let s_sig = sign_raw(a, &key, r, &canonical, &message);
            signature[32..].copy_from_slice(&s_sig[32..]);
            valid = canonical == r_bytes || a == Scalar::ZERO;
        }
        2 => {
            let point = curve25519_dalek::edwards::CompressedEdwardsY(key)
                .decompress()
                .unwrap();
            let canonical = point.compress().to_bytes();
            let s_sig = sign_raw(a, &canonical, r, &r_bytes, &message);
            signature[32..].copy_from_slice(&s_sig[32..]);
            valid = canonical == key || a == Scalar::ZERO;
        }
        // Another message (valid anyway for a small-order key: [8][k]A = 0 for every
        // k, so S = r satisfies every message).
        3 => {
            message[0] ^= 1;
            valid = a == Scalar::ZERO;
        }
        // R bytes that are no point.
        4 if choice[3].is_multiple_of(2) => {
            signature[..32].copy_from_slice(&NOT_A_POINT);
            valid = false;
        }
        _ => {}
    }
    Case {
        key,
        message,
        signature,
        valid,
    }
}

/// An honest ed25519-dalek signature (the engine's normal traffic).
fn honest(prg: &mut Prg) -> Case {
    let key = SigningKey::from_bytes(&prg.bytes32());
    let mut message = [0u8; 32];
    prg.fill(&mut message);
    Case {
        key: key.verifying_key().to_bytes(),
        message,
        signature: key.sign(&message).to_bytes(),
        valid: true,
    }
}

fn zebra(case: &Case) -> bool {
    ed25519_zebra::VerificationKey::try_from(case.key).is_ok_and(|key| {
        key.verify(
            &ed25519_zebra::Signature::from_bytes(&case.signature),
            &case.message,
        )
        .is_ok()
    })
}

/// The bad tags when `order` (indices into `cases`) is split at `cuts` into batches.
fn bad_in_groups(cases: &[Case], order: &[usize], cuts: &[usize], cache: bool) -> Vec<usize> {
    let mut keys = KeyCache::new();
    let mut verifier = BatchVerifier::with_capacity(cases.len(), [order.len() as u8; 32]);
    let mut bad = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&order.len())) {
        for &i in &order[start..end] {
            let case = &cases[i];
            let key = if cache {
                keys.get(&Owner(case.key))
            } else {
                VerificationKey::from_bytes(&case.key)
            }
            .expect("every crafted key decodes");
            verifier.push(case.message, &case.signature, key, i as u32);
        }
        let mut group_bad = Vec::new();
        verifier.verify(&mut group_bad);
        // Reported in push order.
        let positions: Vec<usize> = group_bad
            .iter()
            .map(|tag| {
                order[start..end]
                    .iter()
                    .position(|i| *i as u32 == *tag)
                    .unwrap()
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
        bad.extend(group_bad.iter().map(|t| *t as usize));
        start = end;
    }
    bad.sort_unstable();
    bad
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_grouping_gives_each_entry_its_single_verdict(
        choices in prop::collection::vec(any::<[u8; 4]>(), 1..40),
        honest_count in 0usize..24,
        seed in any::<u64>(),
        cut_points in prop::collection::vec(any::<u16>(), 0..6),
    ) {
        let mut prg = Prg::new(&[b"signature-verdicts", &seed.to_le_bytes()]);
        let mut cases: Vec<Case> = choices.iter().map(|c| craft(*c, &mut prg)).collect();
        cases.extend((0..honest_count).map(|_| honest(&mut prg)));
        prg.shuffle(&mut cases);

        // Alone: the rule, ed25519-zebra and the construction agree.
        let alone: Vec<bool> = cases
            .iter()
            .map(|c| {
                let key = VerificationKey::from_bytes(&c.key).unwrap();
                verify_one(&key, &c.message, &c.signature)
            })
            .collect();
        for (case, verdict) in cases.iter().zip(&alone) {
            prop_assert_eq!(*verdict, zebra(case), "ed25519-zebra disagrees on {:?}", case);
            prop_assert_eq!(*verdict, case.valid, "built to be {}: {:?}", case.valid, case);
        }
        let expected_bad: Vec<usize> = (0..cases.len()).filter(|i| !alone[*i]).collect();

        // One batch in order, batches of one, and random orders with random splits,
        // with and without the key cache.
        let in_order: Vec<usize> = (0..cases.len()).collect();
        prop_assert_eq!(&bad_in_groups(&cases, &in_order, &[], true), &expected_bad);
        let singles: Vec<usize> = (1..cases.len()).collect();
        prop_assert_eq!(&bad_in_groups(&cases, &in_order, &singles, false), &expected_bad);
        for round in 0..3u8 {
            let mut order = in_order.clone();
            prg.shuffle(&mut order);
            let mut cuts: Vec<usize> = cut_points
                .iter()
                .map(|c| (usize::from(*c) + usize::from(round)) % cases.len())
                .filter(|c| *c > 0)
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            prop_assert_eq!(
                &bad_in_groups(&cases, &order, &cuts, round % 2 == 0),
                &expected_bad
            );
        }
    }
}

#[test]
fn every_client_edge_kind_agrees_with_ed25519_zebra_alone_and_in_a_batch() {
    let mut verifier = BatchVerifier::with_capacity(64, [1; 32]);
    let mut expected_bad = Vec::new();
    for (i, kind) in EdgeSignature::ALL.iter().cycle().take(45).enumerate() {
        let key = SigningKey::from_bytes(&[i as u8; 32]);
        let message = [i as u8 ^ 0x5a; 32];
        let signature = kind.sign(&key, &message, &[i as u8]);
        let case = Case {
            key: key.verifying_key().to_bytes(),
            message,
            signature,
            valid: kind.valid(),
        };
        assert_eq!(zebra(&case), kind.valid(), "{kind:?}");
        if !kind.valid() {
            expected_bad.push(i as u32);
        }
        verifier.push(
            message,
            &signature,
            VerificationKey::from(&key.verifying_key()),
            i as u32,
        );
    }
    let mut bad = Vec::new();
    verifier.verify(&mut bad);
    assert_eq!(bad, expected_bad);
}

#[test]
fn undecodable_keys_are_invalid_for_the_rule_and_for_ed25519_zebra() {
    let case = Case {
        key: NOT_A_POINT,
        message: [0; 32],
        signature: [0; 64],
        valid: false,
    };
    assert!(VerificationKey::from_bytes(&case.key).is_none());
    assert!(!ioschain_core::crypto::sig::verify_encoded(
        &case.key,
        &case.message,
        &case.signature
    ));
    assert!(!zebra(&case));
}
