//! The work queue of one kind, in front of kube-runtime's scheduler.
//!
//! kube-runtime's `Controller` keeps its scheduler private: it cannot say
//! how many objects wait. So every trigger (a watch event on the kind, a
//! watched Secret, ConfigMap or source, leadership gained, a requeue after
//! a delay or a backoff) goes into this queue first, and the queue hands an
//! object to kube-runtime only when it is due, not already running, and a
//! worker is free (`--concurrent`). kube-runtime then runs it at once; it
//! never holds work of its own, so `ferry_reconcile_queue_depth` (and
//! `workqueue_depth`) is this queue's length, not an estimate.
//!
//! Like client-go's work queue, the queue keeps one entry per object at the
//! earliest time asked for; a trigger during the object's reconcile waits
//! for that reconcile to end; an entry is dropped when its reconcile starts
//! or the object leaves the cache.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Notify;

use crate::metrics::QueueSource;

/// The work queue of one kind (see the module docs).
pub(super) struct Queue<K: Resource<DynamicType = ()> + Clone + 'static> {
    state: Mutex<State<K>>,
    store: Store<K>,
    /// Reconciles at once; `usize::MAX` for no limit.
    limit: usize,
    /// Set once the cache holds every object: nothing is handed out before.
    synced: AtomicBool,
    /// Wakes the dispatcher when work may have become available.
    wake: Notify,
}

struct State<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// When each object is next due.
    due: HashMap<ObjectRef<K>, Instant>,
    /// Handed to kube-runtime, not started yet.
    dispatched: HashSet<ObjectRef<K>>,
    /// Being reconciled.
    running: HashSet<ObjectRef<K>>,
}

/// What the dispatcher does next.
enum Next<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// Hand this object to kube-runtime.
    Run(ObjectRef<K>),
    /// Nothing to hand out before this time (or a wake-up).
    Sleep(Instant),
    /// Nothing to hand out until a wake-up.
    Idle,
}

impl<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static> Queue<K> {
    /// An empty queue over the kind's cache, running `concurrency`
    /// reconciles at once (0: no limit, as kube-runtime reads it).
    pub(super) fn new(store: Store<K>, concurrency: u16) -> Self {
        Self {
            state: Mutex::new(State { due: HashMap::new(), dispatched: HashSet::new(), running: HashSet::new() }),
            store,
            limit: if concurrency == 0 { usize::MAX } else { usize::from(concurrency) },
            synced: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Asks for a reconcile of `key` now.
    pub(super) fn trigger(&self, key: ObjectRef<K>) {
        self.insert(key, Instant::now());
    }

    /// Asks for a reconcile of `key` after `delay` (one too far away to
    /// represent is never due).
    pub(super) fn schedule(&self, key: ObjectRef<K>, delay: Duration) {
        if let Some(at) = Instant::now().checked_add(delay) {
            self.insert(key, at);
        }
    }

    fn insert(&self, key: ObjectRef<K>, at: Instant) {
        self.lock().due.entry(key).and_modify(|due| *due = (*due).min(at)).or_insert(at);
        self.wake.notify_one();
    }

    /// The cache holds every object now: start handing out work.
    pub(super) fn synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether the cache has synced: before it has, kube-runtime holds its
    /// runner, so no reconcile can be in flight.
    pub(super) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// The reconcile of `key` starts: it leaves the queue, and holds a
    /// worker until the returned guard drops.
    pub(super) fn started(self: &Arc<Self>, key: ObjectRef<K>) -> Running<K> {
        let mut state = self.lock();
        state.due.remove(&key);
        state.dispatched.remove(&key);
        state.running.insert(key.clone());
        Running { queue: self.clone(), key }
    }

    /// kube-runtime dropped a handed-out object (it left the cache in
    /// between): free its worker.
    pub(super) fn abandoned(&self, namespace: Option<&str>, name: &str) {
        self.lock().dispatched.retain(|key| !(key.name == name && key.namespace.as_deref() == namespace));
        self.wake.notify_one();
    }

    /// The objects to reconcile, as they become due and workers free up;
    /// the stream kube-runtime's `Controller` is driven by. It never ends.
    pub(super) fn dispatch(self: Arc<Self>) -> impl Stream<Item = ObjectRef<K>> + Send + 'static {
        futures::stream::unfold(self, |queue| async move {
            let key = queue.next().await;
            Some((key, queue))
        })
    }

    async fn next(&self) -> ObjectRef<K> {
        loop {
            let next = self.pick(Instant::now());
            match next {
                Next::Run(key) => return key,
                Next::Sleep(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {}
                        () = self.wake.notified() => {}
                    }
                }
                Next::Idle => self.wake.notified().await,
            }
        }
    }

