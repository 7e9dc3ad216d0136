//! `ioschain`: the engine and benchmarking harness (placeholder until the engine lands).

fn main() {
    println!("ioschain {}", env!("CARGO_PKG_VERSION"));
}
