//! One shard as the engine hosts it: its validators ([`ShardNode`], the protocol), the
//! clients of its stream ([`StreamClients`]) and the host's ends of the channels (the
//! driver's releases, the store), its metrics and clock. The host makes no protocol
//! decision: it moves inputs in and performs the effects the node asks for.
//!
//! Flow of one poll ([`Shard::poll`]):
//! 1. the driver's releases go to the clients, who send what is due to the node (or
//!    hold it for their funds, or hand a cross-shard one to its Atomix client);
//! 2. the node steps at the time read from the clock;
//! 3. its effects are performed: outcomes to the clients in the node's order
//!    (provisional confirmations, latency recorded now; re-submissions; rejections, after
//!    which the clients tell the clients waiting for them), FinalBlock records to the
//!    store, and transactions made final by an acknowledgement (latency, receipts to
//!    waiting clients).
//!
//! Messages from other shards ([`Shard::deliver`]) go to the clients (receipts, proofs
//! published to them) or to the node (Atomix requests, proofs to a named input shard);
//! the store's acknowledgements ([`Shard::on_persisted`]) to the node.
//!
//! Invariant: after every call, the node's effects are empty (all performed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crossbeam::channel::{Receiver, Sender, TrySendError};
use ioschain_core::tx::TxOut;
use ioschain_core::types::{OutPoint, ShardId};

use super::Clock;
use super::clients::{Inbox, StreamClients};
use super::intake::{Intake, IntakePlan};
use super::store::{Append, Persisted};
use crate::metrics::{ShardMetrics, Stage};
use ioschain_core::node::atomix::{AtomixCounters, MessageBody, ShardMessage};
use ioschain_core::node::meter::Role;
use ioschain_core::node::{Outcome, ShardCounters, ShardNode, ShardSetup};

/// What the host of one shard needs besides the node's setup.
pub struct HostSetup {
    /// What the shard holds at genesis.
    pub genesis: Vec<(OutPoint, TxOut)>,
    /// Where the clients publish the start of their stream's window (for the loader).
    pub window_start: Arc<AtomicU32>,
    /// The driver's and the loader's channel.
    pub inbox: Receiver<Inbox>,
    /// The store's channel.
    pub store: Sender<Append>,
    /// The worker that runs this shard.
    pub worker: usize,
    /// Metrics recorder.
    pub metrics: ShardMetrics,
    /// The run's clock.
    pub clock: Clock,
    /// How the shard's intake is bounded.
    pub intake: IntakePlan,
}

impl std::fmt::Debug for HostSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSetup")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// One hosted shard.
pub struct Shard {
    /// The shard's id.
    pub id: ShardId,
    /// Its validators.
    pub node: ShardNode,
    /// Its stream's clients.
    pub clients: StreamClients,
    inbox: Receiver<Inbox>,
    store: Option<Sender<Append>>,
    worker: usize,
    /// Transactions the driver released.
    submitted: u64,
    /// The shard's intake (admission control).
    pub intake: Intake,
    /// Transactions shed (refused at the intake, or given up by their clients).
    shed: u64,
    /// Transactions the intake admitted as they arrived.
    admitted_on_arrival: u64,
    /// Sends to the store that found its queue full.
    store_backpressure: u64,
    /// Latency recorder.
    pub metrics: ShardMetrics,
    /// The run's clock (set when the run starts).
    pub clock: Clock,
    /// Final plus rejected plus finished cross-shard plus shed, for the closed-loop
    /// driver (and the intake: what is released and not done is in flight).
    pub done: Arc<AtomicU64>,
    /// The store thread stopped (a write or flush failed).
    pub store_failed: bool,
    /// Its worker's adaptive batching, when the run ended.
    pub batching: Option<super::batching::Batching>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// A shard at genesis, hosted.
    pub fn new(setup: ShardSetup, host: HostSetup) -> Shard {
        let clients = StreamClients::new(
            setup.id,
            setup.shard_count,
            host.window_start,
            setup.pob.final_interval_ns,
        );
        let node = ShardNode::new(setup, &host.genesis);
        Shard {
            id: node.id,
            node,
            clients,
            inbox: host.inbox,
            store: Some(host.store),
            worker: host.worker,
            submitted: 0,
            intake: Intake::new(host.intake),
            shed: 0,
            admitted_on_arrival: 0,
            store_backpressure: 0,
            metrics: host.metrics,
            clock: host.clock,
            done: Arc::new(AtomicU64::new(0)),
            store_failed: false,
            batching: None,
        }
    }

