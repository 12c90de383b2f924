//! Grammar-driven EXI encoder: walks the grammar and picks, in each state, the first declared production
//! whose element/attribute is still pending in the value map (schema order), else EE.

use crate::bits::BitWriter;
use crate::error::Error;
use crate::strings::{id_bits, StringTable};
use crate::tables::{kind, shape, simple, Prod, Schema};
use crate::text::{b64_decode, hex_decode};
use crate::value::Value;
use crate::{MAX_DEPTH, VALUE_KEY};

struct Enc {
    w: BitWriter,
    t: StringTable,
    s: &'static Schema,
    depth: usize,
    path: Vec<u16>,
}

/// Encode a document: `root` is a map with exactly one entry, the root element.
pub fn encode(schema: &'static Schema, root: &Value) -> Result<Vec<u8>, Error> {
    encode_with(schema, root, false)
}

/// Encode an EXI fragment: `root` is a map of one or more elements (any element declared in the schema).
pub fn encode_fragment(schema: &'static Schema, root: &Value) -> Result<Vec<u8>, Error> {
    encode_with(schema, root, true)
}

fn encode_with(schema: &'static Schema, root: &Value, fragment: bool) -> Result<Vec<u8>, Error> {
    let entries = match root {
        Value::Map(m) => m,
        _ => {
            return Err(Error::new(
                0,
                "the message must be an object",
                "{\"<root element>\": {...}}",
            ))
        }
    };
    if entries.is_empty() || (!fragment && entries.len() != 1) {
        return Err(Error::new(
            0,
            "a document has exactly one root element",
            "{\"<root element>\": {...}}",
        ));
    }
    let mut e = Enc {
        w: BitWriter::with_capacity(64),
        t: StringTable::default(),
        s: schema,
        depth: 0,
        path: Vec::new(),
    };
    e.w.bits(8, 0x80);
    let st = &schema.states[(if fragment { schema.frag } else { schema.doc }) as usize];
    for (k, v) in entries {
        let items: Vec<&Value> = match v {
            Value::List(l) if fragment => l.iter().collect(),
            _ => vec![v],
        };
        for item in items {
            let prods = &schema.prods[st.first as usize..(st.first + st.n as u32) as usize];
            let i = prods.iter().position(|p| p.lname == *k).ok_or_else(|| {
                Error::new(
                    e.w.pos(),
                    format!("unknown root element {:?}", name(schema, *k)),
                    "a global element of the schema",
                )
            })?;
            e.w.bits(st.width as u32, i as u64);
            e.element(&prods[i], item)?;
        }
    }
    if fragment {
        e.w.bits(st.width as u32, st.n as u64 + 1);
    }
    Ok(e.w.finish())
}

fn name(s: &Schema, k: u16) -> &'static str {
    if k == VALUE_KEY {
        "value"
    } else {
        s.lnames.get(k as usize).copied().unwrap_or("?")
    }
}

fn pending(v: &Value, c: u32) -> bool {
    match v {
        Value::List(l) => (c as usize) < l.len(),
        _ => c == 0,
    }
}

impl Enc {
    fn err(&self, msg: String, expected: String) -> Error {
        let path: Vec<&str> = self.path.iter().map(|k| name(self.s, *k)).collect();
        Error::new(
            self.w.pos(),
            format!("{} (at {})", msg, path.join("/")),
            expected,
        )
    }

