//! The DRP messages `I1`…`R3` (PROTOCOL.md §2.2) and their canonical encodings.
//!
//! Every message is `body ‖ sig`, where `sig` is its sender's signature on
//! `H(DrpMessage ‖ kind ‖ body)` ([`R1::body_hash`] and friends); that hash is also the
//! `H(I*)` a reply carries. Counts are `u16` with named bounds, points and scalars are
//! fixed 32-byte fields, so every message has exactly one encoding.

use crate::codec::{Decode, DecodeError, Encode, Reader, put_count};
use crate::crypto::cosi::{CoSignature, Signers};
use crate::crypto::hash::Domain;
use crate::crypto::pvss::{DecryptedShare, DleqProof, EncryptedShare, Signature};
use crate::drp::{PURPOSE_LEN_MAX, SERVERS_MAX};
use crate::types::Hash;

/// Most members in a group (bounds share and commitment lists).
pub const GROUP_MAX: usize = 1024;

fn body_hash(kind: u8, body: &[u8]) -> Hash {
    Domain::DrpMessage.hash_parts(&[&[kind], body])
}

fn put_sig(out: &mut Vec<u8>, sig: &Signature) {
    out.extend_from_slice(&sig.to_bytes());
}

fn read_sig(reader: &mut Reader<'_>) -> Result<Signature, DecodeError> {
    Ok(Signature::from_bytes(&reader.array("signature")?))
}

fn put_proof(out: &mut Vec<u8>, proof: &DleqProof) {
    out.extend_from_slice(&proof.a1);
    out.extend_from_slice(&proof.a2);
    out.extend_from_slice(&proof.r);
}

fn read_proof(reader: &mut Reader<'_>) -> Result<DleqProof, DecodeError> {
    Ok(DleqProof {
        a1: reader.array("dleq a1")?,
        a2: reader.array("dleq a2")?,
        r: reader.array("dleq r")?,
    })
}

fn put_encrypted(out: &mut Vec<u8>, share: &EncryptedShare) {
    out.extend_from_slice(&share.y);
    put_proof(out, &share.proof);
}

fn read_encrypted(reader: &mut Reader<'_>) -> Result<EncryptedShare, DecodeError> {
    Ok(EncryptedShare {
        y: reader.array("encrypted share")?,
        proof: read_proof(reader)?,
    })
}

fn put_indices(out: &mut Vec<u8>, indices: &[u32]) {
    put_count(out, indices.len());
    for index in indices {
        out.extend_from_slice(&index.to_le_bytes());
    }
}

fn read_indices(reader: &mut Reader<'_>, what: &'static str) -> Result<Vec<u32>, DecodeError> {
    let count = reader.count(what, SERVERS_MAX, 4)?;
    (0..count).map(|_| reader.u32(what)).collect()
}

fn put_signers(out: &mut Vec<u8>, signers: &Signers) {
    put_count(out, signers.len());
    signers.encode(out);
}

fn read_signers(reader: &mut Reader<'_>) -> Result<Signers, DecodeError> {
    let len = reader.count("signers", SERVERS_MAX, 0)?;
    let bytes = reader.take(len.div_ceil(8), "signer bitmap")?;
    Signers::from_bytes(bytes, len).map_err(|_| DecodeError::Invalid {
        what: "signer bitmap",
    })
}

/// Implements `Encode`/`Decode` as `body ‖ sig` and the body hash for a message.
macro_rules! signed_message {
    ($ty:ident, $kind:literal) => {
        impl $ty {
            /// `H(DrpMessage ‖ kind ‖ body)`: what the sender signs, and what a reply
            /// names.
            pub fn body_hash(&self) -> Hash {
                let mut body = Vec::new();
                self.put_body(&mut body);
                body_hash($kind, &body)
            }
        }

        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                self.put_body(out);
                put_sig(out, &self.sig);
            }
        }

        impl Decode for $ty {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Self::read_body(reader)
            }
        }
    };
}

/// `I1`, client → all servers: `SID`, group count, grouping seed, purpose, time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I1 {
    /// The session id.
    pub sid: Hash,
    /// Number of groups `g`.
    pub group_count: u32,
    /// The seed of the grouping.
    pub grouping_seed: [u8; 32],
    /// What the randomness is for.
    pub purpose: Vec<u8>,
    /// The run's time (epoch or timestamp).
    pub time: u64,
    /// The client's signature.
    pub sig: Signature,
}

