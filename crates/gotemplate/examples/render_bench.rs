//! Times parsing once and rendering a Helm-like template many times:
//! `cargo run --release -p ferry-gotemplate --example render_bench -- [N]`.
//! The same template and data are in `tests/cases/bench.txt`, which
//! `hack/gotemplate-oracle` times in Go with `-bench N` for comparison.

use std::time::Instant;

use ferry_gotemplate::{MissingKey, Templates, Value, sprig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let corpus = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/bench.txt"))?;
    let data_line = corpus.lines().find_map(|l| l.strip_prefix("data: ")).ok_or("no data")?;
    let template = corpus.split_once("template:\n").ok_or("no template")?.1.trim_end_matches('\n');
    let data = Value::from_json(&serde_json::from_str(data_line)?);
    let started = Instant::now();
    let mut set = Templates::new("bench");
    set.add_funcs(sprig::funcs()).missing_key(MissingKey::Zero);
    set.parse("bench", template)?;
    let parse = started.elapsed();
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        bytes += set.execute("bench", &data)?.len();
    }
    let exec = started.elapsed();
    println!(
        "parse {:?}; {n} renders in {:?} ({:.1} µs each, {} bytes each)",
        parse,
        exec,
        exec.as_secs_f64() * 1e6 / n as f64,
        bytes / n as usize
    );
    Ok(())
}
