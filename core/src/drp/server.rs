//! The DRP server (PROTOCOL.md §2.3 steps 2, 4 and 6): `I1 → R1`, `I2 → R2`,
//! `I3 → R3`, or a timeout → the leader-silent outcome.
//!
//! A rejected message leaves the state unchanged (the server keeps waiting); a valid
//! one moves it to the next phase. D2 is kept here: [`Phase::AwaitI3`] holds the exact
//! chosen list signed in `R2`, and only an `I3` whose collective signature verifies on
//! that list makes the server decrypt.

use std::sync::Arc;

use crate::crypto::cosi::{self, Challenge, Nonce};
use crate::crypto::hash::Domain;
use crate::crypto::pvss::{self, PvssPublicKey, Signature};
use crate::drp::{DrpError, I1, I2, I3, R1, R2, R3, ServerKey, ServerSet, Session};
use crate::prg::Prg;
use crate::types::Hash;

/// What a server expects of the run it takes part in (from the lottery and the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The leader's key (the lottery winner).
    pub client: PvssPublicKey,
    /// The purpose, e.g. `b"IOS-epoch-7"`.
    pub purpose: Vec<u8>,
    /// The run's time.
    pub time: u64,
}

/// An input to a server.
#[derive(Clone, Debug)]
pub enum ServerInput {
    /// The leader's announcement.
    I1(I1),
    /// The leader's choice and CoSi challenge.
    I2(I2),
    /// The leader's collective signature.
    I3(I3),
    /// The host's timeout for the current phase.
    Timeout,
}

/// A server's answer.
#[derive(Clone, Debug)]
pub enum ServerOutput {
    /// Send `R1` to the client.
    R1(R1),
    /// Send `R2` to the client.
    R2(R2),
    /// Send `R3` to the client.
    R3(R3),
    /// The run ended for this server without output (the leader went silent).
    Abandoned(DrpError),
}

#[derive(Debug)]
enum Phase {
    AwaitI1,
    AwaitI2 {
        session: Box<Session>,
        nonce: Nonce,
    },
    AwaitI3 {
        session: Box<Session>,
        chosen: Vec<u32>,
        message: Hash,
        held: Vec<[u8; 32]>,
    },
    Finished,
}

/// One server's DRP state machine.
#[derive(Debug)]
pub struct Server {
    key: ServerKey,
    index: u32,
    set: Arc<ServerSet>,
    expected: Expected,
    fresh: [u8; 32],
    phase: Phase,
}

impl Server {
    /// Server `index` of `set`, holding `key`, expecting `expected`; `fresh` is this
    /// run's fresh randomness (its dealing polynomial and CoSi nonce derive from it).
    pub fn new(
        key: ServerKey,
        index: u32,
        set: Arc<ServerSet>,
        expected: Expected,
        fresh: [u8; 32],
    ) -> Self {
        assert_eq!(
            set.publics()[index as usize],
            key.public(),
            "server {index}'s key is its registered key"
        );
        Server {
            key,
            index,
            set,
            expected,
            fresh,
            phase: Phase::AwaitI1,
        }
    }

    /// Handles one input. An `Err` rejects the input and leaves the state unchanged.
    pub fn handle(&mut self, input: ServerInput) -> Result<ServerOutput, DrpError> {
        match input {
            ServerInput::I1(i1) => self.on_i1(&i1),
            ServerInput::I2(i2) => self.on_i2(&i2),
            ServerInput::I3(i3) => self.on_i3(&i3),
            ServerInput::Timeout => {
                let awaited = match self.phase {
                    Phase::AwaitI1 => "I1",
                    Phase::AwaitI2 { .. } => "I2",
                    Phase::AwaitI3 { .. } => "I3",
                    Phase::Finished => {
                        return Err(DrpError::UnexpectedMessage { message: "timeout" });
                    }
                };
                self.phase = Phase::Finished;
                Ok(ServerOutput::Abandoned(DrpError::LeaderSilent { awaited }))
            }
        }
    }

    /// Step 2, share.
    fn on_i1(&mut self, i1: &I1) -> Result<ServerOutput, DrpError> {
        if !matches!(self.phase, Phase::AwaitI1) {
            return Err(DrpError::UnexpectedMessage { message: "I1" });
        }
        if i1.purpose != self.expected.purpose || i1.time != self.expected.time {
            return Err(DrpError::UnexpectedRun);
        }
        let session = Session::new(
            Arc::clone(&self.set),
            self.expected.client,
            &i1.purpose,
            i1.time,
            i1.group_count as usize,
            i1.grouping_seed,
        )?;
        if session.sid() != i1.sid {
            return Err(DrpError::SidMismatch { message: "I1" });
        }
        if !self.expected.client.verify(&i1.body_hash(), &i1.sig) {
            return Err(DrpError::BadSignature {
                message: "I1",
                server: u32::MAX,
            });
        }
        let sid = session.sid();
        let mut prg = Prg::new(&[b"drp-server", &self.fresh, sid.as_bytes()]);
        let (deal_seed, cosi_fresh) = (prg.bytes32(), prg.bytes32());
        let group = session.place(self.index).0 as usize;
        let (dealing, _) = pvss::deal(
            &deal_seed,
            &sid,
            session.threshold(group),
            &session.group_keys(group),
        )
        .expect("the threshold ⌊c/3⌋+1 is in 1..=c");
        let (nonce, commitment) = cosi::commit(self.key.cosi(), sid.as_bytes(), &cosi_fresh);
        let mut r1 = R1 {
            sid,
            server: self.index,
            i1_hash: i1.body_hash(),
            commitments: dealing.commitments,
            shares: dealing.shares,
            cosi_commitment: commitment.to_bytes(),
            sig: Signature::from_bytes(&[0; 64]),
        };
        r1.sig = self.key.pvss().sign(&r1.body_hash());
        self.phase = Phase::AwaitI2 {
            session: Box::new(session),
            nonce,
        };
        Ok(ServerOutput::R1(r1))
    }

