//! The exposure cap of a believable validator (PROTOCOL.md §6.5 step 3, [PROPOSAL]).
//!
//! A believable validator's provisional confirmations are only as good as the stake
//! that backs them: it must stop signing when the value of the transactions it signed
//! that are not yet final would exceed its cap (at most its bonded stake), so users
//! harmed by a reverted provisional confirmation can always be compensated from the
//! slashed stake. Flow: `try_admit` before a transaction goes into an OptBlock,
//! `settle` when the FinalBlock that covers it is committed (or the transaction is
//! excluded).
//!
//! Invariant: `outstanding ≤ cap` at all times.

/// Outstanding, not-yet-final value signed by one believable validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    cap: u128,
    outstanding: u128,
}

impl Exposure {
    /// An empty exposure with `cap` (at most the validator's bonded stake).
    pub fn new(cap: u128) -> Self {
        Exposure {
            cap,
            outstanding: 0,
        }
    }

    /// Admits a transaction moving `value` if the cap allows it; returns whether it did.
    pub fn try_admit(&mut self, value: u128) -> bool {
        match self.outstanding.checked_add(value) {
            Some(total) if total <= self.cap => {
                self.outstanding = total;
                true
            }
            _ => false,
        }
    }

    /// `value` became final (or was excluded): it no longer counts.
    pub fn settle(&mut self, value: u128) {
        assert!(
            value <= self.outstanding,
            "settling {value} of {} outstanding",
            self.outstanding
        );
        self.outstanding -= value;
    }

    /// Value signed and not yet final.
    pub fn outstanding(&self) -> u128 {
        self.outstanding
    }

    /// Value that can still be admitted.
    pub fn headroom(&self) -> u128 {
        self.cap - self.outstanding
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn admits_up_to_the_cap_and_frees_on_settle() {
        let mut e = Exposure::new(100);
        assert!(e.try_admit(60));
        assert!(e.try_admit(40));
        assert!(!e.try_admit(1), "the cap is reached");
        assert_eq!(e.headroom(), 0);
        e.settle(60);
        assert!(e.try_admit(50));
        assert_eq!(e.outstanding(), 90);
    }

    #[test]
    fn overflowing_value_is_refused() {
        let mut e = Exposure::new(u128::MAX);
        assert!(e.try_admit(u128::MAX - 1));
        assert!(!e.try_admit(2));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn outstanding_never_exceeds_the_cap(cap in 0u128..10_000, ops in prop::collection::vec((any::<bool>(), 0u128..3_000), 0..100)) {
            let mut e = Exposure::new(cap);
            let mut admitted = Vec::new();
            for (admit, value) in ops {
                if admit || admitted.is_empty() {
                    if e.try_admit(value) {
                        admitted.push(value);
                    }
                } else {
                    e.settle(admitted.pop().unwrap());
                }
                prop_assert!(e.outstanding() <= cap);
                prop_assert_eq!(e.outstanding(), admitted.iter().sum::<u128>());
            }
        }
    }
}
