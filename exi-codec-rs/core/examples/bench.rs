//! Rust-level benchmark of decode and encode per message.
//!
//! Usage: cargo run --release -p exi-codec --example bench -- MESSAGES.txt [ITERATIONS]
//! MESSAGES.txt has one message per line: `<label> <schema> <hex>` (bench/exi_bench.py writes it).
//! Prints one line per message: label, bytes, decode ns, encode ns, tree bytes (ITERATIONS=0: sizes only).

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: bench MESSAGES.txt [ITERATIONS]");
    let iters: u32 = args
        .get(2)
        .map(|s| s.parse().expect("iterations"))
        .unwrap_or(200_000);
    let text = std::fs::read_to_string(path).expect("read messages");
    println!(
        "{:<34} {:>6} {:>10} {:>10} {:>10}",
        "message", "bytes", "decode_ns", "encode_ns", "tree_bytes"
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (label, schema, hex) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let schema = exi_codec::schema(schema).expect("schema");
        let data: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let tree = exi_codec::decode(schema, &data).expect("decode");
        assert_eq!(
            exi_codec::encode(schema, &tree).expect("encode"),
            data,
            "{label}: round trip"
        );
        let n = if data.len() > 500 { iters / 10 } else { iters };
        // decode into a reused flat document, encode from the tree into a reused buffer: no allocation
        let mut doc = exi_codec::Doc::default();
        let mut out = Vec::new();
        for _ in 0..n / 10 {
            doc.decode(schema, black_box(&data), false).unwrap();
        }
        // best of 7 rounds: the figure least disturbed by other processes on a shared machine
        let (mut dec, mut enc) = (f64::MAX, f64::MAX);
        let m = (n / 7).max(1);
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..m {
                doc.decode(schema, black_box(&data), false).unwrap();
                black_box(&doc);
            }
            dec = dec.min(t.elapsed().as_nanos() as f64 / m as f64);
            let t = Instant::now();
            for _ in 0..m {
                exi_codec::encode::encode_from(schema, &black_box(&tree), false, &mut out).unwrap();
                black_box(&out);
            }
            enc = enc.min(t.elapsed().as_nanos() as f64 / m as f64);
        }
        println!(
            "{:<34} {:>6} {:>10.0} {:>10.0} {:>10}",
            label,
            data.len(),
            dec,
            enc,
            tree.mem_size()
        );
    }
}
