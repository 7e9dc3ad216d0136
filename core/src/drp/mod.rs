//! DRP: the Distributed Randomness Protocol, RandHound with PVSS (PROTOCOL.md §2), as
//! deterministic state machines: a [`Client`] (the lottery-elected leader, §3) and one
//! [`Server`] per validator, each fed messages and timeouts and answering with messages
//! or an outcome. No threads, clocks or randomness sources: fresh bytes arrive as inputs.
//!
//! # Message flow (§2.2–2.3)
//!
//! 1. **Setup / `I1`** (client → all): the client derives the grouping of the `n`
//!    servers into `g` groups from a seed ([`Session`]: a [`Prg`] shuffle, sizes differ
//!    by at most one), computes `SID` and signs `I1 = (SID, g, seed, purpose, time)`.
//! 2. **Share / `R1`** (server → client): a server checks `I1` and `SID` against the
//!    run it expects (client key, purpose, time), PVSS-deals a fresh secret to the `c`
//!    members of its own group with threshold `t = ⌊c/3⌋ + 1`
//!    ([`crate::crypto::pvss`]), and sends commitments, encrypted shares with proofs and
//!    a CoSi commitment `V_i`.
//! 3. **Choose / `I2`** (client → each server): once every server answered (or on
//!    timeout, if more than `2n/3` did), the client checks dealings group by group in
//!    position order and keeps the first `t` whose every share verifies; a dealer with
//!    a failing proof is blamed ([`Blame`]) and its secret dropped. (Stricter than the
//!    spec's "usable if ≥ `t` shares verify": an honest dealer never makes a bad share,
//!    and with all `c` shares valid any `t` reveals of the group recover the secret.
//!    Dealings after a group's first `t` usable ones are not checked, since their
//!    secrets are not chosen; a bad dealer among them goes unblamed.) It then fixes the
//!    CoSi signers (the `R1` responders), aggregates their commitments, computes the
//!    challenge on `H(SID ‖ chosen list)` and sends each signer its `I2`: the chosen
//!    list, the challenge and the chosen shares addressed to it with their evaluations
//!    `X_i`.
//! 4. **Sign-off / `R2`**: a server checks the chosen list (exactly `t` per group), its
//!    own shares and the challenge, and returns its CoSi response.
//! 5. **Commit / `I3`**: the client aggregates the responses into the collective
//!    signature, checks it and broadcasts it with the chosen list.
//! 6. **Reveal / `R3`**: a server checks the collective signature on exactly the list
//!    it signed, then decrypts its shares of the chosen secrets with proofs.
//! 7. **Combine**: per group the client checks `R3`s until `t` are valid, recovers every
//!    chosen secret `σ_d·H` by interpolation, and outputs
//!    `rnd = H(DrpOutput ‖ encode(Σ σ_d·H))` with a [`Transcript`] anyone can check.
//!
//! **Chosen-set signature: CoSi** ([`crate::crypto::cosi`]), over the whole server set
//! as its roster: the RandHound flow maps onto the CoSi round exactly (`V_i` in `R1`,
//! challenge in `I2`, response in `R2`), the result is one signature checked in one
//! double multiplication, and CoSi's own threshold (more than `2n/3` signers) is the
//! spec's "more than `2n/3` replied". Its cost: the round cannot absorb a signer that
//! withholds `R2` (the challenge already binds the signer set), so that ends the run
//! ([`DrpError::CosiIncomplete`]) and the next leader runs the DRP (§3); withholding `R3`,
//! the case §2.8 tolerates, does not.
//!
//! # Invariants (§2.7) and where they are kept
//!
//! - **D1 verifiability**: [`Transcript::verify`] re-checks every signature, every PVSS
//!   proof and the collective signature and recomputes `rnd`; every byte of the
//!   transcript's encoding is covered by a check.
//! - **D2 commit-before-reveal**: a [`Server`] decrypts only in answer to an `I3` whose
//!   collective signature verifies on the chosen list it signed in `R2`.
//! - **D3 threshold**: the client, the servers and the transcript check that every group
//!   has exactly `t` chosen secrets, each recovered from `t` verified decrypted shares.
//! - **D4 binding**: every message and every proof carries or hashes `SID`, which binds
//!   the server set, grouping, client key, purpose and time; a message for another
//!   `SID` is rejected ([`DrpError::SidMismatch`]).
//! - **D5 determinism**: the same inputs give the same messages, transcript and `rnd`.
//!
//! Byzantine cases (§2.8): bad encrypted shares are blamed and dropped; servers
//! withholding `R3` are tolerated while `t` per group answer; a leader withholding `I1`
//! or `I3` leaves servers a timeout ([`ServerInput::Timeout`]) and a failure outcome.
//!
//! **Deviation:** the spec derives the PVSS base from `SID`; here it is one fixed
//! hashed point `H` (independent of `G` is all soundness needs) so that its
//! multiplication table is built once, and `SID` is hashed into every proof instead.

