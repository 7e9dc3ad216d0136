//! Verifiable random function: ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite `0x03`).
//!
//! A VRF is a keyed hash that only the holder of the secret key can evaluate and that
//! anyone holding the public key can check: `prove(sk, alpha)` gives a proof `pi`, from
//! which `proof_to_hash(pi)` gives the output `beta`, and `verify(pk, alpha, pi)` accepts
//! exactly when `pi` was made by `sk` for `alpha`, returning the same `beta`. For a given
//! key and input there is exactly one valid output (uniqueness), and without the secret
//! key the output is indistinguishable from random (pseudorandomness).
//!
//! This module implements the VRF of PROTOCOL.md §3.3 (the DRP-leader lottery: a ticket
//! is `(y_i, π_i) = VRF_{sk_i}("leader" ‖ config_e ‖ e ‖ v)`; tickets order by
//! [`VrfOutput`], which compares its bytes lexicographically) and of §6.5 step 5 (the
//! transaction sample of a normal validator in Proof-of-Believability), with the suite
//! DESIGN.md §8 names.
//!
//! # Encodings
//!
//! - Secret key: a 32-byte ed25519 seed (RFC 8032 §5.1.5): the secret scalar and the
//!   nonce prefix are the halves of `SHA-512(seed)`, so one seed gives the same public
//!   key here as in ed25519-dalek.
//! - Public key: the compressed point `x·B`, 32 bytes.
//! - Proof `pi`: `Gamma (32) ‖ c (16) ‖ s (32)`, 80 bytes.
//! - Output `beta`: `SHA-512(0x03 ‖ 0x03 ‖ cofactor·Gamma ‖ 0x00)`, 64 bytes.
//!
//! Decoding is strict, as RFC 9381 asks: a public key or `Gamma` must be the canonical
//! encoding of a point (RFC 8032 §5.1.3), `s` must be below the group order (RFC 9381
//! §5.4.4), and a public key must not have small order (§5.4.5). The underlying crate
//! accepts non-canonical encodings; they are rejected here, so every proof and key has
//! exactly one byte string and a gossiped proof cannot be re-encoded into a "different"
//! one with the same meaning.
//!
//! # Why a trait
//!
//! The arithmetic comes from `vrf-rfc9381`, pinned at `=0.0.7` (CRATES.md): a young,
//! unaudited crate. None of its types leave this file; the rest of the protocol sees
//! [`VrfSecretKey`], [`VrfPublicKey`], [`VrfProof`] and [`VrfOutput`], and code that
//! should not care which VRF it runs is written against the small [`Vrf`] trait. The
//! RFC 9381 Appendix B.3 vectors are tests here, so a version bump or a replacement
//! implementation (e.g. our own ECVRF over curve25519-dalek) is checked against them.
//!
//! # Sampling (PROTOCOL.md §6.5 step 5)
//!
//! §6.5 has validator `i` check transaction `t` of an `OptBlock` iff
//! `VRF_{sk_i}(opt_block_hash ‖ t.id)` maps below `p`. Evaluating one VRF per transaction
//! would cost a few curve multiplications per transaction, so it is split in two:
//!
//! 1. once per (validator, `OptBlock`): `pi = prove(sk_i, alpha)` with `alpha` built from
//!    the `OptBlock` hash, and the sample key `blake3::derive_key(SAMPLE_KEY_CONTEXT,
//!    beta)` ([`VrfOutput::sample_key`]);
//! 2. per transaction: `t` is checked iff [`selects`]`(key, t.id, p)`, i.e. the first
//!    8 bytes of `blake3::keyed_hash(key, t.id)`, read little-endian, taken to their top
//!    53 bits and scaled to `[0, 1)`, are `< p`.
//!
//! The split keeps what the protocol needs from the per-transaction VRF: the sample is
//! private and unpredictable to the block's signer (the key is derived from `beta`, which
//! only `sk_i` can compute), it cannot be ground (uniqueness: one `beta` per key and
//! block), and it is provable afterwards (publishing `pi` lets anyone verify it, derive
//! the key and recompute every decision). Publishing `pi` reveals the validator's whole
//! sample of that block, which is only done after the fact (fraud proofs, audits). The
//! decision is monotone in `p`: an item sampled at `p` is sampled at every `p' ≥ p`.
//!
//! Everything here is deterministic (the proof nonce is derived from the key and the
//! input, as in RFC 8032): no randomness source, no clock.

