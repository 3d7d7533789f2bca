//! The compiled scenario: names resolved to indices, distributions to samplers, card profiles
//! merged with their overrides, reader links turned into a transfer-time model.

use airtight_bindings::ApduLimits;

use crate::backend::{
    AttackKind, AttackerSite, CardCall, CardClass, CardOp, IssuerCost, IssuerOp, MS, SEC, Step,
    VTime,
};
use crate::dist::{Dist, Sampler, ms_to_ns};
use crate::rng::SimRng;
use crate::scenario::{
    Arrival, CompileError, Defect, FaultKind, KeysSpec, ProfileFile, ReaderSpec, Scenario, Service,
    builtin,
};

/// The issuer's measured cost per operation, µs (one core). ECDSA P-256 sign 137 µs, verify
/// 321 µs, ECDH 493 µs, RSA-2048 sign 3.2 ms are the RustCrypto 0.14-line medians measured on
/// the CI machine class when the crypto stack was chosen (ARCHITECTURE.md, "Dependencies");
/// the rest (certificate build around its signature, MAC, AES, JSON per message) are estimates
/// of the same order as the engine's own criterion benches. A store commit is charged by the
/// issuer's `store_commit_ms` instead.
pub const COST_TABLE_US: [f64; IssuerOp::COUNT] = [
    137.0,  // ecdsa_sign
    321.0,  // ecdsa_verify
    493.0,  // ecdh
    3200.0, // rsa_sign
    60.0,   // rsa_verify
    80.0,   // cert_issue (DER build; its signature is counted as ecdsa_sign)
    2.0,    // mac
    5.0,    // encrypt
    40.0,   // json (parse + serialize one message)
    0.0,    // store_commit (see store_commit_ms)
];

/// A reader link's transfer-time model.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    /// Name.
    pub name: String,
    /// Nanoseconds per elementary time unit (1 / bit rate).
    pub ns_per_etu: f64,
    /// T=1 IFSC.
    pub ifsc: u32,
    /// USB-native (CCID framing, 8 bits per byte, 10-byte header each way).
    pub usb: bool,
    /// The APDU limits of this link.
    pub limits: ApduLimits,
}

impl LinkModel {
    fn new(r: &ReaderSpec) -> Self {
        Self {
            name: r.name.clone(),
            ns_per_etu: 1e9 / r.bit_rate,
            ifsc: r.ifsc.max(1),
            usb: r.usb,
            limits: if r.extended {
                ApduLimits::EXTENDED
            } else {
                ApduLimits::SHORT
            },
        }
    }

    /// Transfer time of one SKS call. ISO 7816-3 T=1: 11 ETU per character, plus per block a
    /// 3-byte prologue, a 1-byte LRC and 22 ETU of block guard time; every command and every
    /// response APDU is at least one block, longer ones `ceil(len / IFSC)` (approximated from
    /// the call's totals). USB: 8 bits per byte plus a 10-byte CCID header each way.
    pub fn transfer_ns(&self, call: &CardCall) -> VTime {
        let bytes = f64::from(call.bytes_to_card) + f64::from(call.bytes_from_card);
        let apdus = f64::from(call.apdus);
        if self.usb {
            return ((bytes + 20.0 * apdus) * 8.0 * self.ns_per_etu) as VTime;
        }
        let ifsc = f64::from(self.ifsc);
        let extra_to = (f64::from(call.bytes_to_card) / ifsc - apdus)
            .max(0.0)
            .ceil();
        let extra_from = (f64::from(call.bytes_from_card) / ifsc - apdus)
            .max(0.0)
            .ceil();
        let blocks = 2.0 * apdus + extra_to + extra_from;
        (((bytes + 4.0 * blocks) * 11.0 + 22.0 * blocks) * self.ns_per_etu) as VTime
    }
}

/// A card population with its profile and link.
#[derive(Debug, Clone)]
pub struct CardModel {
    /// Population name.
    pub name: String,
    /// Profile name.
    pub profile: String,
    /// Class.
    pub class: CardClass,
    /// Per-APDU overhead, ms.
    pub per_apdu: Sampler,
    /// On-card time per operation, ms.
    pub ops: Vec<Sampler>,
    /// First-call factor per operation (1 = none).
    pub first_call: [f64; CardOp::COUNT],
    /// The link.
    pub link: LinkModel,
    /// Cumulative weight (for picking).
    pub weight: f64,
}

