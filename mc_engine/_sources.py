"""Provenance: does every ``source = "..."`` of a prior file resolve to a document in the repository?

The catalogue is ``docs/sources.toml`` (one entry per document: title, publisher, date, link; optional path,
aliases). The rule, stated there too:

1. every document a source string names (a file name, an ``arXiv NNNN.NNNNN``, a web address with a path) is an
   entry's key
   or alias, and an entry's ``path`` exists in the repository;
2. the string cites at least one entry (key or alias, case-insensitive) or begins with a judgement marker
   (:data:`JUDGEMENTS`: ``EST``, ``stress scenario``, ``unused``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED: tuple[str, ...] = ("title", "publisher", "date", "link")
"""Fields every catalogue entry must give."""
JUDGEMENTS: tuple[str, ...] = ("EST", "stress scenario", "unused")
"""Openings that mark a source string as needing no document: the authors' estimate (``EST``), a bound chosen
for a stress test (``stress scenario``), or a value the model does not read (``unused``)."""

_FILE = re.compile(r"[A-Za-z0-9_.-]+\.(?:txt|md|pdf|csv|json)\b")
_ARXIV = re.compile(r"arxiv\s+\d{4}\.\d{4,5}", re.I)
_WEB = re.compile(r"\b(?:[a-z0-9-]+\.)+[a-z]{2,6}/[A-Za-z0-9_./-]*[A-Za-z0-9_/-]", re.I)
"""A web address with a path (``epoch.ai/data/...``); a bare host such as ``Character.ai`` is a name."""


@dataclass(frozen=True)
class Catalogue:
    """The entries of ``docs/sources.toml``: key -> fields, and every lower-cased key and alias -> key."""

    entries: dict[str, dict[str, Any]]
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Catalogue:
        entries = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("sources", {})
        names: dict[str, str] = {}
        for key, body in entries.items():
            for name in (key, *body.get("aliases", ())):
                names[name.lower()] = key
        return cls(entries, names)

    def problems(self, root: str | Path) -> list[str]:
        """Entries lacking a required field, or whose ``path`` is not a file under ``root``."""
        out = []
        for key, body in self.entries.items():
            out += [f"{key}: no {f}" for f in REQUIRED if not str(body.get(f, "")).strip()]
            if "path" in body and not (Path(root) / body["path"]).is_file():
                out.append(f"{key}: path {body['path']} is not a file of the repository")
        return out

    def named_documents(self, source: str) -> list[str]:
        """The documents ``source`` names by file name, arXiv number or web address (as written)."""
        found = _FILE.findall(source) + _ARXIV.findall(source)
        found += [m for m in _WEB.findall(source) if not _FILE.fullmatch(m)]
        return found

    def unresolved(self, source: str) -> list[str]:
        """Why ``source`` does not resolve (empty when it does)."""
        text = source.lower()
        out = [f"names {doc!r}, which is not in docs/sources.toml" for doc in self.named_documents(source)
               if " ".join(doc.lower().split()) not in self.names]
        judgement = source.strip().lower().startswith(tuple(j.lower() for j in JUDGEMENTS))
        if not judgement and not any(name in text for name in self.names):
            out.append("cites no entry of docs/sources.toml and does not begin with a judgement marker "
                       f"({', '.join(JUDGEMENTS)})")
        return out


def prior_sources(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every ``source`` string of a parsed prior file, with the dotted key of the table that holds it."""
    for key, value in tree.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key == "source" and isinstance(value, str):
            yield prefix or "(top)", value
        elif isinstance(value, Mapping):
            yield from prior_sources(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from prior_sources(item, f"{where}[{i}]")
