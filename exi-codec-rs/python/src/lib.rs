//! Thin PyO3 binding: `josev._exi`. All work happens in the pure `exi-codec` crate; this layer converts
//! between Python objects and the document tree and maps errors to `josev._exi.ExiError`.
use exi_codec::decode::Val;
use exi_codec::encode::Src;
use exi_codec::encode::{Entries, Scal};
use exi_codec::{BigInt, Bin, Integer, Schema, Value};
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

pyo3::create_exception!(
    _exi,
    ExiError,
    PyValueError,
    "EXI encoding or decoding error (args: message, bit, expected)."
);

fn schema_of(name: &str) -> PyResult<&'static Schema> {
    exi_codec::schema(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown schema {name:?}; expected one of {:?}",
            exi_codec::SCHEMA_NAMES
        ))
    })
}

/// The exception type raised for codec errors: `josev.exi.ExiError` once `josev.exi` has registered it
/// (so that its functions can be the native ones, with no Python wrapper), else this module's `ExiError`.
static ERROR_TYPE: GILOnceCell<Py<pyo3::types::PyType>> = GILOnceCell::new();

#[cold]
fn exi_err(e: exi_codec::Error) -> PyErr {
    let args = (e.to_string(), e.bit(), e.expected().to_string());
    Python::with_gil(|py| match ERROR_TYPE.get(py) {
        Some(t) => PyErr::from_type(t.bind(py).clone(), args),
        None => ExiError::new_err(args),
    })
}

/// Register the exception type that codec errors raise (called once by `josev.exi`); it is called with
/// (message, bit, expected).
#[pyfunction]
fn set_error_type(py: Python<'_>, cls: Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
    let _ = ERROR_TYPE.set(py, cls.unbind());
    Ok(())
}

/// A Python int of an integer wider than i128 (through its decimal text: rare and small).
#[cold]
#[inline(never)]
fn big_to_py(b: &BigInt) -> *mut ffi::PyObject {
    let text = std::ffi::CString::new(b.to_string()).unwrap_or_default();
    // SAFETY: GIL held (callers); a NUL-terminated decimal string; a new reference or null (error set).
    unsafe { ffi::PyLong_FromString(text.as_ptr(), std::ptr::null_mut(), 10) }
}

/// The integer of a Python int that does not fit in i128 (through its decimal text).
fn big_from_py(o: &Bound<'_, PyAny>) -> Result<BigInt, exi_codec::Error> {
    let too_large = || exi_codec::Error::new(0, "integer too large", "at most 1024 bits");
    let text = o.str().map_err(|_| too_large())?;
    match Integer::parse(text.to_str().map_err(|_| too_large())?) {
        Some(Integer::Big(b)) => Ok(b),
        _ => Err(too_large()),
    }
}

fn to_py<'py>(py: Python<'py>, s: &Schema, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    to_py_k(py, &names(py, s).keys, v)
}

fn to_py_k<'py>(py: Python<'py>, k: &[Py<PyString>], v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(n) => match i64::try_from(*n) {
            Ok(small) => small.into_pyobject(py)?.into_any(),
            Err(_) => n.into_pyobject(py)?.into_any(),
        },
        // SAFETY: GIL held; a new reference, or null with the Python error set (taken by from_owned_ptr_or_err).
        Value::Big(b) => unsafe { Bound::from_owned_ptr_or_err(py, big_to_py(b))? },
        Value::Str(x) => PyString::new(py, x).into_any(),
        Value::Enum(x) => PyString::intern(py, x).into_any(),
        Value::Bytes(b, Bin::Hex) => PyString::new(py, &exi_codec::text::hex_encode(b)).into_any(),
        Value::Bytes(b, Bin::B64) => PyString::new(py, &exi_codec::text::b64_encode(b)).into_any(),
        Value::List(l) => {
            let out = PyList::empty(py);
            for x in l {
                out.append(to_py_k(py, k, x)?)?;
            }
            out.into_any()
        }
        Value::Map(m) => {
            let d = PyDict::new(py);
            for (key, x) in m {
                let val = to_py_k(py, k, x)?;
                if *key == exi_codec::VALUE_KEY {
                    d.set_item(exi_codec::VALUE_NAME, val)?;
                } else {
                    d.set_item(k[*key as usize].bind(py), val)?;
                }
            }
            d.into_any()
        }
    })
}

fn from_py(s: &Schema, o: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    let table = names(o.py(), s).ids.bind(o.py());
    from_py_t(s, table, o, depth)
}

