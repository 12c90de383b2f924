"""Minimal XML Schema loader for the V2G schema sets.

Reads the XSD files (following xs:import / xs:include), resolves qualified names and exposes the global
components the EXI grammar builder needs.  Only the XSD features used by the V2G schemas and XMLDSig are
supported; anything else raises ``SchemaError`` so that an unsupported schema never silently produces a
wrong grammar.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

XS = "http://www.w3.org/2001/XMLSchema"
Q = tuple[str, str]  # (namespace uri, local name)


class SchemaError(Exception):
    """The schema uses a construct this generator does not support."""


def xs(tag: str) -> str:
    return f"{{{XS}}}{tag}"


@dataclass
class Ctx:
    """Per-file context: target namespace, prefix map and form defaults."""

    path: str
    tns: str
    nsmap: dict[str, str]
    elem_qualified: bool
    attr_qualified: bool

    def qname(self, text: str) -> Q:
        if ":" in text:
            prefix, local = text.split(":", 1)
            if prefix not in self.nsmap:
                raise SchemaError(f"{self.path}: unknown prefix {prefix!r}")
            return (self.nsmap[prefix], local)
        return (self.nsmap.get("", ""), text)


@dataclass
class SchemaSet:
    """All global components reachable from a root schema file."""

    root_dir: str
    elements: dict[Q, tuple[ET.Element, Ctx]] = field(default_factory=dict)
    ctypes: dict[Q, tuple[ET.Element, Ctx]] = field(default_factory=dict)
    stypes: dict[Q, tuple[ET.Element, Ctx]] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)
    elem_order: list[Q] = field(default_factory=list)

    def load(self, path: str) -> None:
        path = os.path.normpath(path)
        if path in self.loaded:
            return
        if not os.path.exists(path):
            alt = os.path.join(self.root_dir, os.path.basename(path))
            if not os.path.exists(alt):
                raise SchemaError(f"schema file not found: {path}")
            path = os.path.normpath(alt)
            if path in self.loaded:
                return
        self.loaded.add(path)
        nsmap: dict[str, str] = {}
        root = None
        for event, item in ET.iterparse(path, events=("start-ns", "start")):
            if event == "start-ns":
                prefix, uri = item  # type: ignore[misc]
                nsmap.setdefault(prefix, uri)
            elif root is None:
                root = item  # type: ignore[assignment]
        assert root is not None
        tree = ET.parse(path).getroot()
        ctx = Ctx(
            path=path,
            tns=tree.get("targetNamespace", ""),
            nsmap=nsmap,
            elem_qualified=tree.get("elementFormDefault") == "qualified",
            attr_qualified=tree.get("attributeFormDefault") == "qualified",
        )
        base = os.path.dirname(path)
        for child in tree:
            if child.tag in (xs("import"), xs("include")):
                loc = child.get("schemaLocation")
                if loc:
                    self.load(os.path.join(base, loc))
            elif child.tag == xs("element"):
                q = (ctx.tns, child.get("name", ""))
                self.elements[q] = (child, ctx)
                self.elem_order.append(q)
            elif child.tag == xs("complexType"):
                self.ctypes[(ctx.tns, child.get("name", ""))] = (child, ctx)
            elif child.tag == xs("simpleType"):
                self.stypes[(ctx.tns, child.get("name", ""))] = (child, ctx)
            elif child.tag in (xs("annotation"),):
                pass
            elif child.tag in (xs("group"), xs("attributeGroup"), xs("attribute"), xs("notation")):
                # Not used by the V2G schemas; XMLDSig declares none of these at top level.
                raise SchemaError(f"{path}: unsupported top-level {child.tag}")

    def substitutes(self, head: Q) -> list[Q]:
        """Members of the substitution group of ``head`` (transitively), head included."""
        out = [head]
        changed = True
        while changed:
            changed = False
            for q, (node, ctx) in self.elements.items():
                sg = node.get("substitutionGroup")
                if sg and ctx.qname(sg) in out and q not in out:
                    out.append(q)
                    changed = True
        return out
