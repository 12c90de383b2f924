//! Grammar-driven EXI decoder (bit-packed, schema-informed, non-strict grammars, no options header).

use crate::bits::BitReader;
use crate::error::Error;
use crate::strings::{id_bits, StringTable};
use crate::tables::{kind, shape, simple, Prod, Schema};
use crate::value::{Bin, Value};
use crate::{MAX_DEPTH, VALUE_KEY};

struct Dec<'a> {
    r: BitReader<'a>,
    t: StringTable,
    s: &'static Schema,
    depth: usize,
}

/// Decode a whole EXI document; returns a map with the single root element.
pub fn decode(schema: &'static Schema, data: &[u8]) -> Result<Value, Error> {
    decode_with(schema, data, schema.doc, false)
}

/// Decode an EXI fragment (used for the signed elements of Plug & Charge); returns a map of its elements.
pub fn decode_fragment(schema: &'static Schema, data: &[u8]) -> Result<Value, Error> {
    decode_with(schema, data, schema.frag, true)
}

fn decode_with(
    schema: &'static Schema,
    data: &[u8],
    start: u32,
    fragment: bool,
) -> Result<Value, Error> {
    let mut d = Dec {
        r: BitReader::new(data),
        t: StringTable::default(),
        s: schema,
        depth: 0,
    };
    let hdr = d.r.bits(8, "EXI header 0x80")?;
    if hdr != 0x80 {
        return Err(Error::new(
            0,
            format!("unsupported EXI header byte 0x{hdr:02x}"),
            "0x80 (no options, EXI 1.0)",
        ));
    }
    let st = &schema.states[start as usize];
    let mut out: Vec<(u16, Value)> = Vec::new();
    loop {
        let pos = d.r.pos();
        let code =
            d.r.bits(st.width as u32, "DocContent/FragmentContent event code")? as usize;
        if fragment && code == st.n as usize + 1 {
            break; // ED
        }
        if code >= st.n as usize {
            return Err(Error::new(
                pos,
                format!("undeclared root event code {code}"),
                "a global element of the schema",
            ));
        }
        let p = &schema.prods[st.first as usize + code];
        let v = d.element(p)?;
        out.push((p.lname, v));
        if !fragment {
            break; // DocEnd: ED has a zero-width code
        }
    }
    let pos = d.r.pos();
    let rem = d.r.remaining();
    if rem >= 8 {
        return Err(Error::new(
            pos,
            format!("{} unconsumed bytes after end of document", rem / 8),
            "end of stream",
        ));
    }
    if d.r.bits(rem as u32, "padding")? != 0 {
        return Err(Error::new(
            pos,
            "non-zero padding bits after end of document",
            "zero padding",
        ));
    }
    Ok(Value::Map(out))
}

