//! The DRP-leader election with backups (PROTOCOL.md §3.3 steps 1–6) as a pure state
//! machine: the host feeds [`Input`]s (tickets, the end of the gossip window `Δ`, DRP
//! timeouts, a verified DRP result) and performs the [`Effect`]s; no clock is read, a
//! timeout is an input.
//!
//! ```text
//!            ViewStarted{v}                      GossipWindowClosed
//!   ──────▶ Gossip(v) ── Ticket … Ticket ──────────────────────────▶ Drp(v, rank 0)
//!             ▲          (verify, keep the 3 smallest)   LeaderChosen   │   │
//!             │                                                         │   │ DrpCompleted{rnd}
//!             │ no candidate left: v+1          DrpTimeout: LeaderFailed │   ▼
//!             └──────────────────── Drp(v, rank+1) ◀────────────────────┘  Settled{leader, rnd}
//! ```
//!
//! Invariants kept here: a validator has at most one ticket per view (E1; duplicates are
//! refused); the leader and backups are the three smallest valid tickets ordered by
//! `(y, pk)`, a total order, so any two validators that hold the same tickets choose the
//! same ranks whatever the arrival order (E2); a leader that failed is excluded for the
//! rest of the epoch, its later tickets refused and never ranked (E4). Tickets after the
//! window closed are refused as late (§3.6).

use std::collections::BTreeSet;

use super::ticket::{Ticket, TicketError, View};
use crate::crypto::vrf::{VrfOutput, VrfPublicKey};
use crate::types::{Epoch, Hash};

/// Tickets kept per view: the leader and two backups (IOS's addition to [OL]).
pub const RANKS: usize = 3;

/// Everything that can happen to an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Step 2: a ticket gossiped during the window.
    Ticket(Ticket),
    /// Step 3: `Δ` has passed since the view started.
    GossipWindowClosed,
    /// Step 6: the current leader did not start the DRP within `Δ`, or its run did not
    /// complete within the DRP timeout.
    DrpTimeout,
    /// Steps 4–5: the current leader's DRP run completed; the host has verified the
    /// proof of `rnd` (the DRP module's job).
    DrpCompleted {
        /// The epoch randomness `rnd_e`.
        rnd: Hash,
    },
}

/// What the host must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A view started: draw this validator's ticket for it and gossip it; close the
    /// window after `Δ`.
    ViewStarted {
        /// The new view.
        view: View,
    },
    /// Step 3 / 6: `leader` (rank 0) or a backup (rank 1, 2) is now expected to run the
    /// DRP; time it out after `Δ` (start) and the DRP timeout (completion).
    LeaderChosen {
        /// The view.
        view: View,
        /// 0 leader, 1 and 2 backups.
        rank: usize,
        /// Its key.
        leader: VrfPublicKey,
    },
    /// `LeaderFailed{e, v, leader_pk}` (§3.2): local decision, may be gossiped as evidence.
    LeaderFailed {
        /// The epoch.
        epoch: Epoch,
        /// The view.
        view: View,
        /// The excluded leader.
        leader: VrfPublicKey,
    },
    /// Step 5: the epoch randomness is fixed; compute the shard map from it.
    Settled {
        /// Who ran the DRP.
        leader: VrfPublicKey,
        /// `rnd_e`.
        rnd: Hash,
    },
}

/// Where the election stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Collecting tickets of the current view.
    Gossip,
    /// The candidate of this rank is expected to run the DRP.
    Drp {
        /// Index into the view's candidates.
        rank: usize,
    },
    /// Done for this epoch.
    Settled {
        /// Who ran the DRP.
        leader: VrfPublicKey,
        /// `rnd_e`.
        rnd: Hash,
    },
}

/// Why an input was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    /// A ticket was refused.
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// A DRP input while no leader is running it (still gossiping, or settled).
    #[error("no DRP run is expected in phase {0:?}")]
    NoDrpExpected(Phase),
    /// The window closed twice, or after the gossip phase.
    #[error("the gossip window is not open in phase {0:?}")]
    WindowNotOpen(Phase),
}

/// One validator's view of the DRP-leader election of one epoch.
#[derive(Clone, Debug)]
pub struct Election {
    config: Hash,
    epoch: Epoch,
    validators: BTreeSet<VrfPublicKey>,
    view: View,
    phase: Phase,
    /// Validators with a ticket in this view (E1).
    seen: BTreeSet<VrfPublicKey>,
    /// The smallest valid tickets of this view, ascending, at most [`RANKS`].
    smallest: Vec<(VrfOutput, VrfPublicKey)>,
    /// Failed leaders of this epoch (E4).
    excluded: BTreeSet<VrfPublicKey>,
}

