//! Edge-case ed25519 signatures: what a misbehaving client (`client_edge_signatures`) and
//! the property tests of `core::crypto::sig` send to find a verifier whose verdict
//! depends on the batch.
//!
//! Every signature here is a Schnorr equation built by hand,
//! `S = r + k·a` with `k = SHA-512(R_bytes ‖ A_bytes ‖ M)`, where `R_bytes` encodes
//! `[r]B + T_R` and `A_bytes` encodes `[a]B + T_A` for torsion points `T` (orders 1, 2,
//! 4, 8), canonically or not. Under ZIP-215 such a signature is valid exactly when its
//! encodings decode, `S < L` and the hash was taken over the bytes sent (the cofactor 8
//! removes `T_R` and `T_A`); under the cofactorless equation most of them are invalid,
//! and batch verifiers with the cofactorless equation give them batch-dependent verdicts.
//!
//! [`EdgeSignature`] lists the kinds a client can make with its own key (it cannot
//! change the owner its inputs name); [`sign_raw`], [`torsion_point`] and
//! [`noncanonical_encodings`] build the key-side cases too.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::SigningKey;
use ioschain_core::crypto::hash::Domain;
use ioschain_core::crypto::sig::GROUP_ORDER;
use sha2::{Digest, Sha512};

/// Edge cases a client can sign with its own key, valid or invalid under ZIP-215.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeSignature {
    /// `R = [r]B + T`, `T` of order 2: valid (cofactored), invalid cofactorless.
    TorsionR2,
    /// `R = [r]B + T`, `T` of order 4: valid, invalid cofactorless.
    TorsionR4,
    /// `R = [r]B + T`, `T` of order 8: valid, invalid cofactorless.
    TorsionR8,
    /// `R` the identity encoded non-canonically (`y = p + 1`), `S = k·a`: valid.
    IdentityRNonCanonical,
    /// `R` the identity encoded with the sign bit set (`x = 0`, negative): valid.
    IdentityRSignBit,
    /// `R` a point of order 4 encoded non-canonically (`y = p`), `S = k·a`: valid,
    /// invalid cofactorless.
    Order4RNonCanonical,
    /// An honest signature with `S + L` in place of `S`: invalid (`S` not canonical).
    NonCanonicalS,
    /// `R` bytes that decode to no point: invalid.
    RNotOnCurve,
    /// `R = [r]B + T` (order 8) sent, but `k` hashed over `[r]B`'s bytes: invalid.
    TorsionRHashMismatch,
}

impl EdgeSignature {
    /// Every kind, in a fixed order (the workload draws from it).
    pub const ALL: [EdgeSignature; 9] = [
        EdgeSignature::TorsionR2,
        EdgeSignature::TorsionR4,
        EdgeSignature::TorsionR8,
        EdgeSignature::IdentityRNonCanonical,
        EdgeSignature::IdentityRSignBit,
        EdgeSignature::Order4RNonCanonical,
        EdgeSignature::NonCanonicalS,
        EdgeSignature::RNotOnCurve,
        EdgeSignature::TorsionRHashMismatch,
    ];

    /// Whether ZIP-215 accepts the signature (what a correct validator must decide).
    pub fn valid(self) -> bool {
        !matches!(
            self,
            EdgeSignature::NonCanonicalS
                | EdgeSignature::RNotOnCurve
                | EdgeSignature::TorsionRHashMismatch
        )
    }

