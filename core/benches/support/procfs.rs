//! Shared by the benchmarks: resident memory read from `/proc` (this process's, another's
//! peak, and a process tree's, such as Chromium with its renderers). Linux only; a process
//! that is gone reads as 0.
#![allow(dead_code)]

fn proc_field(pid: &str, file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident memory of this process, in MiB.
pub fn own_rss_mib() -> f64 {
    proc_field("self", "status", "VmRSS:").unwrap_or(0) as f64 / 1024.0
}

/// Resident memory in MiB of the processes whose command line contains `needle`, and of
/// all their descendants (Chromium's renderers, GPU and utility processes).
pub fn tree_rss_mib(needle: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let pids: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .collect();
    let parent = |pid: &str| proc_field(pid, "status", "PPid:").map(|p| p.to_string());
    let roots: std::collections::HashSet<String> = pids
        .iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    let in_tree = |pid: &String| {
        let mut current = Some(pid.clone());
        for _ in 0..16 {
            match current {
                Some(p) if roots.contains(&p) => return true,
                Some(p) if p != "0" && p != "1" => current = parent(&p),
                _ => return false,
            }
        }
        false
    };
    let kib: u64 = pids
        .iter()
        .filter(|pid| in_tree(pid))
        .map(|pid| proc_field(pid, "status", "VmRSS:").unwrap_or(0))
        .sum();
    kib as f64 / 1024.0
}

/// The peak resident memory of process `pid` so far (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    proc_field(&pid.to_string(), "status", "VmHWM:").unwrap_or(0) as f64 / 1024.0
}

/// The resident memory in MiB of process `root` and all its descendants.
pub fn tree_rss_of_mib(root: u32) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut children: std::collections::HashMap<String, Vec<String>> = Default::default();
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
    {
        if let Some(parent) = proc_field(&pid, "status", "PPid:") {
            children.entry(parent.to_string()).or_default().push(pid);
        }
    }
    let (mut kib, mut stack) = (0, vec![root.to_string()]);
    while let Some(pid) = stack.pop() {
        kib += proc_field(&pid, "status", "VmRSS:").unwrap_or(0);
        stack.extend(children.remove(&pid).unwrap_or_default());
    }
    kib as f64 / 1024.0
}
