"""Read a prior file and its ``include`` chain into one merged tree, remembering which file set each key.

Tables merge key by key, inputs whole. Files are read only below the include root, as regular files of at most
:data:`MAX_FILE_BYTES`, nested at most :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from ..errors import PriorError, Problem
from .specs import is_spec, show_value

Key = tuple[str, ...]
"""A key path in the prior tree, e.g. ``("companies", "openai", "cash0")``."""


MAX_DEPTH = 32
"""Deepest nesting of tables and lists a prior file may have (the schema needs 5)."""


MAX_FILE_BYTES = 4 * 2**20
"""Largest prior file read (the bundled baseline is ~40 kB): /dev/zero or a 1 GB file is refused, not read."""


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Parse one file. A file that cannot be read is blamed on the ``include`` that names it.

    Only a regular file of at most :data:`MAX_FILE_BYTES` is read (a FIFO would block, a device never end).
    """
    where = (chain[-1], "include") if chain else (path, "")
    included = f" (included from {chain[-1]})" if chain else ""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise PriorError(Problem(*where, f"cannot read {path}: {kind}; a prior file is a TOML file{included}"))
        if info.st_size > MAX_FILE_BYTES:
            raise PriorError(Problem(*where, f"{path} is {info.st_size:,} bytes; prior files are at most "
                                             f"{MAX_FILE_BYTES:,}{included}"))
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]
    except PriorError:
        raise
    except FileNotFoundError:
        if chain:
            raise PriorError(Problem(*where, f"{path}: file not found{included}")) from None
        raise PriorError(Problem(path, "", "no such file"), head="cannot read the prior file") from None
    except (OSError, ValueError) as exc:  # no permission, a NUL in the name
        raise PriorError(Problem(*where, f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}"
                                         f"{included}")) from None
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() does
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PriorError(Problem(path, "", f"not UTF-8 text: invalid byte at line {line}; save the file as "
                                           "UTF-8")) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriorError(Problem(path, "", f"TOML syntax error: {exc}{_syntax_context(text, str(exc))}")) from None
    except RecursionError:
        lines = text.splitlines()
        deep = next((i for i, ln in enumerate(lines, 1) if max(ln.count("["), ln.count("{")) > MAX_DEPTH), None)
        at = f" at line {deep}" if deep else ""
        raise PriorError(Problem(path, "", f"lists or inline tables nested too deeply{at}; prior files nest at "
                                           f"most {MAX_DEPTH} levels")) from None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")


def _syntax_context(text: str, message: str) -> str:
    """`` (in [table])`` for the table header in force at the line a TOML error names, if any."""
    match = re.search(r"at line (\d+)", message)
    if not match:
        return ""
    table = ""
    for line in text.splitlines()[: int(match.group(1)) - 1]:
        header = _HEADER.match(line)
        if header:
            table = header.group(1)
    return f" (in [{table}])" if table else ""


def _too_deep(node: Any) -> Key | None:
    """The key path of the first table or list nested more than :data:`MAX_DEPTH` levels, if any."""
    stack: list[tuple[Any, Key, int]] = [(node, (), 0)]
    while stack:
        item, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return key
        if isinstance(item, dict):
            stack.extend((v, (*key, str(k)), depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, key, depth + 1) for v in item)
    return None


def _mark(node: Any, key: Key, file: Path, origin: dict[Key, Path]) -> None:
    origin[key] = file
    if isinstance(node, dict):
        for k, v in node.items():
            _mark(v, (*key, k), file, origin)


def _is_table(node: Any) -> bool:
    return isinstance(node, dict) and not is_spec(node)


def _merge(base: dict, base_origin: dict[Key, Path], over: dict, over_origin: dict[Key, Path], key: Key) -> None:
    """Merge ``over`` into ``base`` in place: tables key by key, values (inputs, lists, numbers) whole.

    ``*_origin`` map every key path to the file it came from; they are merged alongside.
    """
    for k, v in over.items():
        sub = (*key, k)
        if _is_table(v) and _is_table(base.get(k)):
            base_origin.setdefault(sub, over_origin[sub])
            _merge(base[k], base_origin, v, over_origin, sub)
        else:
            v = _keep_bounds(base.get(k), v)
            for old in [p for p in base_origin if p[: len(sub)] == sub]:
                del base_origin[old]
            base[k] = v
            base_origin.update({p: f for p, f in over_origin.items() if p[: len(sub)] == sub})


def _keep_bounds(old: Any, new: Any) -> Any:
    """An overriding distribution keeps the bounds of the one it replaces unless it states its own.

    A scenario that redraws ``algo_gain`` from a new ``ci90`` still means the baseline's support; a
    point value (a number or ``value = x``) needs no bounds.
    """
    if (isinstance(new, dict) and is_spec(new) and "value" not in new and "bounds" not in new
            and isinstance(old, dict) and is_spec(old) and "bounds" in old):
        return {**new, "bounds": old["bounds"]}
    return new


def _load_tree(path: Path, chain: tuple[Path, ...], files: list[Path], root: Path) -> tuple[dict, dict[Key, Path]]:
    """Read ``path`` and its includes; return the merged tree and the file of every key path.

    ``path`` is absolute and normalized as written (``..`` removed, symlinks kept). Includes must be ``.toml``
    files under ``root`` judged the same way, on the path as written: ``..`` cannot climb out, and a symlink
    inside the tree (the tree's own content) is followed like a folder.
    """
    written = path
    try:
        path = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise PriorError(Problem(chain[-1] if chain else path, "include" if chain else "",
                                 f"cannot resolve {path}: {exc}")) from None
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise PriorError(Problem(chain[-1], "include", f"include cycle: {cycle}; remove one of these includes"))
    raw = _read_toml(path, chain)
    deep = _too_deep(raw)
    if deep is not None:
        shown = _dotted(deep[: MAX_DEPTH // 4]) + "..."
        raise PriorError(Problem(path, shown, f"nested more than {MAX_DEPTH} levels deep; prior files nest tables "
                                              f"and lists at most {MAX_DEPTH} levels"))
    includes = raw.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) and i.strip() for i in includes):
        raise PriorError(Problem(path, "include", f"must be a file path or a list of them (got {show_value(includes)})"))
    merged: dict[str, Any] = {}
    origin: dict[Key, Path] = {(): path}
    for inc in includes:
        target = Path(os.path.normpath(written.parent / inc))
        inside = target.is_relative_to(root)
        if not inside or Path(inc).suffix != ".toml":
            why = "is not a .toml file" if inside else f"is outside the prior tree {root}"
            raise PriorError(Problem(path, "include", f"{show_value(inc)} {why}; includes name .toml files under the "
                                                      "top-level file's folder or the folder above it "
                                                      "(load_priors(..., include_root=...) widens that)"))
        sub, sub_origin = _load_tree(target, (*chain, path), files, root)
        _merge(merged, origin, sub, sub_origin, ())
    mine: dict[Key, Path] = {}
    _mark(raw, (), path, mine)
    _merge(merged, origin, raw, mine, ())
    files.append(path)
    return merged, origin


def _dotted(key: Key) -> str:
    """A key path as TOML writes it: ``companies."a.b".cash0``; parts other than bare keys are quoted."""
    return ".".join(k if re.fullmatch(r"[A-Za-z0-9_\-\[\]]+", k) else json.dumps(k, ensure_ascii=False) for k in key)
