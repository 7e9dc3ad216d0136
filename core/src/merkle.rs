//! Binary Merkle trees over blake3 with domain separation.
//!
//! Leaves are 32-byte values (transaction ids, entry hashes). A leaf node is
//! `H(MerkleLeaf ‖ leaf)`, an inner node `H(MerkleNode ‖ left ‖ right)`, and the root of
//! no leaves is `H(MerkleEmpty)`. Domain separation means no inner node can be passed
//! off as a leaf (second-preimage attacks on the tree shape).
//!
//! A level with an odd count promotes its last node unchanged to the next level instead
//! of pairing it with a copy of itself: duplicating would give two different leaf lists
//! (`[a, b, c]` and `[a, b, c, c]`) the same root (the CVE-2012-2459 mutation).
//!
//! An inclusion proof carries the leaf's index, the leaf count and the sibling hashes
//! from the bottom up; the verifier recomputes the tree's shape from the count, so a
//! proof cannot claim a position the tree does not have.

use crate::crypto::hash::Domain;
use crate::types::Hash;

/// Most leaves a proof may claim (bounds decoding and recomputation).
pub const MERKLE_LEAVES_MAX: u32 = 1 << 24;

fn leaf_node(leaf: &Hash) -> Hash {
    Domain::MerkleLeaf.hash(&leaf.0)
}

fn inner_node(left: &Hash, right: &Hash) -> Hash {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(&left.0);
    both[32..].copy_from_slice(&right.0);
    Domain::MerkleNode.hash(&both)
}

/// The root of `leaves`, reusing `scratch` for the levels (no allocation once `scratch`
/// has grown to the leaf count).
pub fn root_with(leaves: &[Hash], scratch: &mut Vec<Hash>) -> Hash {
    root_of(leaves.iter().copied(), scratch)
}

/// The root of the leaves yielded by `leaves` (see [`root_with`]).
pub fn root_of(leaves: impl IntoIterator<Item = Hash>, scratch: &mut Vec<Hash>) -> Hash {
    scratch.clear();
    scratch.extend(leaves.into_iter().map(|leaf| leaf_node(&leaf)));
    if scratch.is_empty() {
        return Domain::MerkleEmpty.hash(&[]);
    }
    let mut len = scratch.len();
    while len > 1 {
        let mut next = 0;
        let mut i = 0;
        while i + 1 < len {
            scratch[next] = inner_node(&scratch[i], &scratch[i + 1]);
            next += 1;
            i += 2;
        }
        if i < len {
            scratch[next] = scratch[i];
            next += 1;
        }
        len = next;
    }
    scratch[0]
}

/// The root of `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    root_with(leaves, &mut Vec::with_capacity(leaves.len()))
}

/// A proof that a leaf sits at `index` in a tree of `leaf_count` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleProof {
    /// The leaf's position.
    pub index: u32,
    /// Leaves in the tree.
    pub leaf_count: u32,
    /// Sibling hashes from the leaf's level up (promoted levels contribute none).
    pub siblings: Vec<Hash>,
}

