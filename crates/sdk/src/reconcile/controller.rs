//! One kind and what it watches besides itself, and the loop that runs it
//! on kube-runtime's `Controller` behind the kind's [`Queue`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use futures::stream::BoxStream;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller as KubeController};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::harness::Harness;
use super::queue::Queue;
use super::{Context, Error, Reconciler, Result, Settings};
use crate::backoff::{Backoff, IntervalJitter};
use crate::events::Recorder;
use crate::health::ReadyGate;
use crate::leader::Leadership;
use crate::metrics::{Metrics, QueueSource};

/// What a watch needs to turn changes of other objects into triggers.
struct Watching<K: Resource<DynamicType = ()> + Clone + 'static> {
    client: Client,
    namespace: Option<String>,
    configs_label_selector: String,
    store: Store<K>,
    queue: Arc<Queue<K>>,
}

/// A watch of other objects: a stream that, polled, puts the objects it
/// maps changes to into the queue (it yields nothing itself).
type Watch<K> = Box<dyn FnOnce(&Watching<K>) -> BoxStream<'static, ObjectRef<K>> + Send>;

/// One kind, ready to be added to a [`Manager`](super::Manager): its
/// reconciler and what it watches besides its own objects.
pub struct Controller<R: Reconciler> {
    reconciler: R,
    watches: Vec<Watch<R::Object>>,
}

/// What the manager gives each of its kinds.
pub(super) struct Wiring {
    pub(super) client: Client,
    pub(super) settings: Settings,
    pub(super) recorder: Option<Recorder>,
    pub(super) metrics: Metrics,
    pub(super) ready: Option<ReadyGate>,
    pub(super) leadership: Option<Leadership>,
}

impl<R: Reconciler> Controller<R> {
    /// A controller running `reconciler`, watching only its own kind.
    pub fn new(reconciler: R) -> Self {
        Self { reconciler, watches: Vec::new() }
    }

    /// Re-reconciles objects when a Secret they reference changes. Only
    /// Secrets labelled `reconcile.fluxcd.io/watch: Enabled` are watched;
    /// `references` names the Secrets (in the object's namespace) an object uses.
    pub fn watch_secrets(self, references: impl Fn(&R::Object) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.watch_labelled::<Secret>(references)
    }

    /// Like [`Controller::watch_secrets`], for ConfigMaps.
    pub fn watch_config_maps(self, references: impl Fn(&R::Object) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.watch_labelled::<ConfigMap>(references)
    }

    fn watch_labelled<O>(mut self, references: impl Fn(&R::Object) -> Vec<String> + Send + Sync + 'static) -> Self
    where
        O: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        self.watches.push(Box::new(move |watching: &Watching<R::Object>| {
            let (store, queue) = (watching.store.clone(), watching.queue.clone());
            let config = watcher::Config::default().labels(&watching.configs_label_selector);
            let api: Api<O> = scoped(&watching.client, watching.namespace.as_deref());
            triggers(watcher(api, config).default_backoff().touched_objects(), move |object: O| {
                let name = object.name_any();
                let namespace = object.namespace();
                for candidate in store.state() {
                    if candidate.namespace() == namespace && references(&candidate).contains(&name) {
                        queue.trigger(ObjectRef::from_obj(&*candidate));
                    }
                }
            })
        }));
        self
    }

