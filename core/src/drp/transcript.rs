//! The DRP transcript: the public proof of a run (PROTOCOL.md §2.3 step 7, D1).
//!
//! It holds the server set, the client key, `I1`, the `R1` of every chosen dealer, `I3`
//! (chosen list and collective signature) and the `R3`s the client combined. `I2` and
//! `R2` are left out: they are the CoSi round, whose result is the collective signature
//! in `I3`, and the shares `I2` forwards are the chosen `R1`s' own. [`Transcript::verify`]
//! needs nothing else and checks every field it holds, so a single flipped bit in the
//! encoding is a decode error or a failed check, never a different accepted `rnd`.

use std::sync::Arc;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;

use crate::codec::{Decode, DecodeError, Encode, Reader, put_count};
use crate::crypto::cosi::{ProofOfPossession, PublicKey};
use crate::crypto::hash::Domain;
use crate::crypto::pvss::{self, Dealing, PvssPublicKey};
use crate::drp::client::{check_r1_envelope, check_r3_envelope};
use crate::drp::{DrpError, I1, I3, R1, R3, SERVERS_MAX, ServerPublic, ServerSet, Session};
use crate::types::Hash;

/// The public proof of a DRP run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// The server set, in server order.
    pub servers: Vec<ServerPublic>,
    /// The client's (message-signing) key.
    pub client: [u8; 32],
    /// The announcement.
    pub i1: I1,
    /// The chosen dealers' `R1`, ascending by server.
    pub r1s: Vec<R1>,
    /// The chosen list and its collective signature.
    pub i3: I3,
    /// The reveals combined, ascending by server.
    pub r3s: Vec<R3>,
}

impl Transcript {
    /// Checks the whole run and recomputes `rnd` (D1): the server keys, `SID` and the
    /// client's signatures, the chosen list (exactly `t` per group, D3) and its
    /// collective signature, every chosen dealer's signed `R1` and PVSS proofs, every
    /// `R3`'s signature and decryption proofs, at least `t` reveals per group; then
    /// recovers every chosen secret.
    pub fn verify(&self) -> Result<Hash, DrpError> {
        let set = Arc::new(ServerSet::new(self.servers.clone())?);
        let client = PvssPublicKey::from_bytes(&self.client)
            .ok_or(DrpError::Params { what: "client key" })?;
        let session = Session::new(
            set,
            client,
            &self.i1.purpose,
            self.i1.time,
            self.i1.group_count as usize,
            self.i1.grouping_seed,
        )?;
        let sid = session.sid();
        if self.i1.sid != sid {
            return Err(DrpError::SidMismatch { message: "I1" });
        }
        let client_signed = |message: &'static str, hash: &Hash, sig| {
            if client.verify(hash, sig) {
                Ok(())
            } else {
                Err(DrpError::BadSignature {
                    message,
                    server: u32::MAX,
                })
            }
        };
        client_signed("I1", &self.i1.body_hash(), &self.i1.sig)?;
        if self.i3.sid != sid {
            return Err(DrpError::SidMismatch { message: "I3" });
        }
        client_signed("I3", &self.i3.body_hash(), &self.i3.sig)?;
        let per_group = session.check_chosen(&self.i3.chosen)?;
        let message = session.chosen_message(&self.i3.chosen);
        self.i3
            .cosig
            .verify(session.set().roster(), message.as_bytes())
            .map_err(DrpError::BadCollectiveSignature)?;

        if self.r1s.len() != self.i3.chosen.len()
            || self
                .r1s
                .iter()
                .zip(&self.i3.chosen)
                .any(|(r1, dealer)| r1.server != *dealer)
        {
            return Err(DrpError::Malformed {
                message: "transcript",
                what: "R1 list (one per chosen dealer, ascending)",
            });
        }
        let i1_hash = self.i1.body_hash();
        for r1 in &self.r1s {
            check_r1_envelope(&session, &i1_hash, r1)?;
            let group = session.place(r1.server).0 as usize;
            let dealing = Dealing {
                commitments: r1.commitments.clone(),
                shares: r1.shares.clone(),
            };
            pvss::verify_dealing(
                &sid,
                session.threshold(group),
                &session.group_keys(group),
                &dealing,
            )
            .map_err(|error| DrpError::Pvss {
                server: r1.server,
                error,
            })?;
        }

