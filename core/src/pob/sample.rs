//! Routing and sampling (PROTOCOL.md §6.5 steps 1 and 5).
//!
//! Routing: a transaction goes to believable validator `b = H(first input) mod L`, so
//! every UTXO is owned by exactly one believable validator and two of them can never
//! both spend it (P4); a retry `r` after a timeout goes to `(b + r) mod L`.
//!
//! Sampling: each normal validator proves one VRF per OptBlock over the block's header
//! hash; the proof's output keys a hash that selects each transaction with probability
//! `p` ([`crate::crypto::vrf::selects`]). The signer cannot predict the sample (it lacks
//! the validator's secret key), the validator cannot grind it (one output per key and
//! block), and anyone can check it afterwards from the published proof. An invalid
//! transaction escapes `V` independent honest samplers with probability `(1 − p)^V`.
//!
//! Publishing: each FinalBlock carries, for every OptBlock it references, one
//! [`SampleProof`] per sampler (its roster index and its proof; the output is derived
//! from the proof), so the sample is provable afterwards (PROTOCOL.md §6.5 step 5).

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::crypto::hash::Domain;
use crate::crypto::vrf::{PROOF_LEN, VrfError, VrfProof, VrfPublicKey, VrfSecretKey, selects};
use crate::types::{Hash, OutPoint, ValidatorId};

/// The believable validator (league index) a transaction is routed to, given its first
/// input, the league size and the retry count.
pub fn route(first_input: &OutPoint, league_size: u16, retry: u16) -> u16 {
    assert!(league_size > 0, "an empty believable league routes nothing");
    let mut bytes = [0u8; 36];
    bytes[..32].copy_from_slice(&first_input.tx.0.0);
    bytes[32..].copy_from_slice(&first_input.index.to_le_bytes());
    let home = Domain::Prg
        .hash_parts(&[b"ioschain/route", &bytes])
        .prefix_u64()
        % u64::from(league_size);
    ((home + u64::from(retry)) % u64::from(league_size)) as u16
}

fn alpha(block: &Hash) -> [u8; 48] {
    let mut alpha = [0u8; 48];
    alpha[..16].copy_from_slice(b"ioschain/sample\0");
    alpha[16..].copy_from_slice(&block.0);
    alpha
}

/// One normal validator's sample of one OptBlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The VRF proof over the block's header hash (published to prove the sample).
    pub proof: VrfProof,
    key: [u8; 32],
}

impl Sample {
    /// Draws `key`'s sample of the OptBlock whose header hash is `block`.
    pub fn draw(key: &VrfSecretKey, block: &Hash) -> Sample {
        let proof = key.prove(&alpha(block));
        Sample {
            key: proof.output().sample_key(),
            proof,
        }
    }

    /// Checks that `proof` is `public`'s sample of `block`, and rebuilds it.
    pub fn verify(
        public: &VrfPublicKey,
        block: &Hash,
        proof: &VrfProof,
    ) -> Result<Sample, VrfError> {
        let output = public.verify(&alpha(block), proof)?;
        Ok(Sample {
            proof: *proof,
            key: output.sample_key(),
        })
    }

    /// Whether the transaction with this id is in the sample at probability `p`.
    pub fn selects(&self, tx: &Hash, p: f64) -> bool {
        selects(&self.key, &tx.0, p)
    }
}

/// One sampler's published sample of one OptBlock: who drew it and the VRF proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleProof {
    /// The sampler's roster index.
    pub sampler: ValidatorId,
    /// Its proof over the OptBlock's header hash.
    pub proof: VrfProof,
}

impl SampleProof {
    /// Encoded length: the roster index (`u32`) and the proof.
    pub const ENCODED_LEN: usize = 4 + PROOF_LEN;

    /// Checks the proof under the sampler's `public` key over `block`, and rebuilds the
    /// sample.
    pub fn verify(&self, public: &VrfPublicKey, block: &Hash) -> Result<Sample, VrfError> {
        Sample::verify(public, block, &self.proof)
    }
}

impl Encode for SampleProof {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sampler.0.to_le_bytes());
        out.extend_from_slice(&self.proof.to_bytes());
    }
}

