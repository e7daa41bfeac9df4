//! One memory budget several transfers share (a tree's objects, and the ranges of their
//! downloads): whoever holds bytes of it holds a permit, and waits for one when the budget is
//! spent, so the sum of what is in flight never passes it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A memory budget, counted in KiB permits. Clones share the same budget.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_kib: u32,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> MemoryBudget {
        let total_kib = u32::try_from((bytes / 1024).max(1)).unwrap_or(u32::MAX >> 1);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// The whole budget, in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.total_kib) * 1024
    }

    fn kib(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib)
    }

    /// Waits until `bytes` (capped at the whole budget) are free, and holds them.
    pub async fn take(&self, bytes: u64) -> OwnedSemaphorePermit {
        Arc::clone(&self.permits)
            .acquire_many_owned(self.kib(bytes))
            .await
            .expect("budget semaphore open")
    }

    /// `bytes` if they are free now, without waiting.
    pub fn try_take(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits)
            .try_acquire_many_owned(self.kib(bytes))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_is_held_is_not_free_until_released() {
        let budget = MemoryBudget::new(10 * 1024);
        let held = budget.take(6 * 1024).await;
        assert!(budget.try_take(5 * 1024).is_none(), "only 4 KiB are free");
        let small = budget.try_take(4 * 1024).expect("4 KiB are free");
        drop(held);
        assert!(budget.try_take(6 * 1024).is_some());
        drop(small);
        // More than the whole budget is capped at it, so it cannot wait forever.
        let all = budget.take(1 << 40).await;
        assert!(budget.try_take(1).is_none());
        drop(all);
    }
}
