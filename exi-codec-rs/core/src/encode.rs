//! Grammar-driven EXI encoder: walks the grammar and picks, in each state, the first declared production
//! whose element/attribute is still pending in the value map (schema order), else EE.
//!
//! The encoder reads the message through the [`Src`] trait, so it encodes straight from whatever holds the
//! message: the [`Value`] tree here, Python dicts in the binding (no intermediate tree).

use crate::bigint::BigInt;
use crate::bits::BitWriter;
use crate::error::Error;
use crate::strings::{id_bits, StringTable};
use crate::tables::{
    code_bits, kind, shape, simple, Fast, Prod, Schema, Simple, Wide, FAST_CH, FAST_EMPTY, KEY_EE,
    KEY_NONE, RELAXED, WIDE_MIN,
};
use crate::text::{b64_decode_into, hex_decode_into, hex_decode_to};
use crate::value::Value;
use crate::{MAX_DEPTH, VALUE_KEY};

/// A simple value as the encoder sees it.
#[derive(Debug, Clone, Copy)]
pub enum Scal<'a> {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// An integer wider than `i128`.
    Big(&'a BigInt),
    /// An integer wider than `i128` that the source converts on request ([`Src::wide`]).
    Wide,
    /// Text (strings, enumerations, hex or base64 text).
    Str(&'a str),
    /// Octets (binary content given as bytes).
    Bytes(&'a [u8]),
    /// A map or list where a simple value was expected.
    Compound,
}

/// The present entries of a map: key id (or the name the schema does not know) and value.
pub type Entries<V> = Vec<Entry<V>>;

/// One map entry: key id (or the name the schema does not know) and value.
pub type Entry<V> = (Result<u16, String>, V);

/// A message to encode, as the encoder reads it. Keys are local-name ids ([`VALUE_KEY`] = `value`).
pub trait Src: Sized + Clone {
    /// Whether this is a map (an object).
    fn is_map(&self) -> bool;
    /// The entry `key` of a map, `None` when absent (or given as null).
    fn get(&self, key: u16) -> Result<Option<Self>, Error>;
    /// Like [`Src::get`]; `hint` is where the previous lookup of this map found its key (a map in schema
    /// order is then read front to back with one comparison per key).
    #[inline]
    fn get_near(&self, key: u16, hint: &mut usize) -> Result<Option<Self>, Error> {
        let _ = hint;
        self.get(key)
    }
    /// Number of entries of a map (including null ones).
    fn len(&self) -> usize;
    /// Whether a map has no entries.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The length of a list, `None` for anything else.
    fn list_len(&self) -> Option<usize>;
    /// Item `i` of a list.
    fn item(&self, i: usize) -> Result<Self, Error>;
    /// The simple value.
    fn scalar(&self) -> Result<Scal<'_>, Error>;
    /// The integer of a value whose [`Src::scalar`] is [`Scal::Wide`] (the rare integers wider than `i128`,
    /// converted only when met, so the usual path carries nothing for them).
    fn wide(&self) -> Result<BigInt, Error> {
        Err(Error::new(0, "integer out of range", "an integer"))
    }
    /// The present (non-null) entries of a map, in order: key id, or the name that the schema does not know.
    fn entries(&self, s: &Schema) -> Result<Entries<Self>, Error>;
    /// A short description for error messages.
    fn describe(&self) -> String;
    /// The first present entry of a map (for a document root, which has one).
    fn first_entry(&self, s: &Schema) -> Result<Option<Entry<Self>>, Error> {
        Ok(self.entries(s)?.into_iter().next())
    }
    /// The keys of a map's present entries into `out`; `None` when there are more than `out` holds, a name
    /// the schema does not know, or it is not a map (the encoder then scans the grammar instead).
    fn keys_into(&self, out: &mut [u16; 8]) -> Option<usize> {
        let _ = out;
        None
    }
    /// Of a map: [`Src::presence_bit`] of every key that may be present, or-ed (a quick absence test).
    fn presence(&self) -> u64 {
        u64::MAX
    }
    /// The bit of `key` in [`Src::presence`].
    #[inline]
    fn presence_bit(&self, key: u16) -> u64 {
        1u64 << (key & 63)
    }
}

impl Src for &Value {
    #[inline]
    fn is_map(&self) -> bool {
        matches!(self, Value::Map(_))
    }
    #[inline]
    fn get(&self, key: u16) -> Result<Option<Self>, Error> {
        Ok(match self {
            Value::Map(m) => m.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        })
    }
    #[inline]
    fn get_near(&self, key: u16, hint: &mut usize) -> Result<Option<Self>, Error> {
        Ok(match self {
            Value::Map(m) => {
                if let Some((k, v)) = m.get(*hint) {
                    if *k == key {
                        *hint += 1;
                        return Ok(Some(v));
                    }
                }
                match m.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        *hint = i + 1;
                        Some(&m[i].1)
                    }
                    None => None,
                }
            }
            _ => None,
        })
    }
    fn len(&self) -> usize {
        match self {
            Value::Map(m) => m.len(),
            _ => 0,
        }
    }
    #[inline]
    fn list_len(&self) -> Option<usize> {
        match self {
            Value::List(l) => Some(l.len()),
            _ => None,
        }
    }
    #[inline]
    fn item(&self, i: usize) -> Result<Self, Error> {
        match self {
            Value::List(l) => Ok(&l[i]),
            _ => Ok(self),
        }
    }
    #[inline]
    fn scalar(&self) -> Result<Scal<'_>, Error> {
        Ok(match self {
            Value::Bool(b) => Scal::Bool(*b),
            Value::Int(n) => Scal::Int(*n),
            Value::Big(n) => Scal::Big(n),
            Value::Str(s) => Scal::Str(s),
            Value::Enum(s) => Scal::Str(s),
            Value::Bytes(b, _) => Scal::Bytes(b),
            Value::List(_) | Value::Map(_) => Scal::Compound,
        })
    }
    fn entries(&self, _s: &Schema) -> Result<Entries<Self>, Error> {
        Ok(match self {
            Value::Map(m) => m.iter().map(|(k, v)| (Ok(*k), v)).collect(),
            _ => Vec::new(),
        })
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
    fn first_entry(&self, _s: &Schema) -> Result<Option<Entry<Self>>, Error> {
        Ok(match self {
            Value::Map(m) => m.first().map(|(k, v)| (Ok(*k), v)),
            _ => None,
        })
    }
    fn keys_into(&self, out: &mut [u16; 8]) -> Option<usize> {
        match self {
            Value::Map(m) if m.len() <= out.len() => {
                for (o, (k, _)) in out.iter_mut().zip(m) {
                    *o = *k;
                }
                Some(m.len())
            }
            _ => None,
        }
    }
    #[inline]
    fn presence(&self) -> u64 {
        match self {
            Value::Map(m) => m.iter().fold(0, |a, (k, _)| a | 1u64 << (k & 63)),
            _ => 0,
        }
    }
}

