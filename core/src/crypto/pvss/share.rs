//! Dealing: Feldman commitments, encrypted shares with DLEQ proofs, and their checks.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};

use super::*;
use crate::crypto::hash::Domain;
use crate::prg::Prg;
use crate::types::Hash;

/// A DLEQ proof `(A1, A2, r)`: for the statement `log_{B1} P1 = log_{B2} P2 = w`, the
/// prover sends `A1 = k·B1`, `A2 = k·B2` and `r = k − c·w`, with `c` the Fiat–Shamir
/// hash of the statement and `A1, A2`; the verifier checks `r·B1 + c·P1 = A1` and
/// `r·B2 + c·P2 = A2`. 96 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DleqProof {
    /// `A1`, compressed.
    pub a1: [u8; 32],
    /// `A2`, compressed.
    pub a2: [u8; 32],
    /// `r`, a canonical scalar.
    pub r: [u8; 32],
}

impl DleqProof {
    /// Encoded size.
    pub const ENCODED_LEN: usize = 96;
}

/// An encrypted share `Y_i = p(i+1)·PK_i` with its DLEQ proof.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EncryptedShare {
    /// `Y_i`, compressed.
    pub y: [u8; 32],
    /// `log_G X_i = log_{PK_i} Y_i`.
    pub proof: DleqProof,
}

/// What a dealer publishes: `t` Feldman commitments and one encrypted share per key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dealing {
    /// `C_k = a_k·G`, compressed, `k = 0..t`.
    pub commitments: Vec<[u8; 32]>,
    /// Share `i` for key `i`.
    pub shares: Vec<EncryptedShare>,
}

/// A shared secret `σ·H` (what [`recover`] returns).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SecretPoint(pub RistrettoPoint);

impl SecretPoint {
    /// The compressed point.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }
}

/// The digest of a dealing's commitments, hashed into every share's proof (so a share's
/// holder can check its proof given only the digest and its evaluation `X_i`).
pub fn commitments_digest(commitments: &[[u8; 32]]) -> Hash {
    let mut hasher = Domain::PvssCommitments.hasher();
    hasher.update(&(commitments.len() as u64).to_le_bytes());
    for c in commitments {
        hasher.update(c);
    }
    Hash(*hasher.finalize().as_bytes())
}

/// `c = H_wide(PvssEncryptedShare ‖ context ‖ digest ‖ i ‖ PK ‖ Y ‖ A1 ‖ A2)`.
fn encrypted_challenge(
    context: &Hash,
    digest: &Hash,
    index: usize,
    key: &[u8; 32],
    y: &[u8; 32],
    proof: &DleqProof,
) -> Scalar {
    wide_scalar(
        Domain::PvssEncryptedShare,
        &[
            context.as_bytes(),
            digest.as_bytes(),
            &(index as u64).to_le_bytes(),
            key,
            y,
            &proof.a1,
            &proof.a2,
        ],
    )
}

/// Deals a secret to `keys` with threshold `t`: commitments, one encrypted share per
/// key with its proof, and the secret `σ·H` (which the dealer need not keep). All
/// randomness comes from `seed`; the same seed and context give the same dealing.
pub fn deal(
    seed: &[u8; 32],
    context: &Hash,
    threshold: usize,
    keys: &[PvssPublicKey],
) -> Result<(Dealing, SecretPoint), PvssError> {
    if threshold == 0 || threshold > keys.len() {
        return Err(PvssError::BadThreshold {
            threshold,
            shares: keys.len(),
        });
    }
    let mut prg = Prg::new(&[b"pvss-deal", seed, context.as_bytes()]);
    let coefficients: Vec<Scalar> = (0..threshold).map(|_| prg_scalar(&mut prg)).collect();
    let half = half();
    let commitment_halves: Vec<RistrettoPoint> = coefficients
        .iter()
        .map(|a| &(a * half) * RISTRETTO_BASEPOINT_TABLE)
        .collect();
    let commitments = compress_doubled(&commitment_halves);
    let digest = commitments_digest(&commitments);

    // Per share: Y/2, A1/2, A2/2, compressed together in one batch.
    let mut values = Vec::with_capacity(keys.len());
    let mut halves = Vec::with_capacity(3 * keys.len());
    for (i, key) in keys.iter().enumerate() {
        let z = Scalar::from(i as u64 + 1);
        let value = coefficients
            .iter()
            .rev()
            .fold(Scalar::ZERO, |acc, a| acc * z + a);
        let nonce = prg_scalar(&mut prg);
        halves.push(key.point * (value * half));
        halves.push(&(nonce * half) * RISTRETTO_BASEPOINT_TABLE);
        halves.push(key.point * (nonce * half));
        values.push((value, nonce));
    }
    let compressed = compress_doubled(&halves);
    let shares = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let (value, nonce) = values[i];
            let mut proof = DleqProof {
                a1: compressed[3 * i + 1],
                a2: compressed[3 * i + 2],
                r: [0; 32],
            };
            let y = compressed[3 * i];
            let c = encrypted_challenge(context, &digest, i, &key.bytes, &y, &proof);
            proof.r = (nonce - c * value).to_bytes();
            EncryptedShare { y, proof }
        })
        .collect();
    let secret = SecretPoint(&coefficients[0] * &base_h().1);
    Ok((
        Dealing {
            commitments,
            shares,
        },
        secret,
    ))
}

