//! What spoofed unidentified sources cost: records requests from 100,000
//! different addresses, each with a 15 KB From user, in the table that
//! counts unidentified sources, and prints the time per request (while
//! the table is full) and the memory the process grew by.
//!
//! ```sh
//! cargo run --release -p sipjet --example unidentified_load -- 100000
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use sipjet_server::security::UnidentifiedSources;

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let sources: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    // Asterisk's defaults: 5 requests in 5 s, pruned after 30 s.
    let table = UnidentifiedSources::new(5, Duration::from_secs(5), Duration::from_secs(30));
    let account = "x".repeat(15 * 1024);
    let before = rss();
    let start = Instant::now();
    let mut last_tenth = Duration::ZERO;
    for i in 0..sources {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let t = Instant::now();
        table.record(ip, &account, t);
        if i >= sources - sources / 10 {
            last_tenth += t.elapsed();
        }
    }
    let total = start.elapsed();
    let grown = rss().saturating_sub(before);
    println!("sources:                         {sources}");
    println!("sources kept:                    {}", table.list().len());
    println!(
        "mean time per request:           {:.0} ns",
        total.as_nanos() as f64 / f64::from(sources)
    );
    println!(
        "mean time, last tenth:           {:.0} ns",
        last_tenth.as_nanos() as f64 / f64::from(sources / 10)
    );
    println!(
        "resident memory grown by:        {:.1} MiB",
        grown as f64 / (1024.0 * 1024.0)
    );
}
