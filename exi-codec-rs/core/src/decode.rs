//! Grammar-driven EXI decoder (bit-packed, schema-informed, non-strict grammars, no options header).
//!
//! The decoder walks the grammar tables and reports the document to a [`Sink`] as it reads it (start of an
//! element with children or attributes, a simple value, end of element), without building anything itself:
//! [`ValueSink`] builds the [`Value`] tree, [`crate::doc::Doc`] a flat reusable document (no allocation once
//! warm), and the Python binding builds dicts straight from these events.

use crate::bigint::{BigInt, Integer};
use crate::bits::BitReader;
use crate::error::Error;
use crate::strings::{id_bits, StringTable};
use crate::tables::{
    code_bits, kind, shape, simple, Fast, Prod, Schema, Simple, FAST_CH, FAST_EE, RELAXED,
};
use crate::value::{Bin, Value};
use crate::{MAX_DEPTH, VALUE_KEY};

/// A decoded simple value, borrowed from the decoder's buffers until the sink call returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    /// xs:boolean.
    Bool(bool),
    /// Any integer type.
    Int(i128),
    /// An integer wider than `i128`.
    Big(&'a BigInt),
    /// A string.
    Str(&'a str),
    /// An enumeration value and its index in the schema's `enums` table.
    Enum(&'static str, u32),
    /// Binary content.
    Bytes(&'a [u8], Bin),
}

impl Val<'_> {
    /// The owned tree value.
    pub fn to_value(self) -> Value {
        match self {
            Val::Bool(b) => Value::Bool(b),
            Val::Int(n) => Value::Int(n),
            Val::Big(n) => Value::Big(Box::new(n.clone())),
            Val::Str(s) => Value::Str(s.to_owned()),
            Val::Enum(s, _) => Value::Enum(s),
            Val::Bytes(b, k) => Value::Bytes(b.to_vec(), k),
        }
    }
}

/// Receives the document as the decoder reads it. `key` is the local-name id ([`VALUE_KEY`] for the text
/// of an element with attributes); `list` says the element may repeat (it belongs in a list).
pub trait Sink {
    /// An element with attributes and/or children begins; `fields` is a capacity hint.
    fn start(&mut self, key: u16, list: bool, fields: u8) -> Result<(), Error>;
    /// The element begun last ends.
    fn end(&mut self) -> Result<(), Error>;
    /// A simple-typed element or attribute (or the text of an element with attributes).
    fn value(&mut self, key: u16, list: bool, v: Val<'_>) -> Result<(), Error>;
}

/// An open element of [`ValueSink`]: key, repeated, entries so far.
type Frame = (u16, bool, Vec<(u16, Value)>);

/// Builds the [`Value`] tree (the root is a map of the root element(s)).
pub struct ValueSink {
    stack: Vec<Frame>,
}

impl Default for ValueSink {
    fn default() -> Self {
        ValueSink {
            stack: vec![(0, false, Vec::new())],
        }
    }
}

impl ValueSink {
    fn put(&mut self, key: u16, list: bool, v: Value) {
        let map = &mut self.stack.last_mut().expect("root frame").2;
        if list {
            match map.last_mut() {
                Some((k, Value::List(l))) if *k == key => l.push(v),
                _ => match map.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, Value::List(l))) => l.push(v),
                    _ => map.push((key, Value::List(vec![v]))),
                },
            }
        } else {
            map.push((key, v));
        }
    }

    /// The finished tree.
    pub fn finish(mut self) -> Value {
        Value::Map(self.stack.pop().map(|f| f.2).unwrap_or_default())
    }
}

impl Sink for ValueSink {
    fn start(&mut self, key: u16, list: bool, fields: u8) -> Result<(), Error> {
        self.stack
            .push((key, list, Vec::with_capacity(fields as usize)));
        Ok(())
    }
    fn end(&mut self) -> Result<(), Error> {
        let (k, l, m) = self.stack.pop().expect("balanced");
        self.put(k, l, Value::Map(m));
        Ok(())
    }
    fn value(&mut self, key: u16, list: bool, v: Val<'_>) -> Result<(), Error> {
        self.put(key, list, v.to_value());
        Ok(())
    }
}

