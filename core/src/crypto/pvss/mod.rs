//! PVSS: Schoenmakers-style publicly verifiable secret sharing over Ristretto, the
//! sharing layer of the DRP (PROTOCOL.md §2.2–2.3, messages `R1` and `R3`).
//!
//! # Scheme
//!
//! Two independent generators: `G`, Ristretto's basepoint, and `H`, hashed to the group
//! ([`Domain::PvssBase`]; nobody knows `log_G H`). A participant's key is `x` with public
//! key `PK = x·H`.
//!
//! 1. **Deal** ([`deal`]): the dealer draws `p(z) = a_0 + a_1 z + … + a_{t−1} z^{t−1}`
//!    from a caller-supplied seed (through [`Prg`], never an OS source), publishes the
//!    Feldman commitments `C_k = a_k·G` and, for share `i` (positions `0..n`, evaluated
//!    at `z = i + 1`), the encrypted share `Y_i = p(i+1)·PK_i` with a DLEQ proof
//!    (Chaum–Pedersen, Fiat–Shamir over [`Domain::PvssEncryptedShare`]) that
//!    `log_G X_i = log_{PK_i} Y_i`, where `X_i = Σ_k (i+1)^k·C_k` is the share's
//!    evaluation in the exponent. The secret is the point `σ·H` with `σ = a_0`.
//! 2. **Verify** ([`verify_dealing`], by anyone): every proof against the commitments; a
//!    share's holder can check its own share given `X_i` ([`verify_share`]).
//! 3. **Decrypt** ([`decrypt`], by holder `i`): `S_i = x_i^{-1}·Y_i = p(i+1)·H`, with a
//!    DLEQ proof ([`Domain::PvssDecryptedShare`]) that `log_H PK_i = log_{S_i} Y_i`.
//! 4. **Recover** ([`recover`]): from any `t` valid decrypted shares, Lagrange
//!    interpolation in the exponent gives `p(0)·H = σ·H`.
//!
//! Commitments sit on `G` and keys on `H` so that the commitments never reveal a
//! decrypted share (`X_i = p(i+1)·G` while `S_i = p(i+1)·H`). The many fixed-base
//! multiplications of dealing use `G`'s static table; `H`'s table is built once per
//! process (a lazily initialised constant, no clock, thread or randomness).
//!
//! # Invariants and costs
//!
//! - Every proof's challenge hashes a caller-supplied `context` (the DRP's `SID`), so a
//!   proof made for one run does not verify in another.
//! - Proofs are `(A1, A2, r)` rather than `(c, r)`, so many can be checked at once: the
//!   verifiers check one random linear combination of all equations (weights derived by
//!   hashing everything checked, [`Domain::PvssBatch`]) with one variable-time
//!   multiscalar multiplication, and only when that fails re-check one by one to name
//!   the failing share ([`PvssError::BadEncryptedShare`]).
//! - Secrets (polynomial values, keys, nonces) only meet constant-time multiplications;
//!   variable-time arithmetic sees public values only.
//! - Ristretto encodings are canonical, scalars must be canonical: every malformed input
//!   is a [`PvssError`], never a panic.

use std::sync::OnceLock;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use thiserror::Error;

use crate::crypto::hash::Domain;
use crate::crypto::scalar::{decode_scalar, wide_scalar};
use crate::prg::Prg;

mod keys;
mod reveal;
mod share;

pub use keys::{PvssPublicKey, PvssSecretKey, Signature};
pub use reveal::{DecryptedShare, decrypt, recover, verify_decrypted};
pub use share::{
    Dealing, DleqProof, EncryptedShare, HeldShare, SecretPoint, commitments_digest, deal,
    decode_commitments, evaluate, verify_dealing, verify_share, verify_shares,
};

