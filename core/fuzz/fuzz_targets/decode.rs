//! Decoders of untrusted bytes must never panic, and must accept only canonical
//! encodings. Run on stable: `cd core && cargo fuzz run decode -s none`.
#![no_main]

use ioschain_core::block::{Block, BlockHeader};
use ioschain_core::codec::{Decode, Encode};
use ioschain_core::tx::Transaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = Transaction::from_bytes(data) {
        assert_eq!(tx.to_bytes(), data);
        let _ = tx.check_structure();
        let _ = tx.id();
    }
    if let Ok(header) = BlockHeader::from_bytes(data) {
        assert_eq!(header.to_bytes(), data);
    }
    if let Ok(block) = Block::from_bytes(data) {
        assert_eq!(block.to_bytes(), data);
        let _ = block.check_body();
    }
});
