//! The DRP client, the lottery-elected leader (PROTOCOL.md §2.3 steps 1, 3, 5 and 7):
//! collects `R1` → sends `I2`s, collects `R2` → sends `I3`, collects `R3` → outputs
//! `rnd` and the [`Transcript`].
//!
//! A rejected message is an `Err` and leaves the state unchanged. A phase ends when
//! every server it waits for answered, or on [`ClientInput::Timeout`]: then the run
//! either proceeds (more than `2n/3` `R1`s with `t` usable secrets per group; `t` valid
//! `R3`s per group) or ends with [`ClientOutput::Failed`].

use std::sync::Arc;

use curve25519_dalek::ristretto::RistrettoPoint;

use crate::crypto::cosi::{self, Commitment, Response, Signers};
use crate::crypto::pvss::{self, Dealing, Signature};
use crate::drp::transcript::combine;
use crate::drp::{
    Blame, DrpError, HeldShare, I1, I2, I3, R1, R2, R3, RunParams, ServerKey, ServerSet, Session,
    Transcript,
};
use crate::types::Hash;

/// An input to the client.
#[derive(Clone, Debug)]
pub enum ClientInput {
    /// A server's dealing.
    R1(R1),
    /// A signer's CoSi response.
    R2(R2),
    /// A server's reveal.
    R3(R3),
    /// The host's timeout for the current phase.
    Timeout,
}

/// What the client does next.
#[derive(Clone, Debug)]
pub enum ClientOutput {
    /// Nothing yet.
    Wait,
    /// Send each `I2` to its recipient.
    I2(Vec<I2>),
    /// Broadcast `I3`.
    I3(I3),
    /// The run finished: `rnd` and its proof.
    Done(Hash, Box<Transcript>),
    /// The run failed.
    Failed(DrpError),
}

#[derive(Debug)]
enum Phase {
    AwaitR1,
    AwaitR2,
    AwaitR3,
    Finished,
}

/// The client's DRP state machine.
#[derive(Debug)]
pub struct Client {
    key: ServerKey,
    session: Session,
    i1: I1,
    phase: Phase,
    blames: Vec<Blame>,
    /// `R1` per server, as received.
    r1s: Vec<Option<R1>>,
    responders: usize,
    chosen: Vec<u32>,
    per_group: Vec<Vec<u32>>,
    signers: Signers,
    aggregate_commitment: Option<cosi::AggregateCommitment>,
    challenge: Option<cosi::Challenge>,
    /// Per server: `H(I2)` sent to it, and its CoSi response.
    i2_hashes: Vec<Option<Hash>>,
    responses: Vec<Option<Response>>,
    i3: Option<I3>,
    /// Per group: valid reveals `(server, decrypted points)` in arrival order.
    reveals: Vec<Vec<(u32, Vec<RistrettoPoint>)>>,
    r3s: Vec<R3>,
}

impl Client {
    /// Starts a run led by `key` over `set`: derives the grouping from `grouping_seed`
    /// and returns the client with the signed `I1` to broadcast.
    pub fn new(
        key: ServerKey,
        set: Arc<ServerSet>,
        params: &RunParams,
        grouping_seed: [u8; 32],
    ) -> Result<(Client, I1), DrpError> {
        if params.group_size == 0 {
            return Err(DrpError::Params {
                what: "group size must be at least 1",
            });
        }
        let n = set.len();
        let group_count = n.div_ceil(params.group_size);
        let session = Session::new(
            Arc::clone(&set),
            *key.pvss().public(),
            &params.purpose,
            params.time,
            group_count,
            grouping_seed,
        )?;
        let mut i1 = I1 {
            sid: session.sid(),
            group_count: group_count as u32,
            grouping_seed,
            purpose: params.purpose.clone(),
            time: params.time,
            sig: Signature::from_bytes(&[0; 64]),
        };
        i1.sig = key.pvss().sign(&i1.body_hash());
        let groups = session.groups().len();
        let client = Client {
            key,
            session,
            i1: i1.clone(),
            phase: Phase::AwaitR1,
            blames: Vec::new(),
            r1s: vec![None; n],
            responders: 0,
            chosen: Vec::new(),
            per_group: Vec::new(),
            signers: Signers::new(n),
            aggregate_commitment: None,
            challenge: None,
            i2_hashes: vec![None; n],
            responses: vec![None; n],
            i3: None,
            reveals: vec![Vec::new(); groups],
            r3s: Vec::new(),
        };
        Ok((client, i1))
    }

