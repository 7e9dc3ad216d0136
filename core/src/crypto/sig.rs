//! Transaction signatures: ed25519 (RFC 8032, ed25519-dalek), verified in batches.
//!
//! Flow on the engine's hot path: for each transaction the verifier looks up the
//! witnesses' owners in a [`KeyCache`] (decompressing a key costs about a third of a
//! batched verification, so each owner is decompressed once), pushes one entry per
//! witness into a [`BatchVerifier`], and verifies the batch at once. When a batch fails,
//! the verifier checks its entries one by one, so exactly the bad signatures are
//! reported and one bad transaction never rejects its neighbours.
//!
//! Cost model (this machine, one core): a batch of `n` costs about `11.5·n + 250` µs, one
//! signature alone about 30 µs. So once a batch fails, checking its entries singly (≤ 3.5×
//! a clean batch) beats bisecting it, which pays a full pass per level as soon as a few
//! entries are bad (about 11× at 2.5% bad in 2048). And when bad signatures keep coming,
//! no large batch passes: the verifier tracks the recent bad rate `r` and splits its
//! entries into chunks of about `0.15 / r` (six in seven chunks then pass), checking only
//! the failed chunks singly.
//!
//! Invariants:
//! - an entry is reported bad only if it fails on its own (single verification, or, for
//!   the pathological signatures on which single and batch verification disagree, a
//!   batch of one); an entry in a chunk that passed is good;
//! - the verifier's buffers are reused between batches: no allocation per entry once
//!   they have grown to the batch size.
//!
//! Note: ed25519-dalek's batch equation is cofactored while its single `verify` is not,
//! so a deliberately crafted signature (small-order components) can pass one and fail
//! the other; where that happens inside a failed chunk the chunk is bisected with the
//! batch equation.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
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
    key.verify(message, &Signature::from_bytes(signature))
        .is_ok()
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
    singles_verified: u64,
    /// Moving average of the share of bad entries in recent batches.
    bad_rate: f64,
}

/// Bad entries expected per chunk when the verifier splits batches: 0.15 makes about six
/// in seven chunks pass. (Measured at 0.25% bad signatures: smaller chunks pay the
/// batch's fixed cost more often, larger ones fail more often and are re-checked singly.)
pub const CHUNK_EXPECTED_BAD: f64 = 0.15;

/// Smallest chunk a batch is split into when bad signatures are frequent (below this,
/// a batch's fixed cost outweighs its per-signature saving over single verification).
pub const CHUNK_MIN: usize = 16;

impl BatchVerifier {
    /// An empty verifier with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        BatchVerifier {
            messages: Vec::with_capacity(capacity),
            signatures: Vec::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
            tags: Vec::with_capacity(capacity),
            batches_verified: 0,
            singles_verified: 0,
            bad_rate: 0.0,
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

    /// Single verifications made so far (a cost witness, with
    /// [`BatchVerifier::batches_verified`]).
    pub fn singles_verified(&self) -> u64 {
        self.singles_verified
    }

    /// The recent share of bad entries (moving average over batches).
    pub fn bad_rate(&self) -> f64 {
        self.bad_rate
    }

    fn chunk_len(&self, n: usize) -> usize {
        if self.bad_rate * n as f64 <= CHUNK_EXPECTED_BAD {
            n
        } else {
            ((CHUNK_EXPECTED_BAD / self.bad_rate) as usize)
                .max(CHUNK_MIN)
                .min(n)
        }
    }

    /// Verifies every entry, appends the tags of the bad ones to `bad` (in entry order),
    /// and empties the verifier for the next batch.
    pub fn verify(&mut self, bad: &mut Vec<u32>) {
        let n = self.tags.len();
        if n > 0 {
            let before = bad.len();
            let chunk = self.chunk_len(n);
            let mut start = 0;
            while start < n {
                let end = (start + chunk).min(n);
                if !self.batch_ok(start, end) {
                    self.isolate(start, end, bad);
                }
                start = end;
            }
            let rate = (bad.len() - before) as f64 / n as f64;
            self.bad_rate = 0.7 * self.bad_rate + 0.3 * rate;
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

    /// Finds the bad entries of a failed range: each checked on its own; if none fails
    /// alone (single and batch verification disagree on a crafted signature), bisect.
    fn isolate(&mut self, start: usize, end: usize, bad: &mut Vec<u32>) {
        let before = bad.len();
        for i in start..end {
            self.singles_verified += 1;
            if self.keys[i]
                .verify(&self.messages[i], &self.signatures[i])
                .is_err()
            {
                bad.push(self.tags[i]);
            }
        }
        if bad.len() == before {
            self.bisect(start, end, bad);
        }
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
    fn failed_batch_reports_exactly_the_bad_signatures() {
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
    fn frequent_bad_signatures_shrink_the_chunks_and_are_all_found() {
        let mut verifier = BatchVerifier::with_capacity(1024);
        let mut bad = Vec::new();
        for round in 0..4 {
            let mut all = entries(512);
            // About 3% bad, spread out.
            let corrupt: Vec<u32> = (0..512).filter(|i| (i * 7 + round) % 32 == 0).collect();
            for &i in &corrupt {
                all[i as usize].1[3] ^= 0x80;
            }
            for (i, (message, signature, key)) in all.iter().enumerate() {
                verifier.push(*message, signature, *key, i as u32);
            }
            bad.clear();
            verifier.verify(&mut bad);
            assert_eq!(bad, corrupt, "round {round}");
        }
        // The first batch failed whole; afterwards chunks of about 0.15 / 3% = 5 → 16.
        assert!(verifier.bad_rate() > 0.02, "{}", verifier.bad_rate());
        assert_eq!(verifier.chunk_len(512), CHUNK_MIN);
        // A batch smaller than the minimum chunk is one chunk.
        assert_eq!(verifier.chunk_len(5), 5);
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
