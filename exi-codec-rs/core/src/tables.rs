//! Table types shared by the generated grammar modules and the runtime engine.

/// Production kinds.
pub mod kind {
    /// Attribute.
    pub const AT: u8 = 0;
    /// Start element (declared).
    pub const SE: u8 = 1;
    /// End element.
    pub const EE: u8 = 2;
    /// Typed character content.
    pub const CH: u8 = 3;
    /// Start element wildcard (declared `xs:any`).
    pub const SEW: u8 = 4;
    /// Untyped character content of mixed content models.
    pub const CHM: u8 = 5;
}

/// Simple-type representations.
pub mod simple {
    /// Boolean, one bit.
    pub const BOOL: u8 = 0;
    /// Bounded integer as n-bit unsigned offset from `lo`.
    pub const NBIT: u8 = 1;
    /// Unsigned integer (7-bit groups).
    pub const UNSIGNED: u8 = 2;
    /// Signed integer (sign bit + unsigned magnitude).
    pub const SIGNED: u8 = 3;
    /// Enumeration index.
    pub const ENUM: u8 = 4;
    /// String with string-table hits.
    pub const STRING: u8 = 5;
    /// hexBinary.
    pub const HEX: u8 = 6;
    /// base64Binary.
    pub const B64: u8 = 7;
}

/// One EXI datatype with its facets.
#[derive(Debug)]
pub struct Simple {
    /// One of [`simple`].
    pub kind: u8,
    /// Bits of an n-bit integer or of an enumeration index.
    pub bits: u8,
    /// Inclusive lower bound (`i128::MIN` = none).
    pub lo: i128,
    /// Inclusive upper bound (`i128::MAX` = none).
    pub hi: i128,
    /// Minimum length in characters / octets.
    pub min_len: u32,
    /// Maximum length in characters / octets.
    pub max_len: u32,
    /// First enumeration value in the schema's `enums` table.
    pub enum_first: u32,
    /// Number of enumeration values.
    pub enum_n: u32,
}

/// One grammar state (non-terminal): its declared productions and the first-level event-code width.
#[derive(Debug)]
pub struct State {
    /// Index of the first production in `prods`.
    pub first: u32,
    /// Number of declared (first-level) productions.
    pub n: u16,
    /// Bits of the first-level event code (accounts for the non-strict escape code).
    pub width: u8,
    /// In the first state of a type grammar: the number of distinct keys its content can have.
    pub fields: u8,
    /// In a state that expects simple content and declares no EE: width of the second-level event code,
    /// where EE (code 0) encodes an empty value as EXIficient writes it; 0 = not applicable.
    pub ee2: u8,
}

/// One production.
#[derive(Debug)]
pub struct Prod {
    /// One of [`kind`].
    pub kind: u8,
    /// Local name id (key in the document tree).
    pub lname: u16,
    /// Qualified name id (string-table partition).
    pub qname: u16,
    /// SE: first state of the child's grammar; AT/CH: simple type index.
    pub arg: u32,
    /// Next state.
    pub next: u32,
    /// SE: bit 0 = repeated (list), bits 1-2 = shape (0 scalar, 1 map, 2 map with text), bit 4 = abstract
    /// (element or type; never valid in a document), bit 5 = [`RELAXED`]; AT: bit 3 = required (in the
    /// relaxed state: the attribute the ambiguous element's own types declare).
    pub flags: u8,
}

/// [`Prod::flags`] of a fragment's element whose qname has declarations of different types (ISO-2 `eMAID`):
/// its content follows the Schema-informed Element Fragment grammar (EXI 1.0 section 8.5.3). `arg` is then
/// a state holding the n declared `AT(A_i)` productions of that grammar (every attribute qname of the
/// schema, sorted by local name then URI), followed, outside the state, by a `CH` of a plain string (the
/// untyped value). The other codes follow from n and the m productions of the fragment state:
/// ElementFragment_0 has `AT(*)` n, `SE(F_j)` n+1+j, `SE(*)` n+m+1, `EE` n+m+2, `CH` n+m+3 (the width in
/// the state); ElementFragment_1 has `SE(F_j)` j, `SE(*)` m, `EE` m+1, `CH` m+2 (width: m+3 productions
/// and the escape). EXIficient builds the same grammar.
pub const RELAXED: u8 = 32;

/// Number of bits of an event code with `n` values (`0..n`).
#[inline]
pub const fn code_bits(n: u64) -> u32 {
    64 - n.saturating_sub(1).leading_zeros()
}

/// Compact constructor of a [`Prod`] (used by the generated tables).
pub const fn p(kind: u8, lname: u16, qname: u16, arg: u32, next: u32, flags: u8) -> Prod {
    Prod {
        kind,
        lname,
        qname,
        arg,
        next,
        flags,
    }
}