fn from_py_t(
    s: &Schema,
    table: &Bound<'_, PyDict>,
    o: &Bound<'_, PyAny>,
    depth: usize,
) -> PyResult<Value> {
    if depth > 200 {
        return Err(ExiError::new_err((
            "message nesting too deep".to_string(),
            0usize,
            String::new(),
        )));
    }
    if let Ok(b) = o.downcast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if o.is_instance_of::<PyInt>() {
        return match o.extract::<i128>() {
            Ok(n) => Ok(Value::Int(n)),
            Err(_) => Ok(Value::Big(Box::new(big_from_py(o).map_err(exi_err)?))),
        };
    }
    if let Ok(x) = o.downcast::<PyString>() {
        return Ok(Value::Str(x.to_str()?.to_owned()));
    }
    if let Ok(b) = o.downcast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec(), Bin::B64));
    }
    if let Ok(d) = o.downcast::<PyDict>() {
        let mut m = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            if v.is_none() {
                continue; // None = absent
            }
            let id: u16 = match table.get_item(&k)? {
                Some(id) => id.extract()?,
                None => {
                    return Err(ExiError::new_err((
                        format!("unknown name {} in schema {}", k.repr()?, s.name),
                        0usize,
                        String::new(),
                    )))
                }
            };
            m.push((id, from_py_t(s, table, &v, depth + 1)?));
        }
        return Ok(Value::Map(m));
    }
    if let Ok(l) = o.downcast::<PyList>() {
        let mut out = Vec::with_capacity(l.len());
        for x in l.iter() {
            out.push(from_py_t(s, table, &x, depth + 1)?);
        }
        return Ok(Value::List(out));
    }
    if let Ok(l) = o.downcast::<PyTuple>() {
        let mut out = Vec::with_capacity(l.len());
        for x in l.iter() {
            out.push(from_py_t(s, table, &x, depth + 1)?);
        }
        return Ok(Value::List(out));
    }
    Err(ExiError::new_err((
        format!("unsupported value type {}", o.get_type().name()?),
        0usize,
        String::new(),
    )))
}

/// Interned key, enumeration and `value` strings of one schema, built once.
struct Names {
    schema: &'static Schema,
    /// The schema's name as an interned Python string: a call that passes it (a literal such as `"din"`)
    /// is resolved by pointer, with no string comparison.
    name: Py<PyString>,
    keys: Vec<Py<PyString>>,
    /// Presence bit of each key (from its string hash, so a dict's keys give the same bits).
    bits: Vec<u64>,
    enums: Vec<Py<PyString>>,
    /// Open-addressing table of the interned enumeration strings: (object address, index in the schema's
    /// `enums`). An enumeration value given as one of them (a literal in Python code, or a value our
    /// decoder returned) reaches the encoder as the schema's own text, which it finds by address.
    enum_ptrs: Vec<(usize, u16)>,
    /// The same for the interned key strings and `value`: (object address, local-name id); a dict key that
    /// is one of them is resolved with no hashing or dict lookup.
    key_ptrs: Vec<(usize, u16)>,
    value: Py<PyString>,
    /// Presence bit of `value`.
    value_bit: u64,
    /// Dict key -> local-name id (a Python int), for the keys of a message dict.
    ids: Py<PyDict>,
}

/// The presence bit of a string with Python hash `h`.
#[inline]
fn hash_bit(h: ffi::Py_hash_t) -> u64 {
    1u64 << ((h as u64 >> 7) & 63)
}