impl<'a> Dec<'a> {
    fn expected(&self, state: u32) -> String {
        let st = &self.s.states[state as usize];
        let mut names = Vec::new();
        for p in &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize] {
            names.push(match p.kind {
                kind::AT => format!("@{}", self.s.lnames[p.lname as usize]),
                kind::SE => self.s.lnames[p.lname as usize].to_string(),
                kind::EE => "end of element".to_string(),
                kind::CH => "value".to_string(),
                _ => "any".to_string(),
            });
        }
        names.join(" | ")
    }

    fn element(&mut self, p: &Prod) -> Result<Value, Error> {
        if p.arg == u32::MAX {
            return Err(Error::new(
                self.r.pos(),
                "element with ambiguous declarations in a fragment",
                "unambiguous element",
            ));
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::new(
                self.r.pos(),
                "document nesting too deep",
                "shallower document",
            ));
        }
        let shp = (p.flags >> 1) & 3;
        let mut state = p.arg;
        let mut map: Vec<(u16, Value)> = if shp == shape::SCALAR {
            Vec::new()
        } else {
            Vec::with_capacity(self.s.states[state as usize].fields as usize)
        };
        let mut scalar: Option<Value> = None;
        loop {
            let st = &self.s.states[state as usize];
            let pos = self.r.pos();
            let code = self.r.bits(st.width as u32, "event code")? as usize;
            if code == st.n as usize && st.ee2 > 0 {
                if let Some(v) = self.empty_value(state, p)? {
                    if shp == shape::SCALAR {
                        scalar = Some(v);
                    } else {
                        map.push((VALUE_KEY, v));
                    }
                    break;
                }
            }
            if code >= st.n as usize {
                let exp = self.expected(state);
                return Err(Error::new(
                    pos,
                    format!(
                        "undeclared (second-level) event in <{}>",
                        self.s.lnames[p.lname as usize]
                    ),
                    exp,
                ));
            }
            let q = &self.s.prods[st.first as usize + code];
            match q.kind {
                kind::AT => {
                    let v = self.value(q.arg, q.qname)?;
                    map.push((q.lname, v));
                }
                kind::SE => {
                    let v = if (q.flags >> 1) & 3 == shape::SCALAR {
                        self.scalar_element(q)?
                    } else {
                        self.element(q)?
                    };
                    if q.flags & 1 != 0 {
                        match map.last_mut() {
                            Some((k, Value::List(l))) if *k == q.lname => l.push(v),
                            _ => match map.iter_mut().find(|(k, _)| *k == q.lname) {
                                Some((_, Value::List(l))) => l.push(v),
                                _ => map.push((q.lname, Value::List(vec![v]))),
                            },
                        }
                    } else {
                        map.push((q.lname, v));
                    }
                }
                kind::CH => {
                    let v = self.value(q.arg, p.qname)?;
                    if shp == shape::SCALAR {
                        scalar = Some(v);
                    } else {
                        map.push((VALUE_KEY, v));
                    }
                }
                kind::EE => break,
                _ => {
                    let exp = self.expected(state);
                    return Err(Error::new(
                        pos,
                        "wildcard or mixed content is not supported",
                        exp,
                    ));
                }
            }
            state = q.next;
        }
        self.depth -= 1;
        if shp == shape::SCALAR {
            scalar.ok_or_else(|| Error::new(self.r.pos(), "simple element without value", "value"))
        } else {
            Ok(Value::Map(map))
        }
    }

    /// Fast path of a simple-typed element: its grammar is `CH` (one declared production, 1-bit code) then
    /// `EE` (1-bit code).
    #[inline]
    fn scalar_element(&mut self, p: &Prod) -> Result<Value, Error> {
        let st0 = &self.s.states[p.arg as usize];
        let ch = &self.s.prods[st0.first as usize];
        if st0.n != 1 || ch.kind != kind::CH {
            return self.element(p);
        }
        let pos = self.r.pos();
        let code = self.r.bits(st0.width as u32, "event code")?;
        if code == 1 && st0.ee2 > 0 {
            if let Some(v) = self.empty_value(p.arg, p)? {
                return Ok(v);
            }
        }
        if code != 0 {
            return Err(Error::new(
                pos,
                format!(
                    "undeclared (second-level) event in <{}>",
                    self.s.lnames[p.lname as usize]
                ),
                "value",
            ));
        }
        let v = self.value(ch.arg, p.qname)?;
        let st1 = &self.s.states[ch.next as usize];
        let pos = self.r.pos();
        if self.r.bits(st1.width as u32, "event code")? != 0 || st1.n != 1 {
            return Err(Error::new(
                pos,
                format!(
                    "undeclared (second-level) event in <{}>",
                    self.s.lnames[p.lname as usize]
                ),
                "end of element",
            ));
        }
        Ok(v)
    }

    /// After the escape code in a state expecting simple content: a second-level EE (code 0) is an element
    /// with an empty value (EXIficient's encoding of empty content). Returns None for other second-level
    /// codes (the caller reports them as unsupported).
    fn empty_value(&mut self, state: u32, p: &Prod) -> Result<Option<Value>, Error> {
        let st = &self.s.states[state as usize];
        let pos = self.r.pos();
        if self.r.bits(st.ee2 as u32, "second-level event code")? != 0 {
            return Ok(None);
        }
        let prods = &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize];
        let ch = prods
            .iter()
            .find(|q| q.kind == kind::CH)
            .ok_or_else(|| Error::new(pos, "end of element without content", "content"))?;
        let t = &self.s.simples[ch.arg as usize];
        let v = match t.kind {
            simple::STRING if t.min_len == 0 => Value::Str(String::new()),
            simple::HEX if t.min_len == 0 => Value::Bytes(Vec::new(), Bin::Hex),
            simple::B64 if t.min_len == 0 => Value::Bytes(Vec::new(), Bin::B64),
            _ => {
                return Err(Error::new(
                    pos,
                    format!(
                        "empty <{}> but its type needs a value",
                        self.s.lnames[p.lname as usize]
                    ),
                    self.expected(state),
                ))
            }
        };
        Ok(Some(v))
    }

    fn value(&mut self, si: u32, qname: u16) -> Result<Value, Error> {
        let t = &self.s.simples[si as usize];
        let pos = self.r.pos();
        match t.kind {
            simple::BOOL => Ok(Value::Bool(self.r.bits(1, "boolean")? == 1)),
            simple::NBIT => {
                let v = t.lo + self.r.bits(t.bits as u32, "n-bit integer")? as i128;
                if v > t.hi {
                    return Err(Error::new(
                        pos,
                        format!("integer {v} above maximum"),
                        format!("<= {}", t.hi),
                    ));
                }
                Ok(Value::Int(v))
            }
            simple::UNSIGNED | simple::SIGNED => {
                let neg = t.kind == simple::SIGNED && self.r.bits(1, "integer sign")? == 1;
                let m = self.r.uint("integer")?;
                let m = i128::try_from(m)
                    .map_err(|_| Error::new(pos, "integer out of range", "a smaller integer"))?;
                let v = if neg { -m - 1 } else { m };
                if v < t.lo || v > t.hi {
                    return Err(Error::new(
                        pos,
                        format!("integer {v} out of range"),
                        format!("{}..={}", t.lo, t.hi),
                    ));
                }
                Ok(Value::Int(v))
            }
            simple::ENUM => {
                let i = self.r.bits(t.bits as u32, "enumeration index")? as u32;
                if i >= t.enum_n {
                    return Err(Error::new(
                        pos,
                        format!("enumeration index {i} out of range"),
                        format!("< {}", t.enum_n),
                    ));
                }
                Ok(Value::Enum(self.s.enums[(t.enum_first + i) as usize]))
            }
            simple::STRING => {
                let l = self.r.uint32("string length or table hit")?;
                let s: String = match l {
                    0 => {
                        let n = self.t.local_len(qname);
                        let id = self.r.bits(id_bits(n), "local string table id")? as usize;
                        self.t
                            .local_get(qname, id)
                            .ok_or_else(|| {
                                Error::new(pos, "local string table miss", format!("id < {n}"))
                            })?
                            .to_owned()
                    }
                    1 => {
                        let n = self.t.global_len();
                        let id = self.r.bits(id_bits(n), "global string table id")? as usize;
                        self.t
                            .global_get(id)
                            .ok_or_else(|| {
                                Error::new(pos, "global string table miss", format!("id < {n}"))
                            })?
                            .to_owned()
                    }
                    _ => {
                        let len = (l - 2) as usize;
                        if len > self.r.remaining() / 8 {
                            return Err(Error::new(
                                pos,
                                format!("string length {len} exceeds the stream"),
                                "shorter string",
                            ));
                        }
                        let mut s = String::with_capacity(len);
                        for _ in 0..len {
                            let cpos = self.r.pos();
                            let c = self.r.uint32("character")?;
                            let ch = char::from_u32(c).ok_or_else(|| {
                                Error::new(
                                    cpos,
                                    format!("invalid code point {c}"),
                                    "a Unicode scalar value",
                                )
                            })?;
                            s.push(ch);
                        }
                        self.t.add(qname, &s);
                        s
                    }
                };
                let n = s.chars().count() as u64;
                if n < t.min_len as u64 || n > t.max_len as u64 {
                    return Err(Error::new(
                        pos,
                        format!("string length {n} violates the schema"),
                        format!("{}..={} characters", t.min_len, t.max_len),
                    ));
                }
                Ok(Value::Str(s))
            }
            _ => {
                let len = self.r.uint32("binary length")? as usize;
                if len > self.r.remaining() / 8 {
                    return Err(Error::new(
                        pos,
                        format!("binary length {len} exceeds the stream"),
                        "shorter binary",
                    ));
                }
                if (len as u64) < t.min_len as u64 || (len as u64) > t.max_len as u64 {
                    return Err(Error::new(
                        pos,
                        format!("binary length {len} violates the schema"),
                        format!("{}..={} octets", t.min_len, t.max_len),
                    ));
                }
                let mut b = Vec::with_capacity(len);
                self.r.octets(len, &mut b, "binary octet")?;
                Ok(Value::Bytes(
                    b,
                    if t.kind == simple::HEX {
                        Bin::Hex
                    } else {
                        Bin::B64
                    },
                ))
            }
        }
    }
}
