//! CoSi: Schnorr collective signatures over edwards25519 (as in ByzCoin and OmniLedger).
//!
//! This module implements the collective signatures of PROTOCOL.md: the CoSi round of
//! the DRP (§2.1, messages `R1`/`I2`/`R2`), the shard endorsements carried by Atomix
//! proofs of acceptance and rejection (§5.3, `cosig_j` in PoA/PoR), and the final-block
//! certificates of PoB (§6, the normal league's ByzCoin-style cosignature; the two
//! ByzCoin phases, prepare and commit, are two rounds of this module over different
//! messages). The choices are those of DESIGN.md §8: Schnorr over edwards25519, one
//! signature verified against the aggregate key of the signers, with the signer bitmap.
//!
//! Why one file of about 1,060 lines before its tests: one scheme, whose seams are keys
//! and proofs of possession, rosters and signer bitmaps, the round (commitments,
//! challenge, responses, aggregation), and certificates with their verification. Not
//! split yet; the scalar helpers it shares with PVSS are in `crypto::scalar`.
//!
//! # Message flow
//!
//! One round, driven message by message (a simulator calls each step as its message
//! arrives; [`sign_round`] runs a whole honest round in one call):
//!
//! 1. **announce**: the leader announces the 32-byte message `m` (a block-header hash).
//! 2. **commit**: each participating member `i` draws a nonce `r_i` ([`commit`]) and
//!    sends its commitment `V_i = r_i·B`.
//! 3. **challenge**: the leader fixes the signer set (the members whose commitments it
//!    received, as a [`Signers`] bitmap), aggregates `R = Σ V_i`
//!    ([`aggregate_commitments`]) and the signers' key `A = Σ X_i`
//!    ([`Roster::aggregate_key`]), and broadcasts `c = H(R ‖ A ‖ signers ‖ m)`
//!    ([`challenge`]).
//! 4. **respond**: each signer answers `s_i = r_i + c·x_i` ([`respond`]); the leader can
//!    check every answer and blame a bad one on its signer ([`verify_response`]).
//! 5. **aggregate**: `s = Σ s_i` ([`aggregate_responses`]); the collective signature is
//!    `(R, s, signers)` ([`CoSignature::new`]).
//! 6. **verify**: anyone holding the roster checks `s·B == R + c·A`
//!    ([`CoSignature::verify`]): one double-scalar multiplication, whatever the number
//!    of signers.
//!
//! # Invariants
//!
//! - A cosignature is valid only if **strictly more than 2/3** of the roster signed:
//!   at least [`Roster::threshold`] `= ⌊2n/3⌋ + 1` members.
//! - The **signer bitmap is bound into the challenge** (`c` hashes the bitmap and the
//!   aggregate key), so a cosignature cannot be re-attributed to a different signer set,
//!   not even one of the same size.
//! - **Rogue-key defence: proofs of possession at registration.** A member can join a
//!   [`Roster`] only with a [`ProofOfPossession`], a Schnorr signature under its own key
//!   (domain [`Domain::CosiPossession`]). Without it an attacker could register
//!   `X' = x'·B − Σ X_j` (the honest keys being public), making the aggregate key `x'·B`,
//!   and then sign alone in the name of the whole roster. A valid proof shows its maker
//!   knows the discrete log of the key it registers, which the attacker does not for
//!   `X'`; so every registered key is one whose secret its owner knows, and the plain
//!   sum `A = Σ X_i` is sound (no per-key coefficients as in MuSig are needed). The
//!   roster also rejects non-canonical encodings, points not on the curve, keys with a
//!   small-order component and duplicate keys.
//! - Nonces are never a pure function of the message: [`commit`] takes a caller-supplied
//!   `fresh` input (see its documentation for the key-extraction attack this prevents).
//!   The crate stays deterministic: the caller owns the source of freshness.
//! - Decoding and verifying untrusted bytes never panics; every failure is a
//!   [`CosiError`].

use std::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::crypto::hash::Domain;
use crate::crypto::scalar::{decode_scalar, nonzero_from_seed, wide_scalar};

/// Why a roster, a round message or a collective signature was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum CosiError {
    /// A roster needs at least one member.
    #[error("a roster needs at least one member")]
    EmptyRoster,
    /// A member's public key is not the canonical encoding of a curve point of prime
    /// order (undecompressible, non-canonical, small-order or with a torsion component).
    #[error("roster member {index}: public key is not a canonical prime-order curve point")]
    InvalidKey {
        /// The member's position in the roster.
        index: usize,
    },
    /// A member's proof of possession does not verify under its key.
    #[error("roster member {index}: proof of possession does not verify")]
    InvalidPossession {
        /// The member's position in the roster.
        index: usize,
    },
    /// A member's key is the key of an earlier member.
    #[error("roster member {index}: duplicate public key")]
    DuplicateKey {
        /// The later member's position in the roster.
        index: usize,
    },
    /// A signer bitmap covers a different number of members than the roster has.
    #[error("signer bitmap covers {got} members, the roster has {expected}")]
    BitmapLength {
        /// Members covered by the bitmap.
        got: usize,
        /// Members in the roster.
        expected: usize,
    },
    /// An encoded signer bitmap has the wrong number of bytes for the roster.
    #[error("encoded signer bitmap has {got} bytes, expected {expected}")]
    BitmapBytes {
        /// Bytes given.
        got: usize,
        /// Bytes the roster size requires.
        expected: usize,
    },
    /// An encoded signer bitmap sets bits beyond the roster's last member.
    #[error("encoded signer bitmap sets bits beyond member {len}")]
    BitmapPadding {
        /// Members in the roster.
        len: usize,
    },
    /// Too few members signed.
    #[error("{signers} signers, at least {required} required (more than 2/3 of the roster)")]
    BelowThreshold {
        /// Members that signed.
        signers: usize,
        /// The roster's threshold.
        required: usize,
    },
    /// A collective signature is not well formed: wrong length, `R` not a canonical
    /// curve point, or `s` not a canonical scalar.
    #[error("malformed collective signature")]
    MalformedSignature,
    /// A round message (commitment, challenge or response) is not well formed.
    #[error("malformed CoSi {what}")]
    MalformedMessage {
        /// Which message.
        what: &'static str,
    },
    /// A well-formed collective signature does not verify.
    #[error("collective signature does not verify")]
    InvalidSignature,
}

// ---------------------------------------------------------------------------------------
// Encoding helpers.

/// Writes the first `n` bytes as hex followed by an ellipsis (for `Debug`).
fn write_hex_prefix(f: &mut fmt::Formatter<'_>, bytes: &[u8], n: usize) -> fmt::Result {
    for byte in bytes.iter().take(n) {
        write!(f, "{byte:02x}")?;
    }
    f.write_str("…")
}

/// Whether `bytes` is the canonical encoding of its point, if it is one: the
/// `y`-coordinate is below `p = 2^255 − 19`, and the sign bit is clear when `x = 0`
/// (`y = ±1`). Equivalent to `decompress(bytes).compress() == bytes` for decompressible
/// inputs, without the field inversion of a compression.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let high = bytes[31] & 0x7f;
    let sign = bytes[31] >> 7 == 1;
    let middle_all_ones = bytes[1..31].iter().all(|&b| b == 0xff);
    // y >= p  ⇔  y ∈ [2^255 − 19, 2^255 − 1].
    if high == 0x7f && middle_all_ones && bytes[0] >= 0xed {
        return false;
    }
    if sign {
        let is_one = bytes[0] == 1 && high == 0 && bytes[1..31].iter().all(|&b| b == 0);
        let is_minus_one = bytes[0] == 0xec && high == 0x7f && middle_all_ones;
        if is_one || is_minus_one {
            return false;
        }
    }
    true
}