    /// The session (grouping, `SID`).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Servers blamed so far (bad dealings, bad reveals).
    pub fn blames(&self) -> &[Blame] {
        &self.blames
    }

    /// Handles one input. An `Err` rejects the input and leaves the state unchanged.
    pub fn handle(&mut self, input: ClientInput) -> Result<ClientOutput, DrpError> {
        let output = match (&self.phase, input) {
            (Phase::AwaitR1, ClientInput::R1(r1)) => {
                self.on_r1(r1)?;
                if self.responders == self.session.set().len() {
                    self.choose()
                } else {
                    ClientOutput::Wait
                }
            }
            (Phase::AwaitR1, ClientInput::Timeout) => self.choose(),
            (Phase::AwaitR2, ClientInput::R2(r2)) => self.on_r2(&r2)?,
            (Phase::AwaitR2, ClientInput::Timeout) => {
                let missing = self
                    .signers
                    .iter()
                    .find(|&s| self.responses[s].is_none())
                    .unwrap_or(0);
                ClientOutput::Failed(DrpError::CosiIncomplete {
                    server: missing as u32,
                })
            }
            (Phase::AwaitR3, ClientInput::R3(r3)) => self.on_r3(r3)?,
            (Phase::AwaitR3, ClientInput::Timeout) => {
                let (group, got) = self
                    .reveals
                    .iter()
                    .enumerate()
                    .map(|(g, r)| (g, r.len()))
                    .find(|&(g, got)| got < self.session.threshold(g))
                    .unwrap_or((0, 0));
                ClientOutput::Failed(DrpError::TooFewReveals {
                    group: group as u32,
                    got,
                    need: self.session.threshold(group),
                })
            }
            (_, ClientInput::R1(_)) => return Err(DrpError::UnexpectedMessage { message: "R1" }),
            (_, ClientInput::R2(_)) => return Err(DrpError::UnexpectedMessage { message: "R2" }),
            (_, ClientInput::R3(_)) => return Err(DrpError::UnexpectedMessage { message: "R3" }),
            (_, ClientInput::Timeout) => {
                return Err(DrpError::UnexpectedMessage { message: "timeout" });
            }
        };
        if matches!(output, ClientOutput::Failed(_) | ClientOutput::Done(..)) {
            self.phase = Phase::Finished;
        }
        Ok(output)
    }

    /// Checks and stores an `R1` (its PVSS proofs are checked when choosing).
    fn on_r1(&mut self, r1: R1) -> Result<(), DrpError> {
        check_r1_envelope(&self.session, &self.i1.body_hash(), &r1)?;
        let server = r1.server as usize;
        if self.r1s[server].is_some() {
            return Err(DrpError::UnknownOrRepeatedServer {
                message: "R1",
                server: r1.server,
            });
        }
        Commitment::from_bytes(&r1.cosi_commitment).map_err(|_| DrpError::Malformed {
            message: "R1",
            what: "cosi commitment",
        })?;
        self.r1s[server] = Some(r1);
        self.responders += 1;
        Ok(())
    }