/// The first slot of address `p` in an address table of `len` (a power of two) slots.
#[inline(always)]
fn ptr_slot(p: usize, len: usize) -> usize {
    // in u64 on every target: on 32-bit ones (armv7, i686) usize cannot hold the constant
    ((((p as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize) & (len - 1)
}
/// The id of object `k` in address table `t` (`None`: not in the table).
#[inline]
fn ptr_lookup(t: &[(usize, u16)], k: *mut ffi::PyObject) -> Option<u16> {
    let mut i = ptr_slot(k as usize, t.len());
    loop {
        let (p, id) = t[i];
        if p == k as usize {
            return Some(id);
        }
        if p == 0 {
            return None;
        }
        i = (i + 1) & (t.len() - 1);
    }
}
/// An address table of (object address, id) pairs, linear probing, at most half full. Equal texts are one
/// interned object: the last id wins, as in the `ids` dict.
fn ptr_table(all: &[(usize, u16)]) -> Vec<(usize, u16)> {
    let len = (all.len() * 2).next_power_of_two().max(8);
    let mut t = vec![(0usize, 0u16); len];
    for &(p, id) in all {
        let mut i = ptr_slot(p, len);
        while t[i].0 != 0 && t[i].0 != p {
            i = (i + 1) & (len - 1);
        }
        t[i] = (p, id);
    }
    t
}

static NAMES: GILOnceCell<Vec<Names>> = GILOnceCell::new();

fn all_names(py: Python<'_>) -> &'static [Names] {
    NAMES.get_or_init(py, || {
        let bit = |n: &str| hash_bit(PyString::intern(py, n).hash().unwrap_or(0) as ffi::Py_hash_t);
        exi_codec::generated::ALL
            .iter()
            .map(|sc| {
                let ids = PyDict::new(py);
                for (i, n) in sc.lnames.iter().enumerate() {
                    let _ = ids.set_item(PyString::intern(py, n), i);
                }
                let _ = ids.set_item(
                    PyString::intern(py, exi_codec::VALUE_NAME),
                    exi_codec::VALUE_KEY as usize,
                );
                Names {
                    schema: sc,
                    name: PyString::intern(py, sc.name).unbind(),
                    keys: sc
                        .lnames
                        .iter()
                        .map(|n| PyString::intern(py, n).unbind())
                        .collect(),
                    bits: sc.lnames.iter().map(|n| bit(n)).collect(),
                    enums: sc
                        .enums
                        .iter()
                        .map(|n| PyString::intern(py, n).unbind())
                        .collect(),
                    key_ptrs: ptr_table(
                        &sc.lnames
                            .iter()
                            .enumerate()
                            .map(|(i, n)| (PyString::intern(py, n).as_ptr() as usize, i as u16))
                            .chain(std::iter::once((
                                PyString::intern(py, exi_codec::VALUE_NAME).as_ptr() as usize,
                                exi_codec::VALUE_KEY,
                            )))
                            .collect::<Vec<_>>(),
                    ),
                    enum_ptrs: ptr_table(
                        &sc.enums
                            .iter()
                            .enumerate()
                            .filter_map(|(i, n)| {
                                Some((
                                    PyString::intern(py, n).as_ptr() as usize,
                                    u16::try_from(i).ok()?,
                                ))
                            })
                            .collect::<Vec<_>>(),
                    ),
                    value: PyString::intern(py, exi_codec::VALUE_NAME).unbind(),
                    value_bit: bit(exi_codec::VALUE_NAME),
                    ids: ids.unbind(),
                }
            })
            .collect()
    })
}

fn names(py: Python<'_>, s: &Schema) -> &'static Names {
    let all = all_names(py);
    all.iter()
        .find(|n| std::ptr::eq(n.schema, s))
        .unwrap_or(&all[0])
}

/// The schema (and its interned strings) named by `name`: by pointer when `name` is the interned schema
/// name (the usual case: a string literal), else by its text (a name or a namespace).
#[inline]
fn resolve(name: &Bound<'_, PyAny>) -> PyResult<&'static Names> {
    let all = all_names(name.py());
    let p = name.as_ptr();
    if let Some(n) = all.iter().find(|n| n.name.as_ptr() == p) {
        return Ok(n);
    }
    resolve_text(name)
}

#[cold]
#[inline(never)]
fn resolve_text(name: &Bound<'_, PyAny>) -> PyResult<&'static Names> {
    let text = match name.downcast::<PyString>() {
        Ok(t) => t.to_str()?,
        Err(_) => {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "argument 'schema': expected a schema name (str), got {}",
                name.get_type().name()?
            )))
        }
    };
    Ok(names(name.py(), schema_of(text)?))
}

/// The local-name id of dict key `k` (None: not a name of the schema).
#[inline]
fn key_id(n: &Names, k: *mut ffi::PyObject) -> Result<Option<u16>, exi_codec::Error> {
    if let Some(id) = ptr_lookup(&n.key_ptrs, k) {
        return Ok(Some(id));
    }
    // SAFETY: GIL held (callers hold a Bound of the dict `k` comes from); `ids` is a live dict of str -> int;
    // the item is borrowed (kept alive by `ids`) or null.
    unsafe {
        let id = ffi::PyDict_GetItemWithError(n.ids.as_ptr(), k);
        if id.is_null() {
            if ffi::PyErr_Occurred().is_null() {
                return Ok(None);
            }
            return Err(py_error(PyErr::fetch(Python::assume_gil_acquired())));
        }
        Ok(Some(ffi::PyLong_AsLong(id) as u16))
    }
}

fn py_error(e: PyErr) -> exi_codec::Error {
    exi_codec::Error::new(0, format!("Python error: {e}"), "")
}

/// Depth of [`PySink::stack`]: the root dict and the deepest nesting the decoder accepts.
const STACK: usize = exi_codec::MAX_DEPTH + 2;

/// Builds the Python dicts straight from the decoder's events (no intermediate tree). Works on raw
/// CPython references (stable ABI calls) for speed: `root` is owned, the dicts on `stack` are borrowed from
/// their parents.
struct PySink<'py> {
    py: Python<'py>,
    n: &'static Names,
    root: *mut ffi::PyObject,
    /// The open dicts (`stack[..depth]`, root first): a fixed array, as the decoder bounds the nesting.
    stack: [*mut ffi::PyObject; STACK],
    depth: usize,
    text: String,
}

impl<'py> PySink<'py> {
    fn new(py: Python<'py>, n: &'static Names) -> PyResult<Self> {
        // SAFETY: the GIL is held (`py`); a null result is turned into the pending Python error.
        let root = unsafe { ffi::PyDict_New() };
        if root.is_null() {
            return Err(PyErr::fetch(py));
        }
        let mut stack = [std::ptr::null_mut(); STACK];
        stack[0] = root;
        Ok(PySink {
            py,
            n,
            root,
            stack,
            depth: 1,
            text: String::new(),
        })
    }

    #[inline]
    fn key(&self, key: u16) -> *mut ffi::PyObject {
        if key == exi_codec::VALUE_KEY {
            self.n.value.as_ptr()
        } else {
            self.n.keys[key as usize].as_ptr()
        }
    }

    #[cold]
    fn fail(&self) -> exi_codec::Error {
        py_error(PyErr::fetch(self.py))
    }

    /// Store `obj` (an owned reference, consumed; null = a failed constructor) under `key` in the open dict.
    #[inline]
    fn put(&self, key: u16, list: bool, obj: *mut ffi::PyObject) -> Result<(), exi_codec::Error> {
        if obj.is_null() {
            return Err(self.fail());
        }
        let d = self.stack[self.depth - 1];
        let k = self.key(key);
        // SAFETY: GIL held; `d` is a live dict (owned by `root` or a parent), `k` a live interned string,
        // `obj` an owned reference that is released exactly once.
        let rc = unsafe {
            if list {
                let x = ffi::PyDict_GetItemWithError(d, k);
                if !x.is_null() && ffi::PyList_Check(x) != 0 {
                    let rc = ffi::PyList_Append(x, obj);
                    ffi::Py_DECREF(obj);
                    rc
                } else {
                    let l = ffi::PyList_New(1);
                    if l.is_null() {
                        ffi::Py_DECREF(obj);
                        -1
                    } else {
                        ffi::PyList_SetItem(l, 0, obj); // steals obj
                        let rc = ffi::PyDict_SetItem(d, k, l);
                        ffi::Py_DECREF(l);
                        rc
                    }
                }
            } else {
                let rc = ffi::PyDict_SetItem(d, k, obj);
                ffi::Py_DECREF(obj);
                rc
            }
        };
        if rc != 0 {
            return Err(self.fail());
        }
        Ok(())
    }

    fn finish(mut self) -> Bound<'py, PyAny> {
        let root = std::mem::replace(&mut self.root, std::ptr::null_mut());
        // SAFETY: `root` is our owned, non-null reference to the result dict.
        unsafe { Bound::from_owned_ptr(self.py, root) }
    }
}

impl Drop for PySink<'_> {
    fn drop(&mut self) {
        if !self.root.is_null() {
            // SAFETY: GIL held for 'py; the partial result is released once.
            unsafe { ffi::Py_DECREF(self.root) }
        }
    }
}

impl exi_codec::decode::Sink for PySink<'_> {
    #[inline]
    fn start(&mut self, key: u16, list: bool, _fields: u8) -> Result<(), exi_codec::Error> {
        // SAFETY: GIL held.
        let d = unsafe { ffi::PyDict_New() };
        if d.is_null() {
            return Err(self.fail());
        }
        // `put` consumes our reference: on success the parent dict (or list) owns `d`, and the parent stays
        // alive as it is reachable from `root`, which we own and nothing else can reach; on failure `d` is
        // released and not used again.
        self.put(key, list, d)?;
        match self.stack.get_mut(self.depth) {
            Some(x) => *x = d,
            None => return Err(exi_codec::Error::new(0, "document nesting too deep", "")),
        }
        self.depth += 1;
        Ok(())
    }
    #[inline]
    fn end(&mut self) -> Result<(), exi_codec::Error> {
        self.depth = self.depth.saturating_sub(1).max(1);
        Ok(())
    }
    #[inline]
    fn value(&mut self, key: u16, list: bool, v: Val<'_>) -> Result<(), exi_codec::Error> {
        // SAFETY: GIL held; every constructor returns a new reference or null (checked in `put`).
        let obj = unsafe {
            match v {
                Val::Bool(b) => {
                    let o = if b { ffi::Py_True() } else { ffi::Py_False() };
                    ffi::Py_INCREF(o);
                    o
                }
                Val::Int(n) => match i64::try_from(n) {
                    Ok(small) => ffi::PyLong_FromLongLong(small),
                    Err(_) => n
                        .into_pyobject(self.py)
                        .unwrap_or_else(|e| match e {})
                        .into_ptr(),
                },
                Val::Big(b) => big_to_py(b),
                Val::Str(x) => {
                    ffi::PyUnicode_FromStringAndSize(x.as_ptr().cast(), x.len() as ffi::Py_ssize_t)
                }
                Val::Enum(_, i) => {
                    let o = self.n.enums[i as usize].as_ptr();
                    ffi::Py_INCREF(o);
                    o
                }
                Val::Bytes(b, Bin::Hex) if b.len() <= HEX_INLINE => {
                    // short hex (session ids, EVCCIDs): built on the stack
                    let mut buf = [0u8; 2 * HEX_INLINE];
                    let t = hex_to(b, &mut buf);
                    ffi::PyUnicode_FromStringAndSize(t.as_ptr().cast(), t.len() as ffi::Py_ssize_t)
                }
                Val::Bytes(b, k) => {
                    self.text.clear();
                    match k {
                        Bin::Hex => hex_into(b, &mut self.text),
                        Bin::B64 => self.text.push_str(&exi_codec::text::b64_encode(b)),
                    }
                    ffi::PyUnicode_FromStringAndSize(
                        self.text.as_ptr().cast(),
                        self.text.len() as ffi::Py_ssize_t,
                    )
                }
            }
        };
        self.put(key, list, obj)
    }
}

