//! Signatures: ed25519 (RFC 8032 signing) verified by one rule, **ZIP-215**, alone and in
//! batches.
//!
//! **The rule** (Zcash's ZIP-215, the consensus rule of every ed25519 check in ioschain:
//! transaction witnesses, lock requests, OptBlock headers, fraud proofs): the key `A` and
//! the signature's `R` must decode as points of the curve, non-canonical encodings
//! accepted (curve25519-dalek's `decompress`); `S` must be canonical (`S < L`); and the
//! cofactored equation `[8][S]B = [8]R + [8][k]A` must hold, with
//! `k = SHA-512(R_bytes ‖ A_bytes ‖ M)` over the bytes as given. Single and batch
//! verification both use the cofactored equation, so an entry's verdict is the same alone
//! and in every batch, whatever its neighbours, order or weights.
//!
//! **The attack it prevents.** ed25519-dalek's `verify_batch` checks the cofactorless
//! equation under weights derived from the batch's contents, so a signature with a
//! small-order component in `R` or `A` passes or fails depending on its batch: a client
//! could craft a transaction that a believable validator's batch accepts and a normal
//! validator's sample rejects (or the reverse), getting an honest validator slashed or
//! two validators to disagree about a block. Under one cofactored rule that transaction
//! gets one verdict from everyone. (ed25519-dalek still signs: its signatures satisfy
//! the rule.)
//!
//! Flow on the engine's hot path: for each transaction the verifier looks up the
//! witnesses' owners in a [`KeyCache`] (decompressing a key costs about a third of a
//! batched verification, so each owner is decompressed once), pushes one entry per
//! witness into a [`BatchVerifier`], and verifies the batch at once. Pushing hashes `k`,
//! decodes `R` and checks `S`; an entry that fails to decode is bad in every grouping and
//! never enters a batch equation. The batch equation is
//! `[8]( −(Σ zᵢSᵢ)B + Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ ) = 0` with 128-bit weights `zᵢ` drawn from a
//! [`Prg`] keyed by the caller's seed and a digest of the batch (every `kᵢ` and `Sᵢ`), so
//! the weights are unpredictable without the seed and bound to the batch even with it;
//! `core` itself has no randomness source. When a batch fails, the verifier checks its
//! entries one by one, so exactly the bad signatures are reported and one bad
//! transaction never rejects its neighbours.
//!
//! Cost model (this machine, one core): a batch of `n` costs about `11.5·n + 250` µs, one
//! signature alone about 30 µs. So once a batch fails, checking its entries singly (≤ 3.5×
//! a clean batch) beats bisecting it, which pays a full pass per level as soon as a few
//! entries are bad. And when bad signatures keep coming, no large batch passes: the
//! verifier tracks the recent bad rate `r` and splits its entries into chunks of about
//! `0.15 / r` (six in seven chunks then pass), checking only the failed chunks singly.
//!
//! Invariants (property-tested in `workloads/tests/signature_verdicts.rs` against
//! ed25519-zebra, an independent ZIP-215 implementation):
//! - an entry is reported bad exactly when [`verify_one`] rejects it (up to the 2⁻¹²⁸
//!   chance that random weights cancel a failure);
//! - the verifier's buffers are reused between batches: no allocation per entry once
//!   they have grown to the batch size.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha512};

use crate::prg::Prg;
use crate::types::Owner;

/// `L`, the order of the base point, little-endian: a signature's `S` must be below it.
pub const GROUP_ORDER: [u8; 32] = [
    237, 211, 245, 92, 26, 99, 18, 88, 214, 156, 247, 162, 222, 249, 222, 20, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 16,
];

/// A public key decoded under ZIP-215: its bytes as given (they enter `k`) and its point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerificationKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl VerificationKey {
    /// Decodes `bytes` as a point of the curve (non-canonical encodings accepted, small
    /// order accepted); `None` if they encode no point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        CompressedEdwardsY(*bytes)
            .decompress()
            .map(|point| VerificationKey {
                bytes: *bytes,
                point,
            })
    }

    /// The encoding the key was decoded from.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl From<&ed25519_dalek::VerifyingKey> for VerificationKey {
    fn from(key: &ed25519_dalek::VerifyingKey) -> Self {
        VerificationKey {
            bytes: key.to_bytes(),
            point: key.to_edwards(),
        }
    }
}