    /// Step 3, choose: usable secrets, chosen list, CoSi challenge, the `I2`s.
    fn choose(&mut self) -> ClientOutput {
        let roster_threshold = self.session.set().roster().threshold();
        if self.responders < roster_threshold {
            return ClientOutput::Failed(DrpError::TooFewResponders {
                got: self.responders,
                need: roster_threshold,
            });
        }
        let sid = self.session.sid();
        let groups = self.session.groups().to_vec();
        let mut per_group = Vec::with_capacity(groups.len());
        for (g, members) in groups.iter().enumerate() {
            let t = self.session.threshold(g);
            let keys = self.session.group_keys(g);
            let mut usable = Vec::with_capacity(t);
            for &dealer in members {
                if usable.len() == t {
                    break;
                }
                let Some(r1) = &self.r1s[dealer as usize] else {
                    continue;
                };
                let dealing = Dealing {
                    commitments: r1.commitments.clone(),
                    shares: r1.shares.clone(),
                };
                match pvss::verify_dealing(&sid, t, &keys, &dealing) {
                    Ok(()) => usable.push(dealer),
                    Err(error) => self.blames.push(Blame {
                        server: dealer,
                        error: DrpError::Pvss {
                            server: dealer,
                            error,
                        },
                    }),
                }
            }
            if usable.len() < t {
                return ClientOutput::Failed(DrpError::TooFewSecrets {
                    group: g as u32,
                    got: usable.len(),
                    need: t,
                });
            }
            usable.sort_unstable();
            per_group.push(usable);
        }
        let mut chosen: Vec<u32> = per_group.iter().flatten().copied().collect();
        chosen.sort_unstable();

        // CoSi: signers are the R1 responders.
        let n = self.session.set().len();
        let signers = Signers::from_indices(n, (0..n).filter(|&s| self.r1s[s].is_some()));
        let commitments: Vec<Commitment> = signers
            .iter()
            .map(|s| {
                let r1 = self.r1s[s].as_ref().expect("signers answered R1");
                Commitment::from_bytes(&r1.cosi_commitment).expect("checked on receipt")
            })
            .collect();
        let aggregate_commitment = cosi::aggregate_commitments(&commitments);
        let aggregate_key = self
            .session
            .set()
            .roster()
            .aggregate_key(&signers)
            .expect("bitmap sized to the roster");
        let message = self.session.chosen_message(&chosen);
        let challenge = cosi::challenge(
            &aggregate_commitment,
            &aggregate_key,
            &signers,
            message.as_bytes(),
        );

        // Evaluations X of every chosen dealing at every position of its group.
        let mut evaluations: Vec<Vec<[u8; 32]>> = Vec::with_capacity(chosen.len());
        let mut digests = Vec::with_capacity(chosen.len());
        for &dealer in &chosen {
            let r1 = self.r1s[dealer as usize].as_ref().expect("chosen answered");
            let points = pvss::decode_commitments(&r1.commitments).expect("verified dealing");
            evaluations.push(
                (0..r1.shares.len())
                    .map(|i| pvss::evaluate(&points, i).compress().to_bytes())
                    .collect(),
            );
            digests.push(pvss::commitments_digest(&r1.commitments));
        }
        let mut i2s = Vec::with_capacity(signers.count());
        for server in signers.iter() {
            let (group, position) = self.session.place(server as u32);
            let held = per_group[group as usize]
                .iter()
                .map(|dealer| {
                    let k = chosen.binary_search(dealer).expect("chosen");
                    let r1 = self.r1s[*dealer as usize]
                        .as_ref()
                        .expect("chosen answered");
                    HeldShare {
                        digest: digests[k],
                        evaluation: evaluations[k][position as usize],
                        share: r1.shares[position as usize],
                    }
                })
                .collect();
            let mut i2 = I2 {
                sid,
                to: server as u32,
                chosen: chosen.clone(),
                signers: signers.clone(),
                cosi_commitment: aggregate_commitment.to_bytes(),
                challenge: challenge.to_bytes(),
                held,
                sig: Signature::from_bytes(&[0; 64]),
            };
            let hash = i2.body_hash();
            i2.sig = self.key.pvss().sign(&hash);
            self.i2_hashes[server] = Some(hash);
            i2s.push(i2);
        }
        self.chosen = chosen;
        self.per_group = per_group;
        self.signers = signers;
        self.aggregate_commitment = Some(aggregate_commitment);
        self.challenge = Some(challenge);
        self.phase = Phase::AwaitR2;
        ClientOutput::I2(i2s)
    }

