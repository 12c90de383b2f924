//! Deterministic random generation of schema-valid documents by walking the grammar tables.
//! Used by the differential tests (driven by hypothesis seeds), the fuzz harness and the benchmarks.

use crate::tables::{kind, shape, simple, Schema};
use crate::value::{Bin, Value};
use crate::VALUE_KEY;

/// A small xorshift64* generator (deterministic, no dependencies).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// Number of global (root) elements of a schema.
pub fn root_count(s: &Schema) -> usize {
    s.states[s.doc as usize].n as usize
}

/// Local name of root element `i`.
pub fn root_name(s: &Schema, i: usize) -> &'static str {
    let st = &s.states[s.doc as usize];
    s.lnames[s.prods[(st.first as usize) + i].lname as usize]
}

/// A random valid document whose root is global element `root` (index in sorted order).
/// `size` bounds optional content and repetitions (0 = minimal document).
pub fn random_document(s: &'static Schema, root: usize, seed: u64, size: u32) -> Option<Value> {
    let st = &s.states[s.doc as usize];
    if root >= st.n as usize {
        return None;
    }
    let p = &s.prods[st.first as usize + root];
    let mut g = Gen {
        s,
        rng: Rng::new(seed),
        size,
        budget: 400,
    };
    let v = g.element(p.arg, (p.flags >> 1) & 3, 0)?;
    Some(Value::Map(vec![(p.lname, v)]))
}

struct Gen {
    s: &'static Schema,
    rng: Rng,
    size: u32,
    budget: i32,
}

impl Gen {
    fn element(&mut self, start: u32, shp: u8, depth: u32) -> Option<Value> {
        if depth > 24 {
            return None;
        }
        let mut state = start;
        let mut map: Vec<(u16, Value)> = Vec::new();
        let mut scalar = None;
        let mut reps = 0u32;
        loop {
            let st = &self.s.states[state as usize];
            let prods = &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize];
            let usable: Vec<usize> = (0..prods.len())
                .filter(|&i| {
                    matches!(prods[i].kind, kind::AT | kind::SE | kind::CH | kind::EE)
                        && prods[i].flags & 16 == 0
                })
                .collect();
            if usable.is_empty() {
                return None;
            }
            let ee = usable.iter().copied().find(|&i| prods[i].kind == kind::EE);
            self.budget -= 1;
            let stop =
                ee.is_some() && (self.budget < 0 || reps >= self.size || self.rng.below(3) == 0);
            let i = if stop {
                ee.unwrap()
            } else {
                let cands: Vec<usize> = usable
                    .iter()
                    .copied()
                    .filter(|&i| prods[i].kind != kind::EE)
                    .collect();
                if cands.is_empty() {
                    ee.unwrap()
                } else {
                    cands[self.rng.below(cands.len() as u64) as usize]
                }
            };
            let q = &prods[i];
            match q.kind {
                kind::EE => break,
                kind::AT => {
                    let v = self.value(q.arg);
                    map.push((q.lname, v));
                }
                kind::CH => {
                    let v = self.value(q.arg);
                    if shp == shape::SCALAR {
                        scalar = Some(v);
                    } else {
                        map.push((VALUE_KEY, v));
                    }
                }
                _ => {
                    let v = self.element(q.arg, (q.flags >> 1) & 3, depth + 1)?;
                    if q.flags & 1 != 0 {
                        reps += 1;
                        match map.iter_mut().find(|(k, _)| *k == q.lname) {
                            Some((_, Value::List(l))) => l.push(v),
                            _ => map.push((q.lname, Value::List(vec![v]))),
                        }
                    } else {
                        map.push((q.lname, v));
                    }
                }
            }
            state = q.next;
        }
        if shp == shape::SCALAR {
            scalar
        } else {
            Some(Value::Map(map))
        }
    }

    fn int_in(&mut self, lo: i128, hi: i128) -> i128 {
        let lo = lo.max(-(1i128 << 70));
        let hi = hi.min(1i128 << 70);
        match self.rng.below(4) {
            0 => lo.max(hi.min(0)),
            1 => hi,
            2 => lo,
            _ => {
                let span = (hi - lo) as u128 + 1;
                let r = ((self.rng.next_u64() as u128) << 64 | self.rng.next_u64() as u128) % span;
                lo + r as i128
            }
        }
    }

    fn len_in(&mut self, lo: u32, hi: u32) -> usize {
        let hi = hi.min(lo.max(1) + 40).min(hi);
        (lo as u64 + self.rng.below((hi - lo) as u64 + 1)) as usize
    }

    fn value(&mut self, si: u32) -> Value {
        let t = &self.s.simples[si as usize];
        match t.kind {
            simple::BOOL => Value::Bool(self.rng.below(2) == 1),
            simple::NBIT | simple::UNSIGNED | simple::SIGNED => Value::Int(self.int_in(t.lo, t.hi)),
            simple::ENUM => Value::Enum(
                self.s.enums[(t.enum_first as u64 + self.rng.below(t.enum_n as u64)) as usize],
            ),
            simple::STRING if t.min_len == 0 && self.rng.below(10) == 0 => {
                Value::Str(String::new())
            }
            simple::HEX | simple::B64 if t.min_len == 0 && self.rng.below(10) == 0 => Value::Bytes(
                Vec::new(),
                if t.kind == simple::HEX {
                    Bin::Hex
                } else {
                    Bin::B64
                },
            ),
            simple::STRING => {
                let n = self.len_in(t.min_len.max(1), t.max_len.max(1));
                let mut s = String::with_capacity(n);
                s.push(ALPHABET[self.rng.below(52) as usize] as char);
                for _ in 1..n {
                    s.push(ALPHABET[self.rng.below(ALPHABET.len() as u64) as usize] as char);
                }
                Value::Str(s)
            }
            _ => {
                let n = self.len_in(t.min_len.max(1), t.max_len);
                let b: Vec<u8> = (0..n).map(|_| self.rng.next_u64() as u8).collect();
                Value::Bytes(
                    b,
                    if t.kind == simple::HEX {
                        Bin::Hex
                    } else {
                        Bin::B64
                    },
                )
            }
        }
    }
}
