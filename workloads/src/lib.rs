//! `ioschain-workloads`: genesis state and signed transaction streams.
//!
//! A [`WorkloadSpec`] fixes everything about a workload: the accounts and their genesis
//! outputs, how senders and recipients are drawn, how many inputs and outputs each
//! transaction has, which fraction is deliberately invalid (and how), and the seed.
//! [`generate`] builds it deterministically — the same spec gives the same bytes — and
//! signs the transactions in parallel (clients sign ahead of the run; the engine only
//! verifies). [`cache`] stores generated workloads on disk keyed by the spec's hash, in
//! chunks of stream positions each with its own checksum: [`cache::generate_to_cache`]
//! generates a workload of any length into it a chunk at a time (resuming an
//! interrupted generation), and [`cache::ShardReader`] reads one shard's stream back a
//! chunk at a time, checking each before use.
//!
//! Each shard's stream spends only outputs that exist at that point of the stream, so a
//! correct engine that processes a shard's stream in order rejects exactly the
//! transactions marked invalid, each with the [`Expected`] reason. A fraction of each
//! stream is cross-shard (Atomix, [`Expected::Cross`]): their inputs sit in other shards'
//! streams and [`CrossItem`] says where, how the client behaves and whether the
//! transaction must commit, abort or lose to its conflicting partner. Outputs cross
//! between streams only with a margin of `cross_maturity` positions, so an engine whose
//! shards run within that many positions of each other meets every expectation too.

pub mod cache;
pub mod clients;
pub mod edge;
mod generate;
mod spec;

pub use generate::{
    CANARY_EARLY, CANARY_KINDS, ClientBehaviour, CrossExpected, CrossItem, DOUBLE_SPEND_WINDOW,
    Expected, ShardWorkload, Workload, account_key, generate,
};
pub use spec::{ClientMix, SenderDistribution, SpecError, WorkloadSpec};