mod client;
mod message;
mod server;
mod transcript;

use std::sync::Arc;

use thiserror::Error;

pub use client::{Client, ClientInput, ClientOutput};
pub use message::{HeldShare, I1, I2, I3, R1, R2, R3};
pub use server::{Expected, Server, ServerInput, ServerOutput};
pub use transcript::Transcript;

use crate::codec::DecodeError;
use crate::crypto::cosi::{self, CosiError, ProofOfPossession, Roster, ValidatorKey};
use crate::crypto::hash::Domain;
use crate::crypto::pvss::{PvssError, PvssPublicKey, PvssSecretKey};
use crate::prg::Prg;
use crate::types::Hash;

/// Most servers in a DRP run.
pub const SERVERS_MAX: usize = 4096;
/// Longest purpose string, in bytes.
pub const PURPOSE_LEN_MAX: usize = 64;

/// Why a message, a run or a transcript was rejected, or how a run failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DrpError {
    /// The server set is empty or too large.
    #[error("{got} servers; a run needs 1..={max}")]
    ServerCount {
        /// Servers given.
        got: usize,
        /// [`SERVERS_MAX`].
        max: usize,
    },
    /// A server's keys are invalid (CoSi key or proof of possession, or PVSS key).
    #[error("server set: {0}")]
    ServerSet(CosiError),
    /// A server's PVSS key is not a valid key.
    #[error("server {server}: invalid PVSS key")]
    InvalidPvssKey {
        /// The server.
        server: u32,
    },
    /// Run parameters out of range.
    #[error("invalid run parameters: {what}")]
    Params {
        /// What is wrong.
        what: &'static str,
    },
    /// A message belongs to another run (D4).
    #[error("{message}: session id does not match this run")]
    SidMismatch {
        /// The message kind.
        message: &'static str,
    },
    /// `I1` announces a run with another purpose or time than expected.
    #[error("I1 announces another purpose or time than this server expects")]
    UnexpectedRun,
    /// A message arrived in a phase that does not take it.
    #[error("{message} is not expected now")]
    UnexpectedMessage {
        /// The message kind.
        message: &'static str,
    },
    /// A message names a server outside the set, or one that already answered.
    #[error("{message}: server {server} is unknown or already answered")]
    UnknownOrRepeatedServer {
        /// The message kind.
        message: &'static str,
        /// The server named.
        server: u32,
    },
    /// A message's signature does not verify.
    #[error("{message} from {server}: signature does not verify")]
    BadSignature {
        /// The message kind.
        message: &'static str,
        /// The signer (`u32::MAX` for the client).
        server: u32,
    },
    /// A message does not answer the message it names (`H(I*)` mismatch).
    #[error("{message} from {server}: does not answer this run's request")]
    WrongRequestHash {
        /// The message kind.
        message: &'static str,
        /// The sender.
        server: u32,
    },
    /// A message has the wrong shape (counts, sizes).
    #[error("{message}: malformed {what}")]
    Malformed {
        /// The message kind.
        message: &'static str,
        /// The field.
        what: &'static str,
    },
    /// The chosen list is not sorted, names a server twice, or has not exactly `t`
    /// secrets in every group (D3).
    #[error("chosen list is not exactly t secrets per group")]
    BadChosenList,
    /// A dealing or a reveal fails its PVSS proof.
    #[error("server {server}: {error}")]
    Pvss {
        /// The dealer or revealer.
        server: u32,
        /// The failing share or proof.
        error: PvssError,
    },
    /// The CoSi challenge in `I2` is not the challenge on the chosen list.
    #[error("I2: CoSi challenge does not sign the chosen list")]
    BadChallenge,
    /// A collective signature does not verify (D2).
    #[error("collective signature on the chosen list: {0}")]
    BadCollectiveSignature(CosiError),
    /// Too few servers answered `R1`.
    #[error("{got} servers answered R1, more than 2n/3 ({need}) needed")]
    TooFewResponders {
        /// Valid `R1`s.
        got: usize,
        /// The threshold.
        need: usize,
    },
    /// A group has fewer than `t` usable secrets.
    #[error("group {group}: {got} usable secrets, {need} needed")]
    TooFewSecrets {
        /// The group.
        group: u32,
        /// Usable secrets.
        got: usize,
        /// The group's threshold.
        need: usize,
    },
    /// A signer withheld `R2` or answered it wrongly: the CoSi round cannot finish.
    #[error("CoSi round incomplete: server {server} did not answer R2 correctly")]
    CosiIncomplete {
        /// The first missing or bad signer.
        server: u32,
    },
    /// A group has fewer than `t` valid reveals (`R3`).
    #[error("group {group}: {got} valid reveals, {need} needed")]
    TooFewReveals {
        /// The group.
        group: u32,
        /// Valid `R3`s.
        got: usize,
        /// The group's threshold.
        need: usize,
    },
    /// The leader sent nothing before the timeout (a server's outcome).
    #[error("the leader withheld {awaited}")]
    LeaderSilent {
        /// The message awaited.
        awaited: &'static str,
    },
    /// Bytes did not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
}

