//! The last known state of the channels this instance meters, so a voucher is checked without
//! reading the channel row first. A hint, never the truth: every debit is still a
//! compare-and-set in the store, and a refusal reached from a cached state is decided again
//! on the stored one (another instance, a top-up or a close may have moved the channel).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mppsol_store::ChannelRecord;

/// Channels remembered at most; beyond it the cache starts over (a miss costs one read).
const MAX_CHANNELS: usize = 100_000;

/// Channel records by channel id.
#[derive(Default)]
pub(crate) struct ChannelCache {
    map: Mutex<HashMap<String, Arc<ChannelRecord>>>,
}

impl ChannelCache {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<ChannelRecord>>> {
        // The map holds plain values; a panic elsewhere cannot leave it half-updated.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last known state of `channel_id`.
    pub(crate) fn get(&self, channel_id: &str) -> Option<Arc<ChannelRecord>> {
        self.map().get(channel_id).cloned()
    }

    /// Remembers `rec` as the channel's state.
    pub(crate) fn put(&self, rec: Arc<ChannelRecord>) {
        let mut map = self.map();
        if map.len() >= MAX_CHANNELS && !map.contains_key(&rec.channel_id) {
            map.clear();
        }
        map.insert(rec.channel_id.clone(), rec);
    }

    /// Forgets `channel_id` (its state moved in a way this instance did not compute).
    pub(crate) fn forget(&self, channel_id: &str) {
        self.map().remove(channel_id);
    }
}