/// Octets of hexBinary values converted on the stack.
const HEX_INLINE: usize = 32;

/// Upper-case hex of `b` (at most `out.len() / 2` octets) in `out`.
fn hex_to<'a>(b: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    for (x, o) in b.iter().zip(out.chunks_exact_mut(2)) {
        o[0] = H[(x >> 4) as usize];
        o[1] = H[(x & 15) as usize];
    }
    &out[..(2 * b.len()).min(out.len())]
}

fn hex_into(b: &[u8], out: &mut String) {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(b.len() * 2);
    for x in b {
        out.push(H[(x >> 4) as usize] as char);
        out.push(H[(x & 15) as usize] as char);
    }
}

fn decode_py<'py>(
    py: Python<'py>,
    schema: &Bound<'py, PyAny>,
    data: &[u8],
    fragment: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let n = resolve(schema)?;
    let mut sink = PySink::new(py, n)?;
    // the decoder's buffers are reused from call to call (a fresh set if a decode on this thread is already
    // running, e.g. one called from a finalizer that our object creation triggered)
    SCRATCH
        .with(|sc| match sc.try_borrow_mut() {
            Ok(mut sc) => {
                exi_codec::decode::decode_with(n.schema, data, fragment, &mut sink, &mut sc)
            }
            Err(_) => exi_codec::decode::decode_to(n.schema, data, fragment, &mut sink),
        })
        .map_err(exi_err)?;
    Ok(sink.finish())
}