use std::fmt;

use ed25519_dalek::SigningKey;
use vrf_rfc9381::Proof as _;
use vrf_rfc9381::Prover as _;
use vrf_rfc9381::Verifier as _;
use vrf_rfc9381::ec::edwards25519::EdVrfProof;
use vrf_rfc9381::ec::edwards25519::tai::{
    EdVrfEdwards25519TaiPublicKey as CratePublicKey,
    EdVrfEdwards25519TaiSecretKey as CrateSecretKey,
};

/// Length of a public key in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a proof `pi` in bytes: `Gamma (32) ‖ c (16) ‖ s (32)`.
pub const PROOF_LEN: usize = 80;
/// Length of an output `beta` in bytes.
pub const OUTPUT_LEN: usize = 64;

/// The blake3 `derive_key` context of [`VrfOutput::sample_key`].
pub const SAMPLE_KEY_CONTEXT: &str = "ioschain 2026-11 vrf sample key";

/// Offsets of the parts of a proof.
const GAMMA_END: usize = 32;
const S_START: usize = 48;

/// Why a key or proof was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VrfError {
    /// The bytes are not the canonical encoding of a curve point of large order.
    #[error("invalid VRF public key: not a canonical encoding of a point of large order")]
    InvalidPublicKey,
    /// The bytes do not decode as a proof: `Gamma` is not the canonical encoding of a
    /// curve point, or `s` is not below the group order.
    #[error("malformed VRF proof: Gamma is not a canonical point or s is not reduced")]
    MalformedProof,
    /// The proof decodes but does not verify for this public key and input.
    #[error("invalid VRF proof for this public key and input")]
    InvalidProof,
}

/// A VRF as the protocol uses it, implemented by a secret-key type; the seam that keeps
/// the protocol independent of the crate behind it.
pub trait Vrf {
    /// The public key that checks this secret key's proofs.
    type PublicKey;

    /// The key of a 32-byte seed.
    fn from_seed(seed: &[u8; 32]) -> Self;

    /// The public key of this secret key.
    fn public(&self) -> Self::PublicKey;

    /// The proof for input `alpha`; its output is [`VrfProof::output`].
    fn prove(&self, alpha: &[u8]) -> VrfProof;

    /// Checks `proof` for `alpha` under `public`; returns the output on success.
    fn verify(
        public: &Self::PublicKey,
        alpha: &[u8],
        proof: &VrfProof,
    ) -> Result<VrfOutput, VrfError>;
}

/// A VRF secret key (an ed25519 seed). `Debug` shows only the public key; the secret is
/// zeroed on drop.
pub struct VrfSecretKey {
    secret: CrateSecretKey,
    public: VrfPublicKey,
}

impl VrfSecretKey {
    /// The key of a 32-byte ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let secret = CrateSecretKey::from_slice(seed).expect("a 32-byte seed is a secret key");
        // The crate derives the public key but does not expose its bytes; ed25519-dalek
        // derives the same point from the same seed (RFC 8032 §5.1.5).
        let public = VrfPublicKey(SigningKey::from_bytes(seed).verifying_key().to_bytes());
        debug_assert!(
            CratePublicKey::from_slice(&public.0).ok() == Some(secret.verifier()),
            "ed25519-dalek and vrf-rfc9381 derive different public keys"
        );
        VrfSecretKey { secret, public }
    }

    /// The public key.
    pub fn public(&self) -> VrfPublicKey {
        self.public
    }

    /// The proof for input `alpha` (RFC 9381 §5.1, `ECVRF_prove`).
    pub fn prove(&self, alpha: &[u8]) -> VrfProof {
        // Try-and-increment fails only if 255 hashes in a row miss the curve
        // (probability about 2^-255): a panic is the right answer to that.
        let proof = self
            .secret
            .prove(alpha)
            .expect("try-and-increment found a point");
        let bytes: [u8; PROOF_LEN] = proof
            .encode_to_pi()
            .try_into()
            .expect("an edwards25519 proof encodes to 80 bytes");
        VrfProof(bytes)
    }
}