/// Why a dealing, a share or a recovery was rejected. Share indices are positions
/// (0-based) in the dealing's share list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PvssError {
    /// The threshold is 0 or above the number of shares.
    #[error("threshold {threshold} is not in 1..={shares}")]
    BadThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// The number of shares.
        shares: usize,
    },
    /// A list has the wrong length.
    #[error("{what}: expected {expected}, got {got}")]
    WrongCount {
        /// The list.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A commitment is not a canonical Ristretto point.
    #[error("commitment {index} is not a canonical Ristretto point")]
    MalformedCommitment {
        /// The commitment's position.
        index: usize,
    },
    /// An encrypted share (its point or its proof) is not canonical.
    #[error("encrypted share {index} is malformed")]
    MalformedEncryptedShare {
        /// The share's position.
        index: usize,
    },
    /// An encrypted share's DLEQ proof does not verify.
    #[error("encrypted share {index}: DLEQ proof does not verify")]
    BadEncryptedShare {
        /// The share's position.
        index: usize,
    },
    /// A decrypted share (its point or its proof) is not canonical.
    #[error("decrypted share {index} is malformed")]
    MalformedDecryptedShare {
        /// The share's position in the list checked.
        index: usize,
    },
    /// A decrypted share's DLEQ proof does not verify.
    #[error("decrypted share {index}: DLEQ proof does not verify")]
    BadDecryptedShare {
        /// The share's position in the list checked.
        index: usize,
    },
    /// Fewer shares than the threshold.
    #[error("{got} shares, at least {need} needed")]
    TooFewShares {
        /// Shares given.
        got: usize,
        /// The threshold.
        need: usize,
    },
    /// Two shares for the same position.
    #[error("share position {index} given twice")]
    DuplicateShare {
        /// The repeated position.
        index: u32,
    },
}

// ---------------------------------------------------------------------------------------
// Group helpers.

/// `H` and its multiplication table.
fn base_h() -> &'static (RistrettoPoint, RistrettoBasepointTable) {
    static BASE: OnceLock<(RistrettoPoint, RistrettoBasepointTable)> = OnceLock::new();
    BASE.get_or_init(|| {
        let point = RistrettoPoint::from_uniform_bytes(&Domain::PvssBase.wide(&[b"H"]));
        (point, RistrettoBasepointTable::create(&point))
    })
}

/// `1/2 mod ℓ`: points are computed halved and compressed with
/// `double_and_compress_batch`, which shares one field inversion across a batch.
fn half() -> Scalar {
    Scalar::from(2u8).invert()
}

fn compress_doubled(halves: &[RistrettoPoint]) -> Vec<[u8; 32]> {
    RistrettoPoint::double_and_compress_batch(halves)
        .into_iter()
        .map(|c| c.to_bytes())
        .collect()
}

fn decode_point(bytes: &[u8; 32]) -> Option<RistrettoPoint> {
    CompressedRistretto(*bytes).decompress()
}