/// Kinds of [`PySrc`] objects.
const DICT: u8 = 0;
const LIST: u8 = 1;
const TUPLE: u8 = 2;
const OTHER: u8 = 3;
const STR: u8 = 4;
const INT: u8 = 5;

/// A Python message as the encoder reads it (dicts, lists/tuples, bool, int, str, bytes; None = absent).
#[derive(Clone)]
struct PySrc<'py> {
    o: Bound<'py, PyAny>,
    t: u8,
    n: &'static Names,
}

impl<'py> PySrc<'py> {
    fn new(o: Bound<'py, PyAny>, n: &'static Names) -> Self {
        let p = o.as_ptr();
        // SAFETY: GIL held; type identity and flag checks on a live object. The exact types (the usual
        // case) are recognized by their type object, without a call.
        let t = unsafe {
            let ty = ffi::Py_TYPE(p);
            if ty == std::ptr::addr_of_mut!(ffi::PyUnicode_Type) {
                STR
            } else if ty == std::ptr::addr_of_mut!(ffi::PyLong_Type) {
                INT
            } else if ty == std::ptr::addr_of_mut!(ffi::PyDict_Type) {
                DICT
            } else if ty == std::ptr::addr_of_mut!(ffi::PyList_Type) {
                LIST
            } else if ffi::PyDict_Check(p) != 0 {
                DICT
            } else if ffi::PyList_Check(p) != 0 {
                LIST
            } else if ffi::PyTuple_Check(p) != 0 {
                TUPLE
            } else {
                OTHER
            }
        };
        PySrc { o, t, n }
    }

    #[inline]
    fn wrap(&self, o: Bound<'py, PyAny>) -> Self {
        PySrc::new(o, self.n)
    }

