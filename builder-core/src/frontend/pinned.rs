//! Base images resolved once per build.
//!
//! A Dockerfile build resolves a base twice over: lowering reads its environment and
//! `ONBUILD` triggers, then the engine builds on it. Asked twice, a registry could give
//! two images (the tag moved in between, or `--pull` asks again), and the steps lowered
//! for one would run on the other. [`Pinned`] asks its resolver once for each reference
//! and platform and gives that answer for the rest of the build, as BuildKit's
//! `dockerfile2llb` resolves each image config once and builds on that digest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use oci_spec::image::Descriptor;

use crate::events::Events;
use crate::plan::Platform;
use crate::resolver::BaseResolver;
use crate::store::Store;

/// What one reference resolved to, for one platform; filled by the first resolution.
type Slot = Arc<Mutex<Option<Descriptor>>>;

/// A [`BaseResolver`] that asks `inner` once per reference and platform, and pins the
/// answer for the build. A failure is not pinned: it fails the build. Clones share the
/// pins.
#[derive(Clone)]
pub(super) struct Pinned {
    inner: Arc<dyn BaseResolver>,
    slots: Arc<Mutex<HashMap<(String, Platform), Slot>>>,
}

impl Pinned {
    /// Pins what `inner` resolves.
    pub(super) fn new(inner: Arc<dyn BaseResolver>) -> Pinned {
        Pinned {
            inner,
            slots: Arc::default(),
        }
    }

    /// Every reference resolved so far, with its platform and image, sorted.
    pub(super) fn resolved(&self) -> Vec<(String, Platform, Descriptor)> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut resolved: Vec<_> = slots
            .iter()
            .filter_map(|((reference, platform), slot)| {
                let pinned = slot.lock().unwrap_or_else(PoisonError::into_inner);
                let descriptor = pinned.as_ref()?.clone();
                Some((reference.clone(), platform.clone(), descriptor))
            })
            .collect();
        resolved.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
        resolved
    }

    /// The slot of `reference` for `platform`, new when it has none yet.
    fn slot(&self, reference: &str, platform: &Platform) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (reference.to_owned(), platform.clone());
        Arc::clone(slots.entry(key).or_default())
    }
}

impl BaseResolver for Pinned {
    /// The pinned image, or the one `inner` resolves now (pinned from then on). Stages
    /// resolving the same base at once wait for the first; other bases resolve meanwhile.
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
        events: &dyn Events,
    ) -> crate::Result<Descriptor> {
        let slot = self.slot(reference, platform);
        let mut pinned = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(descriptor) = &*pinned {
            return Ok(descriptor.clone());
        }
        let descriptor = self.inner.resolve(store, reference, platform, events)?;
        *pinned = Some(descriptor.clone());
        Ok(descriptor)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::NoEvents;
    use crate::oci::{ImageConfig, write_image};

    /// Gives a new image at each call.
    struct Moving {
        calls: AtomicUsize,
    }

    impl BaseResolver for Moving {
        fn resolve(
            &self,
            store: &Store,
            _reference: &str,
            _platform: &Platform,
            _events: &dyn Events,
        ) -> crate::Result<Descriptor> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let config = ImageConfig {
                author: Some(format!("call {call}")),
                ..ImageConfig::default()
            };
            write_image(store, &config, &[])
        }
    }

    #[test]
    fn each_reference_and_platform_resolves_once() -> crate::Result<()> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path())?;
        let moving = Arc::new(Moving {
            calls: AtomicUsize::new(0),
        });
        let pinned = Pinned::new(Arc::clone(&moving) as Arc<dyn BaseResolver>);
        let (amd64, arm64) = (
            Platform::new("linux", "amd64", None),
            Platform::new("linux", "arm64", None),
        );
        let first = pinned.resolve(&store, "a", &amd64, &NoEvents)?;
        assert_eq!(
            pinned.clone().resolve(&store, "a", &amd64, &NoEvents)?,
            first
        );
        let other_platform = pinned.resolve(&store, "a", &arm64, &NoEvents)?;
        let other_name = pinned.resolve(&store, "b", &amd64, &NoEvents)?;
        assert_ne!(other_platform, first);
        assert_ne!(other_name, first);
        assert_eq!(moving.calls.load(Ordering::SeqCst), 3);
        Ok(())
    }
}
