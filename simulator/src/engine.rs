//! The discrete-event engine: a virtual clock, one event queue (a binary heap ordered by
//! (time, sequence number), so ties run in the order they were scheduled), seeded streams,
//! one thread. It owns every model draw (network, card, user, issuer service) and asks a
//! [`Backend`] what each party does.
//!
//! Per-session state lives in a slab (slots reused), so memory follows the number of live
//! sessions, not the run's size; transcripts are streamed, never kept.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::backend::{
    AttackKind, AttackerSite, Backend, BackendError, Cause, Inbound, IssuerOutcome, IssuerVerdict,
    MiddlewareOutcome, MiddlewareVerdict, SEC, SessionFacts, SessionHandle, SessionSpec, Step,
    UserAction, VTime, unix_at,
};
use crate::metrics::{Metrics, NodeTotals};
use crate::models::{ArrivalModel, Compiled, Transit, apdu_times};
use crate::oracle::{self, Violation};
use crate::rng::{SimRng, Streams, hash_unit};
use crate::scenario::FaultKind;

/// Bytes of the first GET (request line and headers).
pub const GET_BYTES: u32 = 300;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Arrive { user: u16, pop: u32 },
    AtIssuer { slot: u32 },
    ServiceDone { node: u16, slot: u32, epoch: u32 },
    AtClient { slot: u32 },
    ClientDone { slot: u32 },
    End { slot: u32, cause: Cause },
    Crash { node: u16, duration: VTime },
    Restart { node: u16 },
    Sample,
}

/// The event queue: earliest first, ties in scheduling order.
#[derive(Debug, Default)]
pub struct Queue<E> {
    heap: BinaryHeap<Slot<E>>,
    seq: u64,
}

#[derive(Debug)]
struct Slot<E> {
    t: VTime,
    seq: u64,
    ev: E,
}
impl<E> PartialEq for Slot<E> {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.seq == o.seq
    }
}
impl<E> Eq for Slot<E> {}
impl<E> PartialOrd for Slot<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Slot<E> {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

impl<E> Queue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Schedules `ev` at `t`; returns its sequence number.
    pub fn push(&mut self, t: VTime, ev: E) -> u64 {
        self.seq += 1;
        self.heap.push(Slot {
            t,
            seq: self.seq,
            ev,
        });
        self.seq
    }

    /// The next event: (time, sequence number, event).
    pub fn pop(&mut self) -> Option<(VTime, u64, E)> {
        self.heap.pop().map(|s| (s.t, s.seq, s.ev))
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No events pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Sess {
    spec: SessionSpec,
    user: u16,
    pop: u32,
    started: VTime,
    step_sent: VTime,
    /// The step whose exchange is in progress.
    step: Step,
    req: Inbound,
    outcome: Option<IssuerOutcome>,
    enq: VTime,
    used_ops: u16,
    apdus: u64,
    apdu_bytes: u64,
    net_bytes: u64,
    card_ns: VTime,
    fault_at: [Option<Step>; 4],
    power_index: u32,
    attack: Option<(AttackKind, AttackerSite, Step)>,
    card_closed: bool,
    net: SimRng,
    card: SimRng,
    user_rng: SimRng,
    svc: SimRng,
}

/// Session-level fault kinds planned per session (index into `Sess::fault_at`).
const F_CARD: usize = 0;
const F_POWER: usize = 1;
const F_RESET: usize = 2;
const F_MW: usize = 3;

#[derive(Debug)]
struct Node {
    issuer: u16,
    up: bool,
    epoch: u32,
    busy: u16,
    workers: u16,
    queue: VecDeque<u32>,
    in_service: Vec<u32>,
    queue_limit: u32,
    last: VTime,
    busy_int: f64,
    q_int: f64,
    q_max: u32,
}

/// How to run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// The seed.
    pub seed: u64,
    /// Write the transcript here.
    pub transcript: Option<Box<dyn WriteDebug>>,
    /// Only transcript lines of this session (minimal transcripts).
    pub only_session: Option<u64>,
    /// Stop at the first violated property.
    pub stop_on_violation: bool,
    /// Show a progress bar on stderr if it is a terminal.
    pub progress: bool,
}

/// A `Write` that is also `Debug` (transcript sinks).
pub trait WriteDebug: Write + std::fmt::Debug + Send {}
impl<T: Write + std::fmt::Debug + Send> WriteDebug for T {}

/// The engine failed (not a property: the backend broke or I/O failed).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Writing the transcript failed.
    #[error("transcript: {0}")]
    Io(#[from] std::io::Error),
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The metrics.
    pub metrics: Metrics,
    /// The first violated property.
    pub violation: Option<Violation>,
    /// Violations in total.
    pub violations: u64,
    /// Events processed.
    pub events: u64,
    /// Sessions ended.
    pub sessions: u64,
}

struct Trace {
    out: Option<std::io::BufWriter<Box<dyn WriteDebug>>>,
    only: Option<u64>,
    buf: String,
}

impl Trace {
    fn on(&self, session: u64) -> bool {
        self.out.is_some() && self.only.is_none_or(|s| s == session)
    }

