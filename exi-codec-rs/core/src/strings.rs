//! EXI value string table (EXI 1.0 section 7.3.3): a global partition and one local partition per
//! qualified name, compact identifiers in order of insertion. Empty strings are never added.

/// String table of one stream.
///
/// The ISO 15118 / DIN profile as implemented by EXIficient in the reference codec uses a value partition
/// capacity of 0 (verified against the captures: repeated values are always written literally), so the
/// table is created disabled: nothing is ever added and every hit is a miss.
#[derive(Default)]
pub struct StringTable {
    enabled: bool,
    global: Vec<String>,
    /// (qname id, global ids in local order).
    local: Vec<(u16, Vec<u32>)>,
}

/// Number of bits for a compact id in a partition of `n` entries.
#[inline]
pub fn id_bits(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

impl StringTable {
    /// A table with unbounded value partitions (EXI default options).
    pub fn unbounded() -> Self {
        StringTable {
            enabled: true,
            ..Default::default()
        }
    }

    /// Global partition size.
    pub fn global_len(&self) -> usize {
        self.global.len()
    }

    fn local_of(&self, q: u16) -> Option<&Vec<u32>> {
        self.local.iter().find(|(k, _)| *k == q).map(|(_, v)| v)
    }

    /// Local partition size of `q`.
    pub fn local_len(&self, q: u16) -> usize {
        self.local_of(q).map_or(0, |v| v.len())
    }

    /// Value at local id.
    pub fn local_get(&self, q: u16, id: usize) -> Option<&str> {
        self.local_of(q)
            .and_then(|v| v.get(id))
            .map(|g| self.global[*g as usize].as_str())
    }

    /// Value at global id.
    pub fn global_get(&self, id: usize) -> Option<&str> {
        self.global.get(id).map(|s| s.as_str())
    }

    /// Local compact id of `s` under `q`.
    pub fn find_local(&self, q: u16, s: &str) -> Option<usize> {
        let v = self.local_of(q)?;
        v.iter().position(|g| self.global[*g as usize] == s)
    }

    /// Global compact id of `s`.
    pub fn find_global(&self, s: &str) -> Option<usize> {
        self.global.iter().position(|g| g == s)
    }

    /// Add a new value under `q` (no-op for empty strings).
    pub fn add(&mut self, q: u16, s: &str) {
        if !self.enabled || s.is_empty() {
            return;
        }
        let g = self.global.len() as u32;
        self.global.push(s.to_owned());
        if let Some((_, v)) = self.local.iter_mut().find(|(k, _)| *k == q) {
            v.push(g);
        } else {
            self.local.push((q, vec![g]));
        }
    }
}