impl CardModel {
    /// Card-side time of one call: per-APDU overhead, transfer, on-card compute. `used` marks
    /// the operations already called in this session (first-call penalty).
    pub fn call_ns(&self, call: &CardCall, rng: &mut SimRng, used: &mut u16) -> VTime {
        self.call_ns_parts(call, rng, used, |_| {}).0
    }

    /// [`Self::call_ns`] in its parts, with the same draws: (total, transfer time, on-card
    /// compute); `per_apdu` gets each APDU's overhead in order.
    pub fn call_ns_parts(
        &self,
        call: &CardCall,
        rng: &mut SimRng,
        used: &mut u16,
        mut per_apdu: impl FnMut(VTime),
    ) -> (VTime, VTime, VTime) {
        let transfer = self.link.transfer_ns(call);
        let mut t = transfer;
        for _ in 0..call.apdus {
            let o = self.per_apdu.sample_ns(rng);
            per_apdu(o);
            t += o;
        }
        let before_compute = t;
        for op in CardOp::ALL {
            let n = call.ops.get(op);
            for _ in 0..n {
                let mut ms = self.ops[op as usize].sample(rng);
                let bit = 1u16 << (op as u16);
                if *used & bit == 0 {
                    ms *= self.first_call[op as usize];
                    *used |= bit;
                }
                t += ms_to_ns(ms);
            }
        }
        (t, transfer, t - before_compute)
    }
}

/// The virtual times of each APDU of one SKS call that starts at `start` and takes `total`
/// ns (`transfer` of it on the link, `compute` on the card, `overheads` per APDU): each
/// APDU's (sent, answered). Transfer time is shared by the APDU's bytes; the compute falls
/// on the last APDU that is not a GET RESPONSE (the one the card answers after its work);
/// the last APDU ends at `start + total` exactly.
pub fn apdu_times(
    start: VTime,
    total: VTime,
    transfer: VTime,
    compute: VTime,
    overheads: &[VTime],
    sizes: &[(usize, usize, bool)],
) -> Vec<(VTime, VTime)> {
    let bytes: u128 = sizes.iter().map(|(c, r, _)| (*c + *r) as u128).sum();
    let work_at = sizes
        .iter()
        .rposition(|(_, _, get_response)| !get_response)
        .unwrap_or(0);
    let mut at = start;
    let mut out = Vec::with_capacity(sizes.len());
    for (k, (c, r, _)) in sizes.iter().enumerate() {
        let sent = at;
        if k + 1 == sizes.len() {
            at = start + total;
        } else {
            let share = (u128::from(transfer) * (*c + *r) as u128)
                .checked_div(bytes)
                .map_or(0, |x| x as VTime);
            at += share + overheads.get(k).copied().unwrap_or(0);
            if k == work_at {
                at += compute;
            }
            at = at.min(start + total);
        }
        out.push((sent, at));
    }
    out
}

/// The network model.
#[derive(Debug, Clone)]
pub struct NetModel {
    /// One-way latency, ms.
    pub latency: Sampler,
    /// Loss probability per packet.
    pub loss: f64,
    /// Duplication probability per message.
    pub duplication: f64,
    /// Reorder probability per message.
    pub reorder: f64,
    /// Extra delay of a reordered message.
    pub reorder_delay: Sampler,
    /// Nanoseconds per byte (0 = unlimited).
    pub ns_per_byte: f64,
    /// Initial RTO.
    pub rto: VTime,
}

/// What the network did to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transit {
    /// Delay.
    pub delay: VTime,
    /// Bytes on the wire (duplicates included).
    pub wire_bytes: u32,
    /// Retransmissions.
    pub retransmits: u32,
    /// Gave up (6 consecutive losses of a packet).
    pub failed: bool,
}

/// TCP maximum segment size used to count packets.
pub const MSS: u32 = 1460;