    /// Signs `message` with `key` as this kind; `nonce` seeds `r` (any bytes unique to
    /// the message, so signing is deterministic).
    pub fn sign(self, key: &SigningKey, message: &[u8], nonce: &[u8]) -> [u8; 64] {
        let a = key.to_scalar();
        let a_bytes = key.verifying_key().to_bytes();
        let r = Scalar::from_bytes_mod_order_wide(
            &Domain::Prg
                .hash_parts(&[b"ioschain/edge-nonce", nonce, &a_bytes, message])
                .as_bytes()
                .repeat(2)
                .try_into()
                .expect("64 bytes"),
        );
        let rb = ED25519_BASEPOINT_POINT * r;
        let twisted = |order: u32| (rb + torsion_point(order)).compress().to_bytes();
        match self {
            EdgeSignature::TorsionR2 => sign_raw(a, &a_bytes, r, &twisted(2), message),
            EdgeSignature::TorsionR4 => sign_raw(a, &a_bytes, r, &twisted(4), message),
            EdgeSignature::TorsionR8 => sign_raw(a, &a_bytes, r, &twisted(8), message),
            EdgeSignature::IdentityRNonCanonical => {
                sign_raw(a, &a_bytes, Scalar::ZERO, &IDENTITY_Y_P_PLUS_1, message)
            }
            EdgeSignature::IdentityRSignBit => {
                sign_raw(a, &a_bytes, Scalar::ZERO, &IDENTITY_SIGN_BIT, message)
            }
            EdgeSignature::Order4RNonCanonical => {
                sign_raw(a, &a_bytes, Scalar::ZERO, &ORDER4_Y_P, message)
            }
            EdgeSignature::NonCanonicalS => {
                let mut signature = sign_raw(a, &a_bytes, r, &rb.compress().to_bytes(), message);
                let s: [u8; 32] = signature[32..].try_into().expect("32 bytes");
                signature[32..].copy_from_slice(&add_group_order(&s));
                signature
            }
            EdgeSignature::RNotOnCurve => {
                let mut signature = sign_raw(a, &a_bytes, r, &rb.compress().to_bytes(), message);
                signature[..32].copy_from_slice(&NOT_A_POINT);
                signature
            }
            EdgeSignature::TorsionRHashMismatch => {
                let mut signature = sign_raw(a, &a_bytes, r, &rb.compress().to_bytes(), message);
                signature[..32].copy_from_slice(&twisted(8));
                signature
            }
        }
    }
}

/// 32 little-endian bytes: `first`, then 30 × `fill`, then `last`.
const fn le_bytes(first: u8, fill: u8, last: u8) -> [u8; 32] {
    let mut bytes = [fill; 32];
    bytes[0] = first;
    bytes[31] = last;
    bytes
}

/// The identity encoded as `y = p + 1` (non-canonical; `p + 1 < 2^255`).
pub const IDENTITY_Y_P_PLUS_1: [u8; 32] = le_bytes(0xee, 0xff, 0x7f);

/// The identity encoded as `y = 1` with the sign bit of `x` set (`x = 0` has no sign).
pub const IDENTITY_SIGN_BIT: [u8; 32] = le_bytes(1, 0, 0x80);

/// A point of order 4 encoded as `y = p` (`y = 0` non-canonically).
pub const ORDER4_Y_P: [u8; 32] = P_BYTES;

/// `y = 2`: no point of the curve has it.
pub const NOT_A_POINT: [u8; 32] = le_bytes(2, 0, 0);

/// The Schnorr equation by hand: `R_bytes ‖ S` with `S = r + k·a mod L` and
/// `k = SHA-512(R_bytes ‖ A_bytes ‖ M)`, whatever points the bytes encode.
pub fn sign_raw(
    a: Scalar,
    a_bytes: &[u8; 32],
    r: Scalar,
    r_bytes: &[u8; 32],
    message: &[u8],
) -> [u8; 64] {
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_bytes)
            .chain_update(a_bytes)
            .chain_update(message),
    );
    let s = r + k * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(r_bytes);
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

/// A torsion point of exactly `order` (1, 2, 4 or 8): `[L]P` for the first point `P` of
/// a fixed sequence whose torsion part has order 8, times `8 / order`.
pub fn torsion_point(order: u32) -> EdwardsPoint {
    assert!(
        matches!(order, 1 | 2 | 4 | 8),
        "torsion orders are 1, 2, 4, 8"
    );
    let eight = (0u64..)
        .find_map(|i| {
            let point =
                CompressedEdwardsY(*Domain::Prg.hash(&i.to_le_bytes()).as_bytes()).decompress()?;
            // [L]P = [L − 1]P + P.
            let torsion = point * -Scalar::ONE + point;
            (!doubled(&torsion, 2).is_identity()).then_some(torsion)
        })
        .expect("some point has a torsion part of order 8");
    doubled(&eight, 8u32.trailing_zeros() - order.trailing_zeros())
}

/// `[2^k]point`.
pub fn doubled(point: &EdwardsPoint, k: u32) -> EdwardsPoint {
    (0..k).fold(*point, |p, _| p + p)
}

