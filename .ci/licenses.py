#!/usr/bin/env python3
"""Fails when any dependency is not under a permissive licence (the product is Apache-2.0).

Reads `cargo metadata` (the locked dependency graph, all targets and features) and evaluates each
package's SPDX expression: `OR` needs one allowed side, `AND` needs both.
"""
import json
import re
import subprocess
import sys

ALLOWED = {
    "Apache-2.0", "MIT", "MIT-0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "0BSD", "Unlicense",
    "CC0-1.0", "BSL-1.0", "Unicode-3.0", "Unicode-DFS-2016", "CDLA-Permissive-2.0",
}


def tokens(expression):
    return re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expression.replace("/", " OR "))


def parse(toks, allowed=ALLOWED):
    """expr := term (OR term)* ; term := atom (AND atom)* ; atom := ID [WITH ID] | ( expr )"""
    def atom(i):
        if toks[i] == "(":
            value, i = expr(i + 1)
            return value, i + 1
        value = toks[i] in allowed
        i += 1
        if i < len(toks) and toks[i] == "WITH":
            i += 2  # an exception only widens what the licence allows
        return value, i

    def term(i):
        value, i = atom(i)
        while i < len(toks) and toks[i] == "AND":
            right, i = atom(i + 1)
            value = value and right
        return value, i

    def expr(i):
        value, i = term(i)
        while i < len(toks) and toks[i] == "OR":
            right, i = term(i + 1)
            value = value or right
        return value, i

    return expr(0)[0]


# Only for crates that tests alone use (never linked into the shipped binary), unmodified: MPL-2.0
# is copyleft per file, not per program. (fantoccini's `webdriver` protocol types are MPL-2.0.)
TEST_ONLY_ALLOWED = ALLOWED | {"MPL-2.0"}


def shipped(meta, members):
    """Package ids reachable from the workspace's members through normal and build edges."""
    edges = {node["id"]: node["deps"] for node in meta["resolve"]["nodes"]}
    seen, todo = set(members), list(members)
    while todo:
        for dep in edges.get(todo.pop(), []):
            kinds = {kind["kind"] for kind in dep["dep_kinds"]}
            if kinds - {"dev"} and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return seen


def main():
    meta = json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"]))
    members = set(meta["workspace_members"])
    in_binary = shipped(meta, members)
    bad = []
    for package in meta["packages"]:
        if package["id"] in members:
            continue
        licence = package.get("license")
        allowed = ALLOWED if package["id"] in in_binary else TEST_ONLY_ALLOWED
        if not licence or not parse(tokens(licence), allowed):
            bad.append(f'{package["name"]} {package["version"]}: {licence or "no licence declared"}')
    if bad:
        print("dependencies with a licence that is not permissive:", *bad, sep="\n  ")
        return 1
    print(f"licences: {len(meta['packages']) - len(members)} dependencies, all permissive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