    /// Step 5, commit: collects responses; when every signer answered, the `I3`.
    fn on_r2(&mut self, r2: &R2) -> Result<ClientOutput, DrpError> {
        let server = r2.server as usize;
        if r2.sid != self.session.sid() {
            return Err(DrpError::SidMismatch { message: "R2" });
        }
        let Some(i2_hash) = self.i2_hashes.get(server).copied().flatten() else {
            return Err(DrpError::UnknownOrRepeatedServer {
                message: "R2",
                server: r2.server,
            });
        };
        if self.responses[server].is_some() {
            return Err(DrpError::UnknownOrRepeatedServer {
                message: "R2",
                server: r2.server,
            });
        }
        if r2.i2_hash != i2_hash {
            return Err(DrpError::WrongRequestHash {
                message: "R2",
                server: r2.server,
            });
        }
        if !self
            .session
            .set()
            .pvss(server)
            .verify(&r2.body_hash(), &r2.sig)
        {
            return Err(DrpError::BadSignature {
                message: "R2",
                server: r2.server,
            });
        }
        let r1 = self.r1s[server].as_ref().expect("signers answered R1");
        let commitment = Commitment::from_bytes(&r1.cosi_commitment).expect("checked");
        let challenge = self.challenge.expect("set when choosing");
        let response = Response::from_bytes(&r2.response).ok();
        let Some(response) = response.filter(|response| {
            cosi::verify_response(
                self.session.set().roster(),
                server,
                &commitment,
                &challenge,
                response,
            )
        }) else {
            // The round binds its signer set: a wrong response ends it.
            self.blames.push(Blame {
                server: r2.server,
                error: DrpError::CosiIncomplete { server: r2.server },
            });
            return Ok(ClientOutput::Failed(DrpError::CosiIncomplete {
                server: r2.server,
            }));
        };
        self.responses[server] = Some(response);
        if self.signers.iter().any(|s| self.responses[s].is_none()) {
            return Ok(ClientOutput::Wait);
        }
        let aggregate = cosi::aggregate_responses(
            self.signers
                .iter()
                .filter_map(|s| self.responses[s].as_ref()),
        );
        let cosig = cosi::CoSignature::new(
            self.aggregate_commitment
                .as_ref()
                .expect("set when choosing"),
            &aggregate,
            self.signers.clone(),
        );
        let message = self.session.chosen_message(&self.chosen);
        debug_assert!(
            cosig
                .verify(self.session.set().roster(), message.as_bytes())
                .is_ok()
        );
        let mut i3 = I3 {
            sid: self.session.sid(),
            chosen: self.chosen.clone(),
            cosig,
            sig: Signature::from_bytes(&[0; 64]),
        };
        i3.sig = self.key.pvss().sign(&i3.body_hash());
        self.i3 = Some(i3.clone());
        self.phase = Phase::AwaitR3;
        Ok(ClientOutput::I3(i3))
    }

