//! PVSS keys (`PK = x·H`) and the Schnorr signatures DRP messages carry.

use std::fmt;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;

use super::*;
use crate::crypto::hash::Domain;
use crate::types::Hash;

/// A participant's PVSS key `x` (with `x^{-1}` precomputed). The same key signs the
/// participant's DRP messages (Schnorr over Ristretto with base `H`,
/// [`PvssSecretKey::sign`]). `Debug` shows only the public key.
#[derive(Clone)]
pub struct PvssSecretKey {
    pub(super) x: Scalar,
    pub(super) x_inv: Scalar,
    pub(super) public: PvssPublicKey,
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
        let x = crate::crypto::scalar::nonzero_from_seed(Domain::DrpKey, seed);
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
    pub(super) bytes: [u8; 32],
    pub(super) point: RistrettoPoint,
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
        crate::crypto::scalar::join_rs(&self.r, &self.s)
    }

    /// Splits `R ‖ s` (checked by [`PvssPublicKey::verify`]).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let (r, s) = crate::crypto::scalar::split_rs(bytes);
        Signature { r, s }
    }
}