impl I1 {
    fn put_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sid.as_bytes());
        out.extend_from_slice(&self.group_count.to_le_bytes());
        out.extend_from_slice(&self.grouping_seed);
        put_count(out, self.purpose.len());
        out.extend_from_slice(&self.purpose);
        out.extend_from_slice(&self.time.to_le_bytes());
    }

    fn read_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sid = Hash(reader.array("sid")?);
        let group_count = reader.u32("group count")?;
        let grouping_seed = reader.array("grouping seed")?;
        let len = reader.count("purpose", PURPOSE_LEN_MAX, 1)?;
        let purpose = reader.take(len, "purpose")?.to_vec();
        Ok(I1 {
            sid,
            group_count,
            grouping_seed,
            purpose,
            time: reader.u64("time")?,
            sig: read_sig(reader)?,
        })
    }
}
signed_message!(I1, 1);

/// `R1`, server → client: its dealing to its group and its CoSi commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R1 {
    /// The session id.
    pub sid: Hash,
    /// The sender.
    pub server: u32,
    /// `H(I1)`.
    pub i1_hash: Hash,
    /// Feldman commitments (`t`).
    pub commitments: Vec<[u8; 32]>,
    /// Encrypted shares, one per group member in position order.
    pub shares: Vec<EncryptedShare>,
    /// CoSi commitment `V_i`.
    pub cosi_commitment: [u8; 32],
    /// The server's signature.
    pub sig: Signature,
}

impl R1 {
    fn put_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sid.as_bytes());
        out.extend_from_slice(&self.server.to_le_bytes());
        out.extend_from_slice(self.i1_hash.as_bytes());
        put_count(out, self.commitments.len());
        for c in &self.commitments {
            out.extend_from_slice(c);
        }
        put_count(out, self.shares.len());
        for share in &self.shares {
            put_encrypted(out, share);
        }
        out.extend_from_slice(&self.cosi_commitment);
    }

    fn read_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sid = Hash(reader.array("sid")?);
        let server = reader.u32("server")?;
        let i1_hash = Hash(reader.array("I1 hash")?);
        let count = reader.count("commitments", GROUP_MAX, 32)?;
        let commitments = (0..count)
            .map(|_| reader.array("commitment"))
            .collect::<Result<_, _>>()?;
        let count = reader.count("encrypted shares", GROUP_MAX, 128)?;
        let shares = (0..count)
            .map(|_| read_encrypted(reader))
            .collect::<Result<_, _>>()?;
        Ok(R1 {
            sid,
            server,
            i1_hash,
            commitments,
            shares,
            cosi_commitment: reader.array("cosi commitment")?,
            sig: read_sig(reader)?,
        })
    }
}
signed_message!(R1, 2);

/// A chosen secret's share addressed to an `I2`'s recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldShare {
    /// The digest of the dealer's commitments.
    pub digest: Hash,
    /// The share's evaluation `X_i` in the exponent, compressed.
    pub evaluation: [u8; 32],
    /// The encrypted share with its proof.
    pub share: EncryptedShare,
}

/// `I2`, client → each signer: the chosen list, the CoSi challenge and the chosen
/// shares the recipient holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I2 {
    /// The session id.
    pub sid: Hash,
    /// The recipient.
    pub to: u32,
    /// Chosen dealers, ascending.
    pub chosen: Vec<u32>,
    /// The CoSi signers (the `R1` responders).
    pub signers: Signers,
    /// The aggregate CoSi commitment `R`.
    pub cosi_commitment: [u8; 32],
    /// The CoSi challenge on `H(SID ‖ chosen)`.
    pub challenge: [u8; 32],
    /// The recipient's shares of the chosen secrets of its group, in chosen order.
    pub held: Vec<HeldShare>,
    /// The client's signature.
    pub sig: Signature,
}

