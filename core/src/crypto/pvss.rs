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

use std::fmt;
use std::sync::OnceLock;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity, VartimeMultiscalarMul};
use thiserror::Error;

use crate::crypto::hash::Domain;
use crate::prg::Prg;
use crate::types::Hash;

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

fn decode_scalar(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_canonical_bytes(*bytes))
}

fn wide_scalar(domain: Domain, parts: &[&[u8]]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&domain.wide(parts))
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

// ---------------------------------------------------------------------------------------
// Keys and message signatures.

/// A participant's PVSS key `x` (with `x^{-1}` precomputed). The same key signs the
/// participant's DRP messages (Schnorr over Ristretto with base `H`,
/// [`PvssSecretKey::sign`]). `Debug` shows only the public key.
#[derive(Clone)]
pub struct PvssSecretKey {
    x: Scalar,
    x_inv: Scalar,
    public: PvssPublicKey,
}

impl fmt::Debug for PvssSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PvssSecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PvssSecretKey {
    /// Derives a key from a seed: `x = H_wide(DrpKey ‖ seed)` (re-derived with a counter
    /// in the negligible case that it is zero).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut x = wide_scalar(Domain::DrpKey, &[seed]);
        let mut counter: u64 = 0;
        while x == Scalar::ZERO {
            counter += 1;
            x = wide_scalar(Domain::DrpKey, &[seed, &counter.to_le_bytes()]);
        }
        let point = &x * &base_h().1;
        PvssSecretKey {
            x,
            x_inv: x.invert(),
            public: PvssPublicKey {
                bytes: point.compress().to_bytes(),
                point,
            },
        }
    }

    /// The public key `PK = x·H`.
    pub fn public(&self) -> &PvssPublicKey {
        &self.public
    }

    /// A Schnorr signature on `message`: `R = k·H`, `s = k + e·x` with
    /// `e = H_wide(DrpSignature ‖ R ‖ PK ‖ message)` and the deterministic nonce
    /// `k = H_wide(DrpSignatureNonce ‖ x ‖ message)` (one signer, fixed message: the
    /// same nonce always meets the same challenge, as in ed25519).
    pub fn sign(&self, message: &Hash) -> Signature {
        let k = wide_scalar(
            Domain::DrpSignatureNonce,
            &[self.x.as_bytes(), message.as_bytes()],
        );
        let r = (&k * &base_h().1).compress().to_bytes();
        let e = wide_scalar(
            Domain::DrpSignature,
            &[&r, &self.public.bytes, message.as_bytes()],
        );
        Signature {
            r,
            s: (k + e * self.x).to_bytes(),
        }
    }
}

/// A public key `PK = x·H`: a canonical Ristretto point other than the identity.
#[derive(Clone, Copy)]
pub struct PvssPublicKey {
    bytes: [u8; 32],
    point: RistrettoPoint,
}

impl PartialEq for PvssPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PvssPublicKey {}

impl fmt::Debug for PvssPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pvss-pk:")?;
        for byte in &self.bytes[..8] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…")
    }
}

impl PvssPublicKey {
    /// Decodes a key: a canonical Ristretto encoding, not the identity.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let point = decode_point(bytes)?;
        (!point.is_identity()).then_some(PvssPublicKey {
            bytes: *bytes,
            point,
        })
    }

    /// The compressed point.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// Whether `signature` is this key's signature on `message` (`s` canonical and
    /// `s·H − e·PK` encodes to `R`).
    pub fn verify(&self, message: &Hash, signature: &Signature) -> bool {
        let Some(s) = decode_scalar(&signature.s) else {
            return false;
        };
        let e = wide_scalar(
            Domain::DrpSignature,
            &[&signature.r, &self.bytes, message.as_bytes()],
        );
        let r = RistrettoPoint::vartime_multiscalar_mul([s, -e], [base_h().0, self.point]);
        r.compress().to_bytes() == signature.r
    }
}

/// A DRP message signature `(R, s)`, 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
}

impl Signature {
    /// `R ‖ s`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.r);
        out[32..].copy_from_slice(&self.s);
        out
    }

    /// Splits `R ‖ s` (checked by [`PvssPublicKey::verify`]).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Signature { r, s }
    }
}

// ---------------------------------------------------------------------------------------
// Dealing.

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
struct OpenShare {
    y: RistrettoPoint,
    a1: RistrettoPoint,
    a2: RistrettoPoint,
    r: Scalar,
    c: Scalar,
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

fn mul_small(point: &RistrettoPoint, z: u64) -> RistrettoPoint {
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

// ---------------------------------------------------------------------------------------
// Decryption and recovery.

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

#[cfg(test)]
mod tests {
    use super::*;

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