/// Encode a document: `root` is a map with exactly one entry, the root element.
pub fn encode(schema: &'static Schema, root: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    encode_from(schema, &root, false, &mut out)?;
    Ok(out)
}

/// Encode an EXI fragment: `root` is a map of one or more elements (any element declared in the schema).
pub fn encode_fragment(schema: &'static Schema, root: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    encode_from(schema, &root, true, &mut out)?;
    Ok(out)
}

/// Encode from any [`Src`] into `out` (cleared first; its capacity is reused).
pub fn encode_from<V: Src>(
    schema: &'static Schema,
    root: &V,
    fragment: bool,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if !root.is_map() {
        return Err(Error::new(
            0,
            "the message must be an object",
            "{\"<root element>\": {...}}",
        ));
    }
    let single = if !fragment && root.len() == 1 {
        root.first_entry(schema)?
    } else {
        None
    };
    let entries = match single {
        Some(_) => Vec::new(),
        None => root.entries(schema)?,
    };
    if single.is_none() && (entries.is_empty() || (!fragment && entries.len() != 1)) {
        return Err(Error::new(
            0,
            "a document has exactly one root element",
            "{\"<root element>\": {...}}",
        ));
    }
    out.clear();
    let derived = schema.derived();
    let mut e = Enc {
        w: BitWriter::with_buffer(std::mem::take(out)),
        t: StringTable::default(),
        s: schema,
        depth: 0,
        path: [0; MAX_DEPTH + 2],
        bbuf: Vec::new(),
        fast: &derived.fast,
        keys: &derived.keys,
        wide: &derived.wide,
    };
    e.w.bits(8, 0x80);
    let start = if fragment { schema.frag } else { schema.doc };
    let st = &schema.states[start as usize];
    if let Some((Ok(k), v)) = &single {
        // a document's one root element (the usual case)
        let i = derived.roots[0]
            .get(*k as usize)
            .copied()
            .filter(|x| *x != u16::MAX);
        if let Some(i) = i {
            let pi = st.first as usize + i as usize;
            let p = &schema.prods[pi];
            e.w.code(st.width as u32, i as u64);
            e.root(p, pi, v)?;
            *out = e.w.finish();
            return Ok(());
        }
    }
    for (k, v) in single.into_iter().chain(entries) {
        let k = k.map_err(|n| {
            Error::new(
                0,
                format!("unknown name {n} in schema {}", schema.name),
                "a global element of the schema",
            )
        })?;
        let i = match derived.roots[fragment as usize].get(k as usize) {
            Some(&x) if x != u16::MAX => Some(x as usize),
            _ => None,
        };
        let i = i.ok_or_else(|| {
            Error::new(
                e.w.pos(),
                format!("unknown root element {:?}", name(schema, k)),
                "a global element of the schema",
            )
        })?;
        let pi = st.first as usize + i;
        let p = &schema.prods[pi];
        match v.list_len() {
            Some(n) if fragment => {
                for j in 0..n {
                    e.w.bits(st.width as u32, i as u64);
                    e.root(p, pi, &v.item(j)?)?;
                }
            }
            _ => {
                e.w.bits(st.width as u32, i as u64);
                e.root(p, pi, &v)?;
            }
        }
    }
    if fragment {
        e.w.bits(st.width as u32, st.n as u64 + 1);
    }
    *out = e.w.finish();
    Ok(())
}

