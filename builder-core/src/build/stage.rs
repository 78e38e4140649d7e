//! Building stages: resolving the base, then each step, from the cache or by running it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cache::{BaseKey, CacheKey, INLINE_KEY, KeyBuilder, base_key, step_key};
use crate::context::{Context, FileHashes};
use crate::events::{Events, StepRef};
use crate::layer::{Compression, LayerOptions};
use crate::oci::{History, Image, ImageConfig};
use crate::plan::{Base, Mount, Plan, Platform, Run, Source, Stage, Step};
use crate::store::ScratchDir;

use super::fs::FsView;
use super::record::{LayerRecord, StepRecord, StepRecords};
use super::{BuildError, BuildOptions, Builder, StepResult, config, history, imported};
use super::{lineage, ops};
use crate::executor::{NewLayer, StageImage};

/// One build in progress: what every stage shares. Each stage is built by a
/// [`fork`](BuildRun::fork) of it, on its own thread.
pub(super) struct BuildRun<'a> {
    pub builder: &'a Builder,
    pub plan: &'a Plan,
    pub context: &'a Context,
    pub hashes: &'a FileHashes,
    pub options: &'a BuildOptions,
    pub events: &'a dyn Events,
    pub records: StepRecords,
    pub layer_options: LayerOptions,
    /// The `created` of new history entries (RFC 3339).
    pub now: String,
    /// The time of new files without one (created directories), seconds.
    pub now_secs: i64,
    /// The result of each stage built, by index; shared by forks, so that a fork costs
    /// nothing however many stages there are.
    pub stages: Arc<[OnceLock<StageImage>]>,
    /// Stages and images unpacked for `COPY --from`, by what they are; shared by forks.
    pub unpacked: Arc<Mutex<HashMap<String, ScratchDir>>>,
    /// The results of the steps built, in order.
    pub steps: Vec<StepResult>,
}

/// A stage being built.
pub(super) struct StageState {
    pub image: StageImage,
    pub platform: Platform,
    /// Whether a `CMD` was set in this stage (`ENTRYPOINT` keeps it).
    pub cmd_set: bool,
    /// The image's paths, read from its layers when first needed.
    pub fs: FsView,
    /// The lineage key of the last step (see [`lineage`]).
    pub lineage: CacheKey,
    /// About how large the config is.
    pub config_size: config::ConfigSize,
}