/// Decodes a canonically encoded curve point (any order).
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !is_canonical_encoding(bytes) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// Decodes a public key: a canonically encoded point of the prime-order subgroup, not
/// the identity.
fn decode_key(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    decode_point(bytes).filter(|point| !point.is_small_order() && point.is_torsion_free())
}

// ---------------------------------------------------------------------------------------
// Keys and proofs of possession.

/// A validator's CoSi key pair: secret scalar `x` and public key `X = x·B` (compressed;
/// the decompressed points live in the [`Roster`]). `Debug` shows only the public key.
#[derive(Clone)]
pub struct ValidatorKey {
    secret: Scalar,
    public: PublicKey,
}

impl fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl ValidatorKey {
    /// Derives a key from a 32-byte seed: `x = H_wide(ValidatorKey ‖ seed) mod ℓ`
    /// (re-derived with a counter in the negligible case that it is zero, so `x ≠ 0`).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let secret = nonzero_from_seed(Domain::ValidatorKey, seed);
        let public = PublicKey(EdwardsPoint::mul_base(&secret).compress().to_bytes());
        ValidatorKey { secret, public }
    }

    /// The public key `X = x·B`, compressed.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// A proof that the holder of this key knows its secret: a Schnorr signature over
    /// the public key itself, `(R = k·B, s = k + c·x)` with
    /// `c = H_wide(CosiPossession ‖ R ‖ X)`.
    ///
    /// The nonce is deterministic, `k = H_wide(CosiNonce ‖ x ‖ X)`: the message is fixed
    /// (the key itself) and the challenge depends on nothing anybody else controls, so
    /// the same nonce is always used with the same challenge. (Its input is 64 bytes,
    /// round nonces hash 96, so the two never coincide.)
    pub fn prove_possession(&self) -> ProofOfPossession {
        let k = wide_scalar(
            Domain::CosiNonce,
            &[self.secret.as_bytes(), self.public.as_bytes()],
        );
        let r = EdwardsPoint::mul_base(&k).compress().to_bytes();
        let c = possession_challenge(&r, self.public.as_bytes());
        let s = k + c * self.secret;
        ProofOfPossession { r, s: s.to_bytes() }
    }
}

/// A validator's public CoSi key: the compressed point `X` (32 bytes). Any 32 bytes can
/// be held here; [`Roster::new`] checks that they are a valid key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps 32 bytes (not checked; see [`Roster::new`]).
    pub const fn from_bytes(bytes: &[u8; 32]) -> Self {
        PublicKey(*bytes)
    }

    /// The compressed point.
    pub const fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The compressed point, borrowed.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cosi-pk:")?;
        write_hex_prefix(f, &self.0, 8)
    }
}

/// `c = H_wide(CosiPossession ‖ R ‖ X)` of a proof of possession.
fn possession_challenge(r: &[u8; 32], key: &[u8; 32]) -> Scalar {
    wide_scalar(Domain::CosiPossession, &[r, key])
}

/// A proof of possession of a validator key: a Schnorr signature `(R, s)` over the key
/// under [`Domain::CosiPossession`] (see [`ValidatorKey::prove_possession`]). Encoded as
/// `R ‖ s`, 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProofOfPossession {
    r: [u8; 32],
    s: [u8; 32],
}

impl ProofOfPossession {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 64;

    /// `R ‖ s`.
    pub fn to_bytes(&self) -> [u8; 64] {
        crate::crypto::scalar::join_rs(&self.r, &self.s)
    }

    /// Splits `R ‖ s` (not checked here; [`ProofOfPossession::verify`] checks).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let (r, s) = crate::crypto::scalar::split_rs(bytes);
        ProofOfPossession { r, s }
    }

    /// Whether this proves possession of `key` (which must itself be a valid key).
    pub fn verify(&self, key: &PublicKey) -> bool {
        decode_key(key.as_bytes()).is_some_and(|point| self.verify_point(&point, key))
    }

    /// `s·B == R + c·X`, with `R` and `s` canonical; `point` is `key` decompressed.
    fn verify_point(&self, point: &EdwardsPoint, key: &PublicKey) -> bool {
        let (Some(s), Some(r)) = (decode_scalar(&self.s), decode_point(&self.r)) else {
            return false;
        };
        let c = possession_challenge(&self.r, key.as_bytes());
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&c, &-point, &s) == r
    }
}

impl fmt::Debug for ProofOfPossession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PoP(R=")?;
        write_hex_prefix(f, &self.r, 4)?;
        f.write_str(", s=")?;
        write_hex_prefix(f, &self.s, 4)?;
        f.write_str(")")
    }
}

// ---------------------------------------------------------------------------------------
// Roster.

/// The validators that cosign (a shard's roster, or its normal league, in an epoch):
/// registered keys in order, decompressed, with the aggregate of all of them
/// precomputed. Built only from keys with valid proofs of possession.
#[derive(Clone)]
pub struct Roster {
    keys: Vec<PublicKey>,
    points: Vec<EdwardsPoint>,
    index: FxHashMap<PublicKey, usize>,
    total: EdwardsPoint,
    total_compressed: [u8; 32],
}

impl fmt::Debug for Roster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roster")
            .field("len", &self.len())
            .field("threshold", &self.threshold())
            .field("aggregate", &PublicKey(self.total_compressed))
            .finish_non_exhaustive()
    }
}

impl Roster {
    /// Registers `members` in order (member `i` is roster index `i`). Every key must be
    /// the canonical encoding of a prime-order point (not the identity), carry a valid
    /// proof of possession, and appear once; the first failure is reported with the
    /// index of its member.
    pub fn new(members: &[(PublicKey, ProofOfPossession)]) -> Result<Roster, CosiError> {
        Self::build(members, true)
    }

    /// [`Roster::new`], with the proof-of-possession check optional (`false` only in
    /// tests, to show what the check defends against).
    fn build(
        members: &[(PublicKey, ProofOfPossession)],
        check_possession: bool,
    ) -> Result<Roster, CosiError> {
        if members.is_empty() {
            return Err(CosiError::EmptyRoster);
        }
        let mut keys = Vec::with_capacity(members.len());
        let mut points = Vec::with_capacity(members.len());
        let mut index = FxHashMap::with_capacity_and_hasher(members.len(), Default::default());
        for (i, (key, proof)) in members.iter().enumerate() {
            let point = decode_key(key.as_bytes()).ok_or(CosiError::InvalidKey { index: i })?;
            if check_possession && !proof.verify_point(&point, key) {
                return Err(CosiError::InvalidPossession { index: i });
            }
            // Encodings are canonical, so equal points have equal bytes.
            if index.insert(*key, i).is_some() {
                return Err(CosiError::DuplicateKey { index: i });
            }
            keys.push(*key);
            points.push(point);
        }
        let total: EdwardsPoint = points.iter().sum();
        Ok(Roster {
            keys,
            points,
            index,
            total,
            total_compressed: total.compress().to_bytes(),
        })
    }

    /// Number of members `n`.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the roster has no members (never true: [`Roster::new`] rejects that).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fewest signers of a valid cosignature: `⌊2n/3⌋ + 1`, strictly more than 2/3.
    pub fn threshold(&self) -> usize {
        threshold_of(self.len())
    }

    /// Member `i`'s public key. Panics if `i >= len()`.
    pub fn public(&self, i: usize) -> PublicKey {
        self.keys[i]
    }

    /// All members' keys, in roster order.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The roster index of `key`, if it is a member.
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The aggregate key `A = Σ X_i` of the members in `signers`.
    pub fn aggregate_key(&self, signers: &Signers) -> Result<AggregateKey, CosiError> {
        self.check_bitmap(signers)?;
        Ok(self.aggregate_key_unchecked(signers))
    }