fn name(s: &Schema, k: u16) -> &'static str {
    if k == VALUE_KEY {
        "value"
    } else {
        s.lnames.get(k as usize).copied().unwrap_or("?")
    }
}

/// Inline slots of [`Cursors`] (a CurrentDemandReq has up to 13 keys).
const SLOTS: usize = 16;

/// How many items of each key of one map have been written (few keys: a small inline table).
struct Cursors {
    keys: [u16; SLOTS],
    counts: [u32; SLOTS],
    totals: [u32; SLOTS],
    n: usize,
    /// Keys (lists) with items left to write.
    open: usize,
    more: Vec<(u16, u32, u32)>,
}

impl Cursors {
    #[inline]
    fn new() -> Self {
        Cursors {
            keys: [0; SLOTS],
            counts: [0; SLOTS],
            totals: [0; SLOTS],
            n: 0,
            open: 0,
            more: Vec::new(),
        }
    }
    #[inline]
    fn get(&self, key: u16) -> u32 {
        self.find(key).map_or(0, |j| self.count(j))
    }
    /// Slot of `key` (inline slots first, then the overflow ones).
    #[inline]
    fn find(&self, key: u16) -> Option<usize> {
        if let Some(j) = self.keys[..self.n].iter().position(|k| *k == key) {
            return Some(j);
        }
        self.more
            .iter()
            .position(|(k, _, _)| *k == key)
            .map(|j| j + SLOTS)
    }
    #[inline]
    fn count(&self, j: usize) -> u32 {
        match self.counts.get(j) {
            Some(c) => *c,
            None => self.more[j - SLOTS].1,
        }
    }
    #[inline]
    fn inc(&mut self, j: usize) {
        let (c, t) = match (self.counts.get_mut(j), self.totals.get(j)) {
            (Some(c), Some(t)) => (c, *t),
            _ => {
                let m = &mut self.more[j - SLOTS];
                (&mut m.1, m.2)
            }
        };
        *c += 1;
        if *c == t {
            self.open -= 1;
        }
    }
    /// A first item of `key` written; `total` = items it has (1 unless a list).
    #[inline]
    fn add(&mut self, key: u16, total: u32) {
        if total > 1 {
            self.open += 1;
        }
        let n = self.n;
        if let (Some(k), Some(c), Some(t)) = (
            self.keys.get_mut(n),
            self.counts.get_mut(n),
            self.totals.get_mut(n),
        ) {
            *k = key;
            *c = 1;
            *t = total;
            self.n = n + 1;
        } else {
            self.more.push((key, 1, total));
        }
    }

    fn keys(&self) -> usize {
        self.n + self.more.len()
    }

