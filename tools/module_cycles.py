"""Fails when the Rust crate's modules use each other in a circle.

    python3 tools/module_cycles.py [src]

Reads the crate from ``src/lib.rs`` down through its ``mod`` declarations
(``#[path]`` included) and records every use of another module of the crate:
``use`` trees and paths in code that start with ``crate::``, ``super::`` or
``self::``, or with the name of a child module. Prints each circle with the
line behind every step, and exits 1 if there is one.

What counts as a use between two modules: a module and its own submodules
are one unit seen from outside, so a child's ``super::Engine`` and its
parent's ``mod get;`` or ``pub use get::Response`` form no circle. A use
from ``crate::http::get`` of ``crate::control`` is a use of ``control`` by
``http``, and one of ``crate::http::request`` a use of ``request`` by
``get``: circles are found among the modules of one parent. Code under
``#[cfg(test)]`` is left out (a test may drive several modules together).

The crate is only tokenised, not compiled, so macros that expand into paths
are not seen; cargo-modules (``dependencies --acyclic``) compiles the crate
with rust-analyzer, but needs 304 crates (162 of them rust-analyzer's) to
install, where this needs Python's standard library only.
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

Module = tuple[str, ...]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<raw_string>b?r(?P<hashes>\#*)")
  | (?P<string>b?")
  | (?P<char>b?'(?:[^'\\\n]|\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|.))')
  | (?P<lifetime>'[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>(?:r\#)?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<path_sep>::)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Token:
    kind: str  # "ident", "str", "::" or the punctuation character itself
    text: str
    line: int


def tokenise(source: str) -> list[Token]:
    """Identifiers, string literals' contents, ``::`` and punctuation, with
    their line; comments, other literals and lifetimes are dropped."""
    tokens: list[Token] = []
    pos, line = 0, 1
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        assert match is not None  # `punct` matches any character
        kind, text = match.lastgroup, match.group()
        end = match.end()
        if kind == "block_comment":
            depth, end = 1, pos + 2
            while depth:
                nxt = re.compile(r"/\*|\*/").search(source, end)
                if nxt is None:
                    raise SyntaxError(f"line {line}: unterminated comment")
                depth += 1 if nxt.group() == "/*" else -1
                end = nxt.end()
        elif kind == "raw_string":
            close = '"' + match.group("hashes")
            end = source.index(close, end) + len(close)
            tokens.append(Token("str", source[match.end() : end - len(close)], line))
        elif kind == "string":
            content = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL).match(source, end)
            if content is None:
                raise SyntaxError(f"line {line}: unterminated string")
            end = content.end()
            tokens.append(Token("str", content.group()[:-1], line))
        elif kind == "ident":
            tokens.append(Token("ident", text.removeprefix("r#"), line))
        elif kind == "path_sep":
            tokens.append(Token("::", text, line))
        elif kind == "punct":
            tokens.append(Token(text, text, line))
        line += source.count("\n", pos, end)
        pos = end
    # Lookahead past the end finds these instead of an IndexError.
    return tokens + [Token("eof", "", line)] * 3


@dataclass
class Use:
    source: Module
    target: Module
    file: Path
    line: int
    text: str


@dataclass
class Crate:
    root: Path
    modules: set[Module] = field(default_factory=lambda: {()})
    files: dict[Module, Path] = field(default_factory=dict)
    uses: list[Use] = field(default_factory=list)
    #: Paths as written, resolved once every module is known.
    pending: list[tuple[Module, list[str], Path, int]] = field(default_factory=list)


def module_name(module: Module) -> str:
    return "::".join(("crate", *module))


def skip_item(tokens: list[Token], i: int) -> int:
    """The index after the item starting at ``i``: its ``;`` or its
    outermost ``{ … }`` block, whichever ends it."""
    depth = 0
    while i < len(tokens):
        kind = tokens[i].kind
        if kind in "([":
            depth += 1
        elif kind in ")]":
            depth -= 1
        elif kind == ";" and depth == 0:
            return i + 1
        elif kind == "{" and depth == 0:
            return skip_block(tokens, i)
        i += 1
    return i


def skip_block(tokens: list[Token], i: int) -> int:
    """The index after the ``{ … }`` block opening at ``i``."""
    depth = 0
    while i < len(tokens):
        if tokens[i].kind == "{":
            depth += 1
        elif tokens[i].kind == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SyntaxError("unbalanced braces")


def use_tree(tokens: list[Token], i: int, prefix: list[str]) -> tuple[list[list[str]], int]:
    """The full paths a ``use`` tree starting at ``i`` names, after
    ``prefix``, and the index after the tree."""
    path = list(prefix)
    while True:
        token = tokens[i]
        if token.kind == "{":
            leaves: list[list[str]] = []
            i += 1
            while tokens[i].kind != "}":
                found, i = use_tree(tokens, i, path)
                leaves.extend(found)
                if tokens[i].kind == ",":
                    i += 1
            return leaves, i + 1
        if token.kind == "*":
            return [path], i + 1
        if token.kind == "ident":
            path.append(token.text)
            i += 1
            if tokens[i].kind == "::":
                i += 1
                continue
            if tokens[i].kind == "ident" and tokens[i].text == "as":
                i += 2
            return [path], i
        raise SyntaxError(f"line {token.line}: unexpected {token.text!r} in a use")


def parse(crate: Crate, file: Path, module: Module, child_dir: Path) -> None:
    """Records the modules and uses of ``file``, module ``module`` whose
    submodule files live in ``child_dir``."""
    crate.files[module] = file
    tokens = tokenise(file.read_text())
    # Inline modules open in this file: (module, its child folder, the
    # brace depth its block closes at).
    scopes: list[tuple[Module, Path, int]] = [(module, child_dir, 0)]
    depth = 0
    cfg_test, path_attr = False, None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        current, current_dir, _ = scopes[-1]
        if token.kind == "#":
            end = i + 1 + (tokens[i + 1].kind == "!")
            depth_sq, j = 0, end
            while True:
                if tokens[j].kind == "[":
                    depth_sq += 1
                elif tokens[j].kind == "]":
                    depth_sq -= 1
                    if depth_sq == 0:
                        break
                j += 1
            close = j + 1
            words = [t.text for t in tokens[end + 1 : close - 1]]
            if words == ["cfg", "(", "test", ")"]:
                cfg_test = True
            elif words[:2] == ["path", "="] and len(words) == 3:
                path_attr = words[2]
            i = close
            continue
        if cfg_test:
            i = skip_item(tokens, i)
            cfg_test, path_attr = False, None
            continue
        if token.kind == "ident" and token.text == "mod" and tokens[i + 1].kind == "ident":
            name = tokens[i + 1].text
            child = (*current, name)
            crate.modules.add(child)
            if tokens[i + 2].kind == ";":
                if path_attr is not None:
                    base = file.parent if len(scopes) == 1 else current_dir
                    candidates = [base / path_attr]
                else:
                    candidates = [current_dir / f"{name}.rs", current_dir / name / "mod.rs"]
                found = next((c for c in candidates if c.is_file()), None)
                if found is None:
                    raise SyntaxError(f"{file}: no file for module {module_name(child)}")
                own_dir = found.parent if found.name == "mod.rs" else found.with_suffix("")
                parse(crate, found, child, own_dir)
                i += 3
            else:
                depth += 1
                scopes.append((child, current_dir / name, depth))
                i += 3
            path_attr = None
            continue
        path_attr = None
        if token.kind == "{":
            depth += 1
        elif token.kind == "}":
            if len(scopes) > 1 and scopes[-1][2] == depth:
                scopes.pop()
            depth -= 1
        elif token.kind == "ident" and token.text == "use":
            start = i + 1 + (tokens[i + 1].kind == "::")
            leaves, i = use_tree(tokens, start, [])
            for leaf in leaves:
                crate.pending.append((current, leaf, file, token.line))
            continue
        elif (
            token.kind == "ident"
            and tokens[i + 1].kind == "::"
            and (i == 0 or tokens[i - 1].kind != "::")
        ):
            segments, j = [token.text], i + 1
            while tokens[j].kind == "::" and tokens[j + 1].kind == "ident":
                segments.append(tokens[j + 1].text)
                j += 2
            crate.pending.append((current, segments, file, token.line))
            i = j
            continue
        i += 1


def resolve(crate: Crate, module: Module, segments: list[str]) -> Module | None:
    """The deepest module of the crate that ``segments``, written in
    ``module``, names; None for another crate's path."""
    first = segments[0]
    if first not in ("crate", "super", "self") and (*module, first) not in crate.modules:
        return None
    position = module
    for segment in segments:
        if segment == "crate":
            position = ()
        elif segment == "super":
            position = position[:-1]
        elif segment == "self":
            continue
        elif (*position, segment) in crate.modules:
            position = (*position, segment)
        else:
            break
    return position