// ---------------------------------------------------------------------------------------
// Keys and the server set.

/// A validator's DRP keys: its CoSi key (the chosen-set signature) and its PVSS key
/// (shares are encrypted to it; it also signs DRP messages).
#[derive(Clone, Debug)]
pub struct ServerKey {
    cosi: ValidatorKey,
    pvss: PvssSecretKey,
}

impl ServerKey {
    /// Both keys derived from one seed (domain-separated derivations).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        ServerKey {
            cosi: ValidatorKey::from_seed(seed),
            pvss: PvssSecretKey::from_seed(seed),
        }
    }

    /// What the server registers.
    pub fn public(&self) -> ServerPublic {
        ServerPublic {
            cosi: self.cosi.public(),
            possession: self.cosi.prove_possession(),
            pvss: self.pvss.public().to_bytes(),
        }
    }

    /// The PVSS and message-signing key.
    pub fn pvss(&self) -> &PvssSecretKey {
        &self.pvss
    }

    pub(crate) fn cosi(&self) -> &ValidatorKey {
        &self.cosi
    }
}

/// A server's registered public keys. Encoded as `cosi (32) ‖ possession (64) ‖ pvss
/// (32)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ServerPublic {
    /// CoSi key.
    pub cosi: cosi::PublicKey,
    /// Proof of possession of the CoSi key.
    pub possession: ProofOfPossession,
    /// PVSS key, compressed.
    pub pvss: [u8; 32],
}

impl ServerPublic {
    /// Encoded size.
    pub const ENCODED_LEN: usize = 128;
}

/// The servers of a DRP run, checked once (registration): CoSi roster, PVSS keys.
#[derive(Debug)]
pub struct ServerSet {
    publics: Vec<ServerPublic>,
    roster: Roster,
    pvss: Vec<PvssPublicKey>,
}