impl Election {
    /// The election of `epoch` among `validators`, whose configuration hash is `config`
    /// (`config_e`, from the identity chain, §1.5). Starts in view 0, gossiping; the
    /// host draws and gossips its ticket as for [`Effect::ViewStarted`].
    pub fn new(config: Hash, epoch: Epoch, validators: &[VrfPublicKey]) -> Self {
        Election {
            config,
            epoch,
            validators: validators.iter().copied().collect(),
            view: View(0),
            phase: Phase::Gossip,
            seen: BTreeSet::new(),
            smallest: Vec::with_capacity(RANKS + 1),
            excluded: BTreeSet::new(),
        }
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The ranked candidates of this view so far (leader first).
    pub fn candidates(&self) -> impl Iterator<Item = VrfPublicKey> + '_ {
        self.smallest.iter().map(|(_, pk)| *pk)
    }

    /// Whether `validator` failed as leader in this epoch.
    pub fn is_excluded(&self, validator: &VrfPublicKey) -> bool {
        self.excluded.contains(validator)
    }

    /// Handles one input, pushing the effects it causes.
    pub fn handle(&mut self, input: Input, effects: &mut Vec<Effect>) -> Result<(), ElectionError> {
        match input {
            Input::Ticket(ticket) => self.on_ticket(&ticket),
            Input::GossipWindowClosed => self.on_window_closed(effects),
            Input::DrpTimeout => self.on_drp_timeout(effects),
            Input::DrpCompleted { rnd } => self.on_drp_completed(rnd, effects),
        }
    }

    /// Step 2: verify and keep the three smallest.
    fn on_ticket(&mut self, ticket: &Ticket) -> Result<(), ElectionError> {
        if ticket.epoch != self.epoch {
            return Err(TicketError::WrongEpoch {
                got: ticket.epoch,
                want: self.epoch,
            }
            .into());
        }
        if ticket.view != self.view {
            return Err(TicketError::WrongView {
                got: ticket.view,
                want: self.view,
            }
            .into());
        }
        if self.phase != Phase::Gossip {
            return Err(TicketError::Late.into());
        }
        let pk = ticket.validator;
        if !self.validators.contains(&pk) {
            return Err(TicketError::NotAValidator(pk).into());
        }
        if self.excluded.contains(&pk) {
            return Err(TicketError::Excluded(pk).into());
        }
        if self.seen.contains(&pk) {
            return Err(TicketError::Duplicate(pk).into());
        }
        let value = ticket.verify(&self.config)?;
        self.seen.insert(pk);
        let entry = (value, pk);
        let at = self.smallest.partition_point(|kept| *kept < entry);
        if at < RANKS {
            self.smallest.insert(at, entry);
            self.smallest.truncate(RANKS);
        }
        Ok(())
    }

    /// Step 3: fix the leader and backups (or, with no ticket at all, try the next view).
    fn on_window_closed(&mut self, effects: &mut Vec<Effect>) -> Result<(), ElectionError> {
        if self.phase != Phase::Gossip {
            return Err(ElectionError::WindowNotOpen(self.phase));
        }
        self.choose(0, effects);
        Ok(())
    }

    /// Step 6: exclude the failed leader, switch to the next backup, then the next view.
    fn on_drp_timeout(&mut self, effects: &mut Vec<Effect>) -> Result<(), ElectionError> {
        let Phase::Drp { rank } = self.phase else {
            return Err(ElectionError::NoDrpExpected(self.phase));
        };
        let leader = self.smallest[rank].1;
        let newly = self.excluded.insert(leader);
        assert!(newly, "E4: a failed leader was selected again");
        effects.push(Effect::LeaderFailed {
            epoch: self.epoch,
            view: self.view,
            leader,
        });
        self.choose(rank + 1, effects);
        Ok(())
    }

    /// Steps 4–5: the run completed.
    fn on_drp_completed(
        &mut self,
        rnd: Hash,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ElectionError> {
        let Phase::Drp { rank } = self.phase else {
            return Err(ElectionError::NoDrpExpected(self.phase));
        };
        let leader = self.smallest[rank].1;
        self.phase = Phase::Settled { leader, rnd };
        effects.push(Effect::Settled { leader, rnd });
        Ok(())
    }

    /// Hands the DRP to the candidate of `rank`, or starts the next view when none is left.
    fn choose(&mut self, rank: usize, effects: &mut Vec<Effect>) {
        if let Some(&(_, leader)) = self.smallest.get(rank) {
            debug_assert!(!self.excluded.contains(&leader), "E4");
            self.phase = Phase::Drp { rank };
            effects.push(Effect::LeaderChosen {
                view: self.view,
                rank,
                leader,
            });
        } else {
            self.view = View(self.view.0 + 1);
            self.phase = Phase::Gossip;
            self.seen.clear();
            self.smallest.clear();
            effects.push(Effect::ViewStarted { view: self.view });
        }
    }
}