    /// Takes the longest-due object that is not running, if a worker is free.
    fn pick(&self, now: Instant) -> Next<K> {
        if !self.synced.load(Ordering::SeqCst) {
            return Next::Idle;
        }
        let mut state = self.lock();
        // kube-runtime, too, drops requests for objects no longer cached.
        state.due.retain(|key, _| self.store.get(key).is_some());
        let busy = state.running.len() + state.dispatched.len();
        let mut first: Option<(&ObjectRef<K>, Instant)> = None;
        let mut wake_at: Option<Instant> = None;
        for (key, at) in &state.due {
            if state.running.contains(key) || state.dispatched.contains(key) {
                continue;
            }
            if *at <= now {
                if first.is_none_or(|(_, earliest)| *at < earliest) {
                    first = Some((key, *at));
                }
            } else {
                wake_at = Some(wake_at.map_or(*at, |w| w.min(*at)));
            }
        }
        if let Some((key, _)) = first
            && busy < self.limit
        {
            let key = key.clone();
            state.due.remove(&key);
            state.dispatched.insert(key.clone());
            return Next::Run(key);
        }
        wake_at.map_or(Next::Idle, Next::Sleep)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A reconcile in progress, as the queue sees it; dropping it (whether
/// the reconcile ended or was cancelled) frees its worker.
pub(super) struct Running<K: Resource<DynamicType = ()> + Clone + 'static> {
    queue: Arc<Queue<K>>,
    key: ObjectRef<K>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Drop for Running<K> {
    fn drop(&mut self) {
        self.queue.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).running.remove(&self.key);
        self.queue.wake.notify_one();
    }
}

impl<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static> QueueSource for Queue<K> {
    fn depth(&self) -> i64 {
        let now = Instant::now();
        let state = self.lock();
        let waiting = state
            .due
            .iter()
            .filter(|(key, at)| **at <= now && !state.running.contains(*key) && !state.dispatched.contains(*key))
            .filter(|(key, _)| self.store.get(key).is_some())
            .count();
        (waiting + state.dispatched.len()).try_into().unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    fn configmap(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("ns".into()), ..ObjectMeta::default() },
            ..ConfigMap::default()
        }
    }

    fn queue(names: &[&str], concurrency: u16) -> Arc<Queue<ConfigMap>> {
        let (reader, mut writer) = reflector::store();
        for name in names {
            writer.apply_watcher_event(&Event::Apply(configmap(name)));
        }
        Arc::new(Queue::new(reader, concurrency))
    }

    fn key(name: &str) -> ObjectRef<ConfigMap> {
        ObjectRef::new(name).within("ns")
    }

    #[test]
    fn hands_out_nothing_before_the_cache_syncs_and_no_more_than_the_workers() {
        let queue = queue(&["a", "b", "c"], 2);
        for name in ["a", "b", "c"] {
            queue.trigger(key(name));
        }
        assert!(matches!(queue.pick(Instant::now()), Next::Idle));
        assert_eq!(queue.depth(), 3);
        queue.synced();
        let first = match queue.pick(Instant::now()) {
            Next::Run(key) => key,
            _ => panic!("nothing handed out"),
        };
        assert!(matches!(queue.pick(Instant::now()), Next::Run(_)));
        // Two workers busy (handed out, not started yet): the third waits.
        assert!(matches!(queue.pick(Instant::now()), Next::Idle));
        assert_eq!(queue.depth(), 3);
        let running = queue.started(first.clone());
        assert_eq!(queue.depth(), 2);
        // A trigger while running waits for the end of the reconcile.
        queue.trigger(first.clone());
        assert_eq!(queue.depth(), 2);
        drop(running);
        assert_eq!(queue.depth(), 3);
    }

    #[test]
    fn requeues_wait_for_their_time_and_gone_objects_are_dropped() {
        let queue = queue(&["a"], 1);
        queue.synced();
        queue.schedule(key("a"), Duration::from_secs(60));
        assert!(matches!(queue.pick(Instant::now()), Next::Sleep(_)));
        assert_eq!(queue.depth(), 0);
        assert!(matches!(queue.pick(Instant::now() + Duration::from_secs(61)), Next::Run(_)));
        queue.abandoned(Some("ns"), "a");
        assert_eq!(queue.depth(), 0);
        queue.trigger(key("gone"));
        assert_eq!(queue.depth(), 0);
        assert!(matches!(queue.pick(Instant::now()), Next::Idle));
    }
}