impl fmt::Debug for VrfSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VrfSecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Vrf for VrfSecretKey {
    type PublicKey = VrfPublicKey;

    fn from_seed(seed: &[u8; 32]) -> Self {
        VrfSecretKey::from_seed(seed)
    }

    fn public(&self) -> VrfPublicKey {
        VrfSecretKey::public(self)
    }

    fn prove(&self, alpha: &[u8]) -> VrfProof {
        VrfSecretKey::prove(self, alpha)
    }

    fn verify(
        public: &VrfPublicKey,
        alpha: &[u8],
        proof: &VrfProof,
    ) -> Result<VrfOutput, VrfError> {
        public.verify(alpha, proof)
    }
}

/// A VRF public key: the canonical encoding of a curve point of large order (checked by
/// [`VrfPublicKey::from_bytes`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VrfPublicKey([u8; PUBLIC_KEY_LEN]);

impl VrfPublicKey {
    /// Decodes a public key; refuses non-points, non-canonical encodings and points of
    /// small order.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, VrfError> {
        if !is_canonical_point(bytes) || CratePublicKey::from_slice(bytes).is_err() {
            return Err(VrfError::InvalidPublicKey);
        }
        Ok(VrfPublicKey(*bytes))
    }

    /// The encoded key.
    pub const fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0
    }

    /// Checks `proof` for input `alpha` under this key (RFC 9381 §5.3, `ECVRF_verify`);
    /// returns its output on success.
    pub fn verify(&self, alpha: &[u8], proof: &VrfProof) -> Result<VrfOutput, VrfError> {
        // Validated by `from_bytes` or derived from a seed, so this decodes.
        let key = CratePublicKey::from_slice(&self.0).map_err(|_| VrfError::InvalidPublicKey)?;
        let decoded = proof.decode()?;
        let beta = key
            .verify(alpha, decoded)
            .map_err(|_| VrfError::InvalidProof)?;
        Ok(VrfOutput(beta.into()))
    }
}

impl fmt::Debug for VrfPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("vrf-pk:")?;
        write_hex_prefix(f, &self.0)
    }
}

/// A VRF proof `pi = Gamma ‖ c ‖ s`, with `Gamma` a canonical point encoding and `s`
/// reduced (checked by [`VrfProof::from_bytes`]). Proofs are public.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VrfProof([u8; PROOF_LEN]);

impl VrfProof {
    /// Decodes a proof; refuses a `Gamma` that is not the canonical encoding of a curve
    /// point and an `s` that is not below the group order. Whether the proof verifies is
    /// [`VrfPublicKey::verify`]'s question.
    pub fn from_bytes(bytes: &[u8; PROOF_LEN]) -> Result<Self, VrfError> {
        let proof = VrfProof(*bytes);
        proof.decode()?;
        Ok(proof)
    }

    /// The encoded proof.
    pub const fn to_bytes(&self) -> [u8; PROOF_LEN] {
        self.0
    }

    /// The output of this proof (RFC 9381 §5.2, `ECVRF_proof_to_hash`). It says nothing
    /// about who made the proof: a received proof goes through [`VrfPublicKey::verify`],
    /// which returns the same output.
    pub fn output(&self) -> VrfOutput {
        let decoded = self
            .decode()
            .expect("a VrfProof decodes (checked on creation)");
        let beta = decoded
            .proof_to_hash(vrf_rfc9381::Ciphersuite::ECVRF_EDWARDS25519_SHA512_TAI)
            .expect("proof_to_hash cannot fail for edwards25519");
        VrfOutput(beta.into())
    }

    /// The crate's proof, after the strict checks the crate leaves out.
    fn decode(&self) -> Result<EdVrfProof, VrfError> {
        let gamma: &[u8; 32] = self.0[..GAMMA_END].try_into().expect("32 bytes");
        let s: [u8; 32] = self.0[S_START..].try_into().expect("32 bytes");
        let s_is_reduced = bool::from(curve25519_dalek::Scalar::from_canonical_bytes(s).is_some());
        if !s_is_reduced || !is_canonical_point(gamma) {
            return Err(VrfError::MalformedProof);
        }
        EdVrfProof::decode_pi(&self.0).map_err(|_| VrfError::MalformedProof)
    }
}