impl I2 {
    fn put_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sid.as_bytes());
        out.extend_from_slice(&self.to.to_le_bytes());
        put_indices(out, &self.chosen);
        put_signers(out, &self.signers);
        out.extend_from_slice(&self.cosi_commitment);
        out.extend_from_slice(&self.challenge);
        put_count(out, self.held.len());
        for held in &self.held {
            out.extend_from_slice(held.digest.as_bytes());
            out.extend_from_slice(&held.evaluation);
            put_encrypted(out, &held.share);
        }
    }

    fn read_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sid = Hash(reader.array("sid")?);
        let to = reader.u32("recipient")?;
        let chosen = read_indices(reader, "chosen")?;
        let signers = read_signers(reader)?;
        let cosi_commitment = reader.array("cosi commitment")?;
        let challenge = reader.array("challenge")?;
        let count = reader.count("held shares", GROUP_MAX, 192)?;
        let held = (0..count)
            .map(|_| {
                Ok(HeldShare {
                    digest: Hash(reader.array("digest")?),
                    evaluation: reader.array("evaluation")?,
                    share: read_encrypted(reader)?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(I2 {
            sid,
            to,
            chosen,
            signers,
            cosi_commitment,
            challenge,
            held,
            sig: read_sig(reader)?,
        })
    }
}
signed_message!(I2, 3);

/// `R2`, signer → client: its CoSi response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R2 {
    /// The session id.
    pub sid: Hash,
    /// The sender.
    pub server: u32,
    /// `H(I2)` of the `I2` it answers.
    pub i2_hash: Hash,
    /// The CoSi response `s_i`.
    pub response: [u8; 32],
    /// The server's signature.
    pub sig: Signature,
}

impl R2 {
    fn put_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sid.as_bytes());
        out.extend_from_slice(&self.server.to_le_bytes());
        out.extend_from_slice(self.i2_hash.as_bytes());
        out.extend_from_slice(&self.response);
    }

    fn read_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(R2 {
            sid: Hash(reader.array("sid")?),
            server: reader.u32("server")?,
            i2_hash: Hash(reader.array("I2 hash")?),
            response: reader.array("response")?,
            sig: read_sig(reader)?,
        })
    }
}
signed_message!(R2, 4);

/// `I3`, client → all: the chosen list and its collective signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I3 {
    /// The session id.
    pub sid: Hash,
    /// Chosen dealers, ascending.
    pub chosen: Vec<u32>,
    /// The collective signature on `H(SID ‖ chosen)`.
    pub cosig: CoSignature,
    /// The client's signature.
    pub sig: Signature,
}

impl I3 {
    fn put_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sid.as_bytes());
        put_indices(out, &self.chosen);
        put_count(out, self.cosig.signers.len());
        self.cosig.encode(out);
    }

    fn read_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sid = Hash(reader.array("sid")?);
        let chosen = read_indices(reader, "chosen")?;
        let len = reader.count("cosignature signers", SERVERS_MAX, 0)?;
        let bytes = reader.take(CoSignature::encoded_len(len), "cosignature")?;
        let cosig = CoSignature::from_bytes(bytes, len).map_err(|_| DecodeError::Invalid {
            what: "cosignature",
        })?;
        Ok(I3 {
            sid,
            chosen,
            cosig,
            sig: read_sig(reader)?,
        })
    }
}
signed_message!(I3, 5);

/// `R3`, server → client: its decrypted shares of the chosen secrets of its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R3 {
    /// The session id.
    pub sid: Hash,
    /// The sender.
    pub server: u32,
    /// `H(I3)`.
    pub i3_hash: Hash,
    /// One per chosen dealer of the sender's group, in chosen order.
    pub decrypted: Vec<DecryptedShare>,
    /// The server's signature.
    pub sig: Signature,
}

impl R3 {
    fn put_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sid.as_bytes());
        out.extend_from_slice(&self.server.to_le_bytes());
        out.extend_from_slice(self.i3_hash.as_bytes());
        put_count(out, self.decrypted.len());
        for share in &self.decrypted {
            out.extend_from_slice(&share.s);
            put_proof(out, &share.proof);
        }
    }

    fn read_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sid = Hash(reader.array("sid")?);
        let server = reader.u32("server")?;
        let i3_hash = Hash(reader.array("I3 hash")?);
        let count = reader.count("decrypted shares", GROUP_MAX, 128)?;
        let decrypted = (0..count)
            .map(|_| {
                Ok(DecryptedShare {
                    s: reader.array("decrypted share")?,
                    proof: read_proof(reader)?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(R3 {
            sid,
            server,
            i3_hash,
            decrypted,
            sig: read_sig(reader)?,
        })
    }
}
signed_message!(R3, 6);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r1_round_trips_and_rejects_truncation() {
        let share = EncryptedShare {
            y: [1; 32],
            proof: DleqProof {
                a1: [2; 32],
                a2: [3; 32],
                r: [4; 32],
            },
        };
        let r1 = R1 {
            sid: Hash([5; 32]),
            server: 7,
            i1_hash: Hash([6; 32]),
            commitments: vec![[8; 32]; 2],
            shares: vec![share; 3],
            cosi_commitment: [9; 32],
            sig: Signature::from_bytes(&[10; 64]),
        };
        let bytes = r1.to_bytes();
        assert_eq!(R1::from_bytes(&bytes).unwrap(), r1);
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(R1::from_bytes(&bytes[..cut]).is_err());
        }
    }
}
