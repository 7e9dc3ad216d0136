//! Costs by role (DESIGN.md §2, the cost model): the time a shard's worker spends in
//! each role of a real shard's validators, so a run can say what one validator of the
//! shard would have to do per transaction.
//!
//! The node switches its [`RoleMeter`] at the boundary of each step (an ordering batch,
//! an OptBlock checked, a FinalBlock built, a batch of sampled signatures…), never per
//! transaction; time is attributed to the innermost role entered (exclusive time), and
//! the host switches it to [`Role::Clients`], [`Role::Host`] and [`Role::Idle`] around
//! its own work. The reading comes from a [`Stopwatch`] the host installs: the node has
//! no clock of its own, and no decision depends on the meter (a simulation installs
//! [`Unmetered`], which reads 0, and its digest is unchanged).

/// A role whose cost a shard's worker measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Believable ordering: routing, batch verification, the ordering view's UTXO
    /// apply, OptBlock signing (with one league, the league's own batches).
    Ordering,
    /// The normal league's checks of each OptBlock: entitlement, header signature,
    /// body root, cheap UTXO checks; proofs, slashing and exclusion.
    Checking,
    /// Sampling: the samplers' VRFs and the verification of the signatures they select.
    Sampling,
    /// The FinalBlock leader: building the block and its record, checking the CoSi
    /// aggregate, standing and epochs.
    Leader,
    /// The signers' CoSi round (commitments and partial signatures of every signer).
    Signing,
    /// The Atomix shard side: lock requests and unlocks ordered and applied, proofs
    /// published, Atomix messages received.
    Atomix,
    /// The coordinator rule.
    Coordinator,
    /// The clients of the shard's stream (the host's, not a validator's).
    Clients,
    /// The host: channels, metrics, the store hand-off.
    Host,
    /// Nothing to do (not part of any cost).
    Idle,
}

impl Role {
    /// Every role, in the order of [`Role::index`].
    pub const ALL: [Role; 10] = [
        Role::Ordering,
        Role::Checking,
        Role::Sampling,
        Role::Leader,
        Role::Signing,
        Role::Atomix,
        Role::Coordinator,
        Role::Clients,
        Role::Host,
        Role::Idle,
    ];

    /// Position in [`Role::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable name (`summary.json` `roles.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ordering => "ordering",
            Role::Checking => "checking",
            Role::Sampling => "sampling",
            Role::Leader => "leader",
            Role::Signing => "signing",
            Role::Atomix => "atomix",
            Role::Coordinator => "coordinator",
            Role::Clients => "clients",
            Role::Host => "host",
            Role::Idle => "idle",
        }
    }
}

/// A monotonic reading in nanoseconds, installed by the host.
pub trait Stopwatch: Send + Sync {
    /// Now, ns since an arbitrary start.
    fn ns(&self) -> u64;
}

/// A stopwatch that always reads 0: nothing is metered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unmetered;

impl Stopwatch for Unmetered {
    fn ns(&self) -> u64 {
        0
    }
}

/// Time by role, exclusive: each interval goes to the role current during it.
pub struct RoleMeter {
    stopwatch: Box<dyn Stopwatch>,
    current: Role,
    since: u64,
    /// Nanoseconds by role (indexed by [`Role::index`]).
    pub ns: [u64; Role::ALL.len()],
}

impl std::fmt::Debug for RoleMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleMeter")
            .field("current", &self.current)
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl RoleMeter {
    /// A meter reading `stopwatch`, idle.
    pub fn new(stopwatch: Box<dyn Stopwatch>) -> Self {
        let since = stopwatch.ns();
        RoleMeter {
            stopwatch,
            current: Role::Idle,
            since,
            ns: [0; Role::ALL.len()],
        }
    }

    /// Charges the time since the last switch to the current role and makes `role`
    /// current; returns the role it replaced (for [`RoleMeter::leave`]).
    pub fn enter(&mut self, role: Role) -> Role {
        let now = self.stopwatch.ns();
        self.ns[self.current.index()] += now.saturating_sub(self.since);
        self.since = now;
        std::mem::replace(&mut self.current, role)
    }

    /// Goes back to `previous` (what [`RoleMeter::enter`] returned).
    pub fn leave(&mut self, previous: Role) {
        self.enter(previous);
    }

    /// Nanoseconds charged to `role` so far.
    pub fn of(&self, role: Role) -> u64 {
        self.ns[role.index()]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A stopwatch the test moves by hand.
    struct Manual(Arc<AtomicU64>);

    impl Stopwatch for Manual {
        fn ns(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn nested_roles_are_charged_exclusive_time() {
        let t = Arc::new(AtomicU64::new(100));
        let mut meter = RoleMeter::new(Box::new(Manual(Arc::clone(&t))));
        let advance = |ns| t.fetch_add(ns, Ordering::Relaxed);
        advance(7); // idle
        let before = meter.enter(Role::Host);
        assert_eq!(before, Role::Idle);
        advance(10);
        let outer = meter.enter(Role::Leader);
        advance(20);
        let inner = meter.enter(Role::Signing);
        advance(50);
        meter.leave(inner);
        advance(5);
        meter.leave(outer);
        advance(3);
        meter.leave(before);
        assert_eq!(meter.of(Role::Idle), 7);
        assert_eq!(meter.of(Role::Host), 13);
        assert_eq!(meter.of(Role::Leader), 25);
        assert_eq!(meter.of(Role::Signing), 50);
        assert_eq!(meter.ns.iter().sum::<u64>(), 95);
    }

    #[test]
    fn unmetered_charges_nothing() {
        let mut meter = RoleMeter::new(Box::new(Unmetered));
        let before = meter.enter(Role::Ordering);
        meter.leave(before);
        assert!(meter.ns.iter().all(|&n| n == 0));
    }
}