/// A share decoded for checking: points, scalars and its challenge.
pub(super) struct OpenShare {
    pub(super) y: RistrettoPoint,
    pub(super) a1: RistrettoPoint,
    pub(super) a2: RistrettoPoint,
    pub(super) r: Scalar,
    pub(super) c: Scalar,
}

fn open_share(
    context: &Hash,
    digest: &Hash,
    index: usize,
    key: &PvssPublicKey,
    share: &EncryptedShare,
) -> Result<OpenShare, PvssError> {
    let malformed = PvssError::MalformedEncryptedShare { index };
    Ok(OpenShare {
        y: decode_point(&share.y).ok_or(malformed)?,
        a1: decode_point(&share.proof.a1).ok_or(malformed)?,
        a2: decode_point(&share.proof.a2).ok_or(malformed)?,
        r: decode_scalar(&share.proof.r).ok_or(malformed)?,
        c: encrypted_challenge(context, digest, index, &key.bytes, &share.y, &share.proof),
    })
}

/// Decodes commitments (each a canonical point).
pub fn decode_commitments(commitments: &[[u8; 32]]) -> Result<Vec<RistrettoPoint>, PvssError> {
    commitments
        .iter()
        .enumerate()
        .map(|(index, c)| decode_point(c).ok_or(PvssError::MalformedCommitment { index }))
        .collect()
}

/// Checks a whole dealing with threshold `t` for `keys`: counts, encodings and every
/// share's proof against the commitments. The first bad share is named.
pub fn verify_dealing(
    context: &Hash,
    threshold: usize,
    keys: &[PvssPublicKey],
    dealing: &Dealing,
) -> Result<(), PvssError> {
    if threshold == 0 || threshold > keys.len() {
        return Err(PvssError::BadThreshold {
            threshold,
            shares: keys.len(),
        });
    }
    if dealing.commitments.len() != threshold {
        return Err(PvssError::WrongCount {
            what: "commitments",
            expected: threshold,
            got: dealing.commitments.len(),
        });
    }
    if dealing.shares.len() != keys.len() {
        return Err(PvssError::WrongCount {
            what: "encrypted shares",
            expected: keys.len(),
            got: dealing.shares.len(),
        });
    }
    let commitments = decode_commitments(&dealing.commitments)?;
    let digest = commitments_digest(&dealing.commitments);
    let open = keys
        .iter()
        .zip(&dealing.shares)
        .enumerate()
        .map(|(i, (key, share))| open_share(context, &digest, i, key, share))
        .collect::<Result<Vec<_>, _>>()?;

    // Weights from everything checked (the challenges hash the points; `r` added).
    let mut seed = Domain::PvssBatch.hasher();
    seed.update(context.as_bytes());
    seed.update(digest.as_bytes());
    for share in &open {
        seed.update(share.c.as_bytes());
        seed.update(share.r.as_bytes());
    }
    let mut prg = Prg::new(&[b"pvss-dealing", seed.finalize().as_bytes()]);
    let mut batch = Batch::with_capacity(threshold + 4 * keys.len());
    let mut commitment_coefficients = vec![Scalar::ZERO; threshold];
    for (i, (share, key)) in open.iter().zip(keys).enumerate() {
        let (w1, w2) = (batch_weight(&mut prg), batch_weight(&mut prg));
        // r·G + c·X_i − A1 = 0, with X_i = Σ_k (i+1)^k·C_k.
        batch.g += w1 * share.r;
        let wc = w1 * share.c;
        for (coefficient, power) in commitment_coefficients
            .iter_mut()
            .zip(powers(i as u64 + 1, threshold))
        {
            *coefficient += wc * power;
        }
        batch.push(-w1, share.a1);
        // r·PK_i + c·Y_i − A2 = 0.
        batch.push(w2 * share.r, key.point);
        batch.push(w2 * share.c, share.y);
        batch.push(-w2, share.a2);
    }
    for (coefficient, point) in commitment_coefficients.into_iter().zip(commitments.iter()) {
        batch.push(coefficient, *point);
    }
    if batch.holds() {
        return Ok(());
    }
    for (i, (share, key)) in open.iter().zip(keys).enumerate() {
        let x = evaluate(&commitments, i);
        if !share_holds(share, key, &x) {
            return Err(PvssError::BadEncryptedShare { index: i });
        }
    }
    // A failed combination of equations that all hold is impossible; reaching here
    // would mean every equation holds after all.
    Ok(())
}