impl ServerSet {
    /// Checks every key (CoSi key and proof of possession, PVSS key) and builds the set.
    pub fn new(publics: Vec<ServerPublic>) -> Result<ServerSet, DrpError> {
        if publics.is_empty() || publics.len() > SERVERS_MAX {
            return Err(DrpError::ServerCount {
                got: publics.len(),
                max: SERVERS_MAX,
            });
        }
        let members: Vec<_> = publics.iter().map(|p| (p.cosi, p.possession)).collect();
        let roster = Roster::new(&members).map_err(DrpError::ServerSet)?;
        let pvss = publics
            .iter()
            .enumerate()
            .map(|(i, p)| {
                PvssPublicKey::from_bytes(&p.pvss)
                    .ok_or(DrpError::InvalidPvssKey { server: i as u32 })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerSet {
            publics,
            roster,
            pvss,
        })
    }

    /// Number of servers `n`.
    pub fn len(&self) -> usize {
        self.publics.len()
    }

    /// Never true ([`ServerSet::new`] rejects an empty set).
    pub fn is_empty(&self) -> bool {
        self.publics.is_empty()
    }

    /// The registered keys, in server order.
    pub fn publics(&self) -> &[ServerPublic] {
        &self.publics
    }

    /// The CoSi roster (server `i` is roster member `i`).
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Server `i`'s PVSS key.
    pub fn pvss(&self, i: usize) -> &PvssPublicKey {
        &self.pvss[i]
    }
}

// ---------------------------------------------------------------------------------------
// Session: grouping and SID.

/// What a client announces for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunParams {
    /// What the randomness is for, e.g. `b"IOS-epoch-7"` (at most [`PURPOSE_LEN_MAX`]).
    pub purpose: Vec<u8>,
    /// The run's time (epoch number or timestamp), bound into `SID`.
    pub time: u64,
    /// Target group size `c`; the run has `g = ⌈n/c⌉` groups.
    pub group_size: usize,
}

/// One run's public layout: server set, client key, purpose, time, grouping and `SID`.
#[derive(Clone, Debug)]
pub struct Session {
    set: Arc<ServerSet>,
    groups: Vec<Vec<u32>>,
    /// Per server: (group, position in group).
    place: Vec<(u32, u32)>,
    sid: Hash,
}