    /// A key with items left to write, if any.
    fn unfinished(&self) -> Option<u16> {
        if self.open == 0 {
            return None;
        }
        (0..self.n)
            .find(|&j| self.counts[j] < self.totals[j])
            .map(|j| self.keys[j])
            .or_else(|| self.more.iter().find(|(_, c, t)| c < t).map(|(k, _, _)| *k))
    }
}

struct Enc {
    w: BitWriter,
    t: StringTable,
    s: &'static Schema,
    depth: usize,
    path: [u16; MAX_DEPTH + 2],
    bbuf: Vec<u8>,
    fast: &'static [Fast],
    keys: &'static [u16],
    wide: &'static Wide,
}

impl Enc {
    #[cold]
    fn err(&self, msg: String, expected: String) -> Error {
        let path: Vec<&str> = self.path[..self.depth.min(self.path.len())]
            .iter()
            .map(|k| name(self.s, *k))
            .collect();
        Error::new(
            self.w.pos(),
            format!("{} (at {})", msg, path.join("/")),
            expected,
        )
    }

    #[cold]
    fn err_in(&mut self, key: u16, msg: String, expected: String) -> Error {
        self.path[self.depth] = key;
        self.depth += 1;
        let e = self.err(msg, expected);
        self.depth -= 1;
        e
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

    /// A root element of the document or fragment (only a fragment's can take the relaxed grammar).
    fn root<V: Src>(&mut self, p: &Prod, pi: usize, v: &V) -> Result<(), Error> {
        if p.flags & RELAXED != 0 {
            return self.element_relaxed(p, v);
        }
        self.element(p, pi, v)
    }

    #[inline]
    fn element<V: Src>(&mut self, p: &Prod, pi: usize, v: &V) -> Result<(), Error> {
        if (p.flags >> 1) & 3 == shape::SCALAR {
            self.scalar_element(p, pi, v)
        } else {
            self.map_element(p, v)
        }
    }

    /// A simple-typed element without attributes (most elements): its value, in the usual `CH` then `EE`
    /// grammar without a call of the map machinery.
    #[inline(always)]
    fn scalar_element<V: Src>(&mut self, p: &Prod, pi: usize, v: &V) -> Result<(), Error> {
        // a scalar's parent checked the depth: path has room for it
        self.path[self.depth] = p.lname;
        self.depth += 1;
        let sv = v.scalar()?;
        if matches!(sv, Scal::Compound) {
            return Err(self.err(
                "expected a simple value, got an object or list".into(),
                "a simple value".into(),
            ));
        }
        let f = self.fast[pi];
        if f.flags & FAST_CH == 0 {
            return self.scalar_slow(p, sv, v);
        }
        if f.ee2 > 0 && f.flags & FAST_EMPTY != 0 && self.empty_lexical(f.si, sv)? {
            // empty value: escape (code 1: one declared production) + second-level EE, as
            // EXIficient writes it
            self.w.code(f.w0 as u32, 1);
            self.w.code(f.ee2 as u32, 0);
            self.depth -= 1;
            return Ok(());
        }
        // CH (code 0), the value, then EE (code 0)
        self.w.code(f.w0 as u32, 0);
        if !self.value_fast(f.si, sv) {
            self.value_src(f.si, p.qname, sv, v)?;
        }
        self.w.code(f.w1 as u32, 0);
        self.depth -= 1;
        Ok(())
    }

    /// A simple-typed element whose grammar is not the plain `CH` then `EE`.
    #[inline(never)]
    fn scalar_slow<V: Src>(&mut self, p: &Prod, sv: Scal<'_>, v: &V) -> Result<(), Error> {
        let mut state = p.arg;
        let mut done_value = false;
        loop {
            let st = &self.s.states[state as usize];
            let prods = &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize];
            let want = if done_value { kind::EE } else { kind::CH };
            let i = prods
                .iter()
                .position(|q| q.kind == want)
                .ok_or_else(|| self.err("grammar has no value production".into(), String::new()))?;
            self.w.code(st.width as u32, i as u64);
            if want == kind::EE {
                break;
            }
            self.value_src(prods[i].arg, p.qname, sv, v)?;
            done_value = true;
            state = prods[i].next;
        }
        self.depth -= 1;
        Ok(())
    }