/// Compact constructor of a [`State`] (used by the generated tables).
pub const fn s(first: u32, n: u16, width: u8, fields: u8, ee2: u8) -> State {
    State {
        first,
        n,
        width,
        fields,
        ee2,
    }
}

/// Shape of an element's value in the document tree.
pub mod shape {
    /// Simple content without attributes: a scalar.
    pub const SCALAR: u8 = 0;
    /// Attributes and child elements: a map.
    pub const MAP: u8 = 1;
    /// Attributes and simple content: a map whose text is under the key `value`.
    pub const SIMPLEMAP: u8 = 2;
}

/// All tables of one schema set.
#[derive(Debug)]
pub struct Schema {
    /// Short name (`din`, `iso2`, ...).
    pub name: &'static str,
    /// Namespace of the message set.
    pub namespace: &'static str,
    /// Local names.
    pub lnames: &'static [&'static str],
    /// Qualified names: (namespace, local name id).
    pub qnames: &'static [(&'static str, u16)],
    /// Enumeration values, in schema order per type.
    pub enums: &'static [&'static str],
    /// Simple types.
    pub simples: &'static [Simple],
    /// Grammar states.
    pub states: &'static [State],
    /// Productions.
    pub prods: &'static [Prod],
    /// DocContent state.
    pub doc: u32,
    /// FragmentContent state.
    pub frag: u32,
}

static LOOKUP: std::sync::OnceLock<Vec<std::collections::HashMap<&'static str, u16>>> =
    std::sync::OnceLock::new();

impl Schema {
    /// Local name id of `name`, if the schema declares it (hash lookup).
    pub fn lname_id(&self, name: &str) -> Option<u16> {
        let all = &crate::generated::ALL;
        let tables = LOOKUP.get_or_init(|| {
            all.iter()
                .map(|s| {
                    s.lnames
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (*n, i as u16))
                        .collect()
                })
                .collect()
        });
        match all.iter().position(|s| std::ptr::eq(*s, self)) {
            Some(i) => tables[i].get(name).copied(),
            None => self
                .lnames
                .iter()
                .position(|n| *n == name)
                .map(|i| i as u16),
        }
    }
}

impl Schema {
    /// Index (in the DocContent or FragmentContent state) of the first production of root element `k`.
    pub fn root_prod(&'static self, fragment: bool, k: u16) -> Option<usize> {
        match self.derived().roots[fragment as usize].get(k as usize) {
            Some(&x) if x != u16::MAX => Some(x as usize),
            _ => None,
        }
    }

    fn build_roots(&self) -> [Vec<u16>; 2] {
        [self.doc, self.frag].map(|start| {
            let mut t = vec![u16::MAX; self.lnames.len()];
            let Some(st) = self.states.get(start as usize) else {
                return t;
            };
            let prods = self
                .prods
                .get(st.first as usize..(st.first + st.n as u32) as usize)
                .unwrap_or(&[]);
            for (i, p) in prods.iter().enumerate().rev() {
                if let Some(x) = t.get_mut(p.lname as usize) {
                    *x = i as u16;
                }
            }
            t
        })
    }
}

/// Tables derived from a schema's grammar when it is first used (see [`Schema::derived`]).
#[derive(Debug)]
pub struct Derived {
    /// One [`Fast`] per production.
    pub fast: Vec<Fast>,
    /// Per production, the map key the encoder looks for: the local name of an `AT`/`SE`,
    /// [`crate::VALUE_KEY`] for a `CH`, [`KEY_EE`] for an `EE`, [`KEY_NONE`] for anything else.
    pub keys: Vec<u16>,
    /// The index of the wide states.
    pub wide: Wide,
    /// For the document and the fragment content state: local-name id -> index of the first production
    /// with that name (`u16::MAX` = none).
    pub roots: [Vec<u16>; 2],
}

#[allow(clippy::declare_interior_mutable_const)]
const DERIVED_INIT: std::sync::OnceLock<Derived> = std::sync::OnceLock::new();
static DERIVED: [std::sync::OnceLock<Derived>; 16] = [DERIVED_INIT; 16];

impl Schema {
    /// The derived tables of this schema (built on first use; one lookup per encode or decode).
    #[inline]
    pub fn derived(&'static self) -> &'static Derived {
        let build = || Derived {
            fast: self.build_fast(),
            keys: self
                .prods
                .iter()
                .map(|p| match p.kind {
                    kind::AT | kind::SE => p.lname,
                    kind::CH => crate::VALUE_KEY,
                    kind::EE => KEY_EE,
                    _ => KEY_NONE,
                })
                .collect(),
            wide: self.build_wide(),
            roots: self.build_roots(),
        };
        match crate::generated::ALL
            .iter()
            .position(|s| std::ptr::eq(*s, self))
            .filter(|i| *i < DERIVED.len())
        {
            Some(i) => DERIVED[i].get_or_init(build),
            None => Box::leak(Box::new(build())),
        }
    }
}

/// [`Derived::keys`] of an `EE` production.
pub const KEY_EE: u16 = u16::MAX - 1;
/// [`Derived::keys`] of a production that no map key selects (wildcards, mixed content).
pub const KEY_NONE: u16 = u16::MAX - 2;

/// Precomputed grammar facts of one production (for a simple-typed element: its `CH` then `EE` grammar),
/// so that the hot paths read one small entry instead of three table rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fast {
    /// Simple type of the element's `CH`.
    pub si: u32,
    /// Event-code width of the element's first state.
    pub w0: u8,
    /// Second-level code width of that state (empty values), 0 = none.
    pub ee2: u8,
    /// Event-code width of the state after `CH`.
    pub w1: u8,
    /// [`FAST_CH`], [`FAST_EE`], [`FAST_EMPTY`].
    pub flags: u8,
}