impl Session {
    /// Derives the grouping from `grouping_seed` (a [`Prg`] shuffle of the servers cut
    /// into `group_count` groups whose sizes differ by at most one) and the `SID`:
    /// `H(DrpSession ‖ client key ‖ purpose ‖ time ‖ g ‖ per group: size, then each
    /// member's index and keys in group order)`.
    pub fn new(
        set: Arc<ServerSet>,
        client: PvssPublicKey,
        purpose: &[u8],
        time: u64,
        group_count: usize,
        grouping_seed: [u8; 32],
    ) -> Result<Session, DrpError> {
        let n = set.len();
        if group_count == 0 || group_count > n {
            return Err(DrpError::Params {
                what: "group count must be in 1..=n",
            });
        }
        if purpose.len() > PURPOSE_LEN_MAX {
            return Err(DrpError::Params {
                what: "purpose longer than PURPOSE_LEN_MAX",
            });
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        Prg::new(&[b"drp-grouping", &grouping_seed]).shuffle(&mut order);
        let (base, extra) = (n / group_count, n % group_count);
        let mut groups = Vec::with_capacity(group_count);
        let mut place = vec![(0, 0); n];
        let mut rest = &order[..];
        for g in 0..group_count {
            let size = base + usize::from(g < extra);
            let (members, tail) = rest.split_at(size);
            rest = tail;
            for (position, &server) in members.iter().enumerate() {
                place[server as usize] = (g as u32, position as u32);
            }
            groups.push(members.to_vec());
        }
        let mut hasher = Domain::DrpSession.hasher();
        hasher.update(&client.to_bytes());
        hasher.update(&(purpose.len() as u64).to_le_bytes());
        hasher.update(purpose);
        hasher.update(&time.to_le_bytes());
        hasher.update(&(group_count as u64).to_le_bytes());
        for members in &groups {
            hasher.update(&(members.len() as u64).to_le_bytes());
            for &server in members {
                let public = &set.publics[server as usize];
                hasher.update(&server.to_le_bytes());
                hasher.update(public.cosi.as_bytes());
                hasher.update(&public.possession.to_bytes());
                hasher.update(&public.pvss);
            }
        }
        let sid = Hash(*hasher.finalize().as_bytes());
        Ok(Session {
            set,
            groups,
            place,
            sid,
        })
    }

    /// The session id.
    pub fn sid(&self) -> Hash {
        self.sid
    }

    /// The server set.
    pub fn set(&self) -> &Arc<ServerSet> {
        &self.set
    }

    /// The groups: server indices in position order.
    pub fn groups(&self) -> &[Vec<u32>] {
        &self.groups
    }

    /// Server `server`'s (group, position).
    pub fn place(&self, server: u32) -> (u32, u32) {
        self.place[server as usize]
    }

    /// Group `group`'s threshold `t = ⌊c/3⌋ + 1`.
    pub fn threshold(&self, group: usize) -> usize {
        threshold_of(self.groups[group].len())
    }

    /// The PVSS keys of group `group`'s members, in position order.
    pub fn group_keys(&self, group: usize) -> Vec<PvssPublicKey> {
        self.groups[group]
            .iter()
            .map(|&s| *self.set.pvss(s as usize))
            .collect()
    }

    /// Checks a chosen list (D3): strictly ascending server indices, exactly `t` in
    /// every group. Returns the chosen dealers per group, ascending.
    pub fn check_chosen(&self, chosen: &[u32]) -> Result<Vec<Vec<u32>>, DrpError> {
        if chosen.windows(2).any(|w| w[0] >= w[1])
            || chosen.iter().any(|&s| s as usize >= self.set.len())
        {
            return Err(DrpError::BadChosenList);
        }
        let mut per_group = vec![Vec::new(); self.groups.len()];
        for &dealer in chosen {
            per_group[self.place(dealer).0 as usize].push(dealer);
        }
        for (g, dealers) in per_group.iter().enumerate() {
            if dealers.len() != self.threshold(g) {
                return Err(DrpError::BadChosenList);
            }
        }
        Ok(per_group)
    }

    /// The message the chosen-set CoSi signs: `H(DrpChosen ‖ SID ‖ chosen list)`.
    pub fn chosen_message(&self, chosen: &[u32]) -> Hash {
        let mut hasher = Domain::DrpChosen.hasher();
        hasher.update(self.sid.as_bytes());
        for dealer in chosen {
            hasher.update(&dealer.to_le_bytes());
        }
        Hash(*hasher.finalize().as_bytes())
    }
}

/// `t = ⌊c/3⌋ + 1` for a group of `c`.
pub const fn threshold_of(group_size: usize) -> usize {
    group_size / 3 + 1
}

/// Why a server was blamed by the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blame {
    /// The faulty server.
    pub server: u32,
    /// What it did: the failing proof or check.
    pub error: DrpError,
}

// ---------------------------------------------------------------------------------------
// In-process driver.

/// Faults a [`run_local`] host injects (adversary hooks, not protocol branches).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Dealers that encrypt a wrong value in their share 0 (and sign it).
    pub bad_dealers: Vec<u32>,
    /// Servers that never answer `I1`.
    pub silent_r1: Vec<u32>,
    /// Servers that never answer `I3`.
    pub silent_r3: Vec<u32>,
    /// The leader never sends `I1`.
    pub leader_withholds_i1: bool,
    /// The leader never sends `I3`.
    pub leader_withholds_i3: bool,
}

/// A finished local run.
#[derive(Clone, Debug)]
pub struct LocalRun {
    /// The randomness `rnd`.
    pub rnd: Hash,
    /// The public proof.
    pub transcript: Transcript,
    /// Servers the client blamed.
    pub blames: Vec<Blame>,
}