    fn emit(&mut self) -> Result<(), std::io::Error> {
        if let Some(o) = &mut self.out {
            self.buf.push('\n');
            o.write_all(self.buf.as_bytes())?;
        }
        self.buf.clear();
        Ok(())
    }
}

struct Engine<'a, B: Backend + ?Sized> {
    c: &'a Compiled,
    b: &'a mut B,
    streams: Streams,
    q: Queue<Ev>,
    now: VTime,
    seq: u64,
    slots: Vec<Option<Sess>>,
    free: Vec<u32>,
    live: u64,
    next_index: u64,
    remaining: Vec<u64>,
    arrival_rng: Vec<SimRng>,
    burst_i: Vec<u64>,
    pending_arrivals: u64,
    nodes: Vec<Node>,
    partitions: Vec<(VTime, VTime)>,
    m: Metrics,
    trace: Trace,
    out: MiddlewareOutcome,
    facts: SessionFacts,
    violation: Option<Violation>,
    violations: u64,
    stop_on_violation: bool,
    ended: u64,
    total: u64,
}

fn step_from_hash(u: f64, options: &[Step]) -> Step {
    let i = ((u * options.len() as f64) as usize).min(options.len() - 1);
    options[i]
}

/// Steps a session-level fault may hit when its `step` is not given.
const FAULT_STEPS: [Step; 4] = [
    Step::Invocation,
    Step::ProvisioningInitialization,
    Step::KeyCreation,
    Step::ProvisioningFinalization,
];

/// Steps an attacker may hit when its `step` is not given.
const ATTACK_STEPS: [Step; 3] = [
    Step::ProvisioningInitialization,
    Step::KeyCreation,
    Step::ProvisioningFinalization,
];