/// Decompressed public keys by owner. Keys that are not valid curve points are
/// remembered as invalid, so a flood of bad keys costs one decompression each.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: FxHashMap<Owner, Option<VerificationKey>>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The decoded key of `owner`, or `None` if its bytes encode no point.
    pub fn get(&mut self, owner: &Owner) -> Option<VerificationKey> {
        *self
            .keys
            .entry(*owner)
            .or_insert_with(|| VerificationKey::from_bytes(&owner.0))
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

/// A signature decoded against its key and message: what both equations need.
#[derive(Clone, Copy, Debug)]
struct Prepared {
    s: Scalar,
    r: EdwardsPoint,
    k: Scalar,
}

/// Decodes `signature` (`R` a point, `S` canonical) and hashes `k`; `None` if it is
/// malformed under the rule.
fn prepare(key: &VerificationKey, message: &[u8], signature: &[u8; 64]) -> Option<Prepared> {
    let (r_bytes, s_bytes) = signature.split_at(32);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(
        s_bytes.try_into().expect("32 bytes"),
    ))?;
    let r = CompressedEdwardsY(r_bytes.try_into().expect("32 bytes")).decompress()?;
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_bytes)
            .chain_update(key.bytes)
            .chain_update(message),
    );
    Some(Prepared { s, r, k })
}

/// The single cofactored equation: `[8](R − ([S]B − [k]A)) = 0`.
fn holds(a: &EdwardsPoint, p: &Prepared) -> bool {
    let r_prime = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &-a, &p.s);
    (p.r - r_prime).mul_by_cofactor().is_identity()
}

/// Verifies one signature over `message` under ZIP-215.
pub fn verify_one(key: &VerificationKey, message: &[u8], signature: &[u8; 64]) -> bool {
    if cfg!(feature = "test-skip-signatures") {
        return true;
    }
    prepare(key, message, signature).is_some_and(|p| holds(&key.point, &p))
}

/// Verifies one signature by a key given as bytes (decoded under ZIP-215 first): for
/// signers outside any cache, such as an OptBlock's signer or a fraud proof's witness.
pub fn verify_encoded(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerificationKey::from_bytes(key).is_some_and(|key| verify_one(&key, message, signature))
}

/// One well-formed entry waiting in a [`BatchVerifier`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    prepared: Prepared,
    a: EdwardsPoint,
    /// Push order, so bad entries are reported in the order they came.
    position: u32,
    tag: u32,
}

/// Accumulates (message, signature, key, tag) entries and verifies them together.
///
/// Tags are the caller's handle on an entry (e.g. the index of its transaction in the
/// batch); [`BatchVerifier::verify`] reports the tags of the bad entries.
#[derive(Debug)]
pub struct BatchVerifier {
    /// Well-formed entries.
    entries: Vec<Entry>,
    /// (position, tag) of entries that failed to decode, and then of every bad entry.
    bad: Vec<(u32, u32)>,
    pushed: u32,
    /// Per-equation buffers: the weights `zᵢ` and the products `zᵢkᵢ`.
    weights: Vec<Scalar>,
    weighted_k: Vec<Scalar>,
    /// Keys the weights' PRG together with each batch's digest.
    seed: [u8; 32],
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
    /// An empty verifier with room for `capacity` entries. `seed` keys the batch weights:
    /// the host passes fresh secret bytes (a simulator its seeded ones); verdicts never
    /// depend on it.
    pub fn with_capacity(capacity: usize, seed: [u8; 32]) -> Self {
        BatchVerifier {
            entries: Vec::with_capacity(capacity),
            bad: Vec::with_capacity(capacity.min(1024)),
            pushed: 0,
            weights: Vec::with_capacity(capacity),
            weighted_k: Vec::with_capacity(capacity),
            seed,
            batches_verified: 0,
            singles_verified: 0,
            bad_rate: 0.0,
        }
    }