        let i3_hash = self.i3.body_hash();
        let mut reveals = vec![Vec::new(); per_group.len()];
        for (k, r3) in self.r3s.iter().enumerate() {
            if k > 0 && self.r3s[k - 1].server >= r3.server {
                return Err(DrpError::Malformed {
                    message: "transcript",
                    what: "R3 list (ascending)",
                });
            }
            check_r3_envelope(&session, &i3_hash, r3)?;
            let (group, position) = session.place(r3.server);
            let ys: Vec<[u8; 32]> = per_group[group as usize]
                .iter()
                .map(|dealer| {
                    let k = self.i3.chosen.binary_search(dealer).expect("chosen");
                    self.r1s[k].shares[position as usize].y
                })
                .collect();
            let points = pvss::verify_decrypted(
                &sid,
                session.set().pvss(r3.server as usize),
                &ys,
                &r3.decrypted,
            )
            .map_err(|error| DrpError::Pvss {
                server: r3.server,
                error,
            })?;
            reveals[group as usize].push((r3.server, points));
        }
        for (group, got) in reveals.iter().map(Vec::len).enumerate() {
            let need = session.threshold(group);
            if got < need {
                return Err(DrpError::TooFewReveals {
                    group: group as u32,
                    got,
                    need,
                });
            }
        }
        combine(&session, &per_group, &reveals)
    }
}

/// Recovers every chosen secret from its group's reveals (`(server, points in chosen
/// order)`) and returns `rnd = H(DrpOutput ‖ encode(Σ σ_d·H))`.
pub(crate) fn combine(
    session: &Session,
    per_group: &[Vec<u32>],
    reveals: &[Vec<(u32, Vec<RistrettoPoint>)>],
) -> Result<Hash, DrpError> {
    let mut sum = RistrettoPoint::identity();
    for (group, dealers) in per_group.iter().enumerate() {
        for (k, dealer) in dealers.iter().enumerate() {
            let shares: Vec<(u32, RistrettoPoint)> = reveals[group]
                .iter()
                .map(|(server, points)| (session.place(*server).1, points[k]))
                .collect();
            let secret = pvss::recover(session.threshold(group), &shares).map_err(|error| {
                DrpError::Pvss {
                    server: *dealer,
                    error,
                }
            })?;
            sum += secret.0;
        }
    }
    Ok(Domain::DrpOutput.hash(&sum.compress().to_bytes()))
}

impl Encode for Transcript {
    fn encode(&self, out: &mut Vec<u8>) {
        put_count(out, self.servers.len());
        for server in &self.servers {
            out.extend_from_slice(server.cosi.as_bytes());
            out.extend_from_slice(&server.possession.to_bytes());
            out.extend_from_slice(&server.pvss);
        }
        out.extend_from_slice(&self.client);
        self.i1.encode(out);
        put_count(out, self.r1s.len());
        for r1 in &self.r1s {
            r1.encode(out);
        }
        self.i3.encode(out);
        put_count(out, self.r3s.len());
        for r3 in &self.r3s {
            r3.encode(out);
        }
    }
}

impl Decode for Transcript {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = reader.count("servers", SERVERS_MAX, ServerPublic::ENCODED_LEN)?;
        let servers = (0..count)
            .map(|_| {
                Ok(ServerPublic {
                    cosi: PublicKey::from_bytes(&reader.array("cosi key")?),
                    possession: ProofOfPossession::from_bytes(&reader.array("possession")?),
                    pvss: reader.array("pvss key")?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        let client = reader.array("client key")?;
        let i1 = I1::decode(reader)?;
        let count = reader.count("R1s", SERVERS_MAX, 1)?;
        let r1s = (0..count)
            .map(|_| R1::decode(reader))
            .collect::<Result<_, _>>()?;
        let i3 = I3::decode(reader)?;
        let count = reader.count("R3s", SERVERS_MAX, 1)?;
        let r3s = (0..count)
            .map(|_| R3::decode(reader))
            .collect::<Result<_, _>>()?;
        Ok(Transcript {
            servers,
            client,
            i1,
            r1s,
            i3,
            r3s,
        })
    }
}
