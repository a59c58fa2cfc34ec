//! Seeded, stable hashing and the random choices made from it: faults, jitter, correlation ids.
//!
//! Our own FNV-1a + SplitMix64 rather than std's hasher: std does not promise a stable output
//! across releases, and a seed must replay the same faults on every build.

use std::time::Duration;

use super::SimConfig;

/// Distinct salts keep the draws for different purposes independent of each other.
const SALT_FAULT: u64 = 0x6661_756c_7400_0001;
const SALT_JITTER: u64 = 0x6a69_7474_6572_0002;
const SALT_CORRELATION: u64 = 0x636f_7272_0000_0003;
const SALT_STATUS: u64 = 0x7374_6174_7573_0004;

/// SplitMix64's finaliser: a cheap bijection that spreads every input bit over the output.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of `s`, keyed by `key` and finished with [`mix`].
pub(crate) fn hash_str(key: u64, s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ mix(key);
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The hash behind every per-request choice.
fn draw(seed: u64, salt: u64, id: &str, n: u32) -> u64 {
    mix(hash_str(seed ^ salt, id) ^ mix(u64::from(n)))
}

/// A uniform number in [0, 1) from the top 53 bits of `h`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A misbehaviour injected instead of the normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// 500 `InternalServerError` or 503 `ServiceUnavailable`.
    Fail {
        unavailable: bool,
    },
    Reset,
    Hang,
    Malformed,
}

/// The fault (if any) for the `attempt`-th accepted request (0-based) of alert `id`.
pub(crate) fn pick_fault(config: &SimConfig, id: &str, attempt: u32) -> Option<Fault> {
    if attempt >= config.faulty_attempts {
        return None;
    }
    let u = unit(draw(config.seed, SALT_FAULT, id, attempt));
    let mut edge = config.fail_rate;
    if u < edge {
        let unavailable = draw(config.seed, SALT_STATUS, id, attempt).is_multiple_of(4);
        return Some(Fault::Fail { unavailable });
    }
    let rest = [
        (config.reset_rate, Fault::Reset),
        (config.hang_rate, Fault::Hang),
        (config.malformed_rate, Fault::Malformed),
    ];
    for (rate, fault) in rest {
        edge += rate;
        if u < edge {
            return Some(fault);
        }
    }
    None
}

/// Latency ± jitter for the `request`-th request of `id`, never below zero.
pub(crate) fn delay(config: &SimConfig, id: &str, request: u32) -> Duration {
    let base = config.latency_ms;
    if config.jitter_ms == 0 {
        return Duration::from_millis(base);
    }
    let span = config.jitter_ms.saturating_mul(2).saturating_add(1);
    let offset = draw(config.seed, SALT_JITTER, id, request) % span;
    let ms = base.saturating_add(offset).saturating_sub(config.jitter_ms);
    Duration::from_millis(ms)
}

/// A UUID-shaped (version 4) correlation id for the `request`-th request of `id`.
pub(crate) fn correlation_id(seed: u64, id: &str, request: u32) -> String {
    let a = draw(seed, SALT_CORRELATION, id, request);
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_uuid_shaped_and_stable() {
        let c = correlation_id(7, "da1_2", 0);
        assert_eq!(c, correlation_id(7, "da1_2", 0));
        assert_ne!(c, correlation_id(7, "da1_2", 1));
        let parts: Vec<usize> = c.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(c.chars().all(|ch| ch == '-' || ch.is_ascii_hexdigit()));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let config = SimConfig {
            latency_ms: 10,
            jitter_ms: 15,
            ..SimConfig::default()
        };
        for n in 0..500 {
            let d = delay(&config, "x", n).as_millis();
            assert!(d <= 25, "{d}");
        }
    }

    #[test]
    fn fault_rates_are_roughly_honoured() {
        let config = SimConfig {
            fail_rate: 0.2,
            reset_rate: 0.1,
            faulty_attempts: 1,
            ..SimConfig::default()
        };
        let picks: Vec<_> = (0..10_000)
            .map(|i| pick_fault(&config, &format!("id{i}"), 0))
            .collect();
        let fails = picks
            .iter()
            .filter(|f| matches!(f, Some(Fault::Fail { .. })))
            .count();
        let resets = picks.iter().filter(|f| **f == Some(Fault::Reset)).count();
        assert!((1_800..2_200).contains(&fails), "{fails}");
        assert!((850..1_150).contains(&resets), "{resets}");
        assert_eq!(pick_fault(&config, "id1", 1), None);
    }
}