    /// One step at `now_ns`. Returns whether there was work.
    pub fn poll(&mut self, now_ns: u64) -> bool {
        let idle = self.node.meter.enter(Role::Host);
        self.metrics_at(now_ns);
        let mut worked = false;
        let host = self.node.meter.enter(Role::Clients);
        let done = self.done.load(Ordering::Relaxed);
        self.intake.observe(now_ns, done - self.shed);
        while let Ok(message) = self.inbox.try_recv() {
            let submit = match message {
                Inbox::Chunk(chunk) => {
                    self.clients.load(*chunk);
                    worked = true;
                    continue;
                }
                Inbox::Release(submit) => submit,
            };
            let arriving = submit.end - submit.start;
            self.submitted += u64::from(arriving);
            let room = self.intake.room(self.in_flight());
            let admitted = self.clients.release_range(submit, room);
            self.admitted_on_arrival += u64::from(admitted);
            let refused = u64::from(arriving - admitted);
            if refused > 0 {
                self.intake.refused += refused;
                self.metrics.overloaded(refused);
            }
            worked = true;
        }
        if self.clients.refused_waiting() > 0 && self.intake.gives_up(now_ns) {
            self.clients.abandon();
            // Counted done before the room is computed again.
            self.count_shed();
            worked = true;
        }
        let room = self.intake.room(self.in_flight());
        if self.clients.send(now_ns, &mut self.node, room) {
            worked = true;
            self.finish_atomix();
        }
        self.count_shed();
        self.node.meter.leave(host);
        worked |= self.node.poll(now_ns);
        self.perform();
        self.node.meter.leave(idle);
        worked
    }

    /// The worker that runs this shard.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Admitted transactions not done yet (admitted on arrival or later, and neither
    /// done nor shed).
    fn in_flight(&self) -> u64 {
        let admitted = self.admitted_on_arrival + self.clients.refused_admitted;
        let done = self.done.load(Ordering::Relaxed) - self.clients.abandoned;
        admitted.saturating_sub(done)
    }

    /// Counts what the clients shed since the last call: done, for the driver and the
    /// intake.
    fn count_shed(&mut self) {
        let shed = std::mem::take(&mut self.clients.newly_shed);
        if shed > 0 {
            self.shed += shed;
            self.metrics.shed(shed);
            self.done.fetch_add(shed, Ordering::Relaxed);
        }
    }

    /// Moves the metrics' clock to `now_ns`, sampling the queues first when a second ends.
    fn metrics_at(&mut self, now_ns: u64) {
        if self.metrics.second_ends(now_ns) {
            self.metrics
                .set_queues(self.clients.queued(), self.node.queued());
        }
        self.metrics.at(now_ns);
    }

    /// Messages are about to be delivered (charged to [`Role::Atomix`] until
    /// [`Shard::end_deliveries`], not one clock reading per message).
    pub fn begin_deliveries(&mut self) -> Role {
        self.node.meter.enter(Role::Atomix)
    }

    /// The messages of [`Shard::begin_deliveries`] are delivered.
    pub fn end_deliveries(&mut self, previous: Role) {
        self.node.meter.leave(previous);
    }

    /// A message from another shard (or this one's clients) arrived at `now`.
    pub fn deliver(&mut self, now: u64, body: MessageBody) {
        self.metrics_at(now);
        match &body {
            MessageBody::Receipt { index, shed } => {
                self.clients.on_receipt(*index, *shed);
                return;
            }
            MessageBody::Proof {
                proof,
                for_client,
                named,
                ..
            } => {
                if *for_client {
                    let clients = &mut self.clients;
                    clients.atomix.on_proof(
                        Arc::clone(proof),
                        &mut clients.outbox,
                        &mut clients.atomix_counters,
                    );
                    self.finish_atomix();
                }
                if !*named {
                    return;
                }
            }
            MessageBody::Request(_) => {}
        }
        self.node.deliver(now, body);
        self.perform();
    }

