//! The build's remote cache: artifacts imported before the build (`--cache-from`) and
//! exported after its outputs (`--cache-to`).

use std::sync::Arc;

use crate::cache::ImportedCache;
use crate::events::Events;
use crate::exec::error_chain;
use crate::registry::{Client, ClientOptions};
use crate::remote_cache::{CacheLocation, ImportedRecords, export};
use crate::store::Store;

use super::{FrontendError, Outcome, Request};

/// The artifacts `request` imports, read into `store`; `None` when it names none. Each
/// one that cannot be read is a warning.
pub(super) fn import(
    request: &Request,
    store: &Store,
    registry: &ClientOptions,
    events: &dyn Events,
) -> Option<Arc<dyn ImportedCache>> {
    if request.cache.from.is_empty() {
        return None;
    }
    let client = Client::new(registry.clone());
    let imported = ImportedRecords::load(&request.cache.from, store, client, events);
    Some(Arc::new(imported))
}

/// Exports the step records of `outcome` to each `--cache-to` of `request`: a failure
/// is a warning with `ignore-error=true`, else the build's error.
pub(super) fn export_all(
    request: &Request,
    outcome: &Outcome,
    store: &Store,
    client: &Client,
    events: &dyn Events,
) -> Result<(), FrontendError> {
    // Inline records are in the image already.
    for to in request
        .cache
        .to
        .iter()
        .filter(|to| to.location != CacheLocation::Inline)
    {
        match export(
            to,
            &outcome.steps,
            &outcome.cache_mounts,
            store,
            client,
            events,
        ) {
            Ok(_) => {}
            Err(error) if to.ignore_error => events.warning(&format!(
                "cache not exported to `{}`: {}",
                to.location,
                error_chain(&error)
            )),
            Err(error) => {
                return Err(FrontendError::CacheExport {
                    image: outcome.image.digest().clone(),
                    source: Box::new(error),
                });
            }
        }
    }
    Ok(())
}