    fn check_bitmap(&self, signers: &Signers) -> Result<(), CosiError> {
        if signers.len() != self.len() {
            return Err(CosiError::BitmapLength {
                got: signers.len(),
                expected: self.len(),
            });
        }
        Ok(())
    }

    /// `A` for a bitmap of the roster's length. When more than half the roster signs,
    /// starts from the precomputed total and subtracts the absentees, so the cost is
    /// `min(signers, absentees)` point additions (none when everyone signs).
    fn aggregate_key_unchecked(&self, signers: &Signers) -> AggregateKey {
        debug_assert_eq!(signers.len(), self.len());
        let count = signers.count();
        if count == self.len() {
            return AggregateKey {
                point: self.total,
                compressed: self.total_compressed,
            };
        }
        let point = if 2 * count > self.len() {
            let mut point = self.total;
            for i in signers.absent() {
                point -= self.points[i];
            }
            point
        } else {
            signers.iter().map(|i| self.points[i]).sum()
        };
        AggregateKey {
            point,
            compressed: point.compress().to_bytes(),
        }
    }
}

/// `⌊2n/3⌋ + 1`.
const fn threshold_of(n: usize) -> usize {
    2 * n / 3 + 1
}

/// The aggregate public key `A = Σ X_i` of a signer set, with its compression.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AggregateKey {
    point: EdwardsPoint,
    compressed: [u8; 32],
}

impl AggregateKey {
    /// `A`, compressed.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.compressed
    }
}

impl fmt::Debug for AggregateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AggregateKey(")?;
        write_hex_prefix(f, &self.compressed, 8)?;
        f.write_str(")")
    }
}

// ---------------------------------------------------------------------------------------
// Signer bitmap.

/// Which roster members signed: a bitmap over roster indices `0..len`.
///
/// Canonical encoding: `⌈len/8⌉` bytes, member `i` at bit `i % 8` (least significant
/// first) of byte `i / 8`, unused high bits of the last byte zero. The length itself is
/// not encoded: it is the roster's.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signers {
    len: usize,
    /// Bit `i % 64` of word `i / 64` is member `i`; bits at or beyond `len` are zero.
    words: Vec<u64>,
}

impl fmt::Debug for Signers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signers({}/{}: ", self.count(), self.len)?;
        f.debug_list().entries(self.iter()).finish()?;
        f.write_str(")")
    }
}

/// Iterates the set bits of one word, offset by `base`.
struct Bits {
    word: u64,
    base: usize,
}

impl Iterator for Bits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.word == 0 {
            return None;
        }
        let bit = self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some(self.base + bit)
    }
}

impl Signers {
    /// No member of a roster of `len`.
    pub fn new(len: usize) -> Self {
        Signers {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// Every member of a roster of `len`.
    pub fn all(len: usize) -> Self {
        let mut signers = Signers {
            len,
            words: vec![u64::MAX; len.div_ceil(64)],
        };
        if let Some(last) = signers.words.last_mut() {
            *last &= Self::last_word_mask(len);
        }
        signers
    }

    /// The members listed in `indices`. Panics if one is `>= len`.
    pub fn from_indices(len: usize, indices: impl IntoIterator<Item = usize>) -> Self {
        let mut signers = Signers::new(len);
        for i in indices {
            signers.set(i);
        }
        signers
    }

    /// The valid bits of the last word of a bitmap of `len` members.
    fn last_word_mask(len: usize) -> u64 {
        match len % 64 {
            0 => u64::MAX,
            rem => (1u64 << rem) - 1,
        }
    }

    /// Marks member `i` as a signer. Panics if `i >= len()` (a caller bug).
    pub fn set(&mut self, i: usize) {
        assert!(i < self.len, "signer {i} outside a roster of {}", self.len);
        self.words[i / 64] |= 1u64 << (i % 64);
    }

    /// Marks member `i` as absent. Panics if `i >= len()`.
    pub fn remove(&mut self, i: usize) {
        assert!(i < self.len, "signer {i} outside a roster of {}", self.len);
        self.words[i / 64] &= !(1u64 << (i % 64));
    }

    /// Whether member `i` signed (`false` for `i >= len()`).
    pub fn contains(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Number of signers.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Size of the roster the bitmap covers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the bitmap covers no member at all (`len() == 0`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The signers' indices, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| Bits { word, base: w * 64 })
    }

    /// The absentees' indices, ascending.
    fn absent(&self) -> impl Iterator<Item = usize> + '_ {
        let last = self.words.len().saturating_sub(1);
        let mask = Self::last_word_mask(self.len);
        self.words
            .iter()
            .enumerate()
            .flat_map(move |(w, &word)| Bits {
                word: !word & if w == last { mask } else { u64::MAX },
                base: w * 64,
            })
    }

    /// Encoded size of a bitmap over `len` members: `⌈len/8⌉`.
    pub const fn encoded_len(len: usize) -> usize {
        len.div_ceil(8)
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let end = out.len() + Self::encoded_len(self.len);
        for word in &self.words {
            out.extend_from_slice(&word.to_le_bytes());
        }
        // The bytes cut off are beyond `len`, hence zero.
        out.truncate(end);
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::encoded_len(self.len));
        self.encode(&mut out);
        out
    }

    /// Feeds the canonical encoding to `hasher` without allocating.
    fn absorb(&self, hasher: &mut blake3::Hasher) {
        let mut remaining = Self::encoded_len(self.len);
        for word in &self.words {
            let take = remaining.min(8);
            hasher.update(&word.to_le_bytes()[..take]);
            remaining -= take;
        }
    }

    /// Decodes a bitmap over a roster of `roster_len` members, rejecting a wrong length
    /// and set bits beyond the last member (so the encoding is canonical).
    pub fn from_bytes(bytes: &[u8], roster_len: usize) -> Result<Self, CosiError> {
        let expected = Self::encoded_len(roster_len);
        if bytes.len() != expected {
            return Err(CosiError::BitmapBytes {
                got: bytes.len(),
                expected,
            });
        }
        if !roster_len.is_multiple_of(8) && bytes[expected - 1] >> (roster_len % 8) != 0 {
            return Err(CosiError::BitmapPadding { len: roster_len });
        }
        let mut signers = Signers::new(roster_len);
        for (i, &byte) in bytes.iter().enumerate() {
            signers.words[i / 8] |= u64::from(byte) << (8 * (i % 8));
        }
        Ok(signers)
    }
}

// ---------------------------------------------------------------------------------------
// The round.

/// A signer's secret nonce `r_i` for one round. Not `Clone`: it is used exactly once, by
/// [`respond`], which consumes it. `Debug` does not show it.
pub struct Nonce {
    r: Scalar,
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(<secret>)")
    }
}

/// A signer's commitment `V_i = r_i·B`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Commitment(EdwardsPoint);

impl Commitment {
    /// `V_i`, compressed (the round message).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }

    /// Decodes a canonically encoded curve point. A commitment with a small-order
    /// component decodes but can never yield a valid response ([`verify_response`]
    /// blames its signer).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CosiError> {
        decode_point(bytes)
            .map(Commitment)
            .ok_or(CosiError::MalformedMessage { what: "commitment" })
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Commitment(")?;
        write_hex_prefix(f, &self.to_bytes(), 8)?;
        f.write_str(")")
    }
}