impl NetModel {
    /// One message of `bytes` bytes.
    pub fn transit(&self, bytes: u32, rng: &mut SimRng) -> Transit {
        let mut t = Transit {
            delay: self.latency.sample_ns(rng),
            wire_bytes: bytes,
            ..Transit::default()
        };
        if self.ns_per_byte > 0.0 {
            t.delay += (f64::from(bytes) * self.ns_per_byte) as VTime;
        }
        if self.loss > 0.0 {
            let packets = bytes.div_ceil(MSS).max(1);
            for _ in 0..packets {
                let mut rto = self.rto;
                let mut tries = 0;
                while rng.chance(self.loss) {
                    tries += 1;
                    t.retransmits += 1;
                    t.delay += rto;
                    rto *= 2;
                    if tries >= 6 {
                        t.failed = true;
                        return t;
                    }
                }
            }
        }
        if self.duplication > 0.0 && rng.chance(self.duplication) {
            t.wire_bytes = t.wire_bytes.saturating_mul(2);
        }
        if self.reorder > 0.0 && rng.chance(self.reorder) {
            t.delay += self.reorder_delay.sample_ns(rng);
        }
        t
    }
}

/// The issuer's service model.
#[derive(Debug, Clone)]
pub enum ServiceModel {
    /// The cost table (deterministic per request).
    CostTable,
    /// A distribution per request, ms.
    Dist(Sampler),
}

/// An issuer.
#[derive(Debug, Clone)]
pub struct IssuerModel {
    /// Name.
    pub name: String,
    /// Nodes.
    pub nodes: u16,
    /// Workers per node.
    pub workers: u16,
    /// Service model.
    pub service: ServiceModel,
    /// Queue limit per node.
    pub queue_limit: u32,
    /// Store commit latency, ms.
    pub commit: Sampler,
    /// Session lifetime, s.
    pub lifetime_s: u64,
    /// Keys.
    pub keys: KeysSpec,
    /// Index of its first node in the run's node list.
    pub first_node: u16,
}

impl IssuerModel {
    /// Service time of one request.
    pub fn service_ns(&self, cost: &IssuerCost, rng: &mut SimRng) -> VTime {
        let mut t = match &self.service {
            ServiceModel::CostTable => {
                let us: f64 = IssuerOp::ALL
                    .iter()
                    .map(|op| f64::from(cost.get(*op)) * COST_TABLE_US[*op as usize])
                    .sum();
                (us * 1000.0) as VTime
            }
            ServiceModel::Dist(s) => s.sample_ns(rng),
        };
        for _ in 0..cost.get(IssuerOp::StoreCommit) {
            t += self.commit.sample_ns(rng);
        }
        t
    }
}

/// A user workload.
#[derive(Debug, Clone)]
pub struct UserModel {
    /// Name.
    pub name: String,
    /// Sessions (scaled).
    pub sessions: u64,
    /// Start.
    pub start: VTime,
    /// Arrival.
    pub arrival: ArrivalModel,
    /// Issuer indices.
    pub issuers: Vec<u16>,
    /// Card population indices with cumulative weights.
    pub cards: Vec<(u16, f64)>,
    /// Distinct cards (0 = one per session).
    pub card_count: u64,
    /// Consent delay.
    pub consent: Sampler,
    /// PIN entry delay.
    pub pin: Sampler,
    /// Wrong PIN probability.
    pub wrong_pin: f64,
    /// Abandon probability per prompt.
    pub abandon: f64,
}

/// A compiled arrival process.
#[derive(Debug, Clone)]
pub enum ArrivalModel {
    /// Rate per ns.
    Poisson(f64),
    /// From, to (per ns), over (ns).
    Ramp(f64, f64, f64),
    /// At, over.
    Burst(VTime, VTime),
    /// Users, think time.
    Population(u32, Sampler),
}

impl UserModel {
    /// Rate (per ns) at time `t` since the workload start (ramps).
    pub fn rate_at(&self, t: f64) -> f64 {
        match &self.arrival {
            ArrivalModel::Poisson(r) => *r,
            ArrivalModel::Ramp(from, to, over) => {
                if t >= *over {
                    *to
                } else {
                    from + (to - from) * t / over
                }
            }
            _ => 0.0,
        }
    }
}

