//! Decryption of shares with DLEQ proofs, their checks, and recovery of the secret.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;

use super::*;
use crate::crypto::hash::Domain;
use crate::prg::Prg;
use crate::types::Hash;

/// A decrypted share `S = x^{-1}·Y` with its DLEQ proof `log_H PK = log_S Y`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DecryptedShare {
    /// `S`, compressed.
    pub s: [u8; 32],
    /// The proof of correct decryption.
    pub proof: DleqProof,
}

/// `c = H_wide(PvssDecryptedShare ‖ context ‖ PK ‖ Y ‖ S ‖ A1 ‖ A2)`.
fn decrypted_challenge(
    context: &Hash,
    key: &[u8; 32],
    y: &[u8; 32],
    share: &DecryptedShare,
) -> Scalar {
    wide_scalar(
        Domain::PvssDecryptedShare,
        &[
            context.as_bytes(),
            key,
            y,
            &share.s,
            &share.proof.a1,
            &share.proof.a2,
        ],
    )
}

/// Decrypts encrypted shares (the points `Y`, compressed) held by `key`, each with its
/// proof. Nonces are `H_wide(PvssNonce ‖ x ‖ context ‖ Y)`: the same statement always
/// gets the same proof. Fails on a `Y` that is not a canonical point (position named).
pub fn decrypt(
    key: &PvssSecretKey,
    context: &Hash,
    encrypted: &[[u8; 32]],
) -> Result<Vec<DecryptedShare>, PvssError> {
    let half = half();
    let mut halves = Vec::with_capacity(3 * encrypted.len());
    let mut nonces = Vec::with_capacity(encrypted.len());
    for (index, y) in encrypted.iter().enumerate() {
        let point = decode_point(y).ok_or(PvssError::MalformedEncryptedShare { index })?;
        let nonce = wide_scalar(
            Domain::PvssNonce,
            &[key.x.as_bytes(), context.as_bytes(), y],
        );
        let s_half = point * (key.x_inv * half);
        halves.push(s_half);
        halves.push(&(nonce * half) * &base_h().1);
        halves.push(s_half * nonce);
        nonces.push(nonce);
    }
    let compressed = compress_doubled(&halves);
    Ok(encrypted
        .iter()
        .enumerate()
        .map(|(i, y)| {
            let mut share = DecryptedShare {
                s: compressed[3 * i],
                proof: DleqProof {
                    a1: compressed[3 * i + 1],
                    a2: compressed[3 * i + 2],
                    r: [0; 32],
                },
            };
            let c = decrypted_challenge(context, &key.public.bytes, y, &share);
            share.proof.r = (nonces[i] - c * key.x).to_bytes();
            share
        })
        .collect())
}

/// Checks decrypted shares against the encrypted shares they decrypt (`Y`, compressed),
/// all held by `key`, and returns the decrypted points `S`. Fails naming the first bad
/// share (position in the lists).
pub fn verify_decrypted(
    context: &Hash,
    key: &PvssPublicKey,
    encrypted: &[[u8; 32]],
    decrypted: &[DecryptedShare],
) -> Result<Vec<RistrettoPoint>, PvssError> {
    if encrypted.len() != decrypted.len() {
        return Err(PvssError::WrongCount {
            what: "decrypted shares",
            expected: encrypted.len(),
            got: decrypted.len(),
        });
    }
    struct Open {
        y: RistrettoPoint,
        s: RistrettoPoint,
        a1: RistrettoPoint,
        a2: RistrettoPoint,
        r: Scalar,
        c: Scalar,
    }
    let mut seed = Domain::PvssBatch.hasher();
    seed.update(context.as_bytes());
    seed.update(&key.bytes);
    let open = encrypted
        .iter()
        .zip(decrypted)
        .enumerate()
        .map(|(index, (y, share))| {
            let malformed = PvssError::MalformedDecryptedShare { index };
            let open = Open {
                y: decode_point(y).ok_or(malformed)?,
                s: decode_point(&share.s).ok_or(malformed)?,
                a1: decode_point(&share.proof.a1).ok_or(malformed)?,
                a2: decode_point(&share.proof.a2).ok_or(malformed)?,
                r: decode_scalar(&share.proof.r).ok_or(malformed)?,
                c: decrypted_challenge(context, &key.bytes, y, share),
            };
            seed.update(open.c.as_bytes());
            seed.update(open.r.as_bytes());
            Ok(open)
        })
        .collect::<Result<Vec<_>, PvssError>>()?;
    let mut prg = Prg::new(&[b"pvss-decrypted", seed.finalize().as_bytes()]);
    let mut batch = Batch::with_capacity(4 * open.len() + 1);
    let mut key_coefficient = Scalar::ZERO;
    for share in &open {
        let (w1, w2) = (batch_weight(&mut prg), batch_weight(&mut prg));
        // r·H + c·PK − A1 = 0.
        batch.h += w1 * share.r;
        key_coefficient += w1 * share.c;
        batch.push(-w1, share.a1);
        // r·S + c·Y − A2 = 0.
        batch.push(w2 * share.r, share.s);
        batch.push(w2 * share.c, share.y);
        batch.push(-w2, share.a2);
    }
    batch.push(key_coefficient, key.point);
    if !batch.holds() {
        let h = base_h().0;
        for (index, share) in open.iter().enumerate() {
            let first = RistrettoPoint::vartime_multiscalar_mul([share.r, share.c], [h, key.point]);
            let second =
                RistrettoPoint::vartime_multiscalar_mul([share.r, share.c], [share.s, share.y]);
            if first != share.a1 || second != share.a2 {
                return Err(PvssError::BadDecryptedShare { index });
            }
        }
    }
    Ok(open.into_iter().map(|share| share.s).collect())
}

/// Recovers `σ·H` from decrypted shares `(position, S)` (positions 0-based, distinct):
/// Lagrange interpolation at 0 in the exponent over the first `threshold` of them.
pub fn recover(
    threshold: usize,
    shares: &[(u32, RistrettoPoint)],
) -> Result<SecretPoint, PvssError> {
    if shares.len() < threshold || threshold == 0 {
        return Err(PvssError::TooFewShares {
            got: shares.len(),
            need: threshold.max(1),
        });
    }
    let used = &shares[..threshold];
    let xs: Vec<Scalar> = used
        .iter()
        .map(|(index, _)| Scalar::from(u64::from(*index) + 1))
        .collect();
    for (a, (index, _)) in used.iter().enumerate() {
        if used[..a].iter().any(|(other, _)| other == index) {
            return Err(PvssError::DuplicateShare { index: *index });
        }
    }
    // λ_i = Π_{j≠i} x_j / (x_j − x_i).
    let mut numerators = Vec::with_capacity(threshold);
    let mut denominators = Vec::with_capacity(threshold);
    for (i, xi) in xs.iter().enumerate() {
        let mut numerator = Scalar::ONE;
        let mut denominator = Scalar::ONE;
        for (j, xj) in xs.iter().enumerate() {
            if i != j {
                numerator *= xj;
                denominator *= xj - xi;
            }
        }
        numerators.push(numerator);
        denominators.push(denominator);
    }
    Scalar::invert_batch_alloc(&mut denominators);
    let lambdas: Vec<Scalar> = numerators
        .iter()
        .zip(&denominators)
        .map(|(n, d)| n * d)
        .collect();
    Ok(SecretPoint(RistrettoPoint::vartime_multiscalar_mul(
        &lambdas,
        used.iter().map(|(_, point)| point),
    )))
}
