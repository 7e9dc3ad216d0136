//! Proof-of-Believability (PROTOCOL.md §6): believable validators order transactions
//! fast (OptBlocks), the normal league samples and finalizes them (FinalBlocks), and
//! cheaters are caught by fraud proofs and slashed.
//!
//! This module holds the parts that are pure functions of their inputs: the
//! believability score ([`score`], §6.3), the league selection ([`league`], §6.3 and the
//! §6.5 fallback), and signed OptBlock headers with the proofs that blame a cheating
//! believable validator ([`optblock`]: fraud proofs for bad signatures, equivocation
//! proofs), routing by first input plus the normal league's VRF sample ([`sample`]),
//! the exposure cap of a believable validator ([`exposure`]), and the PoB part of a
//! FinalBlock ([`final_body`]: finalized OptBlocks, proofs, exclusions). The shard node
//! (`crate::node`) drives them.

pub mod exposure;
pub mod final_body;
pub mod league;
pub mod optblock;
pub mod sample;
pub mod score;
