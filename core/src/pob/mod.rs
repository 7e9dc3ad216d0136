//! Proof-of-Believability (PROTOCOL.md §6): believable validators order transactions
//! fast (OptBlocks), the normal league samples and finalizes them (FinalBlocks), and
//! cheaters are caught by fraud proofs and slashed.
//!
//! This module holds the parts that are pure functions of validator records and epoch
//! randomness: the believability score ([`score`], §6.3) and the league selection
//! ([`league`], §6.3 and the §6.5 fallback). The OptBlock/FinalBlock state machines
//! come next (issue 4).

pub mod league;
pub mod score;