/// Decode a whole EXI document; returns a map with the single root element.
pub fn decode(schema: &'static Schema, data: &[u8]) -> Result<Value, Error> {
    let mut s = ValueSink::default();
    decode_to(schema, data, false, &mut s)?;
    Ok(s.finish())
}

/// Decode an EXI fragment (used for the signed elements of Plug & Charge); returns a map of its elements.
pub fn decode_fragment(schema: &'static Schema, data: &[u8]) -> Result<Value, Error> {
    let mut s = ValueSink::default();
    decode_to(schema, data, true, &mut s)?;
    Ok(s.finish())
}

/// Decode a document (or with `fragment` a fragment) into `sink`. On error the sink holds a partial
/// document.
pub fn decode_to<S: Sink>(
    schema: &'static Schema,
    data: &[u8],
    fragment: bool,
    sink: &mut S,
) -> Result<(), Error> {
    decode_with(schema, data, fragment, sink, &mut Scratch::default())
}

/// The decoder's text and octet buffers, kept by a caller that decodes many documents so that their
/// capacity is reused (no allocation per string or binary value once warm).
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    sbuf: String,
    bbuf: Vec<u8>,
}

/// [`decode_to`] with reused buffers.
pub fn decode_with<S: Sink>(
    schema: &'static Schema,
    data: &[u8],
    fragment: bool,
    sink: &mut S,
    scratch: &mut Scratch,
) -> Result<(), Error> {
    // bit positions are usize: on a 32-bit target a stream of 512 MiB or more has more bits than usize counts
    // (its length in bits would wrap and the stream be read as a short one)
    if data.len() > usize::MAX / 8 {
        return Err(Error::new(
            0,
            format!(
                "stream of {} bytes is too long: its bit positions do not fit in {} bits",
                data.len(),
                usize::BITS
            ),
            format!("at most {} bytes", usize::MAX / 8),
        ));
    }
    // short streams are read from a zero-padded copy: every read loads a whole word (the copy is only as
    // large as the stream needs: zeroing it is a per-call cost that small messages feel)
    if data.len() <= 56 {
        let mut padded = [0u8; 64];
        padded[..data.len()].copy_from_slice(data);
        let r = BitReader::padded(&padded[..data.len() + 8], data.len());
        decode_from(schema, r, fragment, sink, scratch)
    } else if data.len() <= 256 {
        let mut padded = [0u8; 264];
        padded[..data.len()].copy_from_slice(data);
        let r = BitReader::padded(&padded[..data.len() + 8], data.len());
        decode_from(schema, r, fragment, sink, scratch)
    } else {
        decode_from(schema, BitReader::new(data), fragment, sink, scratch)
    }
}

fn decode_from<S: Sink>(
    schema: &'static Schema,
    r: BitReader<'_>,
    fragment: bool,
    sink: &mut S,
    scratch: &mut Scratch,
) -> Result<(), Error> {
    scratch.sbuf.clear();
    scratch.bbuf.clear();
    let mut d = Dec {
        r,
        t: StringTable::default(),
        s: schema,
        depth: 0,
        sink,
        scr: scratch,
        fast: schema.fast(),
        big: None,
    };
    let res = run(&mut d, schema, fragment);
    // keep the buffers for the next call, unless a huge value made them large
    if d.scr.sbuf.capacity() > 4096 {
        d.scr.sbuf = String::new();
    }
    if d.scr.bbuf.capacity() > 4096 {
        d.scr.bbuf = Vec::new();
    }
    res
}

fn run<S: Sink>(
    d: &mut Dec<'_, '_, S>,
    schema: &'static Schema,
    fragment: bool,
) -> Result<(), Error> {
    let start = if fragment { schema.frag } else { schema.doc };
    let hdr = d.r.bits(8, "EXI header 0x80")?;
    if hdr != 0x80 {
        return Err(Error::new(
            0,
            format!("unsupported EXI header byte 0x{hdr:02x}"),
            "0x80 (no options, EXI 1.0)",
        ));
    }
    let st = &schema.states[start as usize];
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
        if p.flags & RELAXED != 0 {
            d.element_relaxed(p, false)?; // only a fragment's root element takes it
        } else {
            d.element(p, false)?;
        }
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
    Ok(())
}

