//! Stable-Rust mutation fuzzer (no nightly / cargo-fuzz needed) for a bounded run in CI.
//!
//! Usage: cargo run --release -p exi-codec --example fuzz_stable -- SECONDS [SEED_FILE...]
//! Seed files hold one `<schema> <hex>` per line (exi-codec-rs/fuzz/run.sh writes them from ../shared);
//! without seeds, random schema-valid documents from every schema are the corpus. Each iteration mutates a
//! seed (bit flips, byte changes, truncation, splices, length-field bumps) and checks: decode never panics;
//! whatever decodes re-encodes and re-decodes to the same tree. Panics abort with the input printed.

use exi_codec::random::{random_document, root_count, Rng};
use std::time::{Duration, Instant};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check(schema: &'static exi_codec::Schema, data: &[u8]) -> bool {
    let r = std::panic::catch_unwind(|| {
        let _ = exi_codec::decode::decode_fragment(schema, data);
        let mut doc = exi_codec::Doc::default();
        let flat = doc.decode(schema, data, false);
        match exi_codec::decode(schema, data) {
            Ok(tree) => {
                assert!(
                    flat.is_ok(),
                    "the flat decoder rejects what the tree decoder accepts"
                );
                assert_eq!(doc.to_value(), tree, "flat and tree decoders differ");
                let bytes = exi_codec::encode(schema, &tree).expect("a decoded tree must encode");
                let again = exi_codec::decode(schema, &bytes).expect("an encoded tree must decode");
                assert!(
                    tree.same_content(&again),
                    "re-decoded tree differs:\n{tree:?}\n{again:?}"
                );
                true
            }
            Err(e) => {
                assert_eq!(
                    flat.err(),
                    Some(e),
                    "flat and tree decoders fail differently"
                );
                false
            }
        }
    });
    match r {
        Ok(ok) => ok,
        Err(_) => {
            eprintln!("CRASH schema={} input={}", schema.name, hex(data));
            std::process::exit(1);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut corpus: Vec<(&'static exi_codec::Schema, Vec<u8>)> = Vec::new();
    for f in &args[2..] {
        for line in std::fs::read_to_string(f).expect("seed file").lines() {
            let mut it = line.split_whitespace();
            if let (Some(s), Some(h)) = (it.next(), it.next()) {
                if let Some(schema) = exi_codec::schema(s) {
                    let b = (0..h.len() / 2)
                        .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
                        .collect();
                    corpus.push((schema, b));
                }
            }
        }
    }
    for schema in exi_codec::generated::ALL.iter().copied() {
        for root in 0..root_count(schema) {
            for seed in 0..2u64 {
                if let Some(doc) = random_document(schema, root, seed, 2) {
                    if let Ok(b) = exi_codec::encode(schema, &doc) {
                        corpus.push((schema, b));
                    }
                }
            }
        }
    }
    let seeds = corpus.len();
    let mut rng = Rng::new(0xE71);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut decoded) = (0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let (schema, base) = &corpus[rng.below(corpus.len() as u64) as usize];
            let mut d = base.clone();
            for _ in 0..=rng.below(4) {
                if d.is_empty() {
                    break;
                }
                let i = rng.below(d.len() as u64) as usize;
                match rng.below(6) {
                    0 | 1 => d[i] ^= 1 << rng.below(8),
                    2 => d[i] = rng.next_u64() as u8,
                    3 => d.truncate(i.max(1)),
                    4 => {
                        let (_, other) = &corpus[rng.below(corpus.len() as u64) as usize];
                        let j = rng.below(other.len() as u64) as usize;
                        d.truncate(i);
                        d.extend_from_slice(&other[j..]);
                    }
                    _ => d[i] = d[i].wrapping_add(1 + rng.below(3) as u8),
                }
            }
            // sometimes try the mutated bytes with another schema
            let schema = if rng.below(8) == 0 {
                exi_codec::generated::ALL[rng.below(8) as usize]
            } else {
                *schema
            };
            if check(schema, &d) {
                decoded += 1;
                if corpus.len() < 20_000 && rng.below(16) == 0 {
                    corpus.push((schema, d));
                }
            }
            runs += 1;
        }
    }
    println!("fuzz_stable: {runs} inputs in {secs} s, {decoded} decoded and round-tripped, {seeds} seeds, 0 crashes");
}