    /// Wrap a borrowed reference (null = the pending Python error).
    #[inline]
    fn wrap_borrowed(&self, p: *mut ffi::PyObject) -> Result<Self, exi_codec::Error> {
        let py = self.o.py();
        if p.is_null() {
            return Err(py_error(PyErr::fetch(py)));
        }
        // SAFETY: GIL held; `p` is a live borrowed reference, which Bound takes a new reference to.
        Ok(self.wrap(unsafe { Bound::from_borrowed_ptr(py, p) }))
    }
}

impl Src for PySrc<'_> {
    #[inline(always)]
    fn is_map(&self) -> bool {
        self.t == DICT
    }
    #[inline(always)]
    fn get(&self, key: u16) -> Result<Option<Self>, exi_codec::Error> {
        if self.t != DICT {
            return Ok(None);
        }
        let k = if key == exi_codec::VALUE_KEY {
            self.n.value.as_ptr()
        } else {
            self.n.keys[key as usize].as_ptr()
        };
        // SAFETY: GIL held; `o` is a dict, `k` an interned str; the result is borrowed or null.
        unsafe {
            let v = ffi::PyDict_GetItemWithError(self.o.as_ptr(), k);
            if v.is_null() {
                if ffi::PyErr_Occurred().is_null() {
                    return Ok(None);
                }
                return Err(py_error(PyErr::fetch(self.o.py())));
            }
            if v == ffi::Py_None() {
                return Ok(None);
            }
            self.wrap_borrowed(v).map(Some)
        }
    }
    fn len(&self) -> usize {
        if self.t != DICT {
            return 0;
        }
        // SAFETY: GIL held; `o` is a dict.
        unsafe { ffi::PyDict_Size(self.o.as_ptr()) as usize }
    }
    #[inline(always)]
    fn list_len(&self) -> Option<usize> {
        // SAFETY: GIL held; the sizes of a list / tuple.
        unsafe {
            match self.t {
                LIST => Some(ffi::PyList_Size(self.o.as_ptr()) as usize),
                TUPLE => Some(ffi::PyTuple_Size(self.o.as_ptr()) as usize),
                _ => None,
            }
        }
    }
    #[inline(always)]
    fn item(&self, i: usize) -> Result<Self, exi_codec::Error> {
        // SAFETY: GIL held; GetItem returns a borrowed reference or null (index error, checked).
        unsafe {
            match self.t {
                LIST => {
                    self.wrap_borrowed(ffi::PyList_GetItem(self.o.as_ptr(), i as ffi::Py_ssize_t))
                }
                TUPLE => {
                    self.wrap_borrowed(ffi::PyTuple_GetItem(self.o.as_ptr(), i as ffi::Py_ssize_t))
                }
                _ => Ok(self.clone()),
            }
        }
    }
    #[cold]
    fn wide(&self) -> Result<BigInt, exi_codec::Error> {
        big_from_py(&self.o)
    }
    #[inline(always)]
    fn scalar(&self) -> Result<Scal<'_>, exi_codec::Error> {
        let o = &self.o;
        let p = o.as_ptr();
        if self.t == STR {
            if let Some(i) = ptr_lookup(&self.n.enum_ptrs, p) {
                return Ok(Scal::Str(self.n.schema.enums[i as usize]));
            }
            // SAFETY: GIL held; `p` is an exact str; the UTF-8 buffer lives as long as the object, which
            // `self` holds.
            unsafe {
                let mut len: ffi::Py_ssize_t = 0;
                let u = ffi::PyUnicode_AsUTF8AndSize(p, &mut len);
                if u.is_null() {
                    return Err(py_error(PyErr::fetch(o.py())));
                }
                let b = std::slice::from_raw_parts(u.cast::<u8>(), len as usize);
                return Ok(Scal::Str(std::str::from_utf8_unchecked(b)));
            }
        }
        // SAFETY: GIL held; `p` is a live object; type checks and PyLong_AsLongLongAndOverflow do not fail.
        unsafe {
            if self.t != INT && ffi::PyBool_Check(p) != 0 {
                return Ok(Scal::Bool(p == ffi::Py_True()));
            }
            if self.t == INT || ffi::PyLong_Check(p) != 0 {
                let mut overflow = 0;
                let n = ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow);
                if overflow == 0 && (n != -1 || ffi::PyErr_Occurred().is_null()) {
                    return Ok(Scal::Int(n as i128));
                }
                ffi::PyErr_Clear();
                if let Ok(n) = o.extract::<i128>() {
                    return Ok(Scal::Int(n));
                }
                return Ok(Scal::Wide); // converted by `wide` when the encoder needs it
            }
        }
        if let Ok(x) = o.downcast::<PyString>() {
            return Ok(Scal::Str(x.to_str().map_err(py_error)?));
        }
        if let Ok(b) = o.downcast::<PyBytes>() {
            return Ok(Scal::Bytes(b.as_bytes()));
        }
        if self.t <= TUPLE {
            return Ok(Scal::Compound);
        }
        Err(exi_codec::Error::new(
            0,
            format!(
                "unsupported value type {}",
                o.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ),
            "",
        ))
    }
    fn entries(&self, _s: &Schema) -> Result<Entries<Self>, exi_codec::Error> {
        let Ok(d) = self.o.downcast::<PyDict>() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            if v.is_none() {
                continue;
            }
            let id = match key_id(self.n, k.as_ptr())? {
                Some(id) => Ok(id),
                None => Err(k
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| "?".into())),
            };
            out.push((id, self.wrap(v)));
        }
        Ok(out)
    }
    fn presence(&self) -> u64 {
        if self.t != DICT {
            return 0;
        }
        let mut bits = 0u64;
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: GIL held; PyDict_Next yields borrowed references of a dict we do not mutate; the hash of
        // a str is cached (a key that cannot be hashed would not be in the dict).
        unsafe {
            while ffi::PyDict_Next(self.o.as_ptr(), &mut pos, &mut k, &mut v) != 0 {
                if v == ffi::Py_None() {
                    continue;
                }
                let h = ffi::PyObject_Hash(k);
                if h == -1 {
                    ffi::PyErr_Clear();
                    return u64::MAX;
                }
                bits |= hash_bit(h);
            }
        }
        // the text of an element with attributes is under "value"
        bits
    }
    #[inline]
    fn presence_bit(&self, key: u16) -> u64 {
        if key == exi_codec::VALUE_KEY {
            self.n.value_bit
        } else {
            self.n.bits[key as usize]
        }
    }
    fn keys_into(&self, out: &mut [u16; 8]) -> Option<usize> {
        if self.t != DICT {
            return None;
        }
        let p = self.o.as_ptr();
        // SAFETY: GIL held; `p` is a dict we do not mutate; PyDict_Next yields borrowed references.
        unsafe {
            if ffi::PyDict_Size(p) as usize > out.len() {
                return None;
            }
            let mut n = 0;
            let mut pos: ffi::Py_ssize_t = 0;
            let mut k: *mut ffi::PyObject = std::ptr::null_mut();
            let mut v: *mut ffi::PyObject = std::ptr::null_mut();
            while ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) != 0 {
                if v == ffi::Py_None() {
                    continue;
                }
                out[n] = key_id(self.n, k).ok()??;
                n += 1;
            }
            Some(n)
        }
    }
    fn first_entry(
        &self,
        _s: &Schema,
    ) -> Result<Option<exi_codec::encode::Entry<Self>>, exi_codec::Error> {
        if self.t != DICT {
            return Ok(None);
        }
        let p = self.o.as_ptr();
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: GIL held; `p` is a dict; PyDict_Next yields borrowed references, which are wrapped (a new
        // reference) before anything else runs.
        unsafe {
            while ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) != 0 {
                if v == ffi::Py_None() {
                    continue;
                }
                let py = self.o.py();
                let key = Bound::from_borrowed_ptr(py, k);
                let val = self.wrap(Bound::from_borrowed_ptr(py, v));
                let id = match key_id(self.n, k)? {
                    Some(id) => Ok(id),
                    None => Err(key
                        .repr()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|_| "?".into())),
                };
                return Ok(Some((id, val)));
            }
        }
        Ok(None)
    }
    fn describe(&self) -> String {
        self.o
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "?".into())
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<exi_codec::decode::Scratch> = std::cell::RefCell::default();
    static OUT: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(256));
}