/// A fault, compiled.
#[derive(Debug, Clone)]
pub struct FaultModel {
    /// Kind.
    pub kind: FaultKind,
    /// Per-session probability.
    pub probability: f64,
    /// Step (None: random).
    pub step: Option<Step>,
    /// Node (global index) for issuer crashes.
    pub node: u16,
    /// When.
    pub at: VTime,
    /// How long.
    pub duration: VTime,
    /// Defect.
    pub defect: Option<Defect>,
}

/// An attacker, compiled.
#[derive(Debug, Clone)]
pub struct AttackerModel {
    /// Kind.
    pub kind: AttackKind,
    /// Site.
    pub site: AttackerSite,
    /// Share of sessions.
    pub fraction: f64,
    /// Step.
    pub step: Option<Step>,
}

/// The set of deliberate defects switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Defects(pub u8);

impl Defects {
    /// Is `d` on?
    pub fn has(self, d: Defect) -> bool {
        self.0 & (1 << d as u8) != 0
    }

    /// Switch `d` on.
    pub fn set(&mut self, d: Defect) {
        self.0 |= 1 << d as u8;
    }
}

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The scenario as written.
    pub scenario: Scenario,
    /// Card populations (cumulative weights in `weight`).
    pub cards: Vec<CardModel>,
    /// Network.
    pub net: NetModel,
    /// Issuers.
    pub issuers: Vec<IssuerModel>,
    /// Total nodes.
    pub nodes: u16,
    /// Workloads.
    pub users: Vec<UserModel>,
    /// Faults.
    pub faults: Vec<FaultModel>,
    /// Attackers.
    pub attackers: Vec<AttackerModel>,
    /// Defects on.
    pub defects: Defects,
    /// Client timeout.
    pub client_timeout: VTime,
    /// Virtual time cap.
    pub max_virtual: VTime,
    /// Time-series interval.
    pub sample_interval: VTime,
}

fn sampler(d: &Dist, at: &[&dyn std::fmt::Display]) -> Result<Sampler, CompileError> {
    d.sampler().map_err(|e| CompileError::new(at, e.0))
}

fn prob(p: f64, at: &[&dyn std::fmt::Display]) -> Result<f64, CompileError> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(CompileError::new(
            at,
            format!("probability {p} is not in [0, 1]"),
        ))
    }
}

fn secs(s: f64, at: &[&dyn std::fmt::Display]) -> Result<VTime, CompileError> {
    if s.is_finite() && s >= 0.0 {
        Ok((s * SEC as f64) as VTime)
    } else {
        Err(CompileError::new(
            at,
            format!("{s} is not a time ≥ 0 in seconds"),
        ))
    }
}

impl Scenario {
    /// Resolves and checks everything; `scale` multiplies the session counts.
    pub fn compile(&self) -> Result<Compiled, CompileError> {
        self.compile_scaled(self.configuration.scale)
    }