    /// The store persisted this shard's chain up to `ack.height`.
    pub fn on_persisted(&mut self, ack: Persisted) {
        let idle = self.node.meter.enter(Role::Host);
        let now = self.clock.now_ns();
        self.metrics_at(now);
        self.node.on_persisted(now, ack.height, ack.buffers);
        self.perform();
        self.node.meter.leave(idle);
    }

    /// Atomix clients that finished: latency, the closed loop's count, receipts.
    fn finish_atomix(&mut self) {
        let finished = std::mem::take(&mut self.clients.atomix.finished);
        for f in &finished {
            if f.committed {
                self.metrics.record(Stage::CrossShard, f.intended);
            }
            self.done.fetch_add(1, Ordering::Relaxed);
            self.clients.send_receipts(f.index);
        }
    }

    /// Performs what the node asked for (see the module doc for the order).
    fn perform(&mut self) {
        if self.node.effects().is_empty() {
            return;
        }
        let now = self.clock.now_ns();
        self.metrics_at(now);
        let (fx, meter) = self.node.effects_metered();
        let host = meter.enter(Role::Clients);
        for outcome in fx.outcomes.drain(..) {
            match outcome {
                Outcome::Provisional { id, intended, .. } => {
                    self.metrics.record(Stage::Provisional, intended);
                    self.clients.taken(&id);
                }
                Outcome::Retry(retry) => self.clients.retry(retry),
                Outcome::Rejected(submission, rejection) => {
                    if self.clients.rejected(submission, rejection, now) {
                        self.metrics.rejected();
                        self.done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        meter.leave(host);
        for record in fx.records.drain(..) {
            let append = Append {
                shard: self.id.0,
                height: record.height,
                bytes: record.bytes,
                worker: self.worker,
            };
            let store = self.store.as_ref().expect("a running shard has its store");
            let sent = match store.try_send(append) {
                Ok(()) => true,
                Err(TrySendError::Full(append)) => {
                    self.store_backpressure += 1;
                    self.metrics.backpressure();
                    store.send(append).is_ok()
                }
                Err(TrySendError::Disconnected(_)) => false,
            };
            // The store only stops early when a write or flush failed; the run is then
            // aborted and the store's error reported (the block is never final).
            if !sent {
                self.store_failed = true;
            }
        }
        if !fx.finals.is_empty() {
            for &(index, intended) in &fx.finals {
                self.metrics.record(Stage::Final, intended);
                self.clients.send_receipts(index);
            }
            self.done
                .fetch_add(fx.finals.len() as u64, Ordering::Relaxed);
            fx.finals.clear();
        }
    }

    /// Whether nothing is pending: no release unprocessed, no client waiting, nothing
    /// with the validators.
    pub fn is_idle(&self) -> bool {
        self.inbox.is_empty()
            && self.clients.is_idle()
            && self.clients.outbox.is_empty()
            && self.node.is_idle()
    }

    /// Moves every message this shard's validators and clients send to `f`.
    pub fn send_messages(&mut self, mut f: impl FnMut(&mut AtomixCounters, ShardMessage)) {
        let counters = &mut self.node.atomix.counters;
        for msg in self.node.atomix.outbox.drain(..) {
            f(counters, msg);
        }
        for msg in self.clients.outbox.drain(..) {
            f(counters, msg);
        }
    }

    /// The shard's counts: the node's, with the releases and rejections its clients saw
    /// and the host's store backpressure.
    pub fn counters(&self) -> ShardCounters {
        let mut c = self.node.counters.clone();
        c.submitted = self.submitted;
        c.rejected = self.clients.rejected;
        c.store_backpressure = self.store_backpressure;
        c
    }

    /// Transactions shed (refused at the intake, or given up by their clients).
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// The Atomix counts of the validators and the clients together.
    pub fn atomix_counters(&self) -> AtomixCounters {
        let mut c = self.node.atomix.counters.clone();
        c.add(&self.clients.atomix_counters);
        c
    }

    /// Drops the shard's sender to the store, so the store ends once every shard has
    /// stopped.
    pub fn close_store(&mut self) {
        self.store = None;
    }

    /// What keeps the shard busy (for a drain that timed out).
    pub fn busy(&self) -> String {
        format!(
            "clients: {}; node: {}",
            self.clients.busy(),
            self.node.busy()
        )
    }
}