fn share_holds(share: &OpenShare, key: &PvssPublicKey, x: &RistrettoPoint) -> bool {
    RistrettoPoint::vartime_double_scalar_mul_basepoint(&share.c, x, &share.r) == share.a1
        && RistrettoPoint::vartime_multiscalar_mul([share.r, share.c], [key.point, share.y])
            == share.a2
}

/// Share `index`'s evaluation in the exponent, `X_index = Σ_k (index+1)^k·C_k`
/// (variable-time: commitments are public).
pub fn evaluate(commitments: &[RistrettoPoint], index: usize) -> RistrettoPoint {
    // Horner with a small multiplier: z ≤ 2^32, so double-and-add costs a few dozen
    // point operations instead of a full scalar multiplication per coefficient.
    let z = index as u64 + 1;
    let mut acc = RistrettoPoint::identity();
    for c in commitments.iter().rev() {
        acc = mul_small(&acc, z) + c;
    }
    acc
}

pub(super) fn mul_small(point: &RistrettoPoint, z: u64) -> RistrettoPoint {
    let mut acc = RistrettoPoint::identity();
    for bit in (0..64 - z.leading_zeros()).rev() {
        acc = acc + acc;
        if (z >> bit) & 1 == 1 {
            acc += point;
        }
    }
    acc
}

/// One share a holder checks: the dealing's commitment digest, the share's evaluation
/// `X` (compressed) and the encrypted share.
pub type HeldShare<'a> = (&'a Hash, &'a [u8; 32], &'a EncryptedShare);

/// A holder's check of its own shares (position `index` in every dealing, key `key`)
/// given each dealing's commitment digest and the share's evaluation `X_index` (the
/// DRP's `I2` carries both; that `X_index` matches the commitments is checked by whoever
/// holds them). All shares are checked in one batch; on failure the first bad one is
/// named by its place in `held`.
pub fn verify_shares(
    context: &Hash,
    index: usize,
    key: &PvssPublicKey,
    held: &[HeldShare<'_>],
) -> Result<(), (usize, PvssError)> {
    let mut seed = Domain::PvssBatch.hasher();
    seed.update(context.as_bytes());
    seed.update(&key.bytes);
    let open = held
        .iter()
        .enumerate()
        .map(|(k, (digest, evaluation, share))| {
            let open = open_share(context, digest, index, key, share).map_err(|e| (k, e))?;
            let x = decode_point(evaluation)
                .ok_or((k, PvssError::MalformedEncryptedShare { index }))?;
            seed.update(open.c.as_bytes());
            seed.update(open.r.as_bytes());
            seed.update(*evaluation);
            Ok((open, x))
        })
        .collect::<Result<Vec<_>, (usize, PvssError)>>()?;
    let mut prg = Prg::new(&[b"pvss-held", seed.finalize().as_bytes()]);
    let mut batch = Batch::with_capacity(4 * open.len() + 1);
    let mut key_coefficient = Scalar::ZERO;
    for (share, x) in &open {
        let (w1, w2) = (batch_weight(&mut prg), batch_weight(&mut prg));
        // r·G + c·X − A1 = 0.
        batch.g += w1 * share.r;
        batch.push(w1 * share.c, *x);
        batch.push(-w1, share.a1);
        // r·PK + c·Y − A2 = 0.
        key_coefficient += w2 * share.r;
        batch.push(w2 * share.c, share.y);
        batch.push(-w2, share.a2);
    }
    batch.push(key_coefficient, key.point);
    if batch.holds() {
        return Ok(());
    }
    for (k, (share, x)) in open.iter().enumerate() {
        if !share_holds(share, key, x) {
            return Err((k, PvssError::BadEncryptedShare { index }));
        }
    }
    Ok(())
}

/// [`verify_shares`] for one share.
pub fn verify_share(
    context: &Hash,
    digest: &Hash,
    index: usize,
    evaluation: &[u8; 32],
    key: &PvssPublicKey,
    share: &EncryptedShare,
) -> Result<(), PvssError> {
    verify_shares(context, index, key, &[(digest, evaluation, share)]).map_err(|(_, e)| e)
}
