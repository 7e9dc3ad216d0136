//! Scalars of the curve25519 group order ℓ, as CoSi and PVSS derive and decode them.

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