fn encode_py<'py>(
    py: Python<'py>,
    schema: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
    fragment: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let n = resolve(schema)?;
    let src = PySrc::new(message.clone(), n);
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        exi_codec::encode::encode_from(n.schema, &src, fragment, &mut out).map_err(exi_err)?;
        Ok(PyBytes::new(py, &out))
    })
}

/// Decode EXI bytes with schema `schema` into a dict.
#[pyfunction]
fn decode<'py>(
    py: Python<'py>,
    schema: &Bound<'py, PyAny>,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    decode_py(py, schema, data, false)
}

/// Encode a dict with schema `schema` into EXI bytes.
#[pyfunction]
fn encode<'py>(
    py: Python<'py>,
    schema: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    encode_py(py, schema, message, false)
}

/// Decode an EXI fragment (signed elements) into a dict of elements.
#[pyfunction]
fn decode_fragment<'py>(
    py: Python<'py>,
    schema: &Bound<'py, PyAny>,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    decode_py(py, schema, data, true)
}

/// Encode a dict of elements as an EXI fragment (signed elements).
#[pyfunction]
fn encode_fragment<'py>(
    py: Python<'py>,
    schema: &Bound<'py, PyAny>,
    elements: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    encode_py(py, schema, elements, true)
}

/// Decode EXI bytes to the JSON dialect (string).
#[pyfunction]
fn decode_json(py: Python<'_>, schema: &str, data: &[u8]) -> PyResult<String> {
    let s = schema_of(schema)?;
    py.allow_threads(|| exi_codec::decode_json(s, data))
        .map_err(exi_err)
}