impl<'a> BuildRun<'a> {
    pub(super) fn new(
        builder: &'a Builder,
        plan: &'a Plan,
        context: &'a Context,
        hashes: &'a FileHashes,
        options: &'a BuildOptions,
        events: &'a dyn Events,
    ) -> crate::Result<BuildRun<'a>> {
        let now_secs = options.source_date_epoch.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        });
        Ok(BuildRun {
            builder,
            plan,
            context,
            hashes,
            options,
            events,
            records: StepRecords::open(&builder.store)?,
            layer_options: LayerOptions {
                compression: options.compression,
                source_date_epoch: options.source_date_epoch,
                threads: None,
                reuse: None,
                hash_contents: false,
            },
            now: rfc3339(now_secs),
            now_secs,
            stages: plan.stages.iter().map(|_| OnceLock::new()).collect(),
            unpacked: Arc::default(),
            steps: Vec::new(),
        })
    }

    /// A run for building one more stage: the same build, with the stages built so far
    /// and no steps yet.
    pub(super) fn fork(&self) -> BuildRun<'a> {
        BuildRun {
            records: self.records.clone(),
            layer_options: self.layer_options.clone(),
            now: self.now.clone(),
            stages: Arc::clone(&self.stages),
            unpacked: Arc::clone(&self.unpacked),
            steps: Vec::new(),
            ..*self
        }
    }

    /// The target's image and the results of every step.
    pub(super) fn finish(mut self, target: usize) -> (StageImage, Vec<StepResult>) {
        // The forks are gone with their threads, so the images are this run's alone.
        let built = Arc::get_mut(&mut self.stages).and_then(|stages| stages[target].take());
        let mut image = built
            .or_else(|| self.stages[target].get().cloned())
            .expect("the target is among the stages built");
        if self.options.source_date_epoch.is_some() {
            image.config.created = Some(self.now.clone());
        } else if let Some(latest) = image
            .config
            .history
            .iter()
            .filter_map(|entry| entry.created.clone())
            .max()
        {
            image.config.created = Some(latest);
        }
        (image, self.steps)
    }

    /// Builds the stage `index`; the stages it reads from must be built. Stops before its
    /// next step once `stop` is set, returning `None`.
    pub(super) fn build_stage(
        &mut self,
        index: usize,
        stop: &AtomicBool,
    ) -> crate::Result<Option<StageImage>> {
        let stage = &self.plan.stages[index];
        let platform = stage
            .platform
            .clone()
            .unwrap_or_else(|| self.options.platform.clone());
        let shows_base = !matches!(stage.base, Base::Scratch);
        let total = stage.steps.len() + usize::from(shows_base);
        let mut state = self.start(index, stage, &platform, total)?;
        for (position, step) in stage.steps.iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let step_ref = StepRef {
                stage: index,
                stage_name: stage.name.clone(),
                step: position + usize::from(shows_base),
                steps: total,
                text: step.meta.text.clone(),
            };
            self.step(&mut state, step, step_ref.clone())
                .map_err(|source| BuildError::Step {
                    span: step.meta.span,
                    text: step.meta.text.clone(),
                    source: Box::new(source),
                })?;
        }
        Ok(Some(state.image))
    }

    /// The state a stage starts from: its base's image and key.
    fn start(
        &mut self,
        index: usize,
        stage: &Stage,
        platform: &Platform,
        total: usize,
    ) -> crate::Result<StageState> {
        let step_ref = StepRef {
            stage: index,
            stage_name: stage.name.clone(),
            step: 0,
            steps: total,
            text: String::new(),
        };
        let (mut config, layers, key) = match &stage.base {
            Base::Scratch => (
                ImageConfig {
                    architecture: platform.architecture().to_owned(),
                    os: platform.os().to_owned(),
                    variant: platform.variant().map(str::to_owned),
                    ..ImageConfig::default()
                },
                Vec::new(),
                base_key(BaseKey::Scratch, platform),
            ),
            Base::Image(reference) => {
                let step_ref = StepRef {
                    text: stage
                        .from_text
                        .clone()
                        .unwrap_or_else(|| format!("FROM {reference}")),
                    ..step_ref
                };
                let started = Instant::now();
                self.events.step_started(&step_ref);
                let image = self
                    .image(reference, platform)
                    .map_err(|source| BuildError::Base {
                        span: stage.span,
                        reference: reference.clone(),
                        source: Box::new(source),
                    })?;
                self.events.step_finished(&step_ref, started.elapsed());
                let key = base_key(BaseKey::Image(image.digest()), platform);
                (image.config().clone(), image.layers().to_vec(), key)
            }
            Base::Stage(base) => {
                let image = self.stage_image(*base)?;
                let name = self.plan.stages[*base]
                    .name
                    .clone()
                    .unwrap_or_else(|| base.to_string());
                let step_ref = StepRef {
                    text: format!("FROM {name}"),
                    ..step_ref
                };
                self.events.step_started(&step_ref);
                self.events.step_cached(&step_ref);
                let key = base_key(BaseKey::Stage(&image.key), platform);
                (image.config.clone(), image.layers.clone(), key)
            }
        };
        // What the image does not say yet, as BuildKit fills it in; the base's triggers
        // ran when the plan was made and are not inherited.
        let env = config.config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|item| item.starts_with("PATH=")) {
            env.push(config::DEFAULT_PATH.to_owned());
        }
        config.config.on_build = None;
        // A base's cache records are of its build, not of this one.
        config.extra.remove(INLINE_KEY);
        let lineage = lineage::root(&stage.base, platform, self.context);
        let config_size = config::ConfigSize::of(&config);
        Ok(StageState {
            image: StageImage {
                config,
                layers,
                key: self.options_key(&key),
            },
            platform: platform.clone(),
            cmd_set: false,
            fs: FsView::default(),
            lineage: self.options_key(&lineage),
            config_size,
        })
    }

    /// `key` with the build options that change what steps produce: the compression of
    /// new layers and `SOURCE_DATE_EPOCH`.
    fn options_key(&self, key: &CacheKey) -> CacheKey {
        let mut builder = KeyBuilder::new("options");
        builder.key(key);
        match self.options.compression {
            Compression::Gzip { level } => builder.tag(0).u64(u64::from(level)),
            Compression::Zstd { level } => builder.tag(1).u64(u64::from(level.unsigned_abs())),
            Compression::Uncompressed => builder.tag(2),
        };
        match self.options.source_date_epoch {
            None => builder.tag(0),
            Some(epoch) => builder.tag(1).u64(epoch.cast_unsigned()),
        };
        builder.finish()
    }

    /// Records `image` as the result of the stage `index`.
    pub(super) fn set_stage_image(&self, index: usize, image: StageImage) {
        self.stages[index]
            .set(image)
            .expect("the scheduler builds each stage once");
    }

    /// The result of the stage `index`, built before.
    pub(super) fn stage_image(&self, index: usize) -> crate::Result<&StageImage> {
        self.stages
            .get(index)
            .and_then(OnceLock::get)
            .ok_or(crate::plan::PlanError::ForwardReference {
                stage: index,
                refers_to: index,
            })
            .map_err(Into::into)
    }

    /// The image `reference` names, for `platform`, through the builder's resolver.
    pub(super) fn image(&self, reference: &str, platform: &Platform) -> crate::Result<Image> {
        let store = &self.builder.store;
        let descriptor = self
            .builder
            .resolver
            .resolve(store, reference, platform, self.events)?;
        Image::load(store, &descriptor, platform)
    }

    /// The images `run`'s mounts name in `from=` (bind and cache), each resolved once for
    /// `platform`, by reference.
    pub(super) fn mount_images(
        &self,
        run: &Run,
        platform: &Platform,
    ) -> crate::Result<Vec<(String, Image)>> {
        let mut images: Vec<(String, Image)> = Vec::new();
        for mount in &run.mounts {
            let reference = match mount {
                Mount::Bind {
                    from: Source::Image(reference),
                    ..
                }
                | Mount::Cache {
                    from: Some(Source::Image(reference)),
                    ..
                } => reference,
                _ => continue,
            };
            if !images.iter().any(|(name, _)| name == reference) {
                images.push((reference.clone(), self.image(reference, platform)?));
            }
        }
        Ok(images)
    }

    /// Records a step that ran: its cache record under `key` (and under `definition`,
    /// for a step whose key was known only after it ran) and the layer it wrote as the
    /// last of its `lineage`.
    fn record(
        &self,
        key: &CacheKey,
        definition: Option<&CacheKey>,
        record: &StepRecord,
        lineage: &CacheKey,
        layer: Option<&NewLayer>,
    ) -> crate::Result<()> {
        if let Some(layer) = layer {
            lineage::remember(&self.builder.store, lineage, layer)?;
        }
        self.records.put(key, record)?;
        if let Some(definition) = definition {
            self.records.define(definition, record)?;
        }
        Ok(())
    }

    /// Builds one step onto `state`, from the cache when it can.
    fn step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        step_ref: StepRef,
    ) -> crate::Result<()> {
        let started = Instant::now();
        self.events.step_started(&step_ref);
        let skips_cache = self
            .options
            .skips_cache(step_ref.stage, step_ref.stage_name.as_deref());
        // A `COPY` from the context that no record can match hashes its files as it
        // writes them, after which its key is known (see `copy::prepare`).
        let definition =
            ops::keyed_after_writing(&step.op).then(|| step_key(&state.image.key, &step.op, &[]));
        let defer = definition
            .as_ref()
            .is_some_and(|definition| skips_cache || !self.defined(definition));
        let mut handler = ops::handler(self, &step.op, &state.platform, defer)?;
        let inputs = handler.inputs(self)?;
        let fetched = handler.fetched();
        let mut key = step_key(&state.image.key, &step.op, &inputs);
        let lineage = lineage::step(&state.lineage, &step.op);
        let cached = if skips_cache || defer {
            None
        } else {
            self.find_record(&key)?
        };
        let mut imported_from = None;
        let (record, ran) = match cached {
            Some((record, source)) => {
                config::apply(&mut state.image.config, &mut state.cmd_set, &step.op);
                if let Some(layer) = &record.layer {
                    lineage::found(&self.builder.store, &lineage, &layer.digest)?;
                }
                match &source {
                    Some(source) => self.events.step_imported(&step_ref, source),
                    None => self.events.step_cached(&step_ref),
                }
                imported_from = source;
                (record, None)
            }
            None => {
                // The layer this step wrote last, whose unchanged chunks are copied.
                let store = &self.builder.store;
                self.layer_options.reuse = handler
                    .reuses_layer()
                    .then(|| lineage::previous(store, &lineage))
                    .flatten();
                let layer = handler.execute(self, state, &step_ref)?;
                let reuse = self.layer_options.reuse.take();
                if defer {
                    key = step_key(&state.image.key, &step.op, &handler.inputs(self)?);
                }
                if let Some(layer) = &layer {
                    let corrupt = reuse
                        .and_then(|reuse| lineage::corrupt(&self.builder.store, &reuse, layer));
                    if let Some(warning) = corrupt {
                        self.events.warning(&warning);
                    }
                    if layer.reused > 0 {
                        self.events.layer_reused(&step_ref, layer.reused);
                    }
                }
                let record = StepRecord {
                    layer: layer.as_ref().map(LayerRecord::of),
                    created: self.now.clone(),
                };
                (record, Some(layer))
            }
        };
        let cached_step = imported::cached_step(&record);
        let record_layer = record.layer.is_some();
        let image = &mut state.image;
        let created_by = history::created_by(&step.op, &image.config);
        let history = History {
            created: Some(record.created.clone()),
            created_by: created_by.clone(),
            comment: Some(history::COMMENT.to_owned()),
            empty_layer: record.layer.is_none(),
            ..History::default()
        };
        let layer = record.layer.as_ref().map(LayerRecord::layer);
        // Checked before the step is recorded, or an imported record kept: a step that
        // fails leaves no cache record, so building it again fails the same way.
        state.config_size.add(
            &step.op,
            &history,
            layer.as_ref().map(|layer| &layer.diff_id),
        )?;
        let was_cached = ran.is_none();
        if let Some(written) = ran {
            let definition = definition.as_ref().filter(|_| defer);
            self.record(&key, definition, &record, &lineage, written.as_ref())?;
            self.events.step_finished(&step_ref, started.elapsed());
        } else if imported_from.is_some() {
            self.keep_imported(&key, definition.as_ref(), &record)?;
        }
        if let Some(NewLayer {
            descriptor,
            diff_id,
            ..
        }) = layer
        {
            image.layers.push(descriptor);
            image.config.rootfs.diff_ids.push(diff_id);
        }
        // `ONBUILD` is recorded in the config only, as BuildKit does.
        if created_by.is_some() {
            image.config.history.push(history);
        }
        image.key = key.clone();
        state.lineage = lineage;
        self.steps.push(StepResult {
            step: step_ref,
            key,
            cached: was_cached,
            imported_from,
            definition: definition.filter(|_| record_layer),
            record: cached_step,
            in_image: false,
            fetched,
        });
        Ok(())
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`2024-01-01T00:00:00Z`).
pub(super) fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