fn prg_scalar(prg: &mut Prg) -> Scalar {
    let mut wide = [0u8; 64];
    prg.fill(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A 128-bit batch weight.
fn batch_weight(prg: &mut Prg) -> Scalar {
    let mut bytes = [0u8; 32];
    prg.fill(&mut bytes[..16]);
    Scalar::from_bytes_mod_order(bytes)
}

/// A random linear combination of group equations `Σ s_j·P_j == 0`, checked with one
/// variable-time multiscalar multiplication; `G` and `H` terms are merged.
struct Batch {
    g: Scalar,
    h: Scalar,
    scalars: Vec<Scalar>,
    points: Vec<RistrettoPoint>,
}

impl Batch {
    fn with_capacity(capacity: usize) -> Self {
        Batch {
            g: Scalar::ZERO,
            h: Scalar::ZERO,
            scalars: Vec::with_capacity(capacity + 1),
            points: Vec::with_capacity(capacity + 1),
        }
    }

    fn push(&mut self, scalar: Scalar, point: RistrettoPoint) {
        self.scalars.push(scalar);
        self.points.push(point);
    }

    fn holds(mut self) -> bool {
        if self.h != Scalar::ZERO {
            self.push(self.h, base_h().0);
        }
        let sum = RistrettoPoint::vartime_multiscalar_mul(
            self.scalars.iter().chain(std::iter::once(&self.g)),
            self.points.iter().chain(std::iter::once(
                &curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT,
            )),
        );
        sum.is_identity()
    }
}

/// `1, z, z², …` up to `z^{len−1}`.
fn powers(z: u64, len: usize) -> Vec<Scalar> {
    let z = Scalar::from(z);
    let mut out = Vec::with_capacity(len);
    let mut power = Scalar::ONE;
    for _ in 0..len {
        out.push(power);
        power *= z;
    }
    out
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::ristretto::RistrettoPoint;
    use curve25519_dalek::scalar::Scalar;

    use super::share::mul_small;
    use super::*;
    use crate::types::Hash;

    const CONTEXT: Hash = Hash([0x5a; 32]);

    fn keys(n: usize) -> Vec<PvssSecretKey> {
        (0..n)
            .map(|i| PvssSecretKey::from_seed(&[i as u8 + 1; 32]))
            .collect()
    }

    fn publics(keys: &[PvssSecretKey]) -> Vec<PvssPublicKey> {
        keys.iter().map(|k| *k.public()).collect()
    }

    /// Decrypts and checks every share of `dealing`, returning `(position, S)`.
    fn open_all(keys: &[PvssSecretKey], dealing: &Dealing) -> Vec<(u32, RistrettoPoint)> {
        keys.iter()
            .zip(&dealing.shares)
            .enumerate()
            .map(|(i, (key, share))| {
                let decrypted = decrypt(key, &CONTEXT, &[share.y]).unwrap();
                let points =
                    verify_decrypted(&CONTEXT, key.public(), &[share.y], &decrypted).unwrap();
                (i as u32, points[0])
            })
            .collect()
    }

    #[test]
    fn recover_with_exactly_t_shares_gives_the_dealt_secret() {
        let keys = keys(7);
        let (dealing, secret) = deal(&[9; 32], &CONTEXT, 3, &publics(&keys)).unwrap();
        verify_dealing(&CONTEXT, 3, &publics(&keys), &dealing).unwrap();
        let opened = open_all(&keys, &dealing);
        assert_eq!(recover(3, &opened[..3]).unwrap(), secret);
        assert_eq!(recover(3, &opened[4..7]).unwrap(), secret);
        let mixed = [opened[6], opened[1], opened[3]];
        assert_eq!(recover(3, &mixed).unwrap(), secret);
    }

    #[test]
    fn recover_fails_with_t_minus_one_shares() {
        let keys = keys(5);
        let (dealing, secret) = deal(&[9; 32], &CONTEXT, 3, &publics(&keys)).unwrap();
        let opened = open_all(&keys, &dealing);
        assert_eq!(
            recover(3, &opened[..2]),
            Err(PvssError::TooFewShares { got: 2, need: 3 })
        );
        // Interpolating t−1 shares as if the threshold were t−1 gives a wrong point.
        assert_ne!(recover(2, &opened[..2]).unwrap(), secret);
    }

    #[test]
    fn a_bad_encrypted_share_is_caught_by_its_dleq_and_named() {
        let keys = keys(6);
        let publics = publics(&keys);
        let (mut dealing, _) = deal(&[3; 32], &CONTEXT, 2, &publics).unwrap();
        // Encrypt share 4 to the right key with a wrong value (the dealer cheats).
        let wrong = publics[4].point * Scalar::from(77u8);
        dealing.shares[4].y = wrong.compress().to_bytes();
        assert_eq!(
            verify_dealing(&CONTEXT, 2, &publics, &dealing),
            Err(PvssError::BadEncryptedShare { index: 4 })
        );
    }

    #[test]
    fn a_dealing_for_another_context_does_not_verify() {
        let keys = keys(4);
        let publics = publics(&keys);
        let (dealing, _) = deal(&[3; 32], &CONTEXT, 2, &publics).unwrap();
        assert!(verify_dealing(&Hash([1; 32]), 2, &publics, &dealing).is_err());
    }

    #[test]
    fn a_holder_checks_its_share_given_the_evaluation() {
        let keys = keys(4);
        let publics = publics(&keys);
        let (dealing, _) = deal(&[3; 32], &CONTEXT, 3, &publics).unwrap();
        let commitments = decode_commitments(&dealing.commitments).unwrap();
        let digest = commitments_digest(&dealing.commitments);
        for (i, share) in dealing.shares.iter().enumerate() {
            let x = evaluate(&commitments, i).compress().to_bytes();
            verify_share(&CONTEXT, &digest, i, &x, &publics[i], share).unwrap();
            let other = evaluate(&commitments, i + 1).compress().to_bytes();
            assert_eq!(
                verify_share(&CONTEXT, &digest, i, &other, &publics[i], share),
                Err(PvssError::BadEncryptedShare { index: i })
            );
        }
    }

    #[test]
    fn a_holder_checks_its_shares_of_several_dealings_in_one_batch() {
        let keys = keys(4);
        let publics = publics(&keys);
        let dealings: Vec<Dealing> = (0..3u8)
            .map(|seed| deal(&[seed; 32], &CONTEXT, 2, &publics).unwrap().0)
            .collect();
        let digests: Vec<Hash> = dealings
            .iter()
            .map(|d| commitments_digest(&d.commitments))
            .collect();
        let mut evaluations: Vec<[u8; 32]> = dealings
            .iter()
            .map(|d| {
                let points = decode_commitments(&d.commitments).unwrap();
                evaluate(&points, 2).compress().to_bytes()
            })
            .collect();
        let held = |evaluations: &[[u8; 32]]| -> Result<(), (usize, PvssError)> {
            let list: Vec<HeldShare<'_>> = (0..3)
                .map(|k| (&digests[k], &evaluations[k], &dealings[k].shares[2]))
                .collect();
            verify_shares(&CONTEXT, 2, &publics[2], &list)
        };
        held(&evaluations).unwrap();
        evaluations[1] = evaluations[0];
        assert_eq!(
            held(&evaluations),
            Err((1, PvssError::BadEncryptedShare { index: 2 }))
        );
    }

    #[test]
    fn a_bad_decrypted_share_is_caught_and_named() {
        let keys = keys(3);
        let publics = publics(&keys);
        let (a, _) = deal(&[1; 32], &CONTEXT, 2, &publics).unwrap();
        let (b, _) = deal(&[2; 32], &CONTEXT, 2, &publics).unwrap();
        let ys = [a.shares[0].y, b.shares[0].y];
        let mut decrypted = decrypt(&keys[0], &CONTEXT, &ys).unwrap();
        verify_decrypted(&CONTEXT, &publics[0], &ys, &decrypted).unwrap();
        // A holder that reports another point for the second share.
        decrypted[1].s = (base_h().0 * Scalar::from(5u8)).compress().to_bytes();
        assert_eq!(
            verify_decrypted(&CONTEXT, &publics[0], &ys, &decrypted),
            Err(PvssError::BadDecryptedShare { index: 1 })
        );
        // Another holder cannot decrypt share 0 under holder 0's key.
        let wrong = decrypt(&keys[1], &CONTEXT, &ys[..1]).unwrap();
        assert!(verify_decrypted(&CONTEXT, &publics[0], &ys[..1], &wrong).is_err());
    }

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let keys = keys(2);
        let message = Hash([4; 32]);
        let signature = keys[0].sign(&message);
        assert!(keys[0].public().verify(&message, &signature));
        assert!(!keys[1].public().verify(&message, &signature));
        assert!(!keys[0].public().verify(&Hash([5; 32]), &signature));
        let mut bytes = signature.to_bytes();
        bytes[40] ^= 1;
        assert!(
            !keys[0]
                .public()
                .verify(&message, &Signature::from_bytes(&bytes))
        );
    }

    #[test]
    fn dealing_is_deterministic_in_its_seed() {
        let keys = keys(3);
        let publics = publics(&keys);
        let one = deal(&[8; 32], &CONTEXT, 2, &publics).unwrap();
        assert_eq!(one, deal(&[8; 32], &CONTEXT, 2, &publics).unwrap());
        assert_ne!(one.0, deal(&[9; 32], &CONTEXT, 2, &publics).unwrap().0);
    }

    #[test]
    fn small_multiplication_matches_scalar_multiplication() {
        let p = base_h().0;
        for z in [1u64, 2, 3, 31, 32, 1000] {
            assert_eq!(mul_small(&p, z), p * Scalar::from(z));
        }
    }
}