impl Decode for SampleProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sampler = ValidatorId(reader.u32("sampler")?);
        let proof = VrfProof::from_bytes(&reader.array("vrf proof")?)
            .map_err(|_| DecodeError::Invalid { what: "vrf proof" })?;
        Ok(SampleProof { sampler, proof })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TxId;

    fn validator(i: u32) -> VrfSecretKey {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        seed[31] = 0x5a;
        VrfSecretKey::from_seed(&seed)
    }

    #[test]
    fn routing_is_stable_in_range_and_retries_move_on() {
        let input = OutPoint {
            tx: TxId(Hash([7; 32])),
            index: 1,
        };
        let home = route(&input, 4, 0);
        assert!(home < 4);
        assert_eq!(route(&input, 4, 0), home);
        assert_eq!(route(&input, 4, 1), (home + 1) % 4);
        let mut counts = [0u32; 4];
        for i in 0..4000u32 {
            let input = OutPoint {
                tx: TxId(Domain::Prg.hash(&i.to_le_bytes())),
                index: 0,
            };
            counts[route(&input, 4, 0) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
    }

    #[test]
    fn a_published_sample_verifies_and_reproduces_every_decision() {
        let key = validator(1);
        let block = Domain::Prg.hash(b"opt block");
        let sample = Sample::draw(&key, &block);
        let rebuilt = Sample::verify(&key.public(), &block, &sample.proof).unwrap();
        for i in 0..200u32 {
            let tx = Domain::Prg.hash(&i.to_le_bytes());
            assert_eq!(sample.selects(&tx, 0.1), rebuilt.selects(&tx, 0.1));
        }
        // The proof is bound to its block and its key.
        assert!(Sample::verify(&key.public(), &Domain::Prg.hash(b"other"), &sample.proof).is_err());
        assert!(Sample::verify(&validator(2).public(), &block, &sample.proof).is_err());
    }

    #[test]
    fn a_sample_proof_round_trips_and_a_malformed_one_is_refused() {
        let block = Domain::Prg.hash(b"opt block");
        let published = SampleProof {
            sampler: ValidatorId(70_000),
            proof: Sample::draw(&validator(3), &block).proof,
        };
        let bytes = published.to_bytes();
        assert_eq!(bytes.len(), SampleProof::ENCODED_LEN);
        assert_eq!(SampleProof::from_bytes(&bytes), Ok(published));
        assert!(published.verify(&validator(3).public(), &block).is_ok());
        for cut in 0..bytes.len() {
            assert!(SampleProof::from_bytes(&bytes[..cut]).is_err());
        }
        // `s` (the last 32 bytes) set to all ones is not below the group order.
        let mut bad = bytes.clone();
        bad[4 + 48..].fill(0xff);
        assert_eq!(
            SampleProof::from_bytes(&bad),
            Err(DecodeError::Invalid { what: "vrf proof" })
        );
        // A flipped byte of `c` decodes but no longer verifies.
        let mut flipped = bytes;
        flipped[4 + 40] ^= 1;
        let flipped = SampleProof::from_bytes(&flipped).unwrap();
        assert!(flipped.verify(&validator(3).public(), &block).is_err());
    }

    /// With V = 68 honest samplers at p = 0.1, an invalid transaction escapes all of
    /// them with probability 0.9^68 ≈ 7.7e-4 (PROTOCOL.md §6.6). Over 40,000 invalid
    /// transactions about 31 escape; the count is binomial, so the test accepts the
    /// model ± 5 standard deviations (≈ ±28): tight enough to catch correlated samplers
    /// (which would escape far more often) or a wrong p.
    #[test]
    fn escape_rate_matches_one_minus_p_to_the_v() {
        const V: u32 = 68;
        const P: f64 = 0.1;
        const N: u32 = 40_000;
        let block = Domain::Prg.hash(b"block with invalid txs");
        let samples: Vec<Sample> = (0..V)
            .map(|i| Sample::draw(&validator(i), &block))
            .collect();
        let escaped = (0..N)
            .filter(|i| {
                let tx = Domain::Prg.hash_parts(&[b"invalid", &i.to_le_bytes()]);
                samples.iter().all(|s| !s.selects(&tx, P))
            })
            .count() as f64;
        let q = (1.0 - P).powi(V as i32);
        let mean = f64::from(N) * q;
        let sd = (f64::from(N) * q * (1.0 - q)).sqrt();
        assert!(
            (escaped - mean).abs() <= 5.0 * sd,
            "{escaped} escaped, model {mean:.1} ± {sd:.1}"
        );
    }
}