/// Step 2, **commit**: member `key` draws its nonce for signing `message` and commits
/// to it. Returns the secret [`Nonce`] (kept until [`respond`]) and the public
/// [`Commitment`] `V = r·B` (sent to the leader).
///
/// `r = H_wide(CosiNonce ‖ x ‖ message ‖ fresh) mod ℓ`.
///
/// **`fresh` must be different for every signing attempt by this key on this message**
/// (a round counter, or bytes from the simulator's seeded PRG; it need not be secret,
/// since the secret `x` is hashed in). Deterministic nonces, `r = H(x ‖ m)` as in
/// single-signer ed25519, are unsafe in a multi-signature: the challenge
/// `c = H(R ‖ A ‖ signers ‖ m)` depends on the other signers' commitments, so a
/// malicious co-signer can abort a round and restart it on the same message with a
/// different commitment of its own. The honest signer would then answer two different
/// challenges `c ≠ c'` with the same `r`, and `x = (s − s') / (c − c')` follows. With a
/// fresh input each attempt uses an independent nonce.
pub fn commit(key: &ValidatorKey, message: &[u8; 32], fresh: &[u8; 32]) -> (Nonce, Commitment) {
    let r = wide_scalar(Domain::CosiNonce, &[key.secret.as_bytes(), message, fresh]);
    (Nonce { r }, Commitment(EdwardsPoint::mul_base(&r)))
}

/// The aggregate commitment `R = Σ V_i` of the signers, with its compression.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AggregateCommitment {
    point: EdwardsPoint,
    compressed: [u8; 32],
}

impl AggregateCommitment {
    fn from_point(point: EdwardsPoint) -> Self {
        AggregateCommitment {
            point,
            compressed: point.compress().to_bytes(),
        }
    }

    /// `R`, compressed.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.compressed
    }
}

impl fmt::Debug for AggregateCommitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AggregateCommitment(")?;
        write_hex_prefix(f, &self.compressed, 8)?;
        f.write_str(")")
    }
}

/// Step 3a (leader): `R = Σ V_i` over the commitments of the signers.
pub fn aggregate_commitments<'a>(
    commitments: impl IntoIterator<Item = &'a Commitment>,
) -> AggregateCommitment {
    let point: EdwardsPoint = commitments.into_iter().map(|v| v.0).sum();
    AggregateCommitment::from_point(point)
}

/// The challenge `c` of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge(Scalar);

impl Challenge {
    /// `c`, canonical little-endian (the round message).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Decodes a canonical scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CosiError> {
        decode_scalar(bytes)
            .map(Challenge)
            .ok_or(CosiError::MalformedMessage { what: "challenge" })
    }
}

/// `c = H_wide(CosiChallenge ‖ R ‖ A ‖ signers ‖ m) mod ℓ`.
fn challenge_scalar(
    commitment: &[u8; 32],
    aggregate_key: &[u8; 32],
    signers: &Signers,
    message: &[u8; 32],
) -> Scalar {
    let mut hasher = Domain::CosiChallenge.hasher();
    hasher.update(commitment);
    hasher.update(aggregate_key);
    signers.absorb(&mut hasher);
    hasher.update(message);
    let mut wide = [0u8; 64];
    hasher.finalize_xof().fill(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Step 3b (leader): the challenge `c = H_wide(CosiChallenge ‖ R ‖ A ‖ signers ‖ m)`,
/// binding the aggregate commitment, the signers' aggregate key, the signer bitmap and
/// the message. (Equal to `Domain::CosiChallenge.wide(&[R, A, signers.to_bytes(), m])`
/// reduced mod ℓ.)
pub fn challenge(
    aggregate_commitment: &AggregateCommitment,
    aggregate_key: &AggregateKey,
    signers: &Signers,
    message: &[u8; 32],
) -> Challenge {
    Challenge(challenge_scalar(
        &aggregate_commitment.compressed,
        &aggregate_key.compressed,
        signers,
        message,
    ))
}

/// A signer's response `s_i = r_i + c·x_i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response(Scalar);

impl Response {
    /// `s_i`, canonical little-endian (the round message).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Decodes a canonical scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CosiError> {
        decode_scalar(bytes)
            .map(Response)
            .ok_or(CosiError::MalformedMessage { what: "response" })
    }
}

/// Step 4, **respond**: `s_i = r_i + c·x_i`. Consumes the nonce, so it answers one
/// challenge only.
pub fn respond(key: &ValidatorKey, nonce: Nonce, challenge: &Challenge) -> Response {
    Response(nonce.r + challenge.0 * key.secret)
}

/// Step 4b (leader): whether member `index`'s response fits its commitment,
/// `s_i·B == V_i + c·X_i`. A `false` names the member that broke the round (also for
/// `index` outside the roster).
pub fn verify_response(
    roster: &Roster,
    index: usize,
    commitment: &Commitment,
    challenge: &Challenge,
    response: &Response,
) -> bool {
    let Some(point) = roster.points.get(index) else {
        return false;
    };
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&challenge.0, &-point, &response.0)
        == commitment.0
}

/// The aggregate response `s = Σ s_i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregateResponse(Scalar);

impl AggregateResponse {
    /// `s`, canonical little-endian.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

/// Step 5a (leader): `s = Σ s_i` over the signers' responses.
pub fn aggregate_responses<'a>(
    responses: impl IntoIterator<Item = &'a Response>,
) -> AggregateResponse {
    AggregateResponse(responses.into_iter().map(|s| s.0).sum())
}

/// Derives member `index`'s fresh nonce input from a round's `fresh` bytes:
/// `blake3_keyed(fresh, index as u64 LE)`.
fn member_fresh(fresh: &[u8; 32], index: usize) -> [u8; 32] {
    *blake3::keyed_hash(fresh, &(index as u64).to_le_bytes()).as_bytes()
}

/// Runs a whole honest round: every member in `signers` commits (with a fresh input
/// derived from `fresh` and its index), the leader aggregates the commitments and the
/// signers' key and computes the one challenge, every signer responds, and the leader
/// aggregates the responses. The result is exactly what the step-by-step round gives
/// with the same inputs.
///
/// Every member's work is done for real (one fixed-base multiplication each for its
/// commitment, a scalar multiply-add for its response), as a real roster would.
/// `fresh` must differ between rounds on the same message (see [`commit`]).
///
/// Panics (caller bugs) if `keys` or `signers` do not have the roster's length, or if a
/// signer's key is not the roster's key at its index.
pub fn sign_round(
    roster: &Roster,
    keys: &[ValidatorKey],
    signers: &Signers,
    message: &[u8; 32],
    fresh: &[u8; 32],
) -> CoSignature {
    assert_eq!(keys.len(), roster.len(), "one key per roster member");
    assert_eq!(
        signers.len(),
        roster.len(),
        "signer bitmap sized to the roster"
    );
    let mut nonces = Vec::with_capacity(signers.count());
    let mut commitment_sum = EdwardsPoint::identity();
    for i in signers.iter() {
        let key = &keys[i];
        assert!(
            key.public == roster.keys[i],
            "keys[{i}] is not the key of roster member {i}"
        );
        let (nonce, commitment) = commit(key, message, &member_fresh(fresh, i));
        commitment_sum += commitment.0;
        nonces.push((i, nonce));
    }
    let aggregate_commitment = AggregateCommitment::from_point(commitment_sum);
    let aggregate_key = roster.aggregate_key_unchecked(signers);
    let c = challenge(&aggregate_commitment, &aggregate_key, signers, message);
    let s: Scalar = nonces
        .into_iter()
        .map(|(i, nonce)| respond(&keys[i], nonce, &c).0)
        .sum();
    CoSignature {
        commitment: aggregate_commitment.compressed,
        response: s.to_bytes(),
        signers: signers.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// The collective signature.

/// A collective signature: `(R, s, signers)` with `s·B == R + c·A`, where `A` is the
/// aggregate key of `signers` and `c = H_wide(CosiChallenge ‖ R ‖ A ‖ signers ‖ m)`.
///
/// Encoded as `R (32) ‖ s (32) ‖ signer bitmap (⌈n/8⌉)`, 73 bytes for a roster of 72.
/// The fields are plain bytes, as received; [`CoSignature::verify`] checks everything.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CoSignature {
    /// The aggregate commitment `R`, compressed.
    pub commitment: [u8; 32],
    /// The aggregate response `s`, a canonical scalar.
    pub response: [u8; 32],
    /// The members that signed.
    pub signers: Signers,
}

impl fmt::Debug for CoSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CoSignature { R: ")?;
        write_hex_prefix(f, &self.commitment, 8)?;
        f.write_str(", s: ")?;
        write_hex_prefix(f, &self.response, 8)?;
        write!(f, ", signers: {:?} }}", self.signers)
    }
}

