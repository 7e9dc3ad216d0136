//! Cryptography: the domain-separated hash, transaction signatures (single and batched),
//! collective signatures (CoSi) for block certificates, and the VRF (RFC 9381 ECVRF) for
//! lottery tickets and PoB samples, and PVSS for the DRP.

pub mod cosi;
pub mod hash;
pub mod pvss;
mod scalar;
pub mod sig;
pub mod vrf;