    /// As [`Scenario::compile`] with an explicit scale.
    pub fn compile_scaled(&self, scale: f64) -> Result<Compiled, CompileError> {
        let b: ProfileFile = builtin().map_err(|e| CompileError::new(&[], e.to_string()))?;
        let c = &self.configuration;
        let cfg: &dyn std::fmt::Display = &"configuration";
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(CompileError::new(
                &[cfg, &"scale"],
                format!("scale {scale} must be > 0"),
            ));
        }
        let mut readers: Vec<ReaderSpec> = b.reader.clone();
        for (i, r) in self.readers.iter().enumerate() {
            if !(r.bit_rate > 0.0 && r.bit_rate.is_finite()) {
                return Err(CompileError::new(
                    &[&"readers", &i, &"bit_rate"],
                    "bit_rate must be > 0",
                ));
            }
            readers.retain(|x| x.name != r.name);
            readers.push(r.clone());
        }
        // Cards (default: one JCOP4 population on the default reader).
        let mut card_specs = self.cards.clone();
        if card_specs.is_empty() {
            card_specs.push(crate::scenario::CardSpec {
                name: "jcop4".into(),
                profile: "jcop4".into(),
                reader: "t1-223k".into(),
                weight: 1.0,
                per_apdu_ms: None,
                ops: Vec::new(),
            });
        }
        let mut cards = Vec::new();
        for (i, cs) in card_specs.iter().enumerate() {
            let Some(p) = b.profile.iter().find(|p| p.name == cs.profile) else {
                let names: Vec<&str> = b.profile.iter().map(|p| p.name.as_str()).collect();
                return Err(CompileError::new(
                    &[&"cards", &i, &"profile"],
                    format!(
                        "unknown card profile {:?} (built-in: {})",
                        cs.profile,
                        names.join(", ")
                    ),
                ));
            };
            let Some(r) = readers.iter().find(|r| r.name == cs.reader) else {
                return Err(CompileError::new(
                    &[&"cards", &i, &"reader"],
                    format!("unknown reader {:?}", cs.reader),
                ));
            };
            if !(cs.weight >= 0.0 && cs.weight.is_finite()) {
                return Err(CompileError::new(
                    &[&"cards", &i, &"weight"],
                    "weight must be ≥ 0",
                ));
            }
            let mut ops: Vec<Sampler> = vec![Sampler::Constant(0.0); CardOp::COUNT];
            for o in &p.ops {
                ops[o.op as usize] = sampler(&o.ms, &[&"cards", &i, &"profile"])?;
            }
            for (j, o) in cs.ops.iter().enumerate() {
                ops[o.op as usize] = sampler(&o.ms, &[&"cards", &i, &"ops", &j, &"ms"])?;
            }
            let mut first_call = [1.0; CardOp::COUNT];
            for f in &p.first_call {
                first_call[f.op as usize] = f.factor;
            }
            let per_apdu = match cs.per_apdu_ms {
                Some(v) => sampler(&Dist::Fixed(v), &[&"cards", &i, &"per_apdu_ms"])?,
                None => sampler(&p.per_apdu_ms, &[&"cards", &i, &"profile"])?,
            };
            cards.push(CardModel {
                name: cs.name.clone(),
                profile: p.name.clone(),
                class: p.class,
                per_apdu,
                ops,
                first_call,
                link: LinkModel::new(r),
                weight: cs.weight,
            });
        }
        let n = &self.network;
        let net = NetModel {
            latency: sampler(&n.latency_ms, &[&"network", &"latency_ms"])?,
            loss: prob(n.loss, &[&"network", &"loss"])?,
            duplication: prob(n.duplication, &[&"network", &"duplication"])?,
            reorder: prob(n.reorder, &[&"network", &"reorder"])?,
            reorder_delay: sampler(&n.reorder_delay_ms, &[&"network", &"reorder_delay_ms"])?,
            ns_per_byte: if n.bandwidth_kbps > 0.0 {
                8e6 / n.bandwidth_kbps
            } else {
                0.0
            },
            rto: ms_to_ns(n.rto_ms.max(1.0)),
        };
        let mut issuers = Vec::new();
        let mut nodes: u16 = 0;
        if self.issuers.is_empty() {
            return Err(CompileError::new(&[&"issuers"], "at least one issuer"));
        }
        for (i, is) in self.issuers.iter().enumerate() {
            if is.nodes == 0 || is.workers == 0 {
                return Err(CompileError::new(
                    &[&"issuers", &i],
                    "nodes and workers must be ≥ 1",
                ));
            }
            let service = match &is.service {
                Service::Named(s) if s == "cost_table" => ServiceModel::CostTable,
                Service::Named(s) => {
                    return Err(CompileError::new(
                        &[&"issuers", &i, &"service"],
                        format!("unknown service model {s:?} (\"cost_table\" or a distribution)"),
                    ));
                }
                Service::Dist(d) => ServiceModel::Dist(sampler(d, &[&"issuers", &i, &"service"])?),
            };
            prob(is.keys.discovery, &[&"issuers", &i, &"keys", &"discovery"])?;
            prob(is.keys.privacy, &[&"issuers", &i, &"keys", &"privacy"])?;
            if is.keys.ec as u16 + is.keys.rsa as u16 == 0
                || is.keys.ec as u16 + is.keys.rsa as u16 > 16
            {
                return Err(CompileError::new(
                    &[&"issuers", &i, &"keys"],
                    "1 to 16 keys per session",
                ));
            }
            issuers.push(IssuerModel {
                name: is.name.clone(),
                nodes: is.nodes,
                workers: is.workers,
                service,
                queue_limit: is.queue_limit,
                commit: sampler(&is.store_commit_ms, &[&"issuers", &i, &"store_commit_ms"])?,
                lifetime_s: secs(
                    is.session_lifetime_s,
                    &[&"issuers", &i, &"session_lifetime_s"],
                )? / SEC,
                keys: is.keys.clone(),
                first_node: nodes,
            });
            nodes = nodes
                .checked_add(is.nodes)
                .ok_or_else(|| CompileError::new(&[&"issuers", &i, &"nodes"], "too many nodes"))?;
        }
        let mut users = Vec::new();
        if self.users.is_empty() {
            return Err(CompileError::new(&[&"users"], "at least one workload"));
        }
        for (i, u) in self.users.iter().enumerate() {
            let at: [&dyn std::fmt::Display; 2] = [&"users", &i];
            let mut iss = Vec::new();
            if u.issuers.is_empty() {
                iss.extend(0..issuers.len() as u16);
            }
            for (j, name) in u.issuers.iter().enumerate() {
                let Some(k) = issuers.iter().position(|x| &x.name == name) else {
                    return Err(CompileError::new(
                        &[&"users", &i, &"issuers", &j],
                        format!("unknown issuer {name:?}"),
                    ));
                };
                iss.push(k as u16);
            }
            let mut cs = Vec::new();
            let mut acc = 0.0;
            let picks: Vec<usize> = if u.cards.is_empty() {
                (0..cards.len()).collect()
            } else {
                let mut v = Vec::new();
                for (j, name) in u.cards.iter().enumerate() {
                    let Some(k) = cards.iter().position(|x| &x.name == name) else {
                        return Err(CompileError::new(
                            &[&"users", &i, &"cards", &j],
                            format!("unknown card population {name:?}"),
                        ));
                    };
                    v.push(k);
                }
                v
            };
            for k in picks {
                acc += cards[k].weight;
                cs.push((k as u16, acc));
            }
            if acc <= 0.0 {
                return Err(CompileError::new(
                    &[&"users", &i, &"cards"],
                    "the card weights sum to 0",
                ));
            }
            let arrival = match &u.arrival {
                Arrival::Poisson { rate_per_s } if *rate_per_s > 0.0 => {
                    ArrivalModel::Poisson(rate_per_s / SEC as f64)
                }
                Arrival::Ramp {
                    from_per_s,
                    to_per_s,
                    over_s,
                } if *from_per_s >= 0.0
                    && *to_per_s >= 0.0
                    && from_per_s.max(*to_per_s) > 0.0
                    && *over_s >= 0.0 =>
                {
                    ArrivalModel::Ramp(
                        from_per_s / SEC as f64,
                        to_per_s / SEC as f64,
                        over_s * SEC as f64,
                    )
                }
                Arrival::Burst { at_s, over_s } => ArrivalModel::Burst(
                    secs(*at_s, &[&"users", &i, &"arrival", &"at_s"])?,
                    secs(*over_s, &[&"users", &i, &"arrival", &"over_s"])?,
                ),
                Arrival::Population {
                    concurrency,
                    think_ms,
                } if *concurrency > 0 => ArrivalModel::Population(
                    *concurrency,
                    sampler(think_ms, &[&"users", &i, &"arrival", &"think_ms"])?,
                ),
                _ => {
                    return Err(CompileError::new(
                        &[&"users", &i, &"arrival"],
                        "rates and concurrency must be > 0",
                    ));
                }
            };
            users.push(UserModel {
                name: u.name.clone(),
                sessions: ((u.sessions as f64) * scale)
                    .round()
                    .max(if u.sessions > 0 { 1.0 } else { 0.0 }) as u64,
                start: secs(u.start_s, &[&"users", &i, &"start_s"])?,
                arrival,
                issuers: iss,
                cards: cs,
                card_count: u.card_count,
                consent: sampler(&u.consent_ms, &[&"users", &i, &"consent_ms"])?,
                pin: sampler(&u.pin_entry_ms, &[&"users", &i, &"pin_entry_ms"])?,
                wrong_pin: prob(u.wrong_pin, &[at[0], at[1], &"wrong_pin"])?,
                abandon: prob(u.abandon, &[at[0], at[1], &"abandon"])?,
            });
        }
        let mut faults = Vec::new();
        let mut defects = Defects::default();
        for (i, f) in self.faults.iter().enumerate() {
            let probability = prob(
                f.probability.unwrap_or(0.0),
                &[&"faults", &i, &"probability"],
            )?;
            let mut node = 0u16;
            if f.kind == FaultKind::IssuerCrash {
                let k = match &f.issuer {
                    None => 0,
                    Some(name) => {
                        issuers
                            .iter()
                            .position(|x| &x.name == name)
                            .ok_or_else(|| {
                                CompileError::new(
                                    &[&"faults", &i, &"issuer"],
                                    format!("unknown issuer {name:?}"),
                                )
                            })?
                    }
                };
                let local = f.node.unwrap_or(0);
                if local >= issuers[k].nodes {
                    return Err(CompileError::new(
                        &[&"faults", &i, &"node"],
                        format!(
                            "issuer {:?} has {} nodes",
                            issuers[k].name, issuers[k].nodes
                        ),
                    ));
                }
                node = issuers[k].first_node + local;
            }
            if matches!(f.kind, FaultKind::IssuerCrash | FaultKind::Partition) && f.at_s.is_none() {
                return Err(CompileError::new(
                    &[&"faults", &i],
                    format!("{} needs at_s", f.kind.name()),
                ));
            }
            if f.kind == FaultKind::Deliberate {
                match f.defect {
                    Some(d) => defects.set(d),
                    None => {
                        return Err(CompileError::new(
                            &[&"faults", &i],
                            "deliberate needs a defect",
                        ));
                    }
                }
            }
            faults.push(FaultModel {
                kind: f.kind,
                probability,
                step: f.step,
                node,
                at: secs(f.at_s.unwrap_or(0.0), &[&"faults", &i, &"at_s"])?,
                duration: secs(f.duration_s.unwrap_or(5.0), &[&"faults", &i, &"duration_s"])?,
                defect: f.defect,
            });
        }
        let mut attackers = Vec::new();
        for (i, a) in self.attackers.iter().enumerate() {
            attackers.push(AttackerModel {
                kind: a.kind,
                site: a.site,
                fraction: prob(a.fraction, &[&"attackers", &i, &"fraction"])?,
                step: a.step,
            });
        }
        Ok(Compiled {
            scenario: self.clone(),
            cards,
            net,
            issuers,
            nodes,
            users,
            faults,
            attackers,
            defects,
            client_timeout: secs(c.client_timeout_s, &[cfg, &"client_timeout_s"])?.max(MS),
            max_virtual: secs(c.max_virtual_s, &[cfg, &"max_virtual_s"])?,
            sample_interval: secs(c.sample_interval_s, &[cfg, &"sample_interval_s"])?.max(MS),
        })
    }
}

#[cfg(test)]
mod apdu_time_tests {
    use super::apdu_times;

    #[test]
    fn apdu_times_add_up_and_put_the_work_before_the_get_response() {
        // Two chained segments, then a GET RESPONSE: 100 ns transfer by bytes, 10 ns per APDU,
        // 1000 ns of card work on the second (last non-GET RESPONSE) APDU.
        let sizes = [(100, 2, false), (50, 2, false), (5, 46, true)];
        let t = apdu_times(5_000, 1_130, 100, 1_000, &[10, 10, 10], &sizes);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].0, 5_000);
        assert_eq!(t[0].1, 5_000 + 10 + 100 * 102 / 205);
        assert_eq!(t[1].0, t[0].1);
        assert!(t[1].1 - t[1].0 >= 1_000, "{t:?}");
        assert_eq!(t[2].0, t[1].1);
        assert_eq!(t[2].1, 5_000 + 1_130, "the call ends where its line says");
        assert!(t[2].1 - t[2].0 < 1_000);
        // One APDU: the whole call.
        assert_eq!(
            apdu_times(7, 50, 10, 30, &[10], &[(10, 2, false)]),
            vec![(7, 57)]
        );
    }
}
