//! Cryptography: the domain-separated hash, transaction signatures (single and batched),
//! and collective signatures (CoSi) for block certificates.

pub mod cosi;
pub mod hash;
pub mod sig;
