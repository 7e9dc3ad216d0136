//! `ioschain-benches`: criterion benchmarks of the hot paths, in `benches/`, named
//! `module::op/param=value`. Run them with `cargo bench -p ioschain-benches`.