    /// Re-reconciles consumers when the artifact revision of a source they
    /// reference changes. `references` gives the sources an object consumes,
    /// `revision` a source's current artifact revision.
    pub fn watch_sources<S>(
        mut self,
        references: impl Fn(&R::Object) -> Vec<ObjectRef<S>> + Send + Sync + 'static,
        revision: impl Fn(&S) -> Option<String> + Send + Sync + 'static,
    ) -> Self
    where
        S: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        self.watches.push(Box::new(move |watching: &Watching<R::Object>| {
            let (store, queue) = (watching.store.clone(), watching.queue.clone());
            let api: Api<S> = scoped(&watching.client, watching.namespace.as_deref());
            let seen: Mutex<HashMap<ObjectRef<S>, Option<String>>> = Mutex::default();
            triggers(watcher(api, watcher::Config::default()).default_backoff().touched_objects(), move |source: S| {
                let key = ObjectRef::from_obj(&source);
                let current = revision(&source);
                let previous =
                    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key.clone(), current.clone());
                // Consumers are reconciled at start anyway: trigger only on a change seen here.
                if !matches!(previous, Some(previous) if previous != current) {
                    return;
                }
                for candidate in store.state() {
                    if references(&candidate).contains(&key) {
                        queue.trigger(ObjectRef::from_obj(&*candidate));
                    }
                }
            })
        }));
        self
    }

    /// The kind this controller reconciles.
    pub(super) fn kind() -> String {
        <R::Object as Resource>::kind(&()).into_owned()
    }

    /// Runs until `stopped` resolves (then in-flight reconciles get
    /// `settings.shutdown_timeout` to finish) or leadership is lost (an
    /// error: the process should exit, as Flux's do).
    pub(super) async fn run(self, wiring: Wiring, stopped: Shared<BoxFuture<'static, ()>>) -> Result<()> {
        let Self { reconciler, watches } = self;
        let Wiring { client, mut settings, recorder, metrics, ready, leadership } = wiring;
        if let Some(manager) = reconciler.status_manager()
            && settings.field_manager == settings.name
        {
            settings.field_manager = manager.to_string();
        }
        let backoff = Backoff::new(settings.min_retry_delay, settings.max_retry_delay)?;
        let jitter = IntervalJitter::new(settings.interval_jitter_percentage)?;
        let api: Api<R::Object> = scoped(&client, settings.namespace.as_deref());
        let mut watch_config = watcher::Config::default();
        if let Some(selector) = &settings.label_selector {
            if selector.contains(['(', ')']) || selector.trim().is_empty() {
                return Err(Error::InvalidSelector(selector.clone()));
            }
            watch_config = watch_config.labels(selector);
        }
        let kind = Self::kind();
        tracing::debug!(%kind, namespace = ?settings.namespace, "starting controller");

        let (reader, writer) = reflector::store();
        let queue = Arc::new(Queue::new(reader.clone(), settings.concurrency));
        let queue_source: Arc<dyn QueueSource> = queue.clone();
        metrics.track_queue(&kind, settings.concurrency, Arc::downgrade(&queue_source));
        let own = {
            let queue = queue.clone();
            triggers(
                watcher(api, watch_config)
                    .default_backoff()
                    .reflect(writer)
                    .applied_objects()
                    .predicate_filter(change_predicate::<R::Object>, Default::default()),
                move |object: R::Object| queue.trigger(ObjectRef::from_obj(&object)),
            )
        };
        let watching = Watching {
            client: client.clone(),
            namespace: settings.namespace.clone(),
            configs_label_selector: settings.configs_label_selector.clone(),
            store: reader.clone(),
            queue: queue.clone(),
        };
        let mut work: Vec<BoxStream<'static, ObjectRef<R::Object>>> = vec![own, queue.clone().dispatch().boxed()];
        work.extend(watches.into_iter().map(|watch| watch(&watching)));
        if let Some(leadership) = leadership.clone() {
            let gained = futures::stream::unfold(leadership, |mut leadership| async move {
                leadership.acquired().await;
                tracing::debug!("leading: reconciling every object");
                let out = Some(((), leadership.clone()));
                leadership.lost().await;
                out
            });
            let (queue, reader) = (queue.clone(), reader.clone());
            work.push(
                gained
                    .filter_map(move |()| {
                        for object in reader.state() {
                            queue.trigger(ObjectRef::from_obj(&*object));
                        }
                        std::future::ready(None)
                    })
                    .boxed(),
            );
        }
        tokio::spawn(wait_for_cache(reader.clone(), queue.clone(), ready, stopped.clone()));

        let harness = Arc::new(Harness {
            reconciler,
            ctx: Context {
                client,
                recorder,
                metrics,
                controller_name: settings.name.clone(),
                field_manager: settings.field_manager.clone(),
            },
            settings: settings.clone(),
            backoff,
            jitter,
            written: Default::default(),
            leadership,
        });
        let (run_queue, error_queue, output_queue) = (queue.clone(), queue.clone(), queue.clone());
        let error_harness = harness.clone();
        // The queue limits the reconciles at once: kube-runtime runs what it is handed at once.
        let run = KubeController::for_stream(futures::stream::pending::<Result<R::Object, watcher::Error>>(), reader)
            .with_config(ControllerConfig::default().concurrency(0))
            .graceful_shutdown_on(stopped.clone())
            .reconcile_on(futures::stream::select_all(work))
            .run(
                move |object, harness: Arc<Harness<R>>| {
                    let queue = run_queue.clone();
                    async move {
                        let key = ObjectRef::from_obj(&*object);
                        let running = queue.started(key.clone());
                        let next = harness.reconcile(object).await;
                        if let Ok(Some(delay)) = next {
                            queue.schedule(key, delay);
                        }
                        drop(running);
                        next.map(|_| Action::await_change())
                    }
                },
                move |object, error: &Error, _| {
                    let key = format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any());
                    tracing::warn!(%error, name = %key, "reconcile failed");
                    error_queue.schedule(ObjectRef::from_obj(&*object), error_harness.backoff.next_delay(&key));
                    Action::await_change()
                },
                harness,
            )
            .for_each(move |result| {
                if let Err(kube::runtime::controller::Error::ObjectNotFound(gone)) = result {
                    output_queue.abandoned(gone.namespace.as_deref(), &gone.name);
                }
                std::future::ready(())
            });
        let mut run = std::pin::pin!(run);
        tokio::select! {
            () = &mut run => {}
            () = stopped.clone() => {
                // kube-runtime holds its runner until the cache syncs and
                // keeps holding it after shutdown; with nothing in flight
                // (a kind whose CRD is missing, an RBAC-denied list) there
                // is nothing to wait for.
                if !queue.is_synced() {
                    tracing::info!(%kind, "shutting down before the cache synced: no reconcile ran");
                    return Ok(());
                }
                tracing::info!(%kind, timeout = ?settings.shutdown_timeout, "shutting down, waiting for reconciles in flight");
                if tokio::time::timeout(settings.shutdown_timeout, &mut run).await.is_err() {
                    tracing::warn!(%kind, "reconciles still running at the shutdown deadline, cancelling them");
                }
            }
        }
        Ok(())
    }
}