    /// Step 4, sign-off.
    fn on_i2(&mut self, i2: &I2) -> Result<ServerOutput, DrpError> {
        let Phase::AwaitI2 { session, .. } = &self.phase else {
            return Err(DrpError::UnexpectedMessage { message: "I2" });
        };
        let sid = session.sid();
        if i2.sid != sid {
            return Err(DrpError::SidMismatch { message: "I2" });
        }
        if i2.to != self.index {
            return Err(DrpError::Malformed {
                message: "I2",
                what: "recipient",
            });
        }
        if !self.expected.client.verify(&i2.body_hash(), &i2.sig) {
            return Err(DrpError::BadSignature {
                message: "I2",
                server: u32::MAX,
            });
        }
        let per_group = session.check_chosen(&i2.chosen)?;
        let (group, position) = session.place(self.index);
        let mine = &per_group[group as usize];
        if i2.held.len() != mine.len() {
            return Err(DrpError::Malformed {
                message: "I2",
                what: "held shares",
            });
        }
        let key = self.set.pvss(self.index as usize);
        let list: Vec<pvss::HeldShare<'_>> = i2
            .held
            .iter()
            .map(|held| (&held.digest, &held.evaluation, &held.share))
            .collect();
        pvss::verify_shares(&sid, position as usize, key, &list).map_err(|(k, error)| {
            DrpError::Pvss {
                server: mine[k],
                error,
            }
        })?;
        // The challenge must be CoSi's challenge on the chosen list for these signers.
        if !i2.signers.contains(self.index as usize) {
            return Err(DrpError::Malformed {
                message: "I2",
                what: "signers (this server is not one)",
            });
        }
        let aggregate = self
            .set
            .roster()
            .aggregate_key(&i2.signers)
            .map_err(DrpError::BadCollectiveSignature)?;
        let message = session.chosen_message(&i2.chosen);
        // CoSi's challenge `H_wide(CosiChallenge ‖ R ‖ A ‖ signers ‖ m)`, from the bytes
        // the server has (it never sees the other signers' commitments, only `R`).
        let expected = Domain::CosiChallenge.wide(&[
            &i2.cosi_commitment,
            &aggregate.to_bytes(),
            &i2.signers.to_bytes(),
            message.as_bytes(),
        ]);
        let challenge = Challenge::from_bytes(&i2.challenge).map_err(|_| DrpError::BadChallenge)?;
        if challenge.to_bytes()
            != curve25519_dalek::scalar::Scalar::from_bytes_mod_order_wide(&expected).to_bytes()
        {
            return Err(DrpError::BadChallenge);
        }
        let Phase::AwaitI2 { session, nonce } = std::mem::replace(&mut self.phase, Phase::Finished)
        else {
            unreachable!("checked above");
        };
        let response = cosi::respond(self.key.cosi(), nonce, &challenge);
        let mut r2 = R2 {
            sid,
            server: self.index,
            i2_hash: i2.body_hash(),
            response: response.to_bytes(),
            sig: Signature::from_bytes(&[0; 64]),
        };
        r2.sig = self.key.pvss().sign(&r2.body_hash());
        self.phase = Phase::AwaitI3 {
            session,
            chosen: i2.chosen.clone(),
            message,
            held: i2.held.iter().map(|h| h.share.y).collect(),
        };
        Ok(ServerOutput::R2(r2))
    }

    /// Step 6, reveal (D2: only after the collective signature on what it signed).
    fn on_i3(&mut self, i3: &I3) -> Result<ServerOutput, DrpError> {
        let Phase::AwaitI3 {
            session,
            chosen,
            message,
            held,
        } = &self.phase
        else {
            return Err(DrpError::UnexpectedMessage { message: "I3" });
        };
        let sid = session.sid();
        if i3.sid != sid {
            return Err(DrpError::SidMismatch { message: "I3" });
        }
        if !self.expected.client.verify(&i3.body_hash(), &i3.sig) {
            return Err(DrpError::BadSignature {
                message: "I3",
                server: u32::MAX,
            });
        }
        if &i3.chosen != chosen {
            return Err(DrpError::BadChosenList);
        }
        i3.cosig
            .verify(self.set.roster(), message.as_bytes())
            .map_err(DrpError::BadCollectiveSignature)?;
        let decrypted =
            pvss::decrypt(self.key.pvss(), &sid, held).map_err(|error| DrpError::Pvss {
                server: self.index,
                error,
            })?;
        let mut r3 = R3 {
            sid,
            server: self.index,
            i3_hash: i3.body_hash(),
            decrypted,
            sig: Signature::from_bytes(&[0; 64]),
        };
        r3.sig = self.key.pvss().sign(&r3.body_hash());
        self.phase = Phase::Finished;
        Ok(ServerOutput::R3(r3))
    }
}