/// Every other encoding that decodes to `point`: `y + p` where that fits in 255 bits
/// (`y < 19`), and the sign bit flipped where `x = 0`, and both.
pub fn noncanonical_encodings(point: &EdwardsPoint) -> Vec<[u8; 32]> {
    let canonical = point.compress().to_bytes();
    let mut y = canonical;
    y[31] &= 0x7f;
    let sign = canonical[31] & 0x80;
    let mut out = Vec::new();
    let small_y = y[1..].iter().all(|b| *b == 0) && y[0] < 19;
    if small_y {
        // y + p = y + 2^255 − 19.
        let mut plus_p = add_le(&y, &P_BYTES);
        plus_p[31] |= sign;
        out.push(plus_p);
    }
    // x = 0 exactly at y = 1 (the identity) and y = −1 (the point of order 2).
    let x_is_zero = y == ONE_BYTES || y == P_MINUS_1;
    if x_is_zero {
        let flip = |mut bytes: [u8; 32]| {
            bytes[31] ^= 0x80;
            bytes
        };
        out.push(flip(canonical));
        if small_y {
            out.push(flip(out[0]));
        }
    }
    out.retain(|bytes| CompressedEdwardsY(*bytes).decompress().as_ref() == Some(point));
    out
}

/// `p = 2^255 − 19`, little-endian.
const P_BYTES: [u8; 32] = le_bytes(0xed, 0xff, 0x7f);

/// `1`, little-endian.
const ONE_BYTES: [u8; 32] = le_bytes(1, 0, 0);

/// `p − 1` (`y = −1`: the point of order 2, whose `x` is 0).
const P_MINUS_1: [u8; 32] = le_bytes(0xec, 0xff, 0x7f);

/// `S + L` (non-canonical; fits, as `S < L < 2^253`).
pub fn add_group_order(s: &[u8; 32]) -> [u8; 32] {
    add_le(s, &GROUP_ORDER)
}

fn add_le(x: &[u8; 32], y: &[u8; 32]) -> [u8; 32] {
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for (i, byte) in sum.iter_mut().enumerate() {
        let v = u16::from(x[i]) + u16::from(y[i]) + carry;
        *byte = v as u8;
        carry = v >> 8;
    }
    sum
}

#[cfg(test)]
mod tests {
    use ioschain_core::crypto::sig::{VerificationKey, verify_one};

    use super::*;

    #[test]
    fn torsion_points_have_the_orders_asked_for() {
        for order in [1u32, 2, 4, 8] {
            let t = torsion_point(order);
            assert!(doubled(&t, order.trailing_zeros()).is_identity());
            if order > 1 {
                assert!(!doubled(&t, order.trailing_zeros() - 1).is_identity());
            }
        }
    }

    #[test]
    fn the_named_encodings_decode_to_the_points_they_claim() {
        let decode = |b: &[u8; 32]| CompressedEdwardsY(*b).decompress().unwrap();
        assert!(decode(&IDENTITY_Y_P_PLUS_1).is_identity());
        assert!(decode(&IDENTITY_SIGN_BIT).is_identity());
        let four = decode(&ORDER4_Y_P);
        assert!(doubled(&four, 2).is_identity() && !doubled(&four, 1).is_identity());
        assert!(CompressedEdwardsY(NOT_A_POINT).decompress().is_none());
        // Identity: y + p, sign flip, and both; order 2 (y = −1): sign flip only.
        assert_eq!(noncanonical_encodings(&EdwardsPoint::default()).len(), 3);
        assert_eq!(noncanonical_encodings(&torsion_point(2)).len(), 1);
        assert_eq!(noncanonical_encodings(&torsion_point(8)).len(), 0);
    }

    #[test]
    fn each_kind_gets_the_verdict_it_is_labelled_with() {
        let key = SigningKey::from_bytes(&[42; 32]);
        let verification = VerificationKey::from(&key.verifying_key());
        for kind in EdgeSignature::ALL {
            for n in 0u8..4 {
                let message = [n; 32];
                let signature = kind.sign(&key, &message, &[n]);
                assert_eq!(
                    verify_one(&verification, &message, &signature),
                    kind.valid(),
                    "{kind:?}"
                );
            }
        }
    }
}