    fn expected(&self, state: u32) -> String {
        let st = &self.s.states[state as usize];
        let mut names = Vec::new();
        for p in &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize] {
            match p.kind {
                kind::AT | kind::SE => names.push(name(self.s, p.lname).to_string()),
                kind::CH => names.push("value".into()),
                _ => {}
            }
        }
        names.join(" | ")
    }

    fn element(&mut self, p: &Prod, v: &Value) -> Result<(), Error> {
        if p.arg == u32::MAX {
            return Err(self.err(
                "element with ambiguous declarations in a fragment".into(),
                String::new(),
            ));
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("document nesting too deep".into(), String::new()));
        }
        self.path.push(p.lname);
        let shp = (p.flags >> 1) & 3;
        if shp == shape::SCALAR {
            let st0 = &self.s.states[p.arg as usize];
            let ch = &self.s.prods[st0.first as usize];
            if st0.n == 1 && ch.kind == kind::CH && !matches!(v, Value::Map(_) | Value::List(_)) {
                if st0.ee2 > 0 && self.empty_lexical(ch.arg, v)? {
                    // empty value: escape + second-level EE, as EXIficient writes it
                    self.w.bits(st0.width as u32, st0.n as u64);
                    self.w.bits(st0.ee2 as u32, 0);
                    self.path.pop();
                    self.depth -= 1;
                    return Ok(());
                }
                // fast path: CH (code 0) then EE (code 0)
                self.w.bits(st0.width as u32, 0);
                self.value(ch.arg, p.qname, v)?;
                self.w.bits(self.s.states[ch.next as usize].width as u32, 0);
                self.path.pop();
                self.depth -= 1;
                return Ok(());
            }
            if matches!(v, Value::Map(_) | Value::List(_)) {
                return Err(self.err(
                    "expected a simple value, got an object or list".into(),
                    "a simple value".into(),
                ));
            }
            let mut state = p.arg;
            let mut done_value = false;
            loop {
                let st = &self.s.states[state as usize];
                let prods = &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize];
                let want = if done_value { kind::EE } else { kind::CH };
                let i = prods.iter().position(|q| q.kind == want).ok_or_else(|| {
                    self.err("grammar has no value production".into(), String::new())
                })?;
                self.w.bits(st.width as u32, i as u64);
                if want == kind::EE {
                    break;
                }
                self.value(prods[i].arg, p.qname, v)?;
                done_value = true;
                state = prods[i].next;
            }
            self.path.pop();
            self.depth -= 1;
            return Ok(());
        }
        let entries: &[(u16, Value)] = match v {
            Value::Map(m) => m,
            _ => return Err(self.err("expected an object".into(), "an object".into())),
        };
        let mut cursor = [0u32; 64];
        let mut big_cursor: Vec<u32>;
        let cur: &mut [u32] = if entries.len() <= 64 {
            &mut cursor[..entries.len()]
        } else {
            big_cursor = vec![0; entries.len()];
            &mut big_cursor
        };
        let mut state = p.arg;
        let mut lo = 0usize; // entries before `lo` are fully consumed
        loop {
            while lo < entries.len() && !pending(&entries[lo].1, cur[lo]) {
                lo += 1;
            }
            let st = &self.s.states[state as usize];
            let prods = &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize];
            let mut chosen: Option<(usize, usize)> = None;
            let mut ee: Option<usize> = None;
            for (i, q) in prods.iter().enumerate() {
                let key = match q.kind {
                    kind::AT | kind::SE => q.lname,
                    kind::CH => VALUE_KEY,
                    kind::EE => {
                        ee = Some(i);
                        continue;
                    }
                    _ => continue,
                };
                let mut j = lo;
                while j < entries.len() {
                    if entries[j].0 == key && pending(&entries[j].1, cur[j]) {
                        break;
                    }
                    j += 1;
                }
                if j < entries.len() {
                    chosen = Some((i, j));
                    break;
                }
            }
            let (i, j) = match chosen {
                Some(c) => c,
                None => match ee {
                    Some(i) => {
                        self.w.bits(st.width as u32, i as u64);
                        break;
                    }
                    None => {
                        let exp = self.expected(state);
                        return Err(self.err("missing required content".into(), exp));
                    }
                },
            };
            let q = &prods[i];
            let ev = &entries[j].1;
            let item = match ev {
                Value::List(l) => &l[cur[j] as usize],
                _ => ev,
            };
            cur[j] += 1;
            if q.kind == kind::CH && st.ee2 > 0 && self.empty_lexical(q.arg, item)? {
                // empty value: escape + second-level EE ends the element (EXIficient's form)
                self.w.bits(st.width as u32, st.n as u64);
                self.w.bits(st.ee2 as u32, 0);
                break;
            }
            self.w.bits(st.width as u32, i as u64);
            match q.kind {
                kind::AT => {
                    self.path.push(q.lname);
                    self.value(q.arg, q.qname, item)?;
                    self.path.pop();
                }
                kind::SE => self.element(q, item)?,
                _ => self.value(q.arg, p.qname, item)?,
            }
            state = q.next;
        }
        for (j, (k, ev)) in entries.iter().enumerate() {
            if pending(ev, cur[j]) {
                return Err(self.err(
                    format!(
                        "unexpected {:?}: not allowed here, out of order or too many",
                        name(self.s, *k)
                    ),
                    "content allowed by the schema".into(),
                ));
            }
        }
        self.path.pop();
        self.depth -= 1;
        Ok(())
    }

    /// Whether `v` is an empty lexical value of a string or binary type (which has no character events).
    fn empty_lexical(&self, si: u32, v: &Value) -> Result<bool, Error> {
        let t = &self.s.simples[si as usize];
        let empty = match (t.kind, v) {
            (simple::STRING | simple::HEX | simple::B64, Value::Str(s)) => s.is_empty(),
            (simple::HEX | simple::B64, Value::Bytes(b, _)) => b.is_empty(),
            _ => false,
        };
        if empty && t.min_len > 0 {
            return Err(self.err(
                "empty value violates the schema".into(),
                format!("{}..={} characters/octets", t.min_len, t.max_len),
            ));
        }
        Ok(empty)
    }

    fn value(&mut self, si: u32, qname: u16, v: &Value) -> Result<(), Error> {
        let t = &self.s.simples[si as usize];
        match t.kind {
            simple::BOOL => match v {
                Value::Bool(b) => self.w.bits(1, *b as u64),
                _ => {
                    return Err(self.err(
                        format!("expected a boolean, got {v:?}"),
                        "true | false".into(),
                    ))
                }
            },
            simple::NBIT | simple::UNSIGNED | simple::SIGNED => {
                let n = match v {
                    Value::Int(n) => *n,
                    _ => {
                        return Err(self.err(
                            format!("expected an integer, got {v:?}"),
                            "an integer".into(),
                        ))
                    }
                };
                if n < t.lo || n > t.hi {
                    return Err(self.err(
                        format!("integer {n} out of range"),
                        format!("{}..={}", t.lo, t.hi),
                    ));
                }
                match t.kind {
                    simple::NBIT => self.w.bits(t.bits as u32, (n - t.lo) as u64),
                    simple::UNSIGNED => self.w.uint(n as u128),
                    _ => {
                        if n < 0 {
                            self.w.bits(1, 1);
                            self.w.uint((-(n + 1)) as u128);
                        } else {
                            self.w.bits(1, 0);
                            self.w.uint(n as u128);
                        }
                    }
                }
            }
            simple::ENUM => {
                let s = v.as_str().ok_or_else(|| {
                    self.err(
                        format!("expected a string, got {v:?}"),
                        "an enumeration value".into(),
                    )
                })?;
                let vals = &self.s.enums[t.enum_first as usize..(t.enum_first + t.enum_n) as usize];
                let i = vals.iter().position(|x| *x == s).ok_or_else(|| {
                    self.err(format!("{s:?} is not an allowed value"), vals.join(" | "))
                })?;
                self.w.bits(t.bits as u32, i as u64);
            }
            simple::STRING => {
                let s = v.as_str().ok_or_else(|| {
                    self.err(format!("expected a string, got {v:?}"), "a string".into())
                })?;
                let n = s.chars().count() as u64;
                if n < t.min_len as u64 || n > t.max_len as u64 {
                    return Err(self.err(
                        format!("string length {n} violates the schema"),
                        format!("{}..={} characters", t.min_len, t.max_len),
                    ));
                }
                if let Some(id) = self.t.find_local(qname, s) {
                    self.w.uint(0);
                    self.w.bits(id_bits(self.t.local_len(qname)), id as u64);
                } else if let Some(id) = self.t.find_global(s) {
                    self.w.uint(1);
                    self.w.bits(id_bits(self.t.global_len()), id as u64);
                } else {
                    self.w.uint(n as u128 + 2);
                    for c in s.chars() {
                        self.w.uint(c as u128);
                    }
                    self.t.add(qname, s);
                }
            }
            _ => {
                let owned;
                let bytes: &[u8] = match v {
                    Value::Bytes(b, _) => b,
                    Value::Str(s) => {
                        owned = if t.kind == simple::HEX {
                            hex_decode(s)
                        } else {
                            b64_decode(s)
                        }
                        .ok_or_else(|| {
                            self.err(
                                format!(
                                    "invalid {} text {s:?}",
                                    if t.kind == simple::HEX {
                                        "hex"
                                    } else {
                                        "base64"
                                    }
                                ),
                                "binary text".into(),
                            )
                        })?;
                        &owned
                    }
                    _ => {
                        return Err(self.err(
                            format!("expected binary text, got {v:?}"),
                            "a hex or base64 string".into(),
                        ))
                    }
                };
                let n = bytes.len() as u64;
                if n < t.min_len as u64 || n > t.max_len as u64 {
                    return Err(self.err(
                        format!("binary length {n} violates the schema"),
                        format!("{}..={} octets", t.min_len, t.max_len),
                    ));
                }
                self.w.uint(n as u128);
                self.w.octets(bytes);
            }
        }
        Ok(())
    }
}