    /// In a wide state (see [`Wide`]): the productions of the map's keys and the state's EE, in
    /// production order (`None`: visit them all). `keys` caches the map's keys (count or `None` = too many
    /// to list).
    #[inline(never)]
    fn wide_only<V: Src>(
        &self,
        state: u32,
        v: &V,
        keys: &mut Option<Option<usize>>,
        kbuf: &mut [u16; 8],
        only: &mut [u16; 9],
    ) -> Option<usize> {
        let (row, ee) = self.wide.row(state)?;
        let nk = (*keys.get_or_insert_with(|| v.keys_into(kbuf)))?;
        let mut n = 0;
        let mut add = |i: u16| {
            // insertion in production order (a handful of entries)
            let mut j = n;
            while j > 0 && only[j - 1] > i {
                only[j] = only[j - 1];
                j -= 1;
            }
            only[j] = i;
            n += 1;
        };
        for &k in &kbuf[..nk] {
            let slot = if k == VALUE_KEY {
                row.len() - 1
            } else {
                k as usize
            };
            match row.get(slot) {
                Some(&i) if i != u16::MAX => add(i),
                _ => {}
            }
        }
        if ee != u16::MAX {
            add(ee);
        }
        Some(n)
    }

    /// An element with attributes and/or child elements: a map.
    fn map_element<V: Src>(&mut self, p: &Prod, v: &V) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err("document nesting too deep".into(), String::new()));
        }
        self.path[self.depth] = p.lname;
        self.depth += 1;
        if !v.is_map() {
            return Err(self.err("expected an object".into(), "an object".into()));
        }
        let mut cur = Cursors::new();
        let present = v.presence();
        // presence bits of the keys in `cur` (no bit: the key has no slot, no search needed)
        let mut used = 0u64;
        let mut hint = 0usize;
        let mut state = p.arg;
        // the map's keys, fetched when a wide state is met: (count or None = scan, keys)
        let mut keys: Option<Option<usize>> = None;
        let mut kbuf = [0u16; 8];
        let mut only = [0u16; 9];
        loop {
            let st = &self.s.states[state as usize];
            let prods = &self.s.prods[st.first as usize..(st.first + st.n as u32) as usize];
            let mut chosen: Option<(usize, V)> = None;
            let mut ee: Option<usize> = None;
            // In a wide state only the productions of the map's keys (and EE) can be chosen: visit those,
            // in production order.
            let nonly = if st.n > WIDE_MIN {
                self.wide_only(state, v, &mut keys, &mut kbuf, &mut only)
            } else {
                None
            };
            let wide = nonly.is_some();
            let pkeys = &self.keys[st.first as usize..st.first as usize + prods.len()];
            #[allow(clippy::needless_range_loop)] // one loop for both the wide and the plain visit
            for t in 0..nonly.unwrap_or(prods.len()) {
                let i = if wide { only[t] as usize } else { t };
                let key = pkeys[i];
                if key == KEY_EE {
                    ee = Some(i);
                    continue;
                }
                if key == KEY_NONE {
                    continue;
                }
                let bit = v.presence_bit(key);
                if present & bit == 0 {
                    continue;
                }
                if let Some(x) = v.get_near(key, &mut hint)? {
                    let slot = if used & bit == 0 { None } else { cur.find(key) };
                    let c = slot.map_or(0, |j| cur.count(j));
                    let (item, total) = match x.list_len() {
                        Some(n) if (c as usize) < n => (Some(x.item(c as usize)?), n as u32),
                        Some(_) => (None, 0),
                        None if c == 0 => (Some(x), 1),
                        None => (None, 0),
                    };
                    if let Some(item) = item {
                        match slot {
                            Some(j) => cur.inc(j),
                            None => {
                                cur.add(key, total);
                                used |= bit;
                            }
                        }
                        chosen = Some((i, item));
                        break;
                    }
                }
            }
            let (i, item) = match chosen {
                Some(c) => c,
                None => match ee {
                    Some(i) => {
                        self.w.code(st.width as u32, i as u64);
                        break;
                    }
                    None => {
                        let exp = self.expected(state);
                        return Err(self.err("missing required content".into(), exp));
                    }
                },
            };
            let q = &prods[i];
            if q.kind == kind::CH && st.ee2 > 0 && self.maybe_empty(q.arg) {
                let sv = item.scalar()?;
                if self.empty_lexical(q.arg, sv)? {
                    // empty value: escape + second-level EE ends the element (EXIficient's form)
                    self.w.bits(st.width as u32, st.n as u64);
                    self.w.code(st.ee2 as u32, 0);
                    break;
                }
            }
            self.w.code(st.width as u32, i as u64);
            if q.kind == kind::SE {
                self.element(q, st.first as usize + i, &item)?;
                state = q.next;
                continue;
            }
            match q.kind {
                kind::AT => {
                    let sv = item.scalar()?;
                    if matches!(sv, Scal::Compound) {
                        return Err(self.err_in(
                            q.lname,
                            format!("expected a simple value, got {}", item.describe()),
                            "a simple value".into(),
                        ));
                    }
                    self.path[self.depth] = q.lname;
                    self.depth += 1;
                    self.value_src(q.arg, q.qname, sv, &item)?;
                    self.depth -= 1;
                }
                _ => {
                    let sv = item.scalar()?;
                    self.value_src(q.arg, p.qname, sv, &item)?;
                }
            }
            state = q.next;
        }
        if cur.keys() != v.len() {
            self.leftover(v, &cur)?;
        } else {
            // every key was used; a list may still have items left
            if let Some(k) = cur.unfinished() {
                return Err(self.unexpected(k));
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// An element of a fragment whose qname has declarations of different types, in the Schema-informed
    /// Element Fragment grammar (see [`RELAXED`]): its attributes, then its text as an untyped value. `v` is
    /// a map of attributes and `value`, or the text alone.
    #[cold]
    #[inline(never)]
    fn element_relaxed<V: Src>(&mut self, p: &Prod, v: &V) -> Result<(), Error> {
        let st = &self.s.states[p.arg as usize];
        let (n, w0) = (st.n as u64, st.width as u32);
        let m = self.s.states[self.s.frag as usize].n as u64;
        let w1 = code_bits(m + 4);
        let first = st.first as usize;
        let ats = &self.s.prods[first..first + st.n as usize];
        let ch = &self.s.prods[first + st.n as usize];
        self.path[self.depth] = p.lname;
        self.depth += 1;
        let text = if v.is_map() {
            for (k, _) in v.entries(self.s)? {
                let known = k
                    .as_ref()
                    .is_ok_and(|k| *k == VALUE_KEY || ats.iter().any(|q| q.lname == *k));
                if !known {
                    let what = match k {
                        Ok(k) => name(self.s, k).to_string(),
                        Err(n) => n,
                    };
                    return Err(self.err(
                        format!("unexpected {what:?}: not an attribute of the schema"),
                        "attributes and value".into(),
                    ));
                }
            }
            for (i, q) in ats.iter().enumerate() {
                // one qname per local name: the one the element's own types declare, else the first
                let own = ats
                    .iter()
                    .position(|r| r.lname == q.lname && r.flags & 8 != 0);
                let pick = own.or_else(|| ats.iter().position(|r| r.lname == q.lname));
                if pick != Some(i) {
                    continue;
                }
                let Some(x) = v.get(q.lname)? else {
                    continue;
                };
                let sv = x.scalar()?;
                if matches!(sv, Scal::Compound) {
                    return Err(self.err_in(
                        q.lname,
                        format!("expected a simple value, got {}", x.describe()),
                        "a simple value".into(),
                    ));
                }
                self.w.bits(w0, i as u64);
                self.path[self.depth] = q.lname;
                self.depth += 1;
                self.value(q.arg, q.qname, sv)?;
                self.depth -= 1;
            }
            v.get(VALUE_KEY)?
        } else {
            Some(v.clone())
        };
        let text = match &text {
            Some(t) => match t.scalar()? {
                Scal::Str("") => None,
                Scal::Str(s) => Some(s),
                sv => return Err(self.wrong("a string", sv, "text")),
            },
            None => None,
        };
        match text {
            Some(s) => {
                self.w.bits(w0, n + m + 3); // CH [untyped value]
                self.value(ch.arg, p.qname, Scal::Str(s))?;
                self.w.bits(w1, m + 1); // EE of ElementFragment_1
            }
            None => self.w.bits(w0, n + m + 2), // EE of ElementFragment_0
        }
        self.depth -= 1;
        Ok(())
    }

    #[cold]
    fn unexpected(&self, k: u16) -> Error {
        self.err(
            format!(
                "unexpected {:?}: not allowed here, out of order or too many",
                name(self.s, k)
            ),
            "content allowed by the schema".into(),
        )
    }

    #[cold]
    fn leftover<V: Src>(&self, v: &V, cur: &Cursors) -> Result<(), Error> {
        for (k, x) in v.entries(self.s)? {
            let k = match k {
                Ok(k) => k,
                Err(n) => {
                    return Err(self.err(
                        format!("unknown name {n} in schema {}", self.s.name),
                        "a name the schema declares".into(),
                    ))
                }
            };
            let c = cur.get(k) as usize;
            let left = match x.list_len() {
                Some(n) => n > c,
                None => c == 0,
            };
            if left {
                return Err(self.unexpected(k));
            }
        }
        // duplicate keys (a JSON object with a repeated name)
        if let Some((k, _)) = v
            .entries(self.s)?
            .iter()
            .enumerate()
            .find_map(|(i, (k, _))| {
                let k = k.as_ref().ok()?;
                v.entries(self.s)
                    .ok()?
                    .iter()
                    .skip(i + 1)
                    .any(|(k2, _)| k2.as_ref().ok() == Some(k))
                    .then_some((*k, ()))
            })
        {
            return Err(self.unexpected(k));
        }
        Ok(())
    }

    /// Whether values of simple type `si` can be empty text (strings and binary).
    #[inline]
    fn maybe_empty(&self, si: u32) -> bool {
        matches!(
            self.s.simples[si as usize].kind,
            simple::STRING | simple::HEX | simple::B64
        )
    }

    /// Whether `v` is an empty lexical value of a string or binary type (which has no character events).
    fn empty_lexical(&self, si: u32, v: Scal<'_>) -> Result<bool, Error> {
        let t = &self.s.simples[si as usize];
        let empty = match (t.kind, v) {
            (simple::STRING | simple::HEX | simple::B64, Scal::Str(s)) => s.is_empty(),
            (simple::HEX | simple::B64, Scal::Bytes(b)) => b.is_empty(),
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

    #[cold]
    fn wrong(&self, what: &str, v: Scal<'_>, expected: &str) -> Error {
        let got = match v {
            Scal::Bool(b) => format!("Bool({b})"),
            Scal::Int(n) => format!("Int({n})"),
            Scal::Big(n) => format!("Int({n})"),
            Scal::Wide => "a wide integer".into(),
            Scal::Str(s) => format!("Str({s:?})"),
            Scal::Bytes(b) => format!("Bytes({b:?})"),
            Scal::Compound => "an object or list".into(),
        };
        self.err(format!("expected {what}, got {got}"), expected.into())
    }

    /// [`Enc::value`] of `sv`, read from `src` (which converts an integer wider than `i128` only now).
    #[inline]
    fn value_src<V: Src>(
        &mut self,
        si: u32,
        qname: u16,
        sv: Scal<'_>,
        src: &V,
    ) -> Result<(), Error> {
        if let Scal::Wide = sv {
            return self.value_wide(si, qname, src);
        }
        self.value(si, qname, sv)
    }

    #[cold]
    #[inline(never)]
    fn value_wide<V: Src>(&mut self, si: u32, qname: u16, src: &V) -> Result<(), Error> {
        let b = src.wide()?;
        self.value(si, qname, Scal::Big(&b))
    }

    /// An integer wider than `i128`: only where the type is unbounded on its side (xs:integer and its
    /// unbounded derivations).
    #[cold]
    #[inline(never)]
    fn big(&mut self, t: &Simple, b: &BigInt) -> Result<(), Error> {
        let unbounded = if b.is_negative() {
            t.lo == i128::MIN && t.kind == simple::SIGNED
        } else {
            t.hi == i128::MAX && t.kind != simple::NBIT
        };
        if !unbounded {
            return Err(self.err(
                format!("integer {b} out of range"),
                format!("{}..={}", t.lo, t.hi),
            ));
        }
        if t.kind == simple::SIGNED {
            self.w.bits(1, b.is_negative() as u64);
        }
        self.w.uint_le(&b.exi_uint());
        Ok(())
    }

    /// The usual simple values written inline: a boolean, an integer in range of a bounded (n-bit) or
    /// 64-bit integer type, an enumeration value given as the decoder returns it. `false`: nothing written,
    /// [`Enc::value`] handles it (text, binary, wide integers, and every error).
    #[inline(always)]
    fn value_fast(&mut self, si: u32, v: Scal<'_>) -> bool {
        let Some(t) = self.s.simples.get(si as usize) else {
            return false;
        };
        match (t.kind, v) {
            (simple::NBIT, Scal::Int(n)) if n >= t.lo && n <= t.hi => {
                self.w.code(t.bits as u32, (n - t.lo) as u64);
            }
            (simple::ENUM, Scal::Str(s)) => {
                let first = t.enum_first as usize;
                let Some(vals) = self.s.enums.get(first..first + t.enum_n as usize) else {
                    return false;
                };
                // the decoder's values are the table's own strings: found by address
                match vals
                    .iter()
                    .position(|x| std::ptr::eq(x.as_ptr(), s.as_ptr()) && x.len() == s.len())
                {
                    Some(i) => self.w.code(t.bits as u32, i as u64),
                    None => return false,
                }
            }
            (simple::BOOL, Scal::Bool(b)) => self.w.code(1, b as u64),
            (simple::UNSIGNED, Scal::Int(n)) if n >= t.lo && n <= t.hi && n >= 0 => {
                self.w.uint(n as u128);
            }
            (simple::SIGNED, Scal::Int(n)) if n >= t.lo && n <= t.hi => {
                if n < 0 {
                    self.w.code(1, 1);
                    self.w.uint((-(n + 1)) as u128);
                } else {
                    self.w.code(1, 0);
                    self.w.uint(n as u128);
                }
            }
            _ => return false,
        }
        true
    }

    fn value(&mut self, si: u32, qname: u16, v: Scal<'_>) -> Result<(), Error> {
        let t = &self.s.simples[si as usize];
        match t.kind {
            simple::BOOL => match v {
                Scal::Bool(b) => self.w.bits(1, b as u64),
                _ => return Err(self.wrong("a boolean", v, "true | false")),
            },
            simple::NBIT | simple::UNSIGNED | simple::SIGNED => {
                let n = match v {
                    Scal::Int(n) => n,
                    Scal::Big(b) => return self.big(t, b),
                    _ => return Err(self.wrong("an integer", v, "an integer")),
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
                let s = match v {
                    Scal::Str(s) => s,
                    _ => return Err(self.wrong("a string", v, "an enumeration value")),
                };
                let vals = &self.s.enums[t.enum_first as usize..(t.enum_first + t.enum_n) as usize];
                let i = vals
                    .iter()
                    .position(|x| std::ptr::eq(x.as_ptr(), s.as_ptr()) && x.len() == s.len())
                    .or_else(|| vals.iter().position(|x| *x == s));
                let i = i.ok_or_else(|| {
                    self.err(format!("{s:?} is not an allowed value"), vals.join(" | "))
                })?;
                self.w.bits(t.bits as u32, i as u64);
            }
            simple::STRING => {
                let s = match v {
                    Scal::Str(s) => s,
                    _ => return Err(self.wrong("a string", v, "a string")),
                };
                let ascii = s.is_ascii();
                let n = if ascii {
                    s.len() as u64
                } else {
                    s.chars().count() as u64
                };
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
                    if ascii {
                        // every character is one 7-bit group: one octet each
                        self.w.octets(s.as_bytes());
                    } else {
                        for c in s.chars() {
                            self.w.uint(c as u128);
                        }
                    }
                    self.t.add(qname, s);
                }
            }
            _ => {
                // short hex (session ids, EVCCIDs) is converted on the stack
                let mut short = [0u8; 32];
                let mut buf = std::mem::take(&mut self.bbuf);
                let bytes: &[u8] = match v {
                    Scal::Bytes(b) => b,
                    Scal::Str(s) if t.kind == simple::HEX && s.len() <= 2 * short.len() => {
                        match hex_decode_to(s, &mut short) {
                            Some(n) => &short[..n],
                            None => {
                                return Err(self
                                    .err(format!("invalid hex text {s:?}"), "binary text".into()))
                            }
                        }
                    }
                    Scal::Str(s) => {
                        let ok = if t.kind == simple::HEX {
                            hex_decode_into(s, &mut buf)
                        } else {
                            b64_decode_into(s, &mut buf)
                        };
                        if !ok {
                            return Err(self.err(
                                format!(
                                    "invalid {} text {s:?}",
                                    if t.kind == simple::HEX {
                                        "hex"
                                    } else {
                                        "base64"
                                    }
                                ),
                                "binary text".into(),
                            ));
                        }
                        &buf
                    }
                    _ => return Err(self.wrong("binary text", v, "a hex or base64 string")),
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
                self.bbuf = buf;
            }
        }
        Ok(())
    }
}