def read_crate(src: Path) -> Crate:
    crate = Crate(src)
    parse(crate, src / "lib.rs", (), src)
    for module, segments, file, line in crate.pending:
        target = resolve(crate, module, segments)
        if target is not None:
            crate.uses.append(Use(module, target, file, line, "::".join(segments)))
    return crate


def sibling_edges(crate: Crate) -> dict[Module, dict[Module, Use]]:
    """Each use as a use of one module by another of the same parent (the
    first line found for each pair)."""
    edges: dict[Module, dict[Module, Use]] = {}
    for use in crate.uses:
        a, b = use.source, use.target
        common = 0
        while common < min(len(a), len(b)) and a[common] == b[common]:
            common += 1
        if common in (len(a), len(b)):
            continue  # one contains the other
        edges.setdefault(a[: common + 1], {}).setdefault(b[: common + 1], use)
    return edges


def shortest_circle(
    edges: dict[Module, dict[Module, Use]], members: set[Module], start: Module
) -> list[Module]:
    """A shortest circle from ``start`` back to it within ``members``."""
    paths: dict[Module, list[Module]] = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, {})):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError("a strongly connected module has a circle")


def cycles(edges: dict[Module, dict[Module, Use]]) -> list[list[Module]]:
    """The shortest circle through each module of each group of modules
    that reach each other (Tarjan's strongly connected components), each
    circle once."""
    index: dict[Module, int] = {}
    low: dict[Module, int] = {}
    stack: list[Module] = []
    groups: list[list[Module]] = []

    def visit(node: Module) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    found: list[list[Module]] = []
    seen: set[tuple[Module, ...]] = set()
    for group in sorted(groups):
        members = set(group)
        for start in group:
            circle = shortest_circle(edges, members, start)
            rotation = min(tuple(circle[k:-1] + circle[:k]) for k in range(len(circle) - 1))
            if rotation not in seen:
                seen.add(rotation)
                found.append(circle)
    return found


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else "src")
    crate = read_crate(src)
    edges = sibling_edges(crate)
    found = cycles(edges)
    for circle in found:
        print("module circle: " + " -> ".join(module_name(m) for m in circle))
        for a, b in itertools.pairwise(circle):
            use = edges[a][b]
            print(f"  {use.file}:{use.line}: {module_name(use.source)} uses {use.text}")
    if found:
        print(f"{len(found)} module circle(s) in {src}: move the shared piece to its own module")
        return 1
    print(f"no module circles among the {len(crate.modules)} modules of {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