impl fmt::Debug for VrfProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("vrf-proof:")?;
        write_hex_prefix(f, &self.0)
    }
}

/// A VRF output `beta` (64 bytes). Outputs order by their bytes, lexicographically: the
/// order of lottery tickets (PROTOCOL.md §3.3 keeps the smallest).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VrfOutput(pub [u8; OUTPUT_LEN]);

impl VrfOutput {
    /// The key of the [`selects`] decisions drawn from this output:
    /// `blake3::derive_key(SAMPLE_KEY_CONTEXT, beta)`. Derived rather than a prefix of
    /// `beta`, so the sample stays independent of any other use of the same output.
    pub fn sample_key(&self) -> [u8; 32] {
        blake3::derive_key(SAMPLE_KEY_CONTEXT, &self.0)
    }
}

impl fmt::Debug for VrfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("vrf-out:")?;
        write_hex_prefix(f, &self.0)
    }
}

/// Whether `item` is in the sample of probability `p` drawn under `key` (a
/// [`VrfOutput::sample_key`]): the first 8 bytes of `blake3::keyed_hash(key, item)`,
/// little-endian, keep their top 53 bits and scale to `u ∈ [0, 1)`; the item is sampled
/// iff `u < p`. So `p = 0` samples nothing, `p = 1` everything, and raising `p` only adds
/// items.
///
/// # Panics
///
/// If `p` is not in `[0, 1]` (NaN included): a caller bug.
pub fn selects(key: &[u8; 32], item: &[u8; 32], p: f64) -> bool {
    assert!(
        (0.0..=1.0).contains(&p),
        "sampling probability {p} is outside [0, 1]"
    );
    let hash = blake3::keyed_hash(key, item);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    // 53 bits convert to f64 exactly, so u < 1 always holds (a 64-bit value could round
    // up to 1.0 and make p = 1 miss an item).
    let u = (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    u < p
}

/// Whether `bytes` is the canonical encoding of a curve point (RFC 8032 §5.1.3 decoding:
/// `y < p`, and no "negative zero" `x`). curve25519-dalek's decompression reduces `y`
/// and ignores the sign of `x = 0`, so re-compressing and comparing catches both.
fn is_canonical_point(bytes: &[u8; 32]) -> bool {
    curve25519_dalek::edwards::CompressedEdwardsY(*bytes)
        .decompress()
        .is_some_and(|point| point.compress().to_bytes() == *bytes)
}

/// Eight bytes identify a key, proof or output in logs and test failures.
fn write_hex_prefix(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for byte in &bytes[..8] {
        write!(f, "{byte:02x}")?;
    }
    f.write_str("…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9381 Appendix B.3, ECVRF-EDWARDS25519-SHA512-TAI, Examples 16–18:
    /// (SK, PK, alpha, pi, beta). The keys are RFC 8032 §7.1 TEST 1–3.
    const RFC9381_B3: [(&str, &str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f\
             26f8a57ccaed74ee1b190bed1f479d97\
             27d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
            "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff\
             66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed593\
             3bf0864a62558b3ed7f2fea45c92a465\
             301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
            "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb\
             5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf80\
             96bb474e53895c362d8628ee9f9ea3c0\
             e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
            "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c45\
             2118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f",
        ),
    ];

    fn hex(text: &str) -> Vec<u8> {
        assert!(text.len().is_multiple_of(2), "odd-length hex {text}");
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    fn hex_array<const N: usize>(text: &str) -> [u8; N] {
        hex(text).try_into().expect("hex of the expected length")
    }

    fn sample_key_and_proof() -> (VrfSecretKey, VrfProof) {
        let key = VrfSecretKey::from_seed(&[7; 32]);
        let proof = key.prove(b"opt-block 42");
        (key, proof)
    }

    /// `ℓ`, the group order, little-endian: `-1 mod ℓ` ends in 0xec, so `+1` never carries.
    fn group_order() -> [u8; 32] {
        let mut order = (-curve25519_dalek::Scalar::ONE).to_bytes();
        order[0] += 1;
        order
    }

    /// Little-endian `a + b` over 32 bytes (the caller keeps it below 2^256).
    fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let digit = u16::from(a[i]) + u16::from(b[i]) + carry;
            sum[i] = digit as u8;
            carry = digit >> 8;
        }
        assert_eq!(carry, 0);
        sum
    }

    /// A non-canonical encoding (`y + p` for a small `y`) of a point of large order.
    fn non_canonical_point() -> [u8; 32] {
        for y in 2u8..19 {
            // p + y, little-endian: p = 2^255 - 19 is ed ff .. ff 7f.
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + y;
            bytes[31] = 0x7f;
            let compressed = curve25519_dalek::edwards::CompressedEdwardsY(bytes);
            if compressed
                .decompress()
                .is_some_and(|point| !point.is_small_order())
            {
                return bytes;
            }
        }
        panic!("no y below 19 is on the curve with large order");
    }

    #[test]
    fn rfc9381_b3_vectors_prove_hash_and_verify() {
        for (sk, pk, alpha, pi, beta) in RFC9381_B3 {
            let secret = VrfSecretKey::from_seed(&hex_array(sk));
            let alpha = hex(alpha);
            let pi: [u8; PROOF_LEN] = hex_array(pi);
            let beta = VrfOutput(hex_array(beta));

            assert_eq!(
                secret.public().to_bytes(),
                hex_array::<32>(pk),
                "PK of {sk}"
            );
            let proof = secret.prove(&alpha);
            assert_eq!(proof.to_bytes(), pi, "pi of {sk}");
            assert_eq!(proof.output(), beta, "beta of {sk}");

            let public = VrfPublicKey::from_bytes(&hex_array(pk)).expect("RFC public key");
            let decoded = VrfProof::from_bytes(&pi).expect("RFC proof decodes");
            assert_eq!(public.verify(&alpha, &decoded), Ok(beta), "verify of {sk}");
        }
    }

    #[test]
    fn public_key_is_the_ed25519_key_of_the_same_seed() {
        for seed in [[0u8; 32], [1; 32], [0xff; 32]] {
            let expected = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            assert_eq!(VrfSecretKey::from_seed(&seed).public().to_bytes(), expected);
            let crate_key = CratePublicKey::from_slice(&expected).expect("valid key");
            let crate_secret = CrateSecretKey::from_slice(&seed).expect("32 bytes");
            assert!(crate_key == crate_secret.verifier());
        }
    }

    #[test]
    fn verify_rejects_every_flipped_proof_byte() {
        let (key, proof) = sample_key_and_proof();
        let public = key.public();
        for index in 0..PROOF_LEN {
            for bit in [0x01u8, 0x80] {
                let mut bytes = proof.to_bytes();
                bytes[index] ^= bit;
                let verdict =
                    VrfProof::from_bytes(&bytes).and_then(|p| public.verify(b"opt-block 42", &p));
                assert!(
                    matches!(
                        verdict,
                        Err(VrfError::MalformedProof | VrfError::InvalidProof)
                    ),
                    "byte {index} bit {bit:#x}: {verdict:?}"
                );
            }
        }
    }

    #[test]
    fn verify_rejects_a_different_alpha() {
        let (key, proof) = sample_key_and_proof();
        assert_eq!(
            key.public().verify(b"opt-block 43", &proof),
            Err(VrfError::InvalidProof)
        );
        assert_eq!(
            key.public().verify(b"", &proof),
            Err(VrfError::InvalidProof)
        );
    }

    #[test]
    fn verify_rejects_another_key() {
        let (_, proof) = sample_key_and_proof();
        let other = VrfSecretKey::from_seed(&[8; 32]).public();
        assert_eq!(
            other.verify(b"opt-block 42", &proof),
            Err(VrfError::InvalidProof)
        );
    }

    #[test]
    fn public_key_from_bytes_rejects_non_points_small_order_and_non_canonical() {
        // y = 2 is not the y-coordinate of a curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(!is_canonical_point(&not_a_point));
        assert_eq!(
            VrfPublicKey::from_bytes(&not_a_point),
            Err(VrfError::InvalidPublicKey)
        );
        // The identity (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            VrfPublicKey::from_bytes(&identity),
            Err(VrfError::InvalidPublicKey)
        );
        // y = 1 with the sign bit set: "negative zero" x, not an RFC 8032 encoding.
        let mut negative_zero = identity;
        negative_zero[31] |= 0x80;
        assert_eq!(
            VrfPublicKey::from_bytes(&negative_zero),
            Err(VrfError::InvalidPublicKey)
        );
        let key = VrfSecretKey::from_seed(&[3; 32]).public();
        assert_eq!(VrfPublicKey::from_bytes(&key.to_bytes()), Ok(key));
    }

    #[test]
    fn non_canonical_public_key_is_rejected_though_the_crate_accepts_it() {
        let bytes = non_canonical_point();
        assert!(
            CratePublicKey::from_slice(&bytes).is_ok(),
            "vrf-rfc9381 now rejects non-canonical keys; the extra check may be redundant"
        );
        assert_eq!(
            VrfPublicKey::from_bytes(&bytes),
            Err(VrfError::InvalidPublicKey)
        );
    }

    #[test]
    fn non_canonical_s_is_rejected_though_the_crate_accepts_it() {
        let (key, proof) = sample_key_and_proof();
        let mut bytes = proof.to_bytes();
        let s: [u8; 32] = bytes[S_START..].try_into().expect("32 bytes");
        // s < ℓ < 2^253, so s + ℓ fits in 32 bytes and encodes the same scalar mod ℓ.
        bytes[S_START..].copy_from_slice(&add_le(&s, &group_order()));

        let crate_key = CratePublicKey::from_slice(&key.public().to_bytes()).expect("valid");
        let crate_proof = EdVrfProof::decode_pi(&bytes).expect("the crate reduces s");
        assert!(
            crate_key.verify(b"opt-block 42", crate_proof).is_ok(),
            "vrf-rfc9381 now rejects s >= q; the extra check may be redundant"
        );
        assert_eq!(VrfProof::from_bytes(&bytes), Err(VrfError::MalformedProof));
    }

    #[test]
    fn non_canonical_gamma_is_rejected() {
        let (_, proof) = sample_key_and_proof();
        let mut bytes = proof.to_bytes();
        bytes[..GAMMA_END].copy_from_slice(&non_canonical_point());
        assert_eq!(VrfProof::from_bytes(&bytes), Err(VrfError::MalformedProof));
    }

    #[test]
    fn proof_bytes_round_trip() {
        let (key, proof) = sample_key_and_proof();
        let decoded = VrfProof::from_bytes(&proof.to_bytes()).expect("own proof decodes");
        assert_eq!(decoded, proof);
        assert_eq!(decoded.output(), proof.output());
        assert_eq!(
            key.public().verify(b"opt-block 42", &decoded),
            Ok(proof.output())
        );
    }

    #[test]
    fn proving_is_deterministic() {
        let (key, proof) = sample_key_and_proof();
        assert_eq!(key.prove(b"opt-block 42"), proof);
        let again = VrfSecretKey::from_seed(&[7; 32]);
        assert_eq!(again.prove(b"opt-block 42"), proof);
    }

    /// Protocol code is written against the trait; this is how it reads.
    fn ticket<V: Vrf>(secret: &V, alpha: &[u8]) -> Result<VrfOutput, VrfError> {
        let proof = secret.prove(alpha);
        V::verify(&secret.public(), alpha, &proof)
    }

    #[test]
    fn the_trait_proves_and_verifies() {
        let secret = <VrfSecretKey as Vrf>::from_seed(&[9; 32]);
        let output = ticket(&secret, b"leader").expect("own proof verifies");
        assert_eq!(output, secret.prove(b"leader").output());
    }

    #[test]
    fn debug_shows_the_public_key_and_not_the_secret() {
        let seed = [0xab; 32];
        let key = VrfSecretKey::from_seed(&seed);
        let shown = format!("{key:?}");
        assert!(shown.contains("vrf-pk:"), "{shown}");
        assert!(!shown.contains("abab"), "{shown}");
    }

    #[test]
    fn sample_key_is_derived_from_the_whole_output() {
        let beta = VrfOutput(hex_array(RFC9381_B3[0].4));
        let key = beta.sample_key();
        assert_eq!(key, blake3::derive_key(SAMPLE_KEY_CONTEXT, &beta.0));
        // Pinned: changing the derivation changes every validator's sample.
        assert_eq!(
            key,
            hex_array::<32>("ad09667cf8cfe1de1673df616686e9a83cee05330075aee4d9bd0062495b321d")
        );
        assert_ne!(key[..], beta.0[..32]);
        let mut other = beta;
        other.0[63] ^= 1;
        assert_ne!(other.sample_key(), key);
    }

    #[test]
    fn selects_nothing_at_zero_and_everything_at_one() {
        let key = [5; 32];
        for i in 0..1_000u32 {
            let item = *blake3::hash(&i.to_le_bytes()).as_bytes();
            assert!(!selects(&key, &item, 0.0));
            assert!(selects(&key, &item, 1.0));
        }
    }

    #[test]
    #[should_panic(expected = "outside [0, 1]")]
    fn selects_panics_above_one() {
        selects(&[0; 32], &[0; 32], 1.5);
    }

    #[test]
    #[should_panic(expected = "outside [0, 1]")]
    fn selects_panics_on_nan() {
        selects(&[0; 32], &[0; 32], f64::NAN);
    }

    const SAMPLED_ITEMS: u32 = 20_000;

    /// The fraction of `SAMPLED_ITEMS` pseudo-random items (hashes of `seed ‖ i`) that
    /// `selects` keeps under `key` at probability `p`.
    fn sampled_fraction(key: &[u8; 32], seed: &[u8; 32], p: f64) -> f64 {
        let mut hits = 0u32;
        for i in 0..SAMPLED_ITEMS {
            let mut hasher = blake3::Hasher::new();
            hasher.update(seed);
            hasher.update(&i.to_le_bytes());
            let item = *hasher.finalize().as_bytes();
            hits += u32::from(selects(key, &item, p));
        }
        f64::from(hits) / f64::from(SAMPLED_ITEMS)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// At p = 0.1 over 20,000 items the standard deviation of the fraction is 0.0021,
        /// so ±0.01 is 4.7 sigma: a false failure about once in 10^4 runs of 32 cases.
        #[test]
        fn selects_hits_close_to_p(key in any::<[u8; 32]>(), seed in any::<[u8; 32]>()) {
            let fraction = sampled_fraction(&key, &seed, 0.1);
            prop_assert!((fraction - 0.1).abs() <= 0.01, "fraction {fraction}");
        }

        /// Any p: within 5.5 sigma (plus one item), so false failures stay below 10^-6.
        #[test]
        fn selects_hits_close_to_any_p(
            key in any::<[u8; 32]>(),
            seed in any::<[u8; 32]>(),
            p in 0.0f64..=1.0,
        ) {
            let fraction = sampled_fraction(&key, &seed, p);
            let n = f64::from(SAMPLED_ITEMS);
            let tolerance = 5.5 * (p * (1.0 - p) / n).sqrt() + 1.0 / n;
            prop_assert!((fraction - p).abs() <= tolerance, "p {p}, fraction {fraction}");
        }

        #[test]
        fn selection_is_deterministic_and_monotone_in_p(
            key in any::<[u8; 32]>(),
            item in any::<[u8; 32]>(),
            p in 0.0f64..=1.0,
            q in 0.0f64..=1.0,
        ) {
            prop_assert_eq!(selects(&key, &item, p), selects(&key, &item, p));
            let (low, high) = if p <= q { (p, q) } else { (q, p) };
            prop_assert!(!selects(&key, &item, low) || selects(&key, &item, high));
        }

        #[test]
        fn own_proofs_verify_for_any_seed_and_alpha(
            seed in any::<[u8; 32]>(),
            alpha in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let key = VrfSecretKey::from_seed(&seed);
            let proof = key.prove(&alpha);
            let public = VrfPublicKey::from_bytes(&key.public().to_bytes());
            prop_assert_eq!(public, Ok(key.public()));
            let decoded = VrfProof::from_bytes(&proof.to_bytes());
            prop_assert_eq!(decoded, Ok(proof));
            prop_assert_eq!(key.public().verify(&alpha, &proof), Ok(proof.output()));
        }
    }
}