    /// Step 7, combine: checks reveals while a group needs them; when every group has
    /// `t`, recovers the secrets and outputs `rnd` with the transcript.
    fn on_r3(&mut self, r3: R3) -> Result<ClientOutput, DrpError> {
        let i3_hash = self.i3.as_ref().expect("sent before R3").body_hash();
        check_r3_envelope(&self.session, &i3_hash, &r3)?;
        let (group, position) = self.session.place(r3.server);
        let group = group as usize;
        let t = self.session.threshold(group);
        if self.reveals[group].len() >= t {
            // The group is complete; a later reveal is not needed (nor checked).
            return Ok(ClientOutput::Wait);
        }
        if self.reveals[group].iter().any(|(s, _)| *s == r3.server) {
            return Err(DrpError::UnknownOrRepeatedServer {
                message: "R3",
                server: r3.server,
            });
        }
        let ys: Vec<[u8; 32]> = self.per_group[group]
            .iter()
            .map(|d| self.r1s[*d as usize].as_ref().expect("chosen").shares[position as usize].y)
            .collect();
        match pvss::verify_decrypted(
            &self.session.sid(),
            self.session.set().pvss(r3.server as usize),
            &ys,
            &r3.decrypted,
        ) {
            Ok(points) => self.reveals[group].push((r3.server, points)),
            Err(error) => {
                let error = DrpError::Pvss {
                    server: r3.server,
                    error,
                };
                self.blames.push(Blame {
                    server: r3.server,
                    error: error.clone(),
                });
                return Err(error);
            }
        }
        self.r3s.push(r3);
        let complete = self
            .reveals
            .iter()
            .enumerate()
            .all(|(g, r)| r.len() >= self.session.threshold(g));
        if !complete {
            return Ok(ClientOutput::Wait);
        }
        let rnd = match combine(&self.session, &self.per_group, &self.reveals) {
            Ok(rnd) => rnd,
            Err(error) => return Ok(ClientOutput::Failed(error)),
        };
        let mut r3s = std::mem::take(&mut self.r3s);
        r3s.sort_unstable_by_key(|r3| r3.server);
        let transcript = Transcript {
            servers: self.session.set().publics().to_vec(),
            client: self.key.pvss().public().to_bytes(),
            i1: self.i1.clone(),
            r1s: self
                .chosen
                .iter()
                .map(|d| self.r1s[*d as usize].clone().expect("chosen"))
                .collect(),
            i3: self.i3.clone().expect("sent"),
            r3s,
        };
        Ok(ClientOutput::Done(rnd, Box::new(transcript)))
    }
}

/// Checks an `R1`'s envelope: `SID`, sender, `H(I1)`, signature and shape.
pub(crate) fn check_r1_envelope(
    session: &Session,
    i1_hash: &Hash,
    r1: &R1,
) -> Result<(), DrpError> {
    if r1.sid != session.sid() {
        return Err(DrpError::SidMismatch { message: "R1" });
    }
    let server = r1.server as usize;
    if server >= session.set().len() {
        return Err(DrpError::UnknownOrRepeatedServer {
            message: "R1",
            server: r1.server,
        });
    }
    if r1.i1_hash != *i1_hash {
        return Err(DrpError::WrongRequestHash {
            message: "R1",
            server: r1.server,
        });
    }
    if !session.set().pvss(server).verify(&r1.body_hash(), &r1.sig) {
        return Err(DrpError::BadSignature {
            message: "R1",
            server: r1.server,
        });
    }
    let group = session.place(r1.server).0 as usize;
    if r1.commitments.len() != session.threshold(group)
        || r1.shares.len() != session.groups()[group].len()
    {
        return Err(DrpError::Malformed {
            message: "R1",
            what: "dealing size",
        });
    }
    Ok(())
}

/// Checks an `R3`'s envelope: `SID`, sender, `H(I3)`, signature.
pub(crate) fn check_r3_envelope(
    session: &Session,
    i3_hash: &Hash,
    r3: &R3,
) -> Result<(), DrpError> {
    if r3.sid != session.sid() {
        return Err(DrpError::SidMismatch { message: "R3" });
    }
    let server = r3.server as usize;
    if server >= session.set().len() {
        return Err(DrpError::UnknownOrRepeatedServer {
            message: "R3",
            server: r3.server,
        });
    }
    if r3.i3_hash != *i3_hash {
        return Err(DrpError::WrongRequestHash {
            message: "R3",
            server: r3.server,
        });
    }
    if !session.set().pvss(server).verify(&r3.body_hash(), &r3.sig) {
        return Err(DrpError::BadSignature {
            message: "R3",
            server: r3.server,
        });
    }
    Ok(())
}
