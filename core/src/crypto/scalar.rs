//! Scalars of the curve25519 group order ℓ, as CoSi and PVSS derive and decode them, and
//! the `R ‖ s` layout of their Schnorr signatures.

use curve25519_dalek::scalar::Scalar;

use crate::crypto::hash::Domain;

/// Decodes a canonical scalar (`< ℓ`).
pub(crate) fn decode_scalar(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_canonical_bytes(*bytes))
}

/// Reduces 64 bytes of `domain`'s hash of `parts` to a scalar.
pub(crate) fn wide_scalar(domain: Domain, parts: &[&[u8]]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&domain.wide(parts))
}

/// A secret key from a seed: `x = H_wide(domain ‖ seed) mod ℓ`, re-derived with a counter
/// in the negligible case that it is zero, so `x ≠ 0`.
pub(crate) fn nonzero_from_seed(domain: Domain, seed: &[u8; 32]) -> Scalar {
    let mut x = wide_scalar(domain, &[seed]);
    let mut counter: u64 = 0;
    while x == Scalar::ZERO {
        counter += 1;
        x = wide_scalar(domain, &[seed, &counter.to_le_bytes()]);
    }
    x
}

/// `R ‖ s`: a Schnorr signature's 64 bytes.
pub(crate) fn join_rs(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s);
    out
}

/// Splits `R ‖ s` (unchecked: the verifier checks both halves).
pub(crate) fn split_rs(bytes: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&bytes[..32]);
    s.copy_from_slice(&bytes[32..]);
    (r, s)
}
