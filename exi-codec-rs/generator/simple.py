"""XSD simple types -> EXI datatype representations (EXI 1.0 section 7.1)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from xsd import XS, Ctx, SchemaError, SchemaSet, xs

STRINGS = {
    "string", "anyURI", "ID", "IDREF", "NCName", "token", "normalizedString", "language", "Name", "NMTOKEN",
    "QName", "ENTITY",
}
INT_RANGES: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}


@dataclass(frozen=True)
class Simple:
    """An EXI datatype with the facets we enforce.

    kind: bool | int | enum | string | hex | b64.  For int: lo/hi inclusive bounds (None = unbounded).
    For string/hex/b64: min_len/max_len (characters or octets).  For enum: values in schema order.
    """

    kind: str
    lo: int | None = None
    hi: int | None = None
    min_len: int | None = None
    max_len: int | None = None
    values: tuple[str, ...] = ()
    name: str = ""

    @property
    def int_repr(self) -> str:
        """EXI integer representation: nbit, unsigned or signed."""
        if self.lo is not None and self.hi is not None and self.hi - self.lo < 4096:
            return "nbit"
        if self.lo is not None and self.lo >= 0:
            return "unsigned"
        return "signed"


def builtin(local: str) -> Simple:
    if local in STRINGS:
        return Simple("string", name=local)
    if local == "boolean":
        return Simple("bool", name=local)
    if local == "hexBinary":
        return Simple("hex", name=local)
    if local == "base64Binary":
        return Simple("b64", name=local)
    if local in INT_RANGES:
        lo, hi = INT_RANGES[local]
        return Simple("int", lo=lo, hi=hi, name=local)
    raise SchemaError(f"unsupported built-in type xs:{local}")


def resolve_simple(ss: SchemaSet, q: tuple[str, str]) -> Simple:
    if q[0] == XS:
        return builtin(q[1])
    if q in ss.stypes:
        node, ctx = ss.stypes[q]
        return simple_from_node(ss, node, ctx, q[1])
    raise SchemaError(f"unknown simple type {q}")


def simple_from_node(ss: SchemaSet, node: ET.Element, ctx: Ctx, name: str = "") -> Simple:
    """Resolve an xs:simpleType element (named or anonymous)."""
    restr = node.find(xs("restriction"))
    if restr is None:
        raise SchemaError(f"{ctx.path}: simple type {name!r} is not a restriction (list/union unsupported)")
    base_attr = restr.get("base")
    if base_attr:
        base = resolve_simple(ss, ctx.qname(base_attr))
    else:
        inner = restr.find(xs("simpleType"))
        if inner is None:
            raise SchemaError(f"{ctx.path}: restriction without base")
        base = simple_from_node(ss, inner, ctx)
    return apply_facets(base, restr, ctx, name)


def apply_facets(base: Simple, restr: ET.Element, ctx: Ctx, name: str) -> Simple:
    kind, lo, hi = base.kind, base.lo, base.hi
    min_len, max_len = base.min_len, base.max_len
    values: list[str] = []
    for f in restr:
        tag = f.tag.split("}")[1]
        v = f.get("value", "")
        if tag == "enumeration":
            values.append(v)
        elif tag == "minInclusive":
            lo = int(v) if lo is None else max(lo, int(v))
        elif tag == "maxInclusive":
            hi = int(v) if hi is None else min(hi, int(v))
        elif tag == "minExclusive":
            lo = int(v) + 1 if lo is None else max(lo, int(v) + 1)
        elif tag == "maxExclusive":
            hi = int(v) - 1 if hi is None else min(hi, int(v) - 1)
        elif tag == "length":
            min_len = max_len = int(v)
        elif tag == "minLength":
            min_len = int(v)
        elif tag == "maxLength":
            max_len = int(v)
        elif tag in ("annotation", "totalDigits", "whiteSpace"):
            pass
        else:
            raise SchemaError(f"{ctx.path}: unsupported facet {tag} in {name!r}")
    if values:
        if kind not in ("string",):
            raise SchemaError(f"{ctx.path}: enumeration of non-string type {name!r} unsupported")
        return Simple("enum", values=tuple(values), name=name)
    return Simple(kind, lo=lo, hi=hi, min_len=min_len, max_len=max_len, name=name or base.name)