/// A decoded value whose text or octets are in the decoder's buffers.
#[derive(Clone, Copy)]
enum Dv {
    Bool(bool),
    Int(i128),
    Big,
    Enum(&'static str, u32),
    Str,
    Bytes(Bin),
}

struct Dec<'a, 's, S: Sink> {
    r: BitReader<'a>,
    t: StringTable,
    s: &'static Schema,
    depth: usize,
    sink: &'s mut S,
    /// Text and octet buffers of the values.
    scr: &'s mut Scratch,
    fast: &'static [Fast],
    /// The last integer wider than `i128`.
    big: Option<BigInt>,
}

impl<'a, 's, S: Sink> Dec<'a, 's, S> {
    #[inline(always)]
    fn emit(&mut self, key: u16, list: bool, v: Dv) -> Result<(), Error> {
        let v = match v {
            Dv::Bool(b) => Val::Bool(b),
            Dv::Int(n) => Val::Int(n),
            Dv::Big => return self.emit_big(key, list),
            Dv::Enum(e, i) => Val::Enum(e, i),
            Dv::Str => Val::Str(&self.scr.sbuf),
            Dv::Bytes(k) => Val::Bytes(&self.scr.bbuf, k),
        };
        self.sink.value(key, list, v)
    }

    #[cold]
    #[inline(never)]
    fn emit_big(&mut self, key: u16, list: bool) -> Result<(), Error> {
        match &self.big {
            Some(b) => self.sink.value(key, list, Val::Big(b)),
            None => Err(Error::new(self.r.pos(), "integer lost", "an integer")),
        }
    }

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

    #[cold]
    fn undeclared(&self, pos: usize, p: &Prod, state: u32) -> Error {
        Error::new(
            pos,
            format!(
                "undeclared (second-level) event in <{}>",
                self.s.lnames[p.lname as usize]
            ),
            self.expected(state),
        )
    }