/// Runs a whole DRP in process, single-threaded and seeded: `client` leads, every key in
/// `servers` serves (fresh bytes for the grouping and every server derive from `seed`),
/// with `faults` injected by the host. Returns the run, or the failure outcome.
pub fn run_local(
    servers: &[ServerKey],
    client: &ServerKey,
    params: &RunParams,
    seed: &[u8; 32],
    faults: &Faults,
) -> Result<LocalRun, DrpError> {
    let set = Arc::new(ServerSet::new(
        servers.iter().map(ServerKey::public).collect(),
    )?);
    let mut prg = Prg::new(&[b"drp-run-local", seed]);
    let grouping_seed = prg.bytes32();
    let expected = Expected {
        client: *client.pvss().public(),
        purpose: params.purpose.clone(),
        time: params.time,
    };
    let mut nodes: Vec<Server> = servers
        .iter()
        .enumerate()
        .map(|(i, key)| {
            Server::new(
                key.clone(),
                i as u32,
                Arc::clone(&set),
                expected.clone(),
                prg.bytes32(),
            )
        })
        .collect();
    let (mut leader, i1) = Client::new(client.clone(), Arc::clone(&set), params, grouping_seed)?;
    let silent = |list: &[u32], i: usize| list.contains(&(i as u32));

    // I1 → R1.
    if faults.leader_withholds_i1 {
        return Err(leader_silence(&mut nodes));
    }
    let mut output = ClientOutput::Wait;
    for (i, node) in nodes.iter_mut().enumerate() {
        let ServerOutput::R1(mut r1) = node.handle(ServerInput::I1(i1.clone()))? else {
            unreachable!("a server answers a valid I1 with R1");
        };
        if silent(&faults.silent_r1, i) {
            continue;
        }
        if faults.bad_dealers.contains(&(i as u32)) {
            // Share 0 encrypts share 1's value (or, in a group of one, a proof
            // commitment is swapped): its DLEQ proof no longer holds.
            if r1.shares.len() >= 2 {
                r1.shares[0].y = r1.shares[1].y;
            } else {
                r1.shares[0].proof.a1 = r1.shares[0].proof.a2;
            }
            r1.sig = servers[i].pvss().sign(&r1.body_hash());
        }
        // A rejected message is dropped, as a real host would.
        if let Ok(next) = leader.handle(ClientInput::R1(r1)) {
            output = next;
        }
    }
    if matches!(output, ClientOutput::Wait) {
        output = leader.handle(ClientInput::Timeout)?;
    }
    // I2 → R2.
    let i2s = match std::mem::replace(&mut output, ClientOutput::Wait) {
        ClientOutput::I2(i2s) => i2s,
        other => return Err(failure(other)),
    };
    for i2 in i2s {
        let to = i2.to as usize;
        let ServerOutput::R2(r2) = nodes[to].handle(ServerInput::I2(i2))? else {
            unreachable!("a server answers a valid I2 with R2");
        };
        if let Ok(next) = leader.handle(ClientInput::R2(r2)) {
            output = next;
        }
    }
    // I3 → R3.
    let i3 = match std::mem::replace(&mut output, ClientOutput::Wait) {
        ClientOutput::I3(i3) => i3,
        other => return Err(failure(other)),
    };
    if faults.leader_withholds_i3 {
        return Err(leader_silence(&mut nodes));
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        if silent(&faults.silent_r1, i) {
            continue;
        }
        let ServerOutput::R3(r3) = node.handle(ServerInput::I3(i3.clone()))? else {
            unreachable!("a server answers a valid I3 with R3");
        };
        if silent(&faults.silent_r3, i) {
            continue;
        }
        if let ClientOutput::Done(..) = output {
            break;
        }
        if let Ok(next) = leader.handle(ClientInput::R3(r3)) {
            output = next;
        }
    }
    if matches!(output, ClientOutput::Wait) {
        output = leader.handle(ClientInput::Timeout)?;
    }
    match output {
        ClientOutput::Done(rnd, transcript) => Ok(LocalRun {
            rnd,
            transcript: *transcript,
            blames: leader.blames().to_vec(),
        }),
        other => Err(failure(other)),
    }
}

/// Every server times out waiting for the leader; their common outcome.
fn leader_silence(nodes: &mut [Server]) -> DrpError {
    let mut outcome = DrpError::LeaderSilent { awaited: "I1" };
    for node in nodes {
        if let Ok(ServerOutput::Abandoned(error)) = node.handle(ServerInput::Timeout) {
            outcome = error;
        }
    }
    outcome
}

fn failure(output: ClientOutput) -> DrpError {
    match output {
        ClientOutput::Failed(error) => error,
        _ => DrpError::UnexpectedMessage {
            message: "client output",
        },
    }
}
