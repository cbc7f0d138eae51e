#!/usr/bin/env python3
"""The `use` graph of the mlflow-serve crate, and a check that it has no cycles.

Each file under src/ is a module (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`). An edge
`a -> b` means a file of module `a` names `crate::b…` (in a `use` or a path). Two levels are
checked: top-level modules (http, pipeline, …) and, inside each top-level module, its direct
submodules (resolve::artifact, resolve::cache, …). Test modules (`#[cfg(test)]` to the end
of a file) and comments are left out. Prints the top-level graph; exits 1 if either level has a cycle.

    python3 scripts/module_graph.py [--dot]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src"
PATH = re.compile(r"\b(?:crate|super)::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")
GROUP = re.compile(r"\bcrate::\{([^}]*)\}")


def module_of(path: pathlib.Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def non_test(text: str) -> str:
    """The file without its test module and without comments (doc links are not edges)."""
    cut = text.find("#[cfg(test)]")
    text = text if cut < 0 else text[:cut]
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def targets(mod: list[str], text: str) -> set[tuple[str, ...]]:
    out = set()
    for m in PATH.finditer(text):
        segs = m.group(1).split("::")
        if m.group(0).startswith("super"):
            segs = mod[:-1] + segs  # `super` of a::b (file or mod.rs) is a
        out.add(tuple(segs))
    for m in GROUP.finditer(text):
        for item in m.group(1).split(","):
            item = item.strip().split("::")[0].strip()
            if item and item[0].islower():
                out.add((item,))
    return out


def graph(level: int):
    """Edges between module prefixes of length `level` (within a shared parent for level 2)."""
    modules = {}
    for f in ROOT.rglob("*.rs"):
        modules[f] = module_of(f)
    known = {tuple(m[:level]) for m in modules.values() if len(m) >= level}
    edges = set()
    for f, mod in modules.items():
        if len(mod) < level:
            continue
        src = tuple(mod[:level])
        for t in targets(mod, non_test(f.read_text())):
            dst = tuple(t[:level])
            if dst in known and dst != src and dst[:-1] == src[:-1]:
                edges.add((src, dst))
    return known, edges


def cycles(nodes, edges):
    adj = {n: sorted(d for s, d in edges if s == n) for n in nodes}
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in adj[n]:
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(nodes):
        if n not in state:
            visit(n)
    return found


def main():
    bad = False
    for level in (1, 2):
        nodes, edges = graph(level)
        if level == 1:
            if "--dot" in sys.argv:
                print("digraph crate {")
                for s, d in sorted(edges):
                    print(f'  "{s[0]}" -> "{d[0]}";')
                print("}")
            else:
                for n in sorted(nodes):
                    deps = sorted(d[0] for s, d in edges if s == n)
                    print(f"{n[0]:10} -> {', '.join(deps) if deps else '(nothing)'}")
        for c in cycles(nodes, edges):
            bad = True
            print("cycle: " + " -> ".join("::".join(x) for x in c), file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