/// Lower-case hex of a byte string (the transcript's APDUs).
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl<B: Backend + ?Sized> Engine<'_, B> {
    fn schedule(&mut self, t: VTime, ev: Ev) {
        self.q.push(t, ev);
    }

    fn sess(&mut self, slot: u32) -> Option<&mut Sess> {
        self.slots.get_mut(slot as usize).and_then(|s| s.as_mut())
    }

    fn touch_node(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        let dt = (self.now - node.last) as f64;
        node.busy_int += dt * f64::from(node.busy);
        node.q_int += dt * node.queue.len() as f64;
        node.last = self.now;
    }

    fn start_arrivals(&mut self) {
        for (u, um) in self.c.users.iter().enumerate() {
            if um.sessions == 0 {
                continue;
            }
            let u16u = u as u16;
            match &um.arrival {
                ArrivalModel::Population(n, _) => {
                    let k = u64::from(*n).min(um.sessions);
                    for pop in 0..k {
                        self.remaining[u] -= 1;
                        self.pending_arrivals += 1;
                        self.schedule(
                            um.start,
                            Ev::Arrive {
                                user: u16u,
                                pop: pop as u32,
                            },
                        );
                    }
                }
                _ => {
                    self.remaining[u] -= 1;
                    self.pending_arrivals += 1;
                    let t = self.next_arrival(u, um.start);
                    self.schedule(
                        t,
                        Ev::Arrive {
                            user: u16u,
                            pop: u32::MAX,
                        },
                    );
                }
            }
        }
    }

    /// The next arrival time of workload `u` after `from` (Poisson, ramp by thinning, burst
    /// stratified).
    fn next_arrival(&mut self, u: usize, from: VTime) -> VTime {
        let um = &self.c.users[u];
        let rng = &mut self.arrival_rng[u];
        match &um.arrival {
            ArrivalModel::Poisson(rate) => from + (-rng.open01().ln() / rate) as VTime,
            ArrivalModel::Ramp(a, b, _) => {
                let max = a.max(*b);
                let mut t = from as f64;
                loop {
                    t += -rng.open01().ln() / max;
                    let since = t - um.start as f64;
                    if rng.open01() * max <= um.rate_at(since) {
                        return t as VTime;
                    }
                }
            }
            ArrivalModel::Burst(at, over) => {
                let i = self.burst_i[u];
                self.burst_i[u] += 1;
                let n = um.sessions.max(1) as f64;
                um.start + at + ((i as f64 + rng.open01()) / n * *over as f64) as VTime
            }
            ArrivalModel::Population(..) => from,
        }
    }

    fn begin_session(&mut self, u: usize, pop: u32) -> Result<(), SimError> {
        let index = self.next_index;
        self.next_index += 1;
        let c = self.c;
        let um = &c.users[u];
        let seed = self.streams.seed();
        let mut shape = self.streams.session("shape", index);
        let issuer = um.issuers[shape.below(um.issuers.len() as u64) as usize];
        let pick = shape.open01() * um.cards.last().map_or(1.0, |c| c.1);
        let card_pop = um
            .cards
            .iter()
            .find(|c| pick <= c.1)
            .or(um.cards.last())
            .map_or(0, |c| c.0);
        let card = if um.card_count > 0 {
            shape.below(um.card_count)
        } else {
            index
        };
        let im = &c.issuers[issuer as usize];
        let privacy = shape.chance(im.keys.privacy);
        let discovery = shape.chance(im.keys.discovery);
        let cm = &c.cards[card_pop as usize];
        let spec = SessionSpec {
            index,
            card,
            issuer,
            card_profile: card_pop,
            card_class: cm.class,
            limits: cm.link.limits,
            ec_keys: im.keys.ec,
            rsa_keys: im.keys.rsa,
            pin: im.keys.pin,
            puk: im.keys.puk,
            discovery,
            privacy,
            import_symmetric: im.keys.import_symmetric,
            start_unix: unix_at(c.scenario.configuration.start_unix, 0),
        };
        // Faults and attacks: one hashed draw per knob, independent of every other draw.
        let mut fault_at = [None; 4];
        let mut power_index = 0;
        for (k, f) in c.faults.iter().enumerate() {
            let which = match f.kind {
                FaultKind::CardRemoved => F_CARD,
                FaultKind::PowerLoss => F_POWER,
                FaultKind::ReaderReset => F_RESET,
                FaultKind::MiddlewareCrash => F_MW,
                _ => continue,
            };
            if f.probability > 0.0 && hash_unit(seed, 0xfa17, index, k as u64) < f.probability {
                let at = f.step.unwrap_or_else(|| {
                    step_from_hash(hash_unit(seed, 0x57e9, index, k as u64), &FAULT_STEPS)
                });
                if fault_at[which].is_none() {
                    fault_at[which] = Some(at);
                    if which == F_POWER {
                        power_index = (hash_unit(seed, 0x3017, index, k as u64) * 2.0) as u32;
                    }
                }
            }
        }
        let mut attack = None;
        for (k, a) in c.attackers.iter().enumerate() {
            if a.fraction > 0.0 && hash_unit(seed, 0xa77a, index, k as u64) < a.fraction {
                let at = a.step.unwrap_or_else(|| {
                    step_from_hash(hash_unit(seed, 0xa75e, index, k as u64), &ATTACK_STEPS)
                });
                attack = Some((a.kind, a.site, at));
                break;
            }
        }
        let mut brng = self.streams.session("backend", index);
        let h = self.b.begin(&spec, &mut brng)?;
        debug_assert_eq!(h.0, index);
        let s = Sess {
            spec,
            user: u as u16,
            pop,
            started: self.now,
            step_sent: self.now,
            step: Step::Invocation,
            req: Inbound::Get,
            outcome: None,
            enq: 0,
            used_ops: 0,
            apdus: 0,
            apdu_bytes: 0,
            net_bytes: 0,
            card_ns: 0,
            fault_at,
            power_index,
            attack,
            card_closed: false,
            net: self.streams.session("network", index),
            card: self.streams.session("card", index),
            user_rng: self.streams.session("user", index),
            svc: self.streams.session("issuer", index),
        };
        let slot = match self.free.pop() {
            Some(f) => {
                self.slots[f as usize] = Some(s);
                f
            }
            None => {
                self.slots.push(Some(s));
                (self.slots.len() - 1) as u32
            }
        };
        self.live += 1;
        self.m.started += 1;
        let now = self.now;
        self.m.point(now).started += 1;
        if self.trace.on(index) {
            let _ = write!(
                self.trace.buf,
                r#"{{"t":{},"s":{},"e":"begin","user":"{}","card":"{}","card_id":{},"issuer":"{}","ec":{},"rsa":{},"privacy":{},"discovery":{},"extended":{}}}"#,
                now,
                index,
                um.name,
                cm.name,
                card,
                im.name,
                spec.ec_keys,
                spec.rsa_keys,
                privacy,
                discovery,
                spec.limits.extended
            );
            if let Some((k, site, at)) = attack {
                self.trace.emit()?;
                let _ = write!(
                    self.trace.buf,
                    r#"{{"t":{},"s":{},"e":"attack_planned","kind":"{}","site":"{}","step":"{}"}}"#,
                    now,
                    index,
                    k.name(),
                    site_name(site),
                    at.name()
                );
            }
            self.trace.emit()?;
        }
        self.send(slot, Inbound::Get, GET_BYTES)
    }

    /// The middleware sends a request: partitions, then the network model.
    fn send(&mut self, slot: u32, req: Inbound, bytes: u32) -> Result<(), SimError> {
        let now = self.now;
        let timeout = self.c.client_timeout;
        let mut hold = 0;
        for (s, e) in &self.partitions {
            if now >= *s && now < *e {
                hold = e - now;
            }
        }
        let Some(s) = self.sess(slot) else {
            return Ok(());
        };
        s.req = req;
        s.step_sent = now;
        let index = s.spec.index;
        if hold >= timeout {
            self.schedule(
                now + timeout,
                Ev::End {
                    slot,
                    cause: Cause::NetworkPartition,
                },
            );
            return Ok(());
        }
        let Some(tr) = self.transit(slot, bytes) else {
            return Ok(());
        };
        let at = now + hold + tr.delay;
        if self.trace.on(index) {
            let (kind, step) = match req {
                Inbound::Get => ("get", Step::Invocation),
                Inbound::Post { step, .. } => ("post", step),
            };
            let _ = write!(
                self.trace.buf,
                r#"{{"t":{},"s":{},"e":"send","kind":"{}","answers":"{}","bytes":{},"wire_bytes":{},"arrives":{}}}"#,
                now,
                index,
                kind,
                step.name(),
                bytes,
                tr.wire_bytes,
                at
            );
            self.trace.emit()?;
        }
        self.schedule(at, Ev::AtIssuer { slot });
        Ok(())
    }

    fn at_issuer(&mut self, slot: u32) -> Result<(), SimError> {
        let Some(s) = self.sess(slot) else {
            return Ok(());
        };
        let issuer = s.spec.issuer as usize;
        let im = &self.c.issuers[issuer];
        let first = im.first_node as usize;
        let mut best: Option<usize> = None;
        for n in first..first + im.nodes as usize {
            let node = &self.nodes[n];
            if !node.up {
                continue;
            }
            let load = node.busy as usize + node.queue.len();
            if best.is_none_or(|b| load < self.nodes[b].busy as usize + self.nodes[b].queue.len()) {
                best = Some(n);
            }
        }
        let Some(n) = best else {
            // No node up: connection refused.
            return self.end(slot, Cause::IssuerCrash);
        };
        if self.nodes[n].busy < self.nodes[n].workers {
            return self.start_service(n, slot);
        }
        if self.nodes[n].queue.len() as u32 >= self.nodes[n].queue_limit {
            self.m.nodes[n].overloaded += 1;
            return self.end(slot, Cause::IssuerOverloaded);
        }
        self.touch_node(n);
        self.nodes[n].queue.push_back(slot);
        let ql = self.nodes[n].queue.len() as u32;
        self.nodes[n].q_max = self.nodes[n].q_max.max(ql);
        self.m.nodes[n].queue_max = self.m.nodes[n].queue_max.max(ql);
        let now = self.now;
        if let Some(s) = self.sess(slot) {
            s.enq = now;
        }
        Ok(())
    }

    fn start_service(&mut self, n: usize, slot: u32) -> Result<(), SimError> {
        self.touch_node(n);
        let c = self.c;
        let now = self.now;
        let start_unix = self.c.scenario.configuration.start_unix;
        let epoch = self.nodes[n].epoch;
        let Some(s) = self.slots.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return Ok(());
        };
        let wait = if s.enq > 0 { now - s.enq } else { 0 };
        s.enq = 0;
        let outcome = self.b.issuer(
            SessionHandle(s.spec.index),
            n as u16,
            s.req,
            unix_at(start_unix, now),
        )?;
        let im = &c.issuers[self.nodes[n].issuer as usize];
        let svc = im.service_ns(&outcome.cost, &mut s.svc);
        s.outcome = Some(outcome);
        let index = s.spec.index;
        Metrics::rec(&mut self.m.queue_wait, wait);
        self.nodes[n].busy += 1;
        self.nodes[n].in_service.push(slot);
        self.m.nodes[n].requests += 1;
        if self.trace.on(index) {
            let _ = write!(
                self.trace.buf,
                r#"{{"t":{},"s":{},"e":"issuer","node":"{}","wait":{},"service":{},"response_bytes":{},"verdict":"{}"}}"#,
                now,
                index,
                self.m.nodes[n].name,
                wait,
                svc,
                outcome.response_bytes,
                verdict_name(outcome.verdict)
            );
            self.trace.emit()?;
        }
        self.schedule(
            now + svc,
            Ev::ServiceDone {
                node: n as u16,
                slot,
                epoch,
            },
        );
        Ok(())
    }

    fn service_done(&mut self, n: usize, slot: u32, epoch: u32) -> Result<(), SimError> {
        if self.nodes[n].epoch != epoch {
            return Ok(());
        }
        self.touch_node(n);
        self.nodes[n].busy -= 1;
        if let Some(p) = self.nodes[n].in_service.iter().position(|s| *s == slot) {
            self.nodes[n].in_service.swap_remove(p);
        }
        if let Some(next) = self.nodes[n].queue.pop_front() {
            self.start_service(n, next)?;
        }
        let Some(s) = self.sess(slot) else {
            return Ok(());
        };
        let bytes = s.outcome.map_or(0, |o| o.response_bytes);
        if let Some(tr) = self.transit(slot, bytes) {
            self.schedule(self.now + tr.delay, Ev::AtClient { slot });
        }
        Ok(())
    }

    /// One message of `bytes` over the session's network model: counts its wire bytes and
    /// retransmissions; a message the network gives up on ends the session at the client's
    /// timeout (`None`).
    fn transit(&mut self, slot: u32, bytes: u32) -> Option<Transit> {
        let c = self.c;
        let now = self.now;
        let s = self.sess(slot)?;
        let tr = c.net.transit(bytes, &mut s.net);
        s.net_bytes += u64::from(tr.wire_bytes);
        self.m.retransmits += u64::from(tr.retransmits);
        if tr.failed {
            self.schedule(
                now + c.client_timeout,
                Ev::End {
                    slot,
                    cause: Cause::Timeout,
                },
            );
            return None;
        }
        Some(tr)
    }

    fn at_client(&mut self, slot: u32) -> Result<(), SimError> {
        let c = self.c;
        let now = self.now;
        let start_unix = self.c.scenario.configuration.start_unix;
        let Some(s) = self.slots.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return Ok(());
        };
        let Some(outcome) = s.outcome else {
            return Ok(());
        };
        let index = s.spec.index;
        let h = SessionHandle(index);
        let step = match outcome.verdict {
            IssuerVerdict::Refused(c) => return self.end(slot, c),
            IssuerVerdict::Completed => {
                Metrics::rec(&mut self.m.steps[Step::Result.index()], now - s.step_sent);
                return self.end(slot, Cause::Completed);
            }
            IssuerVerdict::Continue(step) => step,
        };
        s.step = step;
        // Faults planned for this step, then an attack, then the middleware.
        let mut hooks: [Option<&'static str>; 5] = [None; 5];
        if s.fault_at[F_CARD] == Some(step) {
            self.b.remove_card(h)?;
            hooks[0] = Some("card_removed");
        }
        if s.fault_at[F_POWER] == Some(step) {
            self.b.power_loss(h, s.power_index)?;
            hooks[1] = Some("power_loss");
        }
        if s.fault_at[F_RESET] == Some(step) {
            self.b.reader_reset(h)?;
            hooks[2] = Some("reader_reset");
        }
        if s.fault_at[F_MW] == Some(step) {
            self.b.crash_middleware(h)?;
            hooks[3] = Some("middleware_crash");
        }
        if let Some((kind, site, at)) = s.attack
            && at == step
        {
            self.b.tamper(h, site, kind)?;
            hooks[4] = Some(kind.name());
        }
        let mut out = std::mem::take(&mut self.out);
        self.b.middleware(h, unix_at(start_unix, now), &mut out)?;
        let user = &c.users[s.user as usize];
        let card = &c.cards[s.spec.card_profile as usize];
        let mut t: VTime = 0;
        let mut abandoned = false;
        let tracing = self.trace.on(index);
        for (i, hook) in hooks.iter().enumerate() {
            if let (Some(name), true) = (hook, tracing) {
                let _ = write!(
                    self.trace.buf,
                    r#"{{"t":{},"s":{},"e":"{}","what":"{}","step":"{}"}}"#,
                    now,
                    index,
                    if i == 4 { "attack" } else { "fault" },
                    name,
                    step.name()
                );
                self.trace.emit()?;
            }
        }
        for a in &out.user {
            let d = match a {
                UserAction::Consent => user.consent.sample_ns(&mut s.user_rng),
                UserAction::PinEntry | UserAction::PukEntry => {
                    let mut d = user.pin.sample_ns(&mut s.user_rng);
                    let mut tries = 0;
                    while user.wrong_pin > 0.0 && tries < 3 && s.user_rng.chance(user.wrong_pin) {
                        d += user.pin.sample_ns(&mut s.user_rng);
                        tries += 1;
                    }
                    d
                }
            };
            t += d;
            if tracing {
                let _ = write!(
                    self.trace.buf,
                    r#"{{"t":{},"s":{},"e":"user","action":"{}","ns":{}}}"#,
                    now + t,
                    index,
                    action_name(*a),
                    d
                );
                self.trace.emit()?;
            }
            if user.abandon > 0.0 && s.user_rng.chance(user.abandon) {
                abandoned = true;
                break;
            }
        }
        if !abandoned {
            for (ci, call) in out.card_calls.iter().enumerate() {
                let wire = out.wire.get(ci).filter(|w| tracing && !w.is_empty());
                let d = match wire {
                    None => card.call_ns(call, &mut s.card, &mut s.used_ops),
                    Some(wire) => {
                        // Full mode: one line per APDU with its virtual times (same draws).
                        let mut overheads = Vec::with_capacity(wire.len());
                        let (d, transfer, compute) =
                            card.call_ns_parts(call, &mut s.card, &mut s.used_ops, |o| {
                                overheads.push(o)
                            });
                        let sizes: Vec<(usize, usize, bool)> = wire
                            .iter()
                            .map(|a| {
                                let get_response = a.command.get(1) == Some(&0xC0);
                                (a.command.len(), a.response.len(), get_response)
                            })
                            .collect();
                        let times = apdu_times(now + t, d, transfer, compute, &overheads, &sizes);
                        for (k, (a, (sent, answered))) in wire.iter().zip(times).enumerate() {
                            let _ = write!(
                                self.trace.buf,
                                r#"{{"t":{},"s":{},"e":"wire","n":{},"sent":{},"c":"{}","r":"{}"}}"#,
                                answered,
                                index,
                                k,
                                sent,
                                Hex(&a.command),
                                Hex(&a.response)
                            );
                            self.trace.emit()?;
                        }
                        d
                    }
                };
                t += d;
                s.card_ns += d;
                s.apdus += u64::from(call.apdus);
                s.apdu_bytes += u64::from(call.bytes_to_card) + u64::from(call.bytes_from_card);
                if tracing {
                    let _ = write!(
                        self.trace.buf,
                        r#"{{"t":{},"s":{},"e":"apdu","method":"{}","apdus":{},"to_card":{},"from_card":{},"ns":{}}}"#,
                        now + t,
                        index,
                        call.method.java_name(),
                        call.apdus,
                        call.bytes_to_card,
                        call.bytes_from_card,
                        d
                    );
                    self.trace.emit()?;
                }
            }
        }
        let verdict = out.verdict;
        let request_bytes = out.request_bytes;
        self.out = out;
        let at = now + t;
        if abandoned {
            self.schedule(
                at,
                Ev::End {
                    slot,
                    cause: Cause::UserAbandoned,
                },
            );
            return Ok(());
        }
        match verdict {
            MiddlewareVerdict::Continue => {
                if let Some(s) = self.sess(slot) {
                    s.card_closed |= step == Step::ProvisioningFinalization;
                    s.req = Inbound::Post {
                        step,
                        bytes: request_bytes,
                    };
                }
                self.schedule(at, Ev::ClientDone { slot });
            }
            MiddlewareVerdict::Done => self.schedule(
                at,
                Ev::End {
                    slot,
                    cause: Cause::Completed,
                },
            ),
            MiddlewareVerdict::Aborted(c) => self.schedule(at, Ev::End { slot, cause: c }),
        }
        Ok(())
    }

    fn client_done(&mut self, slot: u32) -> Result<(), SimError> {
        let now = self.now;
        let timeout = self.c.client_timeout;
        let Some(s) = self.sess(slot) else {
            return Ok(());
        };
        let step = s.step;
        let sent = s.step_sent;
        let req = s.req;
        let index = s.spec.index;
        let dropped = matches!(s.attack, Some((AttackKind::Drop, _, at)) if at == step);
        Metrics::rec(&mut self.m.steps[step.index()], now - sent);
        if dropped {
            if self.trace.on(index) {
                let _ = write!(
                    self.trace.buf,
                    r#"{{"t":{},"s":{},"e":"dropped","answers":"{}"}}"#,
                    now,
                    index,
                    step.name()
                );
                self.trace.emit()?;
            }
            self.schedule(
                now + timeout,
                Ev::End {
                    slot,
                    cause: Cause::Timeout,
                },
            );
            return Ok(());
        }
        let bytes = match req {
            Inbound::Post { bytes, .. } => bytes,
            Inbound::Get => GET_BYTES,
        };
        self.send(slot, req, bytes)
    }

    fn end(&mut self, slot: u32, cause: Cause) -> Result<(), SimError> {
        let now = self.now;
        let Some(s) = self.slots.get_mut(slot as usize).and_then(|s| s.take()) else {
            return Ok(());
        };
        self.free.push(slot);
        self.live -= 1;
        self.ended += 1;
        let index = s.spec.index;
        self.b.end(SessionHandle(index), cause, &mut self.facts)?;
        let facts = self.facts;
        let cause = facts.cause;
        self.m.checked += 1;
        self.m.causes[cause as usize] += 1;
        self.m.causes_by_card[s.spec.card_profile as usize][cause as usize] += 1;
        let p = self.m.point(now);
        if cause == Cause::Completed {
            p.completed += 1;
            Metrics::rec(&mut self.m.session, now - s.started);
            Metrics::rec(
                &mut self.m.by_card[s.spec.card_profile as usize],
                now - s.started,
            );
        } else {
            p.failed += 1;
        }
        Metrics::rec(&mut self.m.card_time, s.card_ns);
        Metrics::count(&mut self.m.apdus, s.apdus);
        Metrics::count(&mut self.m.apdu_bytes, s.apdu_bytes);
        Metrics::count(&mut self.m.net_bytes, s.net_bytes);
        if let Some(k) = facts.attack {
            self.m
                .attack(k, facts.attack_outcome, facts.attack_reported);
        }
        if self.m.track_sightings && cause == Cause::Completed {
            self.m
                .sightings
                .entry(s.spec.card)
                .or_default()
                .push((s.spec.issuer, facts.issuer_visible_id));
        }
        if self.trace.on(index) {
            let _ = write!(
                self.trace.buf,
                r#"{{"t":{},"s":{},"e":"end","cause":"{}","keys_issuer":{},"keys_card":{},"attack":"{}","apdus":{},"apdu_bytes":{},"net_bytes":{}}}"#,
                now,
                index,
                cause.name(),
                facts.keys_at_issuer,
                facts.keys_on_card,
                facts.attack.map_or("none", |k| k.name()),
                s.apdus,
                s.apdu_bytes,
                s.net_bytes
            );
            self.trace.emit()?;
        }
        if cause != Cause::Completed && s.card_closed && facts.keys_on_card > 0 {
            self.m.orphaned += 1;
        }
        if let Some((property, detail)) = oracle::check(&s.spec, &facts, s.card_closed) {
            self.violations += 1;
            if self.violation.is_none() {
                self.violation = Some(Violation {
                    property,
                    detail,
                    session: index,
                    vtime: now,
                    event: self.seq,
                });
            }
        }
        // A population user starts its next session after thinking.
        if s.pop != u32::MAX && self.remaining[s.user as usize] > 0 {
            self.remaining[s.user as usize] -= 1;
            self.pending_arrivals += 1;
            let think = match &self.c.users[s.user as usize].arrival {
                ArrivalModel::Population(_, th) => {
                    th.sample_ns(&mut self.arrival_rng[s.user as usize])
                }
                _ => 0,
            };
            self.schedule(
                now + think,
                Ev::Arrive {
                    user: s.user,
                    pop: s.pop,
                },
            );
        }
        Ok(())
    }

    fn crash(&mut self, n: usize, duration: VTime) -> Result<(), SimError> {
        self.touch_node(n);
        let now = self.now;
        self.nodes[n].up = false;
        self.nodes[n].epoch += 1;
        self.nodes[n].busy = 0;
        self.m.nodes[n].crashes += 1;
        let mut lost: Vec<u32> = std::mem::take(&mut self.nodes[n].in_service);
        lost.extend(self.nodes[n].queue.drain(..));
        if self.trace.out.is_some() && self.trace.only.is_none() {
            let _ = write!(
                self.trace.buf,
                r#"{{"t":{},"e":"issuer_crash","node":"{}","lost":{}}}"#,
                now,
                self.m.nodes[n].name,
                lost.len()
            );
            self.trace.emit()?;
        }
        for slot in lost {
            self.end(slot, Cause::IssuerCrash)?;
        }
        self.schedule(now + duration, Ev::Restart { node: n as u16 });
        Ok(())
    }

    fn restart(&mut self, n: usize) -> Result<(), SimError> {
        self.touch_node(n);
        self.nodes[n].up = true;
        self.b.restart_issuer(n as u16)?;
        if self.trace.out.is_some() && self.trace.only.is_none() {
            let _ = write!(
                self.trace.buf,
                r#"{{"t":{},"e":"issuer_restart","node":"{}"}}"#,
                self.now, self.m.nodes[n].name
            );
            self.trace.emit()?;
        }
        Ok(())
    }

    fn sample(&mut self) {
        let now = self.now;
        let interval = self.c.sample_interval as f64;
        for n in 0..self.nodes.len() {
            self.touch_node(n);
        }
        // The point for the interval that just ended.
        let idx = now.saturating_sub(1) / self.c.sample_interval;
        let mut util = Vec::with_capacity(self.nodes.len());
        let mut qm = Vec::with_capacity(self.nodes.len());
        let mut qx = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter_mut().enumerate() {
            util.push(node.busy_int / (interval * f64::from(node.workers)));
            qm.push(node.q_int / interval);
            qx.push(node.q_max);
            self.m.nodes[i].busy_ns += node.busy_int;
            node.busy_int = 0.0;
            node.q_int = 0.0;
            node.q_max = node.queue.len() as u32;
        }
        let p = self.m.point(idx * self.c.sample_interval);
        p.utilisation = util;
        p.queue_mean = qm;
        p.queue_max = qx;
    }

    fn progress(&self, started: Instant, last: &mut Instant, force: bool) {
        if !force && last.elapsed().as_millis() < 250 {
            return;
        }
        *last = Instant::now();
        let total = self.total.max(1);
        let frac = self.ended as f64 / total as f64;
        let width = 30;
        let filled = ((frac * width as f64) as usize).min(width);
        let wall = started.elapsed().as_secs_f64();
        eprint!(
            "\r[{}{}] {:>5.1}% {}/{} sessions, virtual {:.0} s, wall {:.1} s ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            frac * 100.0,
            self.ended,
            total,
            self.now as f64 / SEC as f64,
            wall
        );
    }
}

