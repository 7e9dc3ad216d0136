//! Transaction signatures: ed25519 (RFC 8032, ed25519-dalek), verified in batches.
//!
//! Flow on the engine's hot path: for each transaction the verifier looks up the
//! witnesses' owners in a [`KeyCache`] (decompressing a key costs about a third of a
//! batched verification, so each owner is decompressed once), pushes one entry per
//! witness into a [`BatchVerifier`], and verifies the batch at once. When a batch fails,
//! the verifier bisects it, so exactly the bad signatures are reported and one bad
//! transaction never rejects its neighbours.
//!
//! Invariants:
//! - an entry is reported bad if and only if it fails verification on its own, as a
//!   batch of one (so bisection never blames a good signature);
//! - the verifier's buffers are reused between batches: no allocation per entry once
//!   they have grown to the batch size.
//!
//! Note: ed25519-dalek's batch equation is cofactored while its single `verify` is not,
//! so a deliberately crafted signature (small-order components) can pass one and fail
//! the other. The verdict used here is always the batch equation (bisection ends on
//! batches of one), which is deterministic for the same entries.

use ed25519_dalek::{Signature, VerifyingKey};
use rustc_hash::FxHashMap;

use crate::types::Owner;

/// Decompressed public keys by owner. Keys that are not valid curve points are
/// remembered as invalid, so a flood of bad keys costs one decompression each.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: FxHashMap<Owner, Option<VerifyingKey>>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The decompressed key of `owner`, or `None` if its bytes are not a valid key.
    pub fn get(&mut self, owner: &Owner) -> Option<VerifyingKey> {
        *self
            .keys
            .entry(*owner)
            .or_insert_with(|| VerifyingKey::from_bytes(&owner.0).ok())
    }

    /// Number of owners seen.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no owner was seen yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Verifies one signature over a 32-byte message (a transaction id).
pub fn verify_one(key: &VerifyingKey, message: &[u8; 32], signature: &[u8; 64]) -> bool {
    let signature = Signature::from_bytes(signature);
    ed25519_dalek::verify_batch(&[message.as_slice()], &[signature], &[*key]).is_ok()
}

/// Accumulates (message, signature, key, tag) entries and verifies them together.
///
/// Tags are the caller's handle on an entry (e.g. the index of its transaction in the
/// batch); [`BatchVerifier::verify`] reports the tags of the bad entries.
#[derive(Debug, Default)]
pub struct BatchVerifier {
    messages: Vec<[u8; 32]>,
    signatures: Vec<Signature>,
    keys: Vec<VerifyingKey>,
    tags: Vec<u32>,
    batches_verified: u64,
}

impl BatchVerifier {
    /// An empty verifier with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        BatchVerifier {
            messages: Vec::with_capacity(capacity),
            signatures: Vec::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
            tags: Vec::with_capacity(capacity),
            batches_verified: 0,
        }
    }

    /// Adds one entry.
    pub fn push(&mut self, message: [u8; 32], signature: &[u8; 64], key: VerifyingKey, tag: u32) {
        self.messages.push(message);
        self.signatures.push(Signature::from_bytes(signature));
        self.keys.push(key);
        self.tags.push(tag);
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether no entry is waiting.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Batch equations evaluated so far, including those of bisection (a cost witness:
    /// a clean batch costs one).
    pub fn batches_verified(&self) -> u64 {
        self.batches_verified
    }

    /// Verifies every entry, appends the tags of the bad ones to `bad` (in entry order),
    /// and empties the verifier for the next batch.
    pub fn verify(&mut self, bad: &mut Vec<u32>) {
        if !self.tags.is_empty() {
            self.bisect(0, self.tags.len(), bad);
        }
        self.messages.clear();
        self.signatures.clear();
        self.keys.clear();
        self.tags.clear();
    }

    fn batch_ok(&mut self, start: usize, end: usize) -> bool {
        self.batches_verified += 1;
        // One small vector of slices per (sub-)batch, not per entry.
        let messages: Vec<&[u8]> = self.messages[start..end]
            .iter()
            .map(|m| m.as_slice())
            .collect();
        ed25519_dalek::verify_batch(
            &messages,
            &self.signatures[start..end],
            &self.keys[start..end],
        )
        .is_ok()
    }

    fn bisect(&mut self, start: usize, end: usize, bad: &mut Vec<u32>) {
        if self.batch_ok(start, end) {
            return;
        }
        if end - start == 1 {
            bad.push(self.tags[start]);
            return;
        }
        let mid = start + (end - start) / 2;
        self.bisect(start, mid, bad);
        self.bisect(mid, end, bad);
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn entries(n: usize) -> Vec<([u8; 32], [u8; 64], VerifyingKey)> {
        (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let key = SigningKey::from_bytes(&seed);
                let message = [i as u8; 32];
                (message, key.sign(&message).to_bytes(), key.verifying_key())
            })
            .collect()
    }

    fn run(entries: &[([u8; 32], [u8; 64], VerifyingKey)]) -> (Vec<u32>, u64) {
        let mut verifier = BatchVerifier::with_capacity(entries.len());
        for (i, (message, signature, key)) in entries.iter().enumerate() {
            verifier.push(*message, signature, *key, i as u32);
        }
        let mut bad = Vec::new();
        verifier.verify(&mut bad);
        assert!(verifier.is_empty());
        (bad, verifier.batches_verified())
    }

    #[test]
    fn clean_batch_has_no_bad_entries_and_costs_one_equation() {
        let (bad, equations) = run(&entries(64));
        assert!(bad.is_empty());
        assert_eq!(equations, 1);
    }

    #[test]
    fn bisection_finds_exactly_the_bad_signatures() {
        let mut all = entries(100);
        for i in [0usize, 37, 38, 99] {
            all[i].1[5] ^= 0x40;
        }
        let (bad, _) = run(&all);
        assert_eq!(bad, vec![0, 37, 38, 99]);
    }

    #[test]
    fn signature_for_another_message_is_bad() {
        let mut all = entries(8);
        all[3].0[0] ^= 1;
        assert_eq!(run(&all).0, vec![3]);
    }

    #[test]
    fn every_signature_bad_is_reported_for_each() {
        let mut all = entries(16);
        for entry in &mut all {
            entry.1[40] ^= 1;
        }
        assert_eq!(run(&all).0, (0..16).collect::<Vec<u32>>());
    }

    #[test]
    fn verify_one_agrees_with_the_batch() {
        let all = entries(2);
        assert!(verify_one(&all[0].2, &all[0].0, &all[0].1));
        assert!(!verify_one(&all[1].2, &all[0].0, &all[0].1));
    }

    #[test]
    fn key_cache_remembers_invalid_keys() {
        let mut cache = KeyCache::new();
        // y = 2 is not the y-coordinate of a curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(cache.get(&Owner(not_a_point)).is_none());
        let good = entries(1)[0].2;
        assert_eq!(cache.get(&Owner(good.to_bytes())), Some(good));
        assert_eq!(cache.len(), 2);
    }
}
