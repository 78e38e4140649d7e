//! `WORKDIR`: creating the working directory, owned by the current user, when the image
//! lacks it (as BuildKit does).

use crate::layer::LayerPath;
use crate::plan::slash_path::clean;

use super::copy::{parent_dirs, resolve_user, write_entries};
use super::fs::NodeKind;
use super::stage::{BuildRun, StageState};
use crate::executor::NewLayer;

/// Writes a layer creating the config's working directory and its missing parents;
/// `None` when it exists.
pub(super) fn make_workdir(
    run: &BuildRun<'_>,
    state: &mut StageState,
) -> crate::Result<Option<NewLayer>> {
    let config = &state.image.config.config;
    let Some(path) = config
        .working_dir
        .as_deref()
        .and_then(|dir| LayerPath::new(clean(dir)).ok())
    else {
        return Ok(None);
    };
    state.fs.update(&run.builder.store, &state.image.layers)?;
    let Some(path) = state.fs.resolve(Some(&path))? else {
        return Ok(None);
    };
    if state
        .fs
        .get(&path)
        .is_some_and(|node| node.kind == NodeKind::Dir)
    {
        return Ok(None);
    }
    let owner = match config.user.as_deref().filter(|user| !user.is_empty()) {
        Some(user) => resolve_user(run, state, user)?,
        None => (0, 0),
    };
    let entries = parent_dirs(&state.fs, &[], Some(&path), owner, run.now_secs);
    write_entries(run, entries).map(Some)
}
