//! Downloads that share one memory budget (a tree's objects). Each range in flight holds its
//! cost from before its GET until it has been written, and the range buffers are reused
//! across the downloads. So a run keeps as many ranges going as its budget allows, whichever
//! objects they belong to: one object ending does not leave the connection idle while the
//! next one reads its header and asks KMS for its key.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::direct::AlignedPool;
use crate::transfer::budget::MemoryBudget;
use crate::transfer::pool::BufferPool;

/// Memory and buffers shared by several downloads. Clones share them.
#[derive(Clone)]
pub struct SharedRanges {
    budget: MemoryBudget,
    /// The largest range any of the downloads fetches.
    range_bytes: u64,
    pub(super) pool: Arc<BufferPool>,
    pub(super) aligned: Arc<AlignedPool>,
}

impl std::fmt::Debug for SharedRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRanges")
            .field("budget", &self.budget)
            .field("range_bytes", &self.range_bytes)
            .finish_non_exhaustive()
    }
}

impl SharedRanges {
    /// Ranges of at most `range_bytes` each, inside `budget`.
    pub fn new(budget: MemoryBudget, range_bytes: u64) -> SharedRanges {
        let range_bytes = range_bytes.max(1);
        // As many buffers of each kind as ranges fit in the budget: a buffer is reused for any
        // range and so grows to the largest, and every range counts as one that large.
        let kept = (budget.bytes() / Self::range_cost(range_bytes, range_bytes)).max(1) as usize;
        SharedRanges {
            budget,
            range_bytes,
            pool: Arc::new(BufferPool::capped(kept, range_bytes as usize)),
            aligned: Arc::new(AlignedPool::capped(kept)),
        }
    }

    /// What a range of `bytes` costs while in flight: the buffer it is received into and the
    /// buffer it is opened into before it is written, each as large as the largest range
    /// (`largest`), since either may be a reused one of that size.
    fn range_cost(bytes: u64, largest: u64) -> u64 {
        2 * bytes.max(largest)
    }

    /// Waits until a range of `bytes` fits in the budget, and holds its cost.
    pub(super) async fn hold(&self, bytes: u64) -> OwnedSemaphorePermit {
        self.budget
            .take(Self::range_cost(bytes, self.range_bytes))
            .await
    }

    /// Holds a range's cost if it fits now (for ranges fetched ahead, which must not wait for
    /// memory while their download holds some).
    pub(super) fn try_hold(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        self.budget
            .try_take(Self::range_cost(bytes, self.range_bytes))
    }
}
