//! Bit-packed reader and writer (EXI bit-packed alignment, most significant bit first).

use crate::error::Error;

/// Reads bits from a byte slice.
///
/// Up to 56 bits ahead are kept in a word (`cache`, most significant bit first), so that most reads are a
/// compare and two shifts; the word is reloaded from the bytes when a read needs more bits than it holds.
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Bits of the stream (`data` may hold zero padding after them).
    end: usize,
    /// Stream position just after the bits held in `cache` (the read position is `base - avail`).
    base: usize,
    /// The next `avail` bits of the stream, left-aligned.
    cache: u64,
    /// Bits held in `cache` (at most 56, never past `end`).
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// A reader at bit 0.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            end: data.len() * 8,
            base: 0,
            cache: 0,
            avail: 0,
        }
    }

    /// A reader of the first `len` bytes of `data`; the bytes after them (zeros) only let the reader load
    /// whole words near the end of the stream.
    pub fn padded(data: &'a [u8], len: usize) -> Self {
        BitReader {
            data,
            end: len.min(data.len()) * 8,
            base: 0,
            cache: 0,
            avail: 0,
        }
    }

    /// Go back (or forward) to bit position `pos` (one already read).
    pub fn seek(&mut self, pos: usize) {
        self.base = pos.min(self.end);
        self.cache = 0;
        self.avail = 0;
    }

    /// Current bit position.
    #[inline]
    pub fn pos(&self) -> usize {
        self.base - self.avail as usize
    }

    /// Bits left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.end - self.pos()
    }

    /// Read `n` (<= 64) bits as an unsigned number.
    #[inline(always)]
    pub fn bits(&mut self, n: u32, what: &'static str) -> Result<u64, Error> {
        if n <= self.avail {
            // two shifts: n == 0 reads nothing (the top bit of cache >> 1 is zero); n <= 56 here
            let v = (self.cache >> 1) >> (63 - n);
            self.cache <<= n;
            self.avail -= n;
            return Ok(v);
        }
        self.bits_refill(n, what)
    }

    /// Reload the word at the read position, then read; byte by byte where a word cannot be loaded (the end
    /// of an unpadded stream) or `n` is larger than a word holds.
    #[inline(never)]
    fn bits_refill(&mut self, n: u32, what: &'static str) -> Result<u64, Error> {
        let pos = self.pos();
        let byte = pos >> 3;
        if let Some(w) = self.data.get(byte..byte + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            let avail = (self.end - pos).min(56) as u32;
            if n <= avail {
                let word = u64::from_be_bytes(a) << (pos & 7);
                self.base = pos + avail as usize;
                self.cache = word << n;
                self.avail = avail - n;
                return Ok((word >> 1) >> (63 - n));
            }
        }
        self.seek(pos);
        if n == 0 {
            return Ok(0);
        }
        if self.end - pos < n as usize {
            return Err(Error::new(pos, "premature end of stream", what));
        }
        let v = self.bits_slow(pos, n);
        self.base = pos + n as usize;
        Ok(v)
    }

    fn bits_slow(&self, mut pos: usize, n: u32) -> u64 {
        let mut v: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = self.data[pos >> 3];
            let off = (pos & 7) as u32;
            let avail = 8 - off;
            let take = avail.min(left);
            let chunk = ((byte as u32) >> (avail - take)) & ((1u32 << take) - 1);
            v = (v << take) | chunk as u64;
            left -= take;
            pos += take as usize;
        }
        v
    }

    /// Append `n` whole octets (not necessarily byte-aligned in the stream) to `out`.
    pub fn octets(&mut self, n: usize, out: &mut Vec<u8>, what: &'static str) -> Result<(), Error> {
        if self.remaining() < n * 8 {
            return Err(Error::new(self.pos(), "premature end of stream", what));
        }
        let mut left = n;
        while left >= 6 {
            let v = self.bits(48, what)?;
            out.extend_from_slice(&v.to_be_bytes()[2..]);
            left -= 6;
        }
        for _ in 0..left {
            out.push(self.bits(8, what)? as u8);
        }
        Ok(())
    }

    /// Read an EXI unsigned integer (7-bit groups, little-endian groups) up to 128 bits.
    pub fn uint(&mut self, what: &'static str) -> Result<u128, Error> {
        let start = self.pos();
        let mut v: u128 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.bits(8, what)?;
            if shift + 7 > 128 && ((b & 0x7f) >> (128 - shift)) != 0 {
                return Err(Error::new(start, "unsigned integer too large", what));
            }
            v |= ((b & 0x7f) as u128) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 126 {
                return Err(Error::new(start, "unsigned integer too large", what));
            }
        }
    }

    /// Read an unsigned integer of any width up to [`crate::bigint::MAX_BITS`]: `Ok(Some(v))` when it fits in
    /// `u128` (the fast path, as [`BitReader::uint`]), else `Ok(None)` with the value in `wide`
    /// (little-endian octets).
    pub fn uint_wide(
        &mut self,
        what: &'static str,
        wide: &mut Vec<u8>,
    ) -> Result<Option<u128>, Error> {
        let start = self.pos();
        let mut v: u128 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.bits(8, what)?;
            if shift + 7 > 128 && ((b & 0x7f) >> (128 - shift)) != 0 {
                break;
            }
            v |= ((b & 0x7f) as u128) << shift;
            if b & 0x80 == 0 {
                return Ok(Some(v));
            }
            shift += 7;
            if shift > 126 {
                break;
            }
        }
        // wider: go on in octets, from the group that did not fit
        self.seek(start);
        wide.clear();
        let mut shift = 0usize;
        loop {
            let b = self.bits(8, what)?;
            if shift > crate::bigint::MAX_BITS {
                return Err(Error::new(start, "integer too large", "at most 1024 bits"));
            }
            let g = (b & 0x7f) as u16;
            let (i, off) = (shift / 8, shift % 8);
            if wide.len() < i + 2 {
                wide.resize(i + 2, 0);
            }
            let x = g << off;
            wide[i] |= x as u8;
            wide[i + 1] |= (x >> 8) as u8;
            if b & 0x80 == 0 {
                return Ok(None);
            }
            shift += 7;
        }
    }

    /// Read an unsigned integer that must fit in `u32` (lengths, code points, ids).
    pub fn uint32(&mut self, what: &'static str) -> Result<u32, Error> {
        let start = self.pos();
        let v = self.uint(what)?;
        u32::try_from(v).map_err(|_| Error::new(start, "length or id out of range", what))
    }
}