/// The element's first state declares exactly one production, a `CH`.
pub const FAST_CH: u8 = 1;
/// The state after `CH` declares exactly one production (`EE`).
pub const FAST_EE: u8 = 2;
/// The `CH` type can have an empty lexical value (string or binary).
pub const FAST_EMPTY: u8 = 4;

impl Schema {
    /// One [`Fast`] per production.
    pub fn fast(&'static self) -> &'static [Fast] {
        &self.derived().fast
    }

    fn build_fast(&self) -> Vec<Fast> {
        {
            self.prods
                .iter()
                .map(|p| {
                    let mut f = Fast::default();
                    if p.kind != kind::SE || p.arg as usize >= self.states.len() {
                        return f;
                    }
                    let st0 = &self.states[p.arg as usize];
                    let Some(ch) = self.prods.get(st0.first as usize) else {
                        return f;
                    };
                    if st0.n != 1 || ch.kind != kind::CH {
                        return f;
                    }
                    let Some(st1) = self.states.get(ch.next as usize) else {
                        return f;
                    };
                    f.si = ch.arg;
                    f.w0 = st0.width;
                    f.ee2 = st0.ee2;
                    f.w1 = st1.width;
                    f.flags = FAST_CH;
                    if st1.n == 1 {
                        f.flags |= FAST_EE;
                    }
                    if matches!(
                        self.simples.get(ch.arg as usize).map(|t| t.kind),
                        Some(simple::STRING | simple::HEX | simple::B64)
                    ) {
                        f.flags |= FAST_EMPTY;
                    }
                    f
                })
                .collect()
        }
    }
}

/// For the states with many productions (the message choice of a `Body`, the global elements): per key, the
/// first production of that key, so the encoder finds the few keys a map has instead of scanning them all.
#[derive(Debug, Default)]
pub struct Wide {
    /// Per state: (start of its row in `first`, whether it is indexed, index of its `EE` or `u16::MAX`).
    pub at: Vec<(u32, bool, u16)>,
    /// One row per indexed state, `lnames.len() + 1` entries (the last one for [`crate::VALUE_KEY`], the
    /// `CH`): the index in the state of the first production of that key, `u16::MAX` = none.
    pub first: Vec<u16>,
    /// Length of a row of `first`.
    pub row: usize,
}

impl Wide {
    /// The row of an indexed state (`None`: not indexed).
    #[inline]
    pub fn row(&self, state: u32) -> Option<(&[u16], u16)> {
        let (start, indexed, ee) = *self.at.get(state as usize)?;
        if !indexed {
            return None;
        }
        Some((
            self.first.get(start as usize..start as usize + self.row)?,
            ee,
        ))
    }
}

/// States with more declared productions than this are indexed in [`Wide`].
pub const WIDE_MIN: u16 = 12;

impl Schema {
    /// The [`Wide`] index.
    pub fn wide(&'static self) -> &'static Wide {
        &self.derived().wide
    }

    fn build_wide(&self) -> Wide {
        let row = self.lnames.len() + 1;
        let mut w = Wide {
            at: vec![(0, false, u16::MAX); self.states.len()],
            first: Vec::new(),
            row,
        };
        for (si, st) in self.states.iter().enumerate() {
            if st.n <= WIDE_MIN {
                continue;
            }
            let Some(prods) = self
                .prods
                .get(st.first as usize..(st.first + st.n as u32) as usize)
            else {
                continue;
            };
            let start = w.first.len();
            w.first.resize(start + row, u16::MAX);
            let mut ee = u16::MAX;
            for (i, q) in prods.iter().enumerate() {
                let slot = match q.kind {
                    kind::AT | kind::SE => q.lname as usize,
                    kind::CH => row - 1,
                    kind::EE => {
                        ee = ee.min(i as u16);
                        continue;
                    }
                    _ => continue,
                };
                if let Some(x) = w.first.get_mut(start + slot) {
                    if *x == u16::MAX {
                        *x = i as u16;
                    }
                }
            }
            w.at[si] = (start as u32, true, ee);
        }
        w
    }
}
