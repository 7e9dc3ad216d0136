//! `ioschain-core`: the IOS protocol as pure, deterministic code.
//!
//! Nothing in this crate starts a thread, reads a clock, draws randomness from the
//! environment or touches a file: inputs go in, state and effects come out, so the same
//! inputs in the same order always give the same results (DESIGN.md §1, §7). Where a
//! protocol step needs fresh randomness (CoSi nonces), the caller passes it in.
//!
//! Modules, bottom up: [`types`] and [`codec`]; [`crypto`] (hash, signatures, CoSi,
//! VRF, PVSS); [`merkle`]; [`prg`]; [`tx`]; [`utxo`]; [`block`]; [`pob`] and [`atomix`]
//! (cross-shard transactions); [`drp`] (epoch randomness);
//! [`eds`] (the DRP-leader lottery, shard assignment and shard sizing); [`transepoch`]
//! (moving validators between shards at an epoch change).

pub mod atomix;
pub mod block;
pub mod codec;
pub mod crypto;
pub mod drp;
pub mod eds;
pub mod merkle;
pub mod node;
pub mod pob;
pub mod prg;
pub mod record;
pub mod transepoch;
pub mod tx;
pub mod types;
pub mod utxo;
