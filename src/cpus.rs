//! How many CPUs this process may use: the cgroup CPU quota (containers), else the
//! scheduler's affinity, never the host's raw core count.

/// CPUs available: `ceil(quota / period)` from cgroup v2 `cpu.max` or v1
/// `cpu.cfs_quota_us`/`cpu.cfs_period_us` when a quota is set, capped by
/// `std::thread::available_parallelism` (which honours affinity masks). At least 1.
pub fn available() -> usize {
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    quota_cpus()
        .map_or(parallelism, |q| q.min(parallelism))
        .max(1)
}

fn quota_cpus() -> Option<usize> {
    if let Ok(text) = std::fs::read_to_string("/sys/fs/cgroup/cpu.max") {
        return parse_cpu_max(&text);
    }
    let quota = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").ok()?;
    let period = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_period_us").ok()?;
    ratio(quota.trim().parse().ok()?, period.trim().parse().ok()?)
}

/// `"max 100000"` → no quota; `"150000 100000"` → 2.
fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: i64 = it.next()?.parse().ok()?;
    if quota == "max" {
        return None;
    }
    ratio(quota.parse().ok()?, period)
}

fn ratio(quota: i64, period: i64) -> Option<usize> {
    if quota <= 0 || period <= 0 {
        return None;
    }
    Some(((quota + period - 1) / period) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_quota_parsing() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        assert_eq!(ratio(-1, 100000), None);
        assert!(available() >= 1);
    }
}