    /// Adds one entry: hashes `k`, decodes `R` and checks `S` now (an entry that fails
    /// to decode is bad, whatever else is in the batch).
    pub fn push(
        &mut self,
        message: [u8; 32],
        signature: &[u8; 64],
        key: VerificationKey,
        tag: u32,
    ) {
        let position = self.pushed;
        self.pushed += 1;
        match prepare(&key, &message, signature) {
            Some(prepared) => self.entries.push(Entry {
                prepared,
                a: key.point,
                position,
                tag,
            }),
            None => self.bad.push((position, tag)),
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.pushed as usize
    }

    /// Whether no entry is waiting.
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Batch equations evaluated so far (a cost witness: a clean batch costs one).
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

    /// Verifies every entry, appends the tags of the bad ones to `bad` (in push order),
    /// and empties the verifier for the next batch.
    pub fn verify(&mut self, bad: &mut Vec<u32>) {
        let total = self.pushed as usize;
        // Test-only (feature `test-skip-signatures`): every entry passes unchecked.
        if total > 0 && !cfg!(feature = "test-skip-signatures") {
            let n = self.entries.len();
            let chunk = self.chunk_len(total);
            let mut start = 0;
            while start < n {
                let end = (start + chunk).min(n);
                if !self.batch_holds(start, end) {
                    self.isolate(start, end);
                }
                start = end;
            }
            let rate = self.bad.len() as f64 / total as f64;
            self.bad_rate = 0.7 * self.bad_rate + 0.3 * rate;
            self.bad.sort_unstable_by_key(|&(position, _)| position);
            bad.extend(self.bad.iter().map(|&(_, tag)| tag));
        }
        self.entries.clear();
        self.bad.clear();
        self.pushed = 0;
    }

    /// The batch equation over `entries[start..end]`.
    fn batch_holds(&mut self, start: usize, end: usize) -> bool {
        self.batches_verified += 1;
        let entries = &self.entries[start..end];
        let mut digest = blake3::Hasher::new();
        for e in entries {
            digest.update(e.prepared.k.as_bytes());
            digest.update(e.prepared.s.as_bytes());
        }
        let mut prg = Prg::new(&[
            b"ioschain/sig/batch-weights",
            &self.seed,
            digest.finalize().as_bytes(),
        ]);
        self.weights.clear();
        self.weighted_k.clear();
        let mut weighted_s = Scalar::ZERO;
        let mut z_bytes = [0u8; 16];
        for e in entries {
            prg.fill(&mut z_bytes);
            let z = Scalar::from(u128::from_le_bytes(z_bytes));
            weighted_s += z * e.prepared.s;
            self.weighted_k.push(z * e.prepared.k);
            self.weights.push(z);
        }
        let sum = EdwardsPoint::vartime_multiscalar_mul(
            std::iter::once(-weighted_s)
                .chain(self.weights.iter().copied())
                .chain(self.weighted_k.iter().copied()),
            std::iter::once(&ED25519_BASEPOINT_POINT)
                .chain(entries.iter().map(|e| &e.prepared.r))
                .chain(entries.iter().map(|e| &e.a)),
        );
        sum.mul_by_cofactor().is_identity()
    }

    /// Finds the bad entries of a failed range: each checked on its own with the single
    /// equation (the same rule, so the verdict is the one [`verify_one`] gives).
    fn isolate(&mut self, start: usize, end: usize) {
        for e in &self.entries[start..end] {
            self.singles_verified += 1;
            if !holds(&e.a, &e.prepared) {
                self.bad.push((e.position, e.tag));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    type Triple = ([u8; 32], [u8; 64], VerificationKey);

    fn entries(n: usize) -> Vec<Triple> {
        (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let key = SigningKey::from_bytes(&seed);
                let message = [i as u8; 32];
                (
                    message,
                    key.sign(&message).to_bytes(),
                    VerificationKey::from(&key.verifying_key()),
                )
            })
            .collect()
    }

    fn run(entries: &[Triple]) -> (Vec<u32>, u64) {
        let mut verifier = BatchVerifier::with_capacity(entries.len(), [7; 32]);
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
    fn malformed_entries_are_reported_in_push_order_without_failing_the_batch() {
        let mut all = entries(10);
        // S ≥ L: S + L (S < L, so S + L < 2^253 fits).
        let s = &all[2].1[32..];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for (i, byte) in sum.iter_mut().enumerate() {
            let v = u16::from(s[i]) + u16::from(GROUP_ORDER[i]) + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        all[2].1[32..].copy_from_slice(&sum);
        // R not a point (y = 2).
        all[6].1[..32].copy_from_slice(&{
            let mut y = [0u8; 32];
            y[0] = 2;
            y
        });
        let (bad, equations) = run(&all);
        assert_eq!(bad, vec![2, 6]);
        // The malformed ones never entered the equation, so the rest passed at once.
        assert_eq!(equations, 1);
    }

    #[test]
    fn frequent_bad_signatures_shrink_the_chunks_and_are_all_found() {
        let mut verifier = BatchVerifier::with_capacity(1024, [1; 32]);
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
    fn verify_one_accepts_the_signature_and_nothing_else() {
        let all = entries(2);
        assert!(verify_one(&all[0].2, &all[0].0, &all[0].1));
        assert!(!verify_one(&all[1].2, &all[0].0, &all[0].1));
        assert!(verify_encoded(all[0].2.as_bytes(), &all[0].0, &all[0].1));
        assert!(!verify_encoded(&[2; 32], &all[0].0, &all[0].1));
    }

    #[test]
    fn key_cache_remembers_invalid_keys() {
        let mut cache = KeyCache::new();
        // y = 2 is not the y-coordinate of a curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(cache.get(&Owner(not_a_point)).is_none());
        let good = entries(1)[0].2;
        assert_eq!(cache.get(&Owner(*good.as_bytes())), Some(good));
        assert_eq!(cache.len(), 2);
    }
}