/// Writes bits into a growing buffer.
#[derive(Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    acc: u64,
    nacc: u32,
}

impl BitWriter {
    /// An empty writer with some capacity.
    pub fn with_capacity(n: usize) -> Self {
        BitWriter {
            buf: Vec::with_capacity(n),
            acc: 0,
            nacc: 0,
        }
    }

    /// An empty writer that appends to `buf` (cleared first; its capacity is reused).
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        BitWriter {
            buf,
            acc: 0,
            nacc: 0,
        }
    }

    /// Bits written so far.
    pub fn pos(&self) -> usize {
        self.buf.len() * 8 + self.nacc as usize
    }

    /// Write the low `n` (<= 64) bits of `v`.
    #[inline(always)]
    pub fn bits(&mut self, n: u32, v: u64) {
        if n > 32 {
            self.put(n - 32, v >> 32);
            self.put(32, v & 0xffff_ffff);
        } else {
            self.put(n, v);
        }
    }

    /// Write `v`, which has at most `n` (<= 32) significant bits (event codes, enumeration indexes, n-bit
    /// offsets: the caller knows they fit, so nothing is masked).
    #[inline(always)]
    pub fn code(&mut self, n: u32, v: u64) {
        debug_assert!(n <= 32 && v >> n == 0);
        self.acc = (self.acc << n) | v;
        self.nacc += n;
        if self.nacc >= 32 {
            self.flush();
        }
    }

    /// `n` <= 32 bits; the accumulator holds fewer than 32 pending bits between calls.
    #[inline(always)]
    fn put(&mut self, n: u32, v: u64) {
        // n == 0 shifts by zero and adds nothing (the mask is zero)
        self.acc = (self.acc << n) | (v & ((1u64 << n) - 1));
        self.nacc += n;
        if self.nacc >= 32 {
            self.flush();
        }
    }

    #[inline(always)]
    fn flush(&mut self) {
        self.nacc -= 32;
        self.buf
            .extend_from_slice(&((self.acc >> self.nacc) as u32).to_be_bytes());
        self.acc &= (1u64 << self.nacc) - 1;
    }

    /// Write whole octets.
    pub fn octets(&mut self, b: &[u8]) {
        if self.nacc == 0 {
            self.buf.extend_from_slice(b);
            return;
        }
        let mut chunks = b.chunks_exact(4);
        for c in &mut chunks {
            self.put(32, u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64);
        }
        for x in chunks.remainder() {
            self.put(8, *x as u64);
        }
    }

    /// Write an EXI unsigned integer.
    #[inline(always)]
    pub fn uint(&mut self, v: u128) {
        if v < 0x80 {
            self.put(8, v as u64);
        } else if v < 0x4000 {
            self.put(16, ((v as u64 & 0x7f) | 0x80) << 8 | (v as u64 >> 7));
        } else {
            self.uint_long(v);
        }
    }

    #[inline(never)]
    fn uint_long(&mut self, mut v: u128) {
        loop {
            let b = (v & 0x7f) as u64;
            v >>= 7;
            if v == 0 {
                self.bits(8, b);
                return;
            }
            self.bits(8, b | 0x80);
        }
    }

    /// Write an unsigned integer given as little-endian octets (any width) in 7-bit groups.
    pub fn uint_le(&mut self, le: &[u8]) {
        let nbits = le
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i * 8 + 8 - le[i].leading_zeros() as usize);
        let mut shift = 0usize;
        loop {
            let (i, off) = (shift / 8, shift % 8);
            let lo = le.get(i).copied().unwrap_or(0) as u16;
            let hi = le.get(i + 1).copied().unwrap_or(0) as u16;
            let g = (((hi << 8) | lo) >> off) as u64 & 0x7f;
            shift += 7;
            if shift >= nbits {
                self.bits(8, g);
                return;
            }
            self.bits(8, g | 0x80);
        }
    }

    /// Pad with zero bits to a byte boundary and return the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        // fewer than 32 bits pending: left-align them in a word and append its leading whole bytes
        let n = self.nacc.div_ceil(8) as usize;
        let word = ((self.acc << (32 - self.nacc)) as u32).to_be_bytes();
        // a fixed-size copy (no call), then the unused bytes dropped
        let len = self.buf.len() + n;
        self.buf.extend_from_slice(&word);
        self.buf.truncate(len);
        self.buf
    }
}
