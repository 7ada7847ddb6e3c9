//! Load-balancing algorithms. Each picks among the targets that are available right now, so an
//! unhealthy or ejected target gets no traffic while another one can take it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatectl_spec::model::{HashOn, LoadBalancingAlgorithm};
use http::HeaderMap;

use super::TargetState;

/// Points per target on the hash ring; more points spread keys more evenly.
const RING_POINTS_PER_TARGET: usize = 160;

/// The request facts a balancer may hash.
pub struct BalanceKey<'a> {
    pub headers: &'a HeaderMap,
    pub client_ip: IpAddr,
    pub consumer: Option<&'a str>,
}

#[derive(Debug)]
pub enum Balancer {
    RoundRobin { next: AtomicUsize },
    Weighted(SmoothWeighted),
    LeastRequests { next: AtomicUsize },
    ConsistentHash { ring: Vec<(u64, usize)>, hash_on: HashOn, fallback: AtomicUsize },
}

impl Balancer {
    pub fn new(algorithm: LoadBalancingAlgorithm, hash_on: Option<&HashOn>, targets: &[TargetState]) -> Self {
        match algorithm {
            LoadBalancingAlgorithm::RoundRobin => Self::RoundRobin { next: AtomicUsize::new(0) },
            LoadBalancingAlgorithm::Weighted => Self::Weighted(SmoothWeighted::new(targets.len())),
            LoadBalancingAlgorithm::LeastRequests => Self::LeastRequests { next: AtomicUsize::new(0) },
            LoadBalancingAlgorithm::ConsistentHash => {
                let mut ring = Vec::with_capacity(targets.len() * RING_POINTS_PER_TARGET);
                for (index, target) in targets.iter().enumerate() {
                    for point in 0..RING_POINTS_PER_TARGET {
                        ring.push((hash_of(&(target.authority.as_str(), point)), index));
                    }
                }
                ring.sort_unstable();
                let hash_on = hash_on.cloned().unwrap_or(HashOn::ClientIp);
                Self::ConsistentHash { ring, hash_on, fallback: AtomicUsize::new(0) }
            }
        }
    }

    /// Picks an available target, or `None` when no target is available.
    pub fn pick(&self, targets: &[TargetState], key: &BalanceKey<'_>) -> Option<usize> {
        let now = super::now_millis();
        let available = |index: usize| targets[index].is_available(now);
        match self {
            Self::RoundRobin { next } => round_robin(next, targets.len(), available),
            Self::Weighted(weighted) => weighted.pick(|index| available(index).then_some(targets[index].weight)),
            Self::LeastRequests { next } => {
                let start = next.fetch_add(1, Ordering::Relaxed);
                (0..targets.len())
                    .map(|offset| (start + offset) % targets.len())
                    .filter(|index| available(*index))
                    .min_by_key(|index| targets[*index].in_flight.load(Ordering::Relaxed))
            }
            Self::ConsistentHash { ring, hash_on, fallback } => {
                let Some(hash) = hash_key(hash_on, key) else { return round_robin(fallback, targets.len(), available) };
                let start = ring.partition_point(|(point, _)| *point < hash);
                (0..ring.len()).map(|offset| ring[(start + offset) % ring.len()].1).find(|index| available(*index))
            }
        }
    }
}

fn round_robin(next: &AtomicUsize, count: usize, available: impl Fn(usize) -> bool) -> Option<usize> {
    if count == 0 {
        return None;
    }
    let start = next.fetch_add(1, Ordering::Relaxed);
    (0..count).map(|offset| (start + offset) % count).find(|index| available(*index))
}

fn hash_key(hash_on: &HashOn, key: &BalanceKey<'_>) -> Option<u64> {
    match hash_on {
        HashOn::Header(name) => key.headers.get(name.as_str()).map(|value| hash_of(&value.as_bytes())),
        HashOn::Consumer => key.consumer.map(hash_of),
        HashOn::ClientIp => Some(hash_of(&key.client_ip)),
    }
}

/// Hashes with SipHash-1-3 and fixed keys, so a key maps to the same ring point on every node
/// built with the same Rust standard library.
pub fn hash_of(value: &(impl Hash + ?Sized)) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Smooth weighted round robin (the nginx algorithm): over any window of total-weight picks each
/// entry is chosen in proportion to its weight, interleaved rather than in bursts.
#[derive(Debug)]
pub struct SmoothWeighted {
    current: Mutex<Vec<i64>>,
}

impl SmoothWeighted {
    pub fn new(count: usize) -> Self {
        Self { current: Mutex::new(vec![0; count]) }
    }

    /// Picks an entry; `weight_of` returns `None` for an entry that may not be picked now.
    pub fn pick(&self, weight_of: impl Fn(usize) -> Option<u32>) -> Option<usize> {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for index in 0..current.len() {
            let Some(weight) = weight_of(index).filter(|weight| *weight > 0) else { continue };
            current[index] += i64::from(weight);
            total += i64::from(weight);
            if best.is_none_or(|best| current[index] > current[best]) {
                best = Some(index);
            }
        }
        let chosen = best?;
        current[chosen] -= total;
        Some(chosen)
    }
}