/// Encode the JSON dialect (string) to EXI bytes.
#[pyfunction]
fn encode_json<'py>(py: Python<'py>, schema: &str, json: &str) -> PyResult<Bound<'py, PyBytes>> {
    let s = schema_of(schema)?;
    let b = py
        .allow_threads(|| exi_codec::encode_json(s, json))
        .map_err(exi_err)?;
    Ok(PyBytes::new(py, &b))
}

/// A deterministic random schema-valid message (test/fuzz/bench helper): root element index in sorted
/// order, seed, size bound. Returns None when the walk hits its depth bound.
#[pyfunction]
#[pyo3(signature = (schema, root, seed, size=3))]
fn random_message<'py>(
    py: Python<'py>,
    schema: &str,
    root: usize,
    seed: u64,
    size: u32,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let s = schema_of(schema)?;
    match exi_codec::random::random_document(s, root, seed, size) {
        Some(v) => Ok(Some(to_py(py, s, &v)?)),
        None => Ok(None),
    }
}

/// Names of the global (root) elements of a schema, in EXI (sorted) order.
#[pyfunction]
fn root_elements(schema: &str) -> PyResult<Vec<&'static str>> {
    let s = schema_of(schema)?;
    Ok((0..exi_codec::random::root_count(s))
        .map(|i| exi_codec::random::root_name(s, i))
        .collect())
}

/// Render a message (or with fragment=True a dict of elements) as XML in schema order.
#[pyfunction]
#[pyo3(signature = (schema, message, fragment=false))]
fn to_xml(schema: &str, message: &Bound<'_, PyAny>, fragment: bool) -> PyResult<String> {
    let s = schema_of(schema)?;
    let v = from_py(s, message, 0)?;
    exi_codec::xml::to_xml(s, &v, fragment).map_err(exi_err)
}

/// Benchmark helper: nanoseconds for `n` decodes of `data` by the Rust core alone (no Python objects),
/// into a reused flat document ([`exi_codec::Doc`], the counterpart of libcbv2g's fixed structs).
#[pyfunction]
fn bench_decode(py: Python<'_>, schema: &str, data: &[u8], n: u32) -> PyResult<u64> {
    let s = schema_of(schema)?;
    let mut doc = exi_codec::Doc::default();
    doc.decode(s, data, false).map_err(exi_err)?;
    Ok(py.allow_threads(|| {
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(doc.decode(s, std::hint::black_box(data), false));
        }
        t.elapsed().as_nanos() as u64
    }))
}

/// Benchmark helper: nanoseconds for `n` encodes by the Rust core alone of the document `data` decodes to
/// (from the tree, into a reused output buffer).
#[pyfunction]
fn bench_encode(py: Python<'_>, schema: &str, data: &[u8], n: u32) -> PyResult<u64> {
    let s = schema_of(schema)?;
    let v = exi_codec::decode(s, data).map_err(exi_err)?;
    let mut out = Vec::with_capacity(data.len() + 16);
    Ok(py.allow_threads(|| {
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(exi_codec::encode::encode_from(
                s,
                &std::hint::black_box(&v),
                false,
                &mut out,
            ));
        }
        t.elapsed().as_nanos() as u64
    }))
}

/// Schema names and their namespaces.
#[pyfunction]
fn schemas() -> Vec<(&'static str, &'static str)> {
    exi_codec::generated::ALL
        .iter()
        .map(|s| (s.name, s.namespace))
        .collect()
}

/// Version of the native codec.
#[pyfunction]
fn version() -> &'static str {
    exi_codec::VERSION
}

#[pymodule]
fn _exi(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ExiError", m.py().get_type::<ExiError>())?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(schemas, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(random_message, m)?)?;
    m.add_function(wrap_pyfunction!(root_elements, m)?)?;
    m.add_function(wrap_pyfunction!(to_xml, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode_fragment, m)?)?;
    m.add_function(wrap_pyfunction!(encode_fragment, m)?)?;
    m.add_function(wrap_pyfunction!(decode_json, m)?)?;
    m.add_function(wrap_pyfunction!(encode_json, m)?)?;
    m.add_function(wrap_pyfunction!(bench_decode, m)?)?;
    m.add_function(wrap_pyfunction!(set_error_type, m)?)?;
    m.add_function(wrap_pyfunction!(bench_encode, m)?)?;
    Ok(())
}