    fn element(&mut self, p: &Prod, list: bool) -> Result<(), Error> {
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
        let scalar = shp == shape::SCALAR;
        if !scalar {
            self.sink
                .start(p.lname, list, self.s.states[state as usize].fields)?;
        }
        let mut got = false;
        loop {
            let st = &self.s.states[state as usize];
            let pos = self.r.pos();
            let code = self.r.bits(st.width as u32, "event code")? as usize;
            if code == st.n as usize && st.ee2 > 0 {
                if let Some(v) = self.empty_value(state, p)? {
                    if scalar {
                        self.emit(p.lname, list, v)?;
                    } else {
                        self.emit(VALUE_KEY, false, v)?;
                    }
                    got = true;
                    break;
                }
            }
            if code >= st.n as usize {
                return Err(self.undeclared(pos, p, state));
            }
            let qi = st.first as usize + code;
            let q = &self.s.prods[qi];
            if q.kind == kind::SE {
                // the usual event first, without a jump table
                let ql = q.flags & 1 != 0;
                if (q.flags >> 1) & 3 == shape::SCALAR {
                    self.scalar_element(q, qi, ql)?;
                } else {
                    self.element(q, ql)?;
                }
                state = q.next;
                continue;
            }
            match q.kind {
                kind::AT => {
                    let v = self.value(q.arg, q.qname)?;
                    self.emit(q.lname, false, v)?;
                }
                kind::CH => {
                    let v = self.value(q.arg, p.qname)?;
                    if scalar {
                        self.emit(p.lname, list, v)?;
                    } else {
                        self.emit(VALUE_KEY, false, v)?;
                    }
                    got = true;
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
        if scalar {
            if !got {
                return Err(Error::new(
                    self.r.pos(),
                    "simple element without value",
                    "value",
                ));
            }
            Ok(())
        } else {
            self.sink.end()
        }
    }

    /// An element of a fragment whose qname has declarations of different types, in the Schema-informed
    /// Element Fragment grammar (see [`RELAXED`]): attributes and an untyped text value (child elements and
    /// undeclared events are refused). It becomes a map of its attributes and `value`.
    #[cold]
    #[inline(never)]
    fn element_relaxed(&mut self, p: &Prod, list: bool) -> Result<(), Error> {
        let st = &self.s.states[p.arg as usize];
        let (n, w0) = (st.n as usize, st.width as u32);
        let m = self.s.states[self.s.frag as usize].n as usize;
        let first = st.first as usize;
        self.sink.start(p.lname, list, 2)?;
        loop {
            let pos = self.r.pos();
            let code = self.r.bits(w0, "event code")? as usize;
            if code < n {
                let q = &self.s.prods[first + code];
                let v = self.value(q.arg, q.qname)?;
                self.emit(q.lname, false, v)?;
                continue;
            }
            if code == n + m + 2 {
                break; // EE
            }
            if code == n + m + 3 {
                let ch = &self.s.prods[first + n];
                let v = self.value(ch.arg, p.qname)?;
                self.emit(VALUE_KEY, false, v)?;
                let pos = self.r.pos();
                if self.r.bits(code_bits(m as u64 + 4), "event code")? as usize != m + 1 {
                    return Err(Error::new(
                        pos,
                        format!(
                            "unsupported content after the text of <{}>",
                            self.s.lnames[p.lname as usize]
                        ),
                        "end of element",
                    ));
                }
                break;
            }
            return Err(Error::new(
                pos,
                format!(
                    "unsupported event code {code} in <{}> (element fragment grammar)",
                    self.s.lnames[p.lname as usize]
                ),
                "attributes, text, end of element",
            ));
        }
        self.sink.end()
    }

    /// Fast path of a simple-typed element: its grammar is `CH` (one declared production, 1-bit code) then
    /// `EE` (1-bit code).
    #[inline]
    fn scalar_element(&mut self, p: &Prod, pi: usize, list: bool) -> Result<(), Error> {
        let f = self.fast[pi];
        if f.flags & FAST_CH == 0 {
            return self.element(p, list);
        }
        let pos = self.r.pos();
        let code = self.r.bits(f.w0 as u32, "event code")?;
        if code == 1 && f.ee2 > 0 {
            if let Some(v) = self.empty_value(p.arg, p)? {
                return self.emit(p.lname, list, v);
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
        let v = self.value(f.si, p.qname)?;
        let pos = self.r.pos();
        if self.r.bits(f.w1 as u32, "event code")? != 0 || f.flags & FAST_EE == 0 {
            return Err(Error::new(
                pos,
                format!(
                    "undeclared (second-level) event in <{}>",
                    self.s.lnames[p.lname as usize]
                ),
                "end of element",
            ));
        }
        self.emit(p.lname, list, v)
    }

    /// After the escape code in a state expecting simple content: a second-level EE (code 0) is an element
    /// with an empty value (EXIficient's encoding of empty content). Returns None for other second-level
    /// codes (the caller reports them as unsupported).
    fn empty_value(&mut self, state: u32, p: &Prod) -> Result<Option<Dv>, Error> {
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
            simple::STRING if t.min_len == 0 => {
                self.scr.sbuf.clear();
                Dv::Str
            }
            simple::HEX if t.min_len == 0 => {
                self.scr.bbuf.clear();
                Dv::Bytes(Bin::Hex)
            }
            simple::B64 if t.min_len == 0 => {
                self.scr.bbuf.clear();
                Dv::Bytes(Bin::B64)
            }
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

    #[inline(always)]
    fn value(&mut self, si: u32, qname: u16) -> Result<Dv, Error> {
        // booleans, integers and enumerations here (one dispatch on the kind), text and binary apart
        let t = &self.s.simples[si as usize];
        let pos = self.r.pos();
        match t.kind {
            simple::STRING | simple::HEX | simple::B64 => self.value_text(si, qname),
            simple::BOOL => Ok(Dv::Bool(self.r.bits(1, "boolean")? == 1)),
            simple::NBIT => {
                let v = t.lo + self.r.bits(t.bits as u32, "n-bit integer")? as i128;
                if v > t.hi {
                    return Err(Error::new(
                        pos,
                        format!("integer {v} above maximum"),
                        format!("<= {}", t.hi),
                    ));
                }
                Ok(Dv::Int(v))
            }
            simple::UNSIGNED | simple::SIGNED => {
                let neg = t.kind == simple::SIGNED && self.r.bits(1, "integer sign")? == 1;
                let m = match self.r.uint("integer") {
                    Ok(m) if m <= i128::MAX as u128 => m as i128,
                    _ => return self.big(t, neg, pos), // wider (or a broken stream: reported there)
                };
                let v = if neg { -m - 1 } else { m };
                if v < t.lo || v > t.hi {
                    return Err(Error::new(
                        pos,
                        format!("integer {v} out of range"),
                        format!("{}..={}", t.lo, t.hi),
                    ));
                }
                Ok(Dv::Int(v))
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
                Ok(Dv::Enum(
                    self.s.enums[(t.enum_first + i) as usize],
                    t.enum_first + i,
                ))
            }
            _ => Err(Error::new(pos, "unknown simple type", "value")),
        }
    }

    /// An integer wider than `i128` (its EXI unsigned part is in `bbuf`, or did not fit `i128`): only where
    /// the type is unbounded on its side.
    #[cold]
    #[inline(never)]
    fn big(&mut self, t: &Simple, neg: bool, pos: usize) -> Result<Dv, Error> {
        // re-read the unsigned part into octets (it may have fitted u128 but not i128)
        self.r.seek(pos + (t.kind == simple::SIGNED) as usize);
        let mut le = std::mem::take(&mut self.scr.bbuf);
        if let Some(m) = self.r.uint_wide("integer", &mut le)? {
            le = m.to_le_bytes().to_vec();
        }
        let n = Integer::from_exi(neg, le.clone());
        self.scr.bbuf = le;
        let unbounded = if neg {
            t.lo == i128::MIN
        } else {
            t.hi == i128::MAX
        };
        match n {
            Some(Integer::Small(v)) if v >= t.lo && v <= t.hi => Ok(Dv::Int(v)),
            Some(Integer::Big(b)) if unbounded => {
                self.big = Some(b);
                Ok(Dv::Big)
            }
            Some(n) => Err(Error::new(
                pos,
                format!(
                    "integer {} out of range",
                    match n {
                        Integer::Small(v) => v.to_string(),
                        Integer::Big(b) => b.to_string(),
                    }
                ),
                format!("{}..={}", t.lo, t.hi),
            )),
            None => Err(Error::new(pos, "integer too large", "at most 1024 bits")),
        }
    }

    /// Strings and binary content.
    #[inline(never)]
    fn value_text(&mut self, si: u32, qname: u16) -> Result<Dv, Error> {
        let t = &self.s.simples[si as usize];
        let pos = self.r.pos();
        match t.kind {
            simple::STRING => {
                let l = self.r.uint32("string length or table hit")?;
                self.scr.sbuf.clear();
                match l {
                    0 => {
                        let n = self.t.local_len(qname);
                        let id = self.r.bits(id_bits(n), "local string table id")? as usize;
                        let s = self.t.local_get(qname, id).ok_or_else(|| {
                            Error::new(pos, "local string table miss", format!("id < {n}"))
                        })?;
                        self.scr.sbuf.push_str(s);
                    }
                    1 => {
                        let n = self.t.global_len();
                        let id = self.r.bits(id_bits(n), "global string table id")? as usize;
                        let s = self.t.global_get(id).ok_or_else(|| {
                            Error::new(pos, "global string table miss", format!("id < {n}"))
                        })?;
                        self.scr.sbuf.push_str(s);
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
                            self.scr.sbuf.push(ch);
                        }
                        self.t.add(qname, &self.scr.sbuf);
                    }
                };
                let n = if self.scr.sbuf.is_ascii() {
                    self.scr.sbuf.len() as u64
                } else {
                    self.scr.sbuf.chars().count() as u64
                };
                if n < t.min_len as u64 || n > t.max_len as u64 {
                    return Err(Error::new(
                        pos,
                        format!("string length {n} violates the schema"),
                        format!("{}..={} characters", t.min_len, t.max_len),
                    ));
                }
                Ok(Dv::Str)
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
                self.scr.bbuf.clear();
                self.r.octets(len, &mut self.scr.bbuf, "binary octet")?;
                Ok(Dv::Bytes(if t.kind == simple::HEX {
                    Bin::Hex
                } else {
                    Bin::B64
                }))
            }
        }
    }
}