impl CoSignature {
    /// Step 5b (leader): assembles the collective signature.
    pub fn new(
        commitment: &AggregateCommitment,
        response: &AggregateResponse,
        signers: Signers,
    ) -> Self {
        CoSignature {
            commitment: commitment.compressed,
            response: response.0.to_bytes(),
            signers,
        }
    }

    /// Step 6: verifies this cosignature of `message` by `roster`: the bitmap covers the
    /// roster, at least [`Roster::threshold`] members signed, `R` and `s` are canonical,
    /// and `s·B == R + c·A` for the signers' aggregate key `A`.
    pub fn verify(&self, roster: &Roster, message: &[u8; 32]) -> Result<(), CosiError> {
        roster.check_bitmap(&self.signers)?;
        let signers = self.signers.count();
        let required = roster.threshold();
        if signers < required {
            return Err(CosiError::BelowThreshold { signers, required });
        }
        let s = decode_scalar(&self.response).ok_or(CosiError::MalformedSignature)?;
        let r = decode_point(&self.commitment).ok_or(CosiError::MalformedSignature)?;
        let aggregate_key = roster.aggregate_key_unchecked(&self.signers);
        let c = challenge_scalar(
            &self.commitment,
            &aggregate_key.compressed,
            &self.signers,
            message,
        );
        // s·B − c·A == R  ⇔  s·B == R + c·A.
        let check =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&c, &-aggregate_key.point, &s);
        if check == r {
            Ok(())
        } else {
            Err(CosiError::InvalidSignature)
        }
    }

    /// Encoded size for a roster of `roster_len` members: `64 + ⌈roster_len/8⌉`.
    pub const fn encoded_len(roster_len: usize) -> usize {
        64 + Signers::encoded_len(roster_len)
    }

    /// Appends `R ‖ s ‖ bitmap` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.commitment);
        out.extend_from_slice(&self.response);
        self.signers.encode(out);
    }

    /// `R ‖ s ‖ bitmap`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::encoded_len(self.signers.len()));
        self.encode(&mut out);
        out
    }

    /// Decodes exactly `R ‖ s ‖ bitmap` for a roster of `roster_len` members. Checks the
    /// lengths, the bitmap's canonical form, that `s` is a canonical scalar and that `R`
    /// is a canonical encoding; whether `R` is on the curve is left to
    /// [`CoSignature::verify`] (decompression is its expensive part).
    pub fn from_bytes(bytes: &[u8], roster_len: usize) -> Result<Self, CosiError> {
        if bytes.len() < 64 {
            return Err(CosiError::MalformedSignature);
        }
        let (head, bitmap) = bytes.split_at(64);
        let signers = Signers::from_bytes(bitmap, roster_len)?;
        let mut commitment = [0u8; 32];
        let mut response = [0u8; 32];
        commitment.copy_from_slice(&head[..32]);
        response.copy_from_slice(&head[32..]);
        if !is_canonical_encoding(&commitment) || decode_scalar(&response).is_none() {
            return Err(CosiError::MalformedSignature);
        }
        Ok(CoSignature {
            commitment,
            response,
            signers,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use curve25519_dalek::constants::EIGHT_TORSION;
    use proptest::prelude::*;

    use super::*;

    const MESSAGE: [u8; 32] = [0x42; 32];
    const FRESH: [u8; 32] = [0x17; 32];
    /// Largest roster the tests build.
    const MAX_MEMBERS: usize = 40;

    fn seed(i: usize) -> [u8; 32] {
        let mut seed = [0xa5; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        seed
    }

    /// Keys and proofs of possession of members `0..MAX_MEMBERS`, derived once (key
    /// derivation is the slow part of the tests in debug builds).
    fn members() -> &'static [(ValidatorKey, ProofOfPossession)] {
        static MEMBERS: OnceLock<Vec<(ValidatorKey, ProofOfPossession)>> = OnceLock::new();
        MEMBERS.get_or_init(|| {
            (0..MAX_MEMBERS)
                .map(|i| {
                    let key = ValidatorKey::from_seed(&seed(i));
                    let proof = key.prove_possession();
                    (key, proof)
                })
                .collect()
        })
    }

    fn registration(n: usize) -> Vec<(PublicKey, ProofOfPossession)> {
        members()[..n]
            .iter()
            .map(|(key, proof)| (key.public(), *proof))
            .collect()
    }

    /// A roster of the first `n` test members and their keys.
    fn setup(n: usize) -> (Roster, Vec<ValidatorKey>) {
        let roster = Roster::new(&registration(n)).expect("honest members register");
        let keys = members()[..n].iter().map(|(key, _)| key.clone()).collect();
        (roster, keys)
    }

    fn flip(bytes: &mut [u8; 32], at: usize) {
        bytes[at] ^= 0x01;
    }

    #[test]
    fn threshold_is_strictly_more_than_two_thirds() {
        for n in 1..=300 {
            let t = threshold_of(n);
            assert!(3 * t > 2 * n, "n={n}: {t} is not more than 2/3");
            assert!(3 * (t - 1) <= 2 * n, "n={n}: {t} is not the smallest such");
        }
        assert_eq!(threshold_of(72), 49);
        assert_eq!(threshold_of(4), 3);
        assert_eq!(threshold_of(3), 3);
        assert_eq!(setup(10).0.threshold(), 7);
    }

    #[test]
    fn cosignature_with_all_signers_verifies() {
        let (roster, keys) = setup(10);
        let cosig = sign_round(&roster, &keys, &Signers::all(10), &MESSAGE, &FRESH);
        assert_eq!(cosig.verify(&roster, &MESSAGE), Ok(()));
    }

    #[test]
    fn cosignature_with_exactly_threshold_signers_verifies() {
        let (roster, keys) = setup(10);
        // Absentees spread out: members 1, 4 and 8 do not sign.
        let signers = Signers::from_indices(10, [0, 2, 3, 5, 6, 7, 9]);
        assert_eq!(signers.count(), roster.threshold());
        let cosig = sign_round(&roster, &keys, &signers, &MESSAGE, &FRESH);
        assert_eq!(cosig.verify(&roster, &MESSAGE), Ok(()));
    }

    #[test]
    fn below_threshold_signer_set_is_rejected() {
        let (roster, keys) = setup(10);
        let signers = Signers::from_indices(10, 0..6);
        let cosig = sign_round(&roster, &keys, &signers, &MESSAGE, &FRESH);
        assert_eq!(
            cosig.verify(&roster, &MESSAGE),
            Err(CosiError::BelowThreshold {
                signers: 6,
                required: 7
            })
        );
        // The signature is otherwise sound: the check that refuses it is the threshold.
        let aggregate_key = roster.aggregate_key(&signers).unwrap();
        let r = decode_point(&cosig.commitment).unwrap();
        let s = decode_scalar(&cosig.response).unwrap();
        let c = challenge_scalar(
            &cosig.commitment,
            &aggregate_key.compressed,
            &signers,
            &MESSAGE,
        );
        assert_eq!(
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&c, &-aggregate_key.point, &s),
            r
        );
    }

    #[test]
    fn step_by_step_round_equals_sign_round_and_every_response_checks_out() {
        let (roster, keys) = setup(9);
        let signers = Signers::from_indices(9, [0, 1, 2, 4, 5, 7, 8]);
        let mut nonces = Vec::new();
        let mut commitments = Vec::new();
        for i in signers.iter() {
            // Commitments travel as bytes.
            let (nonce, commitment) = commit(&keys[i], &MESSAGE, &member_fresh(&FRESH, i));
            let commitment = Commitment::from_bytes(&commitment.to_bytes()).unwrap();
            nonces.push((i, nonce));
            commitments.push((i, commitment));
        }
        let aggregate_commitment = aggregate_commitments(commitments.iter().map(|(_, v)| v));
        let aggregate_key = roster.aggregate_key(&signers).unwrap();
        let c = challenge(&aggregate_commitment, &aggregate_key, &signers, &MESSAGE);
        // The documented formula.
        let expected = Scalar::from_bytes_mod_order_wide(&Domain::CosiChallenge.wide(&[
            &aggregate_commitment.to_bytes(),
            &aggregate_key.to_bytes(),
            &signers.to_bytes(),
            &MESSAGE,
        ]));
        assert_eq!(c, Challenge(expected));
        let c = Challenge::from_bytes(&c.to_bytes()).unwrap();
        let mut responses = Vec::new();
        for ((i, nonce), (_, commitment)) in nonces.into_iter().zip(&commitments) {
            let response = Response::from_bytes(&respond(&keys[i], nonce, &c).to_bytes()).unwrap();
            assert!(verify_response(&roster, i, commitment, &c, &response));
            responses.push(response);
        }
        let s = aggregate_responses(&responses);
        let cosig = CoSignature::new(&aggregate_commitment, &s, signers.clone());
        assert_eq!(cosig.verify(&roster, &MESSAGE), Ok(()));
        assert_eq!(
            cosig,
            sign_round(&roster, &keys, &signers, &MESSAGE, &FRESH)
        );
    }

    #[test]
    fn forged_response_is_rejected() {
        let (roster, keys) = setup(7);
        let cosig = sign_round(&roster, &keys, &Signers::all(7), &MESSAGE, &FRESH);

        let mut flipped = cosig.clone();
        flip(&mut flipped.response, 3);
        assert_eq!(
            flipped.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );

        let mut plus_one = cosig.clone();
        let s = decode_scalar(&cosig.response).unwrap() + Scalar::ONE;
        plus_one.response = s.to_bytes();
        assert_eq!(
            plus_one.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );

        // s + ℓ: the same scalar mod ℓ, but not canonical.
        let mut plus_order = cosig.clone();
        plus_order.response = add_group_order(&cosig.response);
        assert_eq!(
            plus_order.verify(&roster, &MESSAGE),
            Err(CosiError::MalformedSignature)
        );

        let mut other_commitment = cosig.clone();
        other_commitment.commitment = EdwardsPoint::mul_base(&Scalar::from(5u64))
            .compress()
            .to_bytes();
        assert_eq!(
            other_commitment.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );
    }

    /// `bytes + ℓ` as a 256-bit little-endian integer (fits for `bytes < ℓ`).
    fn add_group_order(bytes: &[u8; 32]) -> [u8; 32] {
        const ORDER: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(bytes[i]) + u16::from(ORDER[i]) + carry;
            out[i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        out
    }

    #[test]
    fn wrong_bitmap_is_rejected() {
        let (roster, keys) = setup(10);
        let signers = Signers::from_indices(10, 0..8);
        let cosig = sign_round(&roster, &keys, &signers, &MESSAGE, &FRESH);
        assert_eq!(cosig.verify(&roster, &MESSAGE), Ok(()));

        // Same size, different members: 0..7 and 8 instead of 0..8.
        let mut swapped = cosig.clone();
        swapped.signers.remove(7);
        swapped.signers.set(8);
        assert_eq!(swapped.signers.count(), signers.count());
        assert_eq!(
            swapped.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );

        // An extra member claimed who did not sign.
        let mut extra = cosig.clone();
        extra.signers.set(9);
        assert_eq!(
            extra.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );

        // A member dropped (still above threshold).
        let mut dropped = cosig.clone();
        dropped.signers.remove(0);
        assert_eq!(
            dropped.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );

        // A bitmap for another roster size.
        let mut resized = cosig.clone();
        resized.signers = Signers::all(11);
        assert_eq!(
            resized.verify(&roster, &MESSAGE),
            Err(CosiError::BitmapLength {
                got: 11,
                expected: 10
            })
        );
    }

    #[test]
    fn signature_over_other_message_is_rejected() {
        let (roster, keys) = setup(7);
        let cosig = sign_round(&roster, &keys, &Signers::all(7), &MESSAGE, &FRESH);
        let mut other = MESSAGE;
        other[31] ^= 0x80;
        assert_eq!(
            cosig.verify(&roster, &other),
            Err(CosiError::InvalidSignature)
        );
    }

    #[test]
    fn signature_under_other_roster_is_rejected() {
        let (roster, keys) = setup(7);
        let cosig = sign_round(&roster, &keys, &Signers::all(7), &MESSAGE, &FRESH);
        let mut others = registration(8);
        others.remove(0);
        let other_roster = Roster::new(&others).unwrap();
        assert_eq!(
            cosig.verify(&other_roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );
    }

    #[test]
    fn rogue_key_without_possession_proof_is_rejected_at_registration() {
        let honest = registration(4);
        let honest_sum: EdwardsPoint = honest
            .iter()
            .map(|(key, _)| decode_key(key.as_bytes()).unwrap())
            .sum();

        // The attacker knows x' and registers X' = x'·B − Σ X_j: the aggregate key of the
        // full roster becomes x'·B, whose discrete log the attacker knows.
        let attacker_secret = wide_scalar(Domain::ValidatorKey, &[b"attacker"]);
        let rogue_point = EdwardsPoint::mul_base(&attacker_secret) - honest_sum;
        let rogue_key = PublicKey(rogue_point.compress().to_bytes());
        // Its best attempt at a proof: a Schnorr signature made with x', which is not the
        // discrete log of X'.
        let k = Scalar::from(7u64);
        let r = EdwardsPoint::mul_base(&k).compress().to_bytes();
        let c = possession_challenge(&r, rogue_key.as_bytes());
        let fake_proof = ProofOfPossession {
            r,
            s: (k + c * attacker_secret).to_bytes(),
        };
        assert!(!fake_proof.verify(&rogue_key));
        // Replaying an honest member's proof does not help either.
        assert!(!honest[0].1.verify(&rogue_key));

        let mut members = honest.clone();
        members.push((rogue_key, fake_proof));
        assert_eq!(
            Roster::new(&members).unwrap_err(),
            CosiError::InvalidPossession { index: 4 }
        );

        // Without the proof check the rogue key is admitted, and the attacker alone forges
        // a cosignature "by all five members" that passes the aggregate-key equation.
        let unchecked = Roster::build(&members, false).expect("keys are valid points");
        let signers = Signers::all(5);
        let aggregate_key = unchecked.aggregate_key(&signers).unwrap();
        assert_eq!(
            aggregate_key.point,
            EdwardsPoint::mul_base(&attacker_secret)
        );
        let nonce = Scalar::from(11u64);
        let commitment = AggregateCommitment::from_point(EdwardsPoint::mul_base(&nonce));
        let c = challenge(&commitment, &aggregate_key, &signers, &MESSAGE);
        let forged = CoSignature::new(
            &commitment,
            &AggregateResponse(nonce + c.0 * attacker_secret),
            signers,
        );
        assert_eq!(forged.verify(&unchecked, &MESSAGE), Ok(()));
    }

    #[test]
    fn invalid_keys_are_rejected_at_registration() {
        let honest = registration(3);
        let with = |index: usize, key: PublicKey| {
            let mut members = honest.clone();
            members.insert(index, (key, honest[0].1));
            Roster::new(&members).unwrap_err()
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            with(1, PublicKey(identity)),
            CosiError::InvalidKey { index: 1 }
        );
        // The identity with its sign bit set (x = 0 has only one encoding).
        let mut negative_zero = identity;
        negative_zero[31] |= 0x80;
        assert_eq!(
            with(0, PublicKey(negative_zero)),
            CosiError::InvalidKey { index: 0 }
        );
        // y = p + 1: the identity again, non-canonically.
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert_eq!(
            with(2, PublicKey(p_plus_one)),
            CosiError::InvalidKey { index: 2 }
        );
        // Small order, and an honest key with a torsion component.
        let small = EIGHT_TORSION[1].compress().to_bytes();
        assert_eq!(
            with(3, PublicKey(small)),
            CosiError::InvalidKey { index: 3 }
        );
        let honest_point = decode_key(honest[1].0.as_bytes()).unwrap();
        let torsioned = (honest_point + EIGHT_TORSION[1]).compress().to_bytes();
        assert_eq!(
            with(0, PublicKey(torsioned)),
            CosiError::InvalidKey { index: 0 }
        );
        // Not a curve point.
        let off_curve = (2u8..)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
            .unwrap();
        assert_eq!(
            with(1, PublicKey(off_curve)),
            CosiError::InvalidKey { index: 1 }
        );

        // Duplicates, and a proof of another member.
        let mut duplicated = honest.clone();
        duplicated.push(honest[1]);
        assert_eq!(
            Roster::new(&duplicated).unwrap_err(),
            CosiError::DuplicateKey { index: 3 }
        );
        let mut swapped_proof = honest.clone();
        swapped_proof[2].1 = honest[1].1;
        assert_eq!(
            Roster::new(&swapped_proof).unwrap_err(),
            CosiError::InvalidPossession { index: 2 }
        );
        assert_eq!(Roster::new(&[]).unwrap_err(), CosiError::EmptyRoster);
    }

    #[test]
    fn proof_of_possession_round_trips_and_binds_its_key() {
        let (key, proof) = &members()[0];
        assert!(proof.verify(&key.public()));
        let decoded = ProofOfPossession::from_bytes(&proof.to_bytes());
        assert_eq!(&decoded, proof);
        assert!(!proof.verify(&members()[1].0.public()));
        let mut bytes = proof.to_bytes();
        bytes[40] ^= 0x04;
        assert!(!ProofOfPossession::from_bytes(&bytes).verify(&key.public()));
        // A proof of possession is not a cosignature (distinct hash domains).
        let (roster, _) = setup(1);
        let as_cosig = CoSignature {
            commitment: proof.r,
            response: proof.s,
            signers: Signers::all(1),
        };
        assert_eq!(
            as_cosig.verify(&roster, key.public().as_bytes()),
            Err(CosiError::InvalidSignature)
        );
    }

    #[test]
    fn bad_response_is_blamed_on_its_signer() {
        let (roster, keys) = setup(5);
        let signers = Signers::all(5);
        let rounds: Vec<(Nonce, Commitment)> = (0..5)
            .map(|i| commit(&keys[i], &MESSAGE, &member_fresh(&FRESH, i)))
            .collect();
        let aggregate_commitment = aggregate_commitments(rounds.iter().map(|(_, v)| v));
        let aggregate_key = roster.aggregate_key(&signers).unwrap();
        let c = challenge(&aggregate_commitment, &aggregate_key, &signers, &MESSAGE);
        let mut commitments = Vec::new();
        let mut responses = Vec::new();
        for (i, (nonce, commitment)) in rounds.into_iter().enumerate() {
            let mut response = respond(&keys[i], nonce, &c);
            if i == 3 {
                // Member 3 misbehaves.
                response = Response(response.0 + Scalar::ONE);
            }
            commitments.push(commitment);
            responses.push(response);
        }
        let blamed: Vec<usize> = (0..5)
            .filter(|&i| !verify_response(&roster, i, &commitments[i], &c, &responses[i]))
            .collect();
        assert_eq!(blamed, vec![3]);
        // The aggregate fails, as it must.
        let cosig = CoSignature::new(
            &aggregate_commitment,
            &aggregate_responses(&responses),
            signers,
        );
        assert_eq!(
            cosig.verify(&roster, &MESSAGE),
            Err(CosiError::InvalidSignature)
        );
        // A response checked against the wrong member, or no member, is refused.
        assert!(!verify_response(
            &roster,
            2,
            &commitments[1],
            &c,
            &responses[1]
        ));
        assert!(!verify_response(
            &roster,
            5,
            &commitments[1],
            &c,
            &responses[1]
        ));
    }

    #[test]
    fn reused_fresh_input_across_two_challenges_leaks_the_key() {
        // Why `commit` takes `fresh`: with the same nonce under two challenges (what a
        // deterministic nonce gives when a co-signer restarts the round with another
        // commitment) the secret follows from the two responses.
        let key = &members()[0].0;
        let (n1, v1) = commit(key, &MESSAGE, &FRESH);
        let (n2, v2) = commit(key, &MESSAGE, &FRESH);
        assert_eq!(v1, v2);
        let (c1, c2) = (
            Challenge(Scalar::from(3u64)),
            Challenge(Scalar::from(10u64)),
        );
        let (s1, s2) = (respond(key, n1, &c1), respond(key, n2, &c2));
        let extracted = (s1.0 - s2.0) * (c1.0 - c2.0).invert();
        assert_eq!(extracted, key.secret);

        // A fresh input per attempt gives an independent nonce.
        let mut other_fresh = FRESH;
        other_fresh[0] ^= 1;
        let (n3, v3) = commit(key, &MESSAGE, &other_fresh);
        assert_ne!(v1, v3);
        let s3 = respond(key, n3, &c2);
        assert_ne!((s1.0 - s3.0) * (c1.0 - c2.0).invert(), key.secret);
        // Per-member fresh inputs differ across members and rounds.
        assert_ne!(member_fresh(&FRESH, 0), member_fresh(&FRESH, 1));
        assert_ne!(member_fresh(&FRESH, 0), member_fresh(&other_fresh, 0));
    }

    #[test]
    fn encoding_round_trips() {
        let (roster, keys) = setup(13);
        let signers = Signers::from_indices(13, (0..13).filter(|i| i % 5 != 0));
        let cosig = sign_round(&roster, &keys, &signers, &MESSAGE, &FRESH);
        let bytes = cosig.to_bytes();
        assert_eq!(bytes.len(), CoSignature::encoded_len(13));
        assert_eq!(bytes.len(), 66);
        let decoded = CoSignature::from_bytes(&bytes, 13).unwrap();
        assert_eq!(decoded, cosig);
        assert_eq!(decoded.verify(&roster, &MESSAGE), Ok(()));
        assert_eq!(CoSignature::encoded_len(72), 73);

        let key = keys[0].public();
        assert_eq!(PublicKey::from_bytes(&key.to_bytes()), key);
        assert_eq!(roster.index_of(&key), Some(0));
        assert_eq!(roster.public(12), keys[12].public());
        assert_eq!(roster.keys().len(), 13);
    }

    #[test]
    fn malformed_encodings_are_rejected() {
        let (roster, keys) = setup(13);
        let bytes = sign_round(&roster, &keys, &Signers::all(13), &MESSAGE, &FRESH).to_bytes();

        assert_eq!(
            CoSignature::from_bytes(&bytes[..40], 13),
            Err(CosiError::MalformedSignature)
        );
        assert_eq!(
            CoSignature::from_bytes(&bytes[..65], 13),
            Err(CosiError::BitmapBytes {
                got: 1,
                expected: 2
            })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            CoSignature::from_bytes(&long, 13),
            Err(CosiError::BitmapBytes {
                got: 3,
                expected: 2
            })
        );
        let mut padded = bytes.clone();
        padded[65] |= 0x20; // member 13 of a roster of 13
        assert_eq!(
            CoSignature::from_bytes(&padded, 13),
            Err(CosiError::BitmapPadding { len: 13 })
        );
        let mut high_s = bytes.clone();
        high_s[63] |= 0x80;
        assert_eq!(
            CoSignature::from_bytes(&high_s, 13),
            Err(CosiError::MalformedSignature)
        );
        let mut non_canonical_r = bytes.clone();
        non_canonical_r[..32].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            CoSignature::from_bytes(&non_canonical_r, 13),
            Err(CosiError::MalformedSignature)
        );

        // Round messages.
        assert!(Commitment::from_bytes(&[0xff; 32]).is_err());
        assert!(Challenge::from_bytes(&[0xff; 32]).is_err());
        assert!(Response::from_bytes(&[0xff; 32]).is_err());
    }

    #[test]
    fn signer_bitmap_basics() {
        let mut signers = Signers::new(70);
        assert_eq!(signers.count(), 0);
        assert_eq!(signers.to_bytes(), vec![0; 9]);
        signers.set(0);
        signers.set(63);
        signers.set(64);
        signers.set(69);
        assert!(signers.contains(63) && signers.contains(69) && !signers.contains(1));
        assert!(!signers.contains(70) && !signers.contains(1000));
        assert_eq!(signers.iter().collect::<Vec<_>>(), vec![0, 63, 64, 69]);
        assert_eq!(signers.absent().count(), 66);
        assert_eq!(signers.count(), 4);
        let bytes = signers.to_bytes();
        assert_eq!(bytes, vec![0x01, 0, 0, 0, 0, 0, 0, 0x80, 0x21]);
        assert_eq!(Signers::from_bytes(&bytes, 70).unwrap(), signers);
        signers.remove(63);
        assert_eq!(signers.count(), 3);

        let all = Signers::all(70);
        assert_eq!(all.count(), 70);
        assert_eq!(all.absent().count(), 0);
        assert_eq!(all.to_bytes().last(), Some(&0x3f));
        assert_eq!(Signers::all(64).to_bytes(), vec![0xff; 8]);
        assert!(Signers::new(0).is_empty());
        assert_eq!(Signers::from_bytes(&[], 0).unwrap(), Signers::all(0));
        assert!(format!("{all:?}").starts_with("Signers(70/70: [0, 1"));
    }

    #[test]
    fn aggregate_key_matches_the_plain_sum_for_every_path() {
        let (roster, _) = setup(9);
        for signers in [
            Signers::all(9),
            Signers::new(9),
            Signers::from_indices(9, [2]),
            Signers::from_indices(9, 0..4),
            Signers::from_indices(9, 0..5),
            Signers::from_indices(9, [0, 1, 3, 4, 6, 7, 8]),
        ] {
            let expected: EdwardsPoint = signers.iter().map(|i| roster.points[i]).sum();
            let got = roster.aggregate_key(&signers).unwrap();
            assert_eq!(got.point, expected);
            assert_eq!(got.to_bytes(), expected.compress().to_bytes());
        }
        assert_eq!(
            roster.aggregate_key(&Signers::all(8)),
            Err(CosiError::BitmapLength {
                got: 8,
                expected: 9
            })
        );
    }

    #[test]
    fn canonical_point_check_agrees_with_compression_round_trip() {
        let mut edge_cases: Vec<[u8; 32]> = Vec::new();
        for low in 0u8..=0x20 {
            for high in [0x00u8, 0x7f, 0x80, 0xff] {
                let mut small = [0u8; 32];
                small[0] = low;
                small[31] = high;
                edge_cases.push(small);
                let mut large = [0xffu8; 32];
                large[0] = 0xe0 + (low & 0x1f);
                large[31] = high;
                edge_cases.push(large);
            }
        }
        for bytes in edge_cases {
            let reference = CompressedEdwardsY(bytes)
                .decompress()
                .filter(|point| point.compress().to_bytes() == bytes);
            assert_eq!(decode_point(&bytes), reference, "{bytes:02x?}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let key = &members()[0].0;
        let secret_hex: String = key.secret.as_bytes()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&secret_hex), "{shown}");
        assert!(!shown.contains(&format!("{:?}", key.secret.as_bytes())));
        let (nonce, _) = commit(key, &MESSAGE, &FRESH);
        assert_eq!(format!("{nonce:?}"), "Nonce(<secret>)");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn random_signer_sets_verify_iff_at_least_threshold(
            n in 4usize..=MAX_MEMBERS,
            draws in proptest::collection::vec(any::<u8>(), MAX_MEMBERS),
            cutoff in any::<u8>(),
            message in any::<[u8; 32]>(),
            fresh in any::<[u8; 32]>(),
        ) {
            let (roster, keys) = setup(n);
            let signers = Signers::from_indices(n, (0..n).filter(|&i| draws[i] >= cutoff));
            let cosig = sign_round(&roster, &keys, &signers, &message, &fresh);
            let verdict = cosig.verify(&roster, &message);
            if signers.count() >= roster.threshold() {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                prop_assert_eq!(
                    verdict,
                    Err(CosiError::BelowThreshold {
                        signers: signers.count(),
                        required: roster.threshold(),
                    })
                );
            }
        }

        #[test]
        fn random_byte_flips_never_verify(
            flips in proptest::collection::vec((0usize..CoSignature::encoded_len(10), 1u8..=255), 1..4),
            cut in 0usize..=CoSignature::encoded_len(10) + 2,
        ) {
            static SIGNED: OnceLock<(Roster, Vec<u8>)> = OnceLock::new();
            let (roster, original) = SIGNED.get_or_init(|| {
                let (roster, keys) = setup(10);
                let bytes = sign_round(&roster, &keys, &Signers::all(10), &MESSAGE, &FRESH)
                    .to_bytes();
                (roster, bytes)
            });
            let mut bytes = original.clone();
            for (at, mask) in flips {
                bytes[at] ^= mask;
            }
            if bytes != *original
                && let Ok(cosig) = CoSignature::from_bytes(&bytes, 10)
            {
                prop_assert!(cosig.verify(roster, &MESSAGE).is_err());
            }
            // Truncated or extended inputs are errors, never panics.
            let mut resized = original.clone();
            resized.resize(cut, 0);
            if cut != original.len() {
                prop_assert!(CoSignature::from_bytes(&resized, 10).is_err());
            }
        }

        #[test]
        fn signer_bitmaps_round_trip(
            len in 0usize..200,
            draws in proptest::collection::vec(any::<bool>(), 200),
        ) {
            let signers = Signers::from_indices(len, (0..len).filter(|&i| draws[i]));
            let bytes = signers.to_bytes();
            prop_assert_eq!(bytes.len(), Signers::encoded_len(len));
            prop_assert_eq!(Signers::from_bytes(&bytes, len), Ok(signers.clone()));
            prop_assert_eq!(
                signers.count() + signers.absent().count(),
                len
            );
            prop_assert!(signers.iter().all(|i| signers.contains(i)));
            prop_assert!(signers.absent().all(|i| !signers.contains(i)));
        }

        #[test]
        fn canonical_point_check_agrees_on_random_bytes(bytes in any::<[u8; 32]>()) {
            let reference = CompressedEdwardsY(bytes)
                .decompress()
                .filter(|point| point.compress().to_bytes() == bytes);
            prop_assert_eq!(decode_point(&bytes), reference);
        }
    }
}