fn site_name(s: AttackerSite) -> &'static str {
    match s {
        AttackerSite::Middleware => "middleware",
        AttackerSite::Network => "network",
    }
}

fn action_name(a: UserAction) -> &'static str {
    match a {
        UserAction::Consent => "consent",
        UserAction::PinEntry => "pin_entry",
        UserAction::PukEntry => "puk_entry",
    }
}

fn verdict_name(v: IssuerVerdict) -> String {
    match v {
        IssuerVerdict::Continue(s) => s.name().to_string(),
        IssuerVerdict::Completed => "completed".into(),
        IssuerVerdict::Refused(c) => format!("refused:{}", c.name()),
    }
}

/// Runs a compiled scenario on a backend.
pub fn run<B: Backend + ?Sized>(
    c: &Compiled,
    b: &mut B,
    opts: RunOptions,
) -> Result<RunResult, SimError> {
    let streams = Streams::new(opts.seed);
    let mut nodes = Vec::new();
    let mut totals = Vec::new();
    for (i, im) in c.issuers.iter().enumerate() {
        for k in 0..im.nodes {
            nodes.push(Node {
                issuer: i as u16,
                up: true,
                epoch: 0,
                busy: 0,
                workers: im.workers,
                queue: VecDeque::new(),
                in_service: Vec::with_capacity(im.workers as usize),
                queue_limit: im.queue_limit,
                last: 0,
                busy_int: 0.0,
                q_int: 0.0,
                q_max: 0,
            });
            totals.push(NodeTotals {
                name: format!("{}/{}", im.name, k),
                workers: im.workers,
                ..NodeTotals::default()
            });
        }
    }
    let cards: Vec<(String, String)> = c
        .cards
        .iter()
        .map(|m| (m.name.clone(), m.profile.clone()))
        .collect();
    let track = c.users.iter().any(|u| u.card_count > 0);
    let total: u64 = c.users.iter().map(|u| u.sessions).sum();
    let mut e = Engine {
        c,
        b,
        streams,
        q: Queue::new(),
        now: 0,
        seq: 0,
        slots: Vec::new(),
        free: Vec::new(),
        live: 0,
        next_index: 0,
        remaining: c.users.iter().map(|u| u.sessions).collect(),
        arrival_rng: (0..c.users.len())
            .map(|u| streams.stream(&format!("arrival/{u}")))
            .collect(),
        burst_i: vec![0; c.users.len()],
        pending_arrivals: 0,
        nodes,
        partitions: c
            .faults
            .iter()
            .filter(|f| f.kind == FaultKind::Partition)
            .map(|f| (f.at, f.at + f.duration))
            .collect(),
        m: Metrics::new(&cards, totals, c.sample_interval, track),
        trace: Trace {
            out: opts
                .transcript
                .map(|w| std::io::BufWriter::with_capacity(1 << 16, w)),
            only: opts.only_session,
            buf: String::with_capacity(256),
        },
        out: MiddlewareOutcome::default(),
        facts: SessionFacts::default(),
        violation: None,
        violations: 0,
        stop_on_violation: opts.stop_on_violation,
        ended: 0,
        total,
    };
    for f in &c.faults {
        if f.kind == FaultKind::IssuerCrash {
            e.schedule(
                f.at,
                Ev::Crash {
                    node: f.node,
                    duration: f.duration,
                },
            );
        }
    }
    e.start_arrivals();
    e.schedule(c.sample_interval, Ev::Sample);
    let show = opts.progress && std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last = Instant::now();
    let mut events: u64 = 0;
    while let Some((t, seq, ev)) = e.q.pop() {
        if t > c.max_virtual {
            e.now = c.max_virtual;
            break;
        }
        e.now = t;
        e.seq = seq;
        events += 1;
        if show && events.is_multiple_of(8192) {
            e.progress(started, &mut last, false);
        }
        match ev {
            Ev::Arrive { user, pop } => {
                e.pending_arrivals -= 1;
                let u = user as usize;
                e.begin_session(u, pop)?;
                if pop == u32::MAX && e.remaining[u] > 0 {
                    e.remaining[u] -= 1;
                    e.pending_arrivals += 1;
                    let next = e.next_arrival(u, t);
                    e.schedule(next, Ev::Arrive { user, pop });
                }
            }
            Ev::AtIssuer { slot } => e.at_issuer(slot)?,
            Ev::ServiceDone { node, slot, epoch } => e.service_done(node as usize, slot, epoch)?,
            Ev::AtClient { slot } => e.at_client(slot)?,
            Ev::ClientDone { slot } => e.client_done(slot)?,
            Ev::End { slot, cause } => e.end(slot, cause)?,
            Ev::Crash { node, duration } => e.crash(node as usize, duration)?,
            Ev::Restart { node } => e.restart(node as usize)?,
            Ev::Sample => {
                e.sample();
                if e.live > 0 || e.pending_arrivals > 0 {
                    e.schedule(t + c.sample_interval, Ev::Sample);
                }
            }
        }
        if e.stop_on_violation && e.violation.is_some() {
            break;
        }
    }
    // Sessions still live at the cap end with a timeout, in slot order.
    if !(e.stop_on_violation && e.violation.is_some()) {
        for slot in 0..e.slots.len() as u32 {
            if e.slots[slot as usize].is_some() {
                e.end(slot, Cause::Timeout)?;
            }
        }
    }
    // Close the last partial interval.
    let end = e.now;
    if !end.is_multiple_of(c.sample_interval) {
        e.now = end;
        let interval = c.sample_interval as f64;
        for n in 0..e.nodes.len() {
            e.touch_node(n);
        }
        let idx = end / c.sample_interval;
        let mut util = Vec::new();
        let mut qm = Vec::new();
        let mut qx = Vec::new();
        for (i, node) in e.nodes.iter_mut().enumerate() {
            util.push(node.busy_int / (interval * f64::from(node.workers)));
            qm.push(node.q_int / interval);
            qx.push(node.q_max);
            e.m.nodes[i].busy_ns += node.busy_int;
        }
        let p = e.m.point(idx * c.sample_interval);
        p.utilisation = util;
        p.queue_mean = qm;
        p.queue_max = qx;
    }
    if show {
        e.progress(started, &mut last, true);
        eprintln!();
    }
    if let Some(o) = &mut e.trace.out {
        o.flush()?;
    }
    e.m.end = end;
    Ok(RunResult {
        metrics: e.m,
        violation: e.violation,
        violations: e.violations,
        events,
        sessions: e.ended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_by_time_then_sequence() {
        let mut q = Queue::new();
        q.push(5, 'a');
        q.push(3, 'b');
        q.push(5, 'c');
        q.push(3, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|x| x.2)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
    }
}