/// The level above `level`: pairs hashed, an odd last node promoted.
fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => inner_node(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// A proof for the leaf at `index`, or `None` if there is no such leaf.
pub fn prove(leaves: &[Hash], index: usize) -> Option<MerkleProof> {
    if index >= leaves.len() || leaves.len() > MERKLE_LEAVES_MAX as usize {
        return None;
    }
    let mut level: Vec<Hash> = leaves.iter().map(leaf_node).collect();
    let mut position = index;
    let mut siblings = Vec::new();
    while level.len() > 1 {
        let sibling = position ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        level = next_level(&level);
        position /= 2;
    }
    Some(MerkleProof {
        index: index as u32,
        leaf_count: leaves.len() as u32,
        siblings,
    })
}

/// The proof of every leaf, in order, from one pass over the tree (`O(n log n)`
/// hashes' worth of siblings, `n` node hashes; [`prove`] per leaf would rebuild the tree
/// each time). Empty for no leaves or more than [`MERKLE_LEAVES_MAX`].
pub fn prove_all(leaves: &[Hash]) -> Vec<MerkleProof> {
    if leaves.is_empty() || leaves.len() > MERKLE_LEAVES_MAX as usize {
        return Vec::new();
    }
    let mut proofs: Vec<MerkleProof> = (0..leaves.len())
        .map(|index| MerkleProof {
            index: index as u32,
            leaf_count: leaves.len() as u32,
            siblings: Vec::new(),
        })
        .collect();
    let mut level: Vec<Hash> = leaves.iter().map(leaf_node).collect();
    // Each leaf's position at the current level: index >> depth.
    let mut depth = 0;
    while level.len() > 1 {
        for proof in &mut proofs {
            let sibling = (proof.index as usize >> depth) ^ 1;
            if sibling < level.len() {
                proof.siblings.push(level[sibling]);
            }
        }
        level = next_level(&level);
        depth += 1;
    }
    proofs
}

impl MerkleProof {
    /// The root this proof leads to from `leaf`, or `None` if the proof is malformed
    /// (index outside the tree, wrong number of siblings).
    pub fn root_from(&self, leaf: &Hash) -> Option<Hash> {
        if self.leaf_count == 0
            || self.leaf_count > MERKLE_LEAVES_MAX
            || self.index >= self.leaf_count
        {
            return None;
        }
        let mut node = leaf_node(leaf);
        let mut position = self.index;
        let mut width = self.leaf_count;
        let mut siblings = self.siblings.iter();
        while width > 1 {
            let sibling = position ^ 1;
            if sibling < width {
                let hash = siblings.next()?;
                node = if position.is_multiple_of(2) {
                    inner_node(&node, hash)
                } else {
                    inner_node(hash, &node)
                };
            }
            position /= 2;
            width = width.div_ceil(2);
        }
        if siblings.next().is_some() {
            return None;
        }
        Some(node)
    }

    /// Whether `leaf` is at this proof's index in the tree with `root`.
    pub fn verify(&self, root: &Hash, leaf: &Hash) -> bool {
        self.root_from(leaf).as_ref() == Some(root)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Domain::Prg.hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn empty_and_single_leaf_roots_are_distinct_and_defined() {
        let one = leaves(1);
        assert_ne!(root(&[]), root(&one));
        assert_eq!(root(&one), leaf_node(&one[0]));
    }

    #[test]
    fn duplicating_the_last_leaf_changes_the_root() {
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(root(&three), root(&four));
    }

    #[test]
    fn a_leaf_cannot_pose_as_an_inner_node() {
        let two = leaves(2);
        let inner = inner_node(&leaf_node(&two[0]), &leaf_node(&two[1]));
        assert_ne!(root(&[inner]), root(&two));
    }

    #[test]
    fn proof_with_wrong_leaf_count_fails() {
        let all = leaves(5);
        let mut proof = prove(&all, 4).unwrap();
        assert!(proof.verify(&root(&all), &all[4]));
        proof.leaf_count = 6;
        assert!(!proof.verify(&root(&all), &all[4]));
        proof.leaf_count = 4;
        assert!(proof.root_from(&all[4]).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_leaf_has_a_proof_that_verifies(n in 1usize..200, pick in any::<prop::sample::Index>()) {
            let all = leaves(n);
            let index = pick.index(n);
            let proof = prove(&all, index).unwrap();
            prop_assert!(proof.verify(&root(&all), &all[index]));
        }

        #[test]
        fn proof_does_not_verify_another_leaf_or_position(n in 2usize..200, pick in any::<prop::sample::Index>()) {
            let all = leaves(n);
            let index = pick.index(n);
            let r = root(&all);
            let proof = prove(&all, index).unwrap();
            let other = (index + 1) % n;
            prop_assert!(!proof.verify(&r, &all[other]));
            let moved = MerkleProof { index: other as u32, ..proof.clone() };
            prop_assert!(!moved.verify(&r, &all[index]));
        }

        #[test]
        fn flipping_any_sibling_bit_breaks_the_proof(n in 2usize..100, pick in any::<prop::sample::Index>(), bit in 0usize..256) {
            let all = leaves(n);
            let index = pick.index(n);
            let mut proof = prove(&all, index).unwrap();
            let which = bit % proof.siblings.len();
            proof.siblings[which].0[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!proof.verify(&root(&all), &all[index]));
        }

        #[test]
        fn root_with_reused_scratch_equals_fresh_root(a in 0usize..100, b in 0usize..100) {
            let mut scratch = Vec::new();
            let first = root_with(&leaves(a), &mut scratch);
            let second = root_with(&leaves(b), &mut scratch);
            prop_assert_eq!(first, root(&leaves(a)));
            prop_assert_eq!(second, root(&leaves(b)));
        }
    }

    #[test]
    fn prove_all_equals_prove_for_every_leaf_and_size() {
        for n in 1..40u8 {
            let leaves: Vec<Hash> = (0..n).map(|i| Hash([i; 32])).collect();
            let all = prove_all(&leaves);
            assert_eq!(all.len(), leaves.len());
            for (i, proof) in all.iter().enumerate() {
                assert_eq!(Some(proof), prove(&leaves, i).as_ref(), "n {n} leaf {i}");
                assert!(proof.verify(&root(&leaves), &leaves[i]));
            }
        }
        assert!(prove_all(&[]).is_empty());
    }
}
