//! Lottery tickets (PROTOCOL.md §3.3 step 1, §3.2 `Ticket`): validator `i`'s entry for
//! view `v` of epoch `e` is `(y_i, π_i) = VRF_{sk_i}("leader" ‖ config_e ‖ e ‖ v)`.
//!
//! The input is fixed by `config_e` (the hash of the epoch's sorted validator set), `e`
//! and `v`, and the VRF has one output per key and input, so a validator has exactly one
//! ticket value per `(epoch, view)` and cannot grind for a better one (§3.6); a ticket
//! verifies only under the key that made it (E1).

use crate::crypto::vrf::{VrfError, VrfOutput, VrfProof, VrfPublicKey, VrfSecretKey};
use crate::types::{Epoch, Hash};

/// The label that opens a ticket's VRF input.
pub const TICKET_LABEL: &[u8; 6] = b"leader";

/// Length of a ticket's VRF input: label, `config_e`, `e` and `v` (little-endian `u64`s).
pub const TICKET_INPUT_LEN: usize = 6 + 32 + 8 + 8;

/// A view of the DRP-leader election within an epoch (starts at 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct View(pub u64);

/// The VRF input of every ticket of `(config, epoch, view)`: fixed-width fields, so no
/// two different triples share an input.
pub fn ticket_input(config: &Hash, epoch: Epoch, view: View) -> [u8; TICKET_INPUT_LEN] {
    let mut alpha = [0u8; TICKET_INPUT_LEN];
    alpha[..6].copy_from_slice(TICKET_LABEL);
    alpha[6..38].copy_from_slice(config.as_bytes());
    alpha[38..46].copy_from_slice(&epoch.0.to_le_bytes());
    alpha[46..].copy_from_slice(&view.0.to_le_bytes());
    alpha
}

/// `Ticket{e, v, pk_i, π_i}` (the output `y_i` is recomputed from the proof on
/// verification, never trusted from the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// Epoch `e`.
    pub epoch: Epoch,
    /// View `v`.
    pub view: View,
    /// The validator's VRF key.
    pub validator: VrfPublicKey,
    /// `π_i`.
    pub proof: VrfProof,
}

/// Why a ticket was refused (a protocol outcome, not a panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The ticket is for another epoch.
    #[error("ticket for epoch {got:?}, the election is for {want:?}")]
    WrongEpoch {
        /// The ticket's epoch.
        got: Epoch,
        /// The election's epoch.
        want: Epoch,
    },
    /// The ticket is for another view.
    #[error("ticket for view {got:?}, the election is in {want:?}")]
    WrongView {
        /// The ticket's view.
        got: View,
        /// The election's view.
        want: View,
    },
    /// The key is not in the epoch's validator set.
    #[error("ticket from {0:?}, not a validator of this epoch")]
    NotAValidator(VrfPublicKey),
    /// The proof does not verify under the ticket's key for this input (forged).
    #[error("ticket proof refused: {0}")]
    Proof(VrfError),
    /// The validator already has a ticket in this view (E1: one per validator, epoch, view).
    #[error("second ticket from {0:?} in this view")]
    Duplicate(VrfPublicKey),
    /// The validator failed as leader earlier in this epoch (E4).
    #[error("{0:?} was excluded as leader for this epoch")]
    Excluded(VrfPublicKey),
    /// The gossip window `Δ` of this view is closed (§3.6, late tickets).
    #[error("ticket arrived after the gossip window closed")]
    Late,
}

impl Ticket {
    /// Draws validator `secret`'s ticket for `(config, epoch, view)`.
    pub fn draw(secret: &VrfSecretKey, config: &Hash, epoch: Epoch, view: View) -> Ticket {
        Ticket {
            epoch,
            view,
            validator: secret.public(),
            proof: secret.prove(&ticket_input(config, epoch, view)),
        }
    }

    /// Verifies the proof under the ticket's own key for `config` and the ticket's epoch
    /// and view; returns the ticket value `y_i`. Roster membership, view and window are
    /// the election's checks.
    pub fn verify(&self, config: &Hash) -> Result<VrfOutput, TicketError> {
        self.validator
            .verify(&ticket_input(config, self.epoch, self.view), &self.proof)
            .map_err(TicketError::Proof)
    }
}