/// The API of `K` in `namespace`, or in all namespaces.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Drives `events`, handing each object to `on_object`; yields nothing, so
/// it can sit among kube-runtime's trigger streams and stop with them.
fn triggers<O, K>(
    events: impl futures::Stream<Item = Result<O, watcher::Error>> + Send + 'static,
    on_object: impl Fn(O) + Send + 'static,
) -> BoxStream<'static, ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + 'static,
{
    events
        .filter_map(move |event| {
            match event {
                Ok(object) => on_object(object),
                Err(error) => tracing::debug!(%error, "watch failed, retrying"),
            }
            std::future::ready(None)
        })
        .boxed()
}

/// Waits until the kind's cache holds every object, then lets the queue
/// hand out work and opens the kind's part of `/readyz`; gives up when the
/// controller stops first.
async fn wait_for_cache<K>(
    reader: Store<K>,
    queue: Arc<Queue<K>>,
    ready: Option<ReadyGate>,
    stopped: Shared<BoxFuture<'static, ()>>,
) where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    // kube's readiness signal wakes only its last waiter, so poll it again now and then.
    loop {
        if stopped.peek().is_some() {
            return;
        }
        match tokio::time::timeout(Duration::from_millis(100), reader.wait_until_ready()).await {
            Ok(Ok(())) => {
                tracing::debug!("caches synced, ready");
                queue.synced();
                if let Some(ready) = ready {
                    ready.set_ready(true);
                }
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cache never synced");
                return;
            }
            Err(_) => {}
        }
    }
}

/// What must change on an object for a watch event to trigger a reconcile:
/// generation (spec), annotations (requestedAt), labels, finalizers and
/// deletion. Status-only updates, including the harness's own, do not.
fn change_predicate<K: Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp.as_ref().map(|t| t.0.as_second()).hash(&mut hasher);
    meta.uid.hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    #[test]
    fn predicate_ignores_status_only_changes() {
        let mut object = ConfigMap {
            metadata: ObjectMeta { name: Some("a".into()), generation: Some(1), ..ObjectMeta::default() },
            ..ConfigMap::default()
        };
        let first = change_predicate(&object);
        object.metadata.resource_version = Some("42".into());
        object.data = Some([("k".to_string(), "v".to_string())].into());
        assert_eq!(change_predicate(&object), first);
        object.metadata.annotations =
            Some([(super::super::REQUESTED_AT_ANNOTATION.to_string(), "now".to_string())].into());
        assert_ne!(change_predicate(&object), first);
    }
}
