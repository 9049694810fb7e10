#!/usr/bin/env python3
"""Proposes replacement pairs for the recommendation table from the operation catalog.

A pair is a per-device or per-network GET (called once per target) and an organization-wide GET
that may return the same data for many targets at once. This script only *proposes*: it scores
candidates by what the catalog says about both operations (scope, tags, the stems of their names,
the words of their summaries, the filters the org-wide call accepts) and prints them with both
summaries, for a person to review pair by pair. Only reviewed pairs go into replacements.toml.

    python3 crates/analysis/src/recommend/propose_replacements.py              # every proposal
    python3 crates/analysis/src/recommend/propose_replacements.py --unreviewed # only what the table
                                                                        # neither pairs nor rejects
Standard library only (Python 3.11+ for tomllib).
"""

import argparse
import json
import re
import signal
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOG = HERE.parents[2] / "api" / "src" / "meraki-operations.json"
TABLE = HERE / "replacements.toml"

# Words that say where an operation lives or how it is called, not what it returns.
SCOPE_WORDS = {
    "get", "organization", "organizations", "network", "networks", "device", "devices",
    "by", "configure", "monitor", "list", "return", "returns", "the", "a", "an", "of", "for",
    "in", "and", "or", "this", "given", "all", "each", "every", "on", "to", "with", "from",
}
# The filters that narrow an org-wide call to the targets a loop visited.
FILTERS = ("serials", "networkIds", "productTypes")
BY_SUFFIX = re.compile(r"By(Device|Network|Switch)")


def words(text):
    """Lower-case words of a camelCase name or a sentence, plurals folded."""
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", text)
    out = set()
    for p in parts:
        w = p.lower()
        if w in SCOPE_WORDS:
            continue
        if len(w) > 3 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("es") and w[-3] in "sx":
            w = w[:-2]
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.add(w)
    return out


def stem(op):
    """The name without its verb, scope and By… suffixes: what the operation is about."""
    name = re.sub(r"^get(Organization|Network|Device)", "", op["operationId"])
    name = re.sub(r"(By[A-Z][a-z]+)+$", "", name)
    return words(name)


def jaccard(a, b):
    return len(a & b) / len(a | b) if a | b else 0.0


def first_parameter(op):
    m = re.search(r"\{(\w+)\}", op["path"])
    return m.group(1) if m else None


def per_target(op):
    """A GET addressed to one device or one network (and nothing below it)."""
    params = re.findall(r"\{(\w+)\}", op["path"])
    return op["method"] == "GET" and params in (["serial"], ["networkId"])


def org_wide(op):
    return (
        op["method"] == "GET"
        and re.findall(r"\{(\w+)\}", op["path"]) == ["organizationId"]
        and (BY_SUFFIX.search(op["operationId"]) or any(f in op["queryParams"] for f in FILTERS))
    )


def score(target, wide):
    """How likely `wide` returns what `target` returns, 0–1, from the catalog alone."""
    name = jaccard(stem(target), stem(wide))
    tags = jaccard(set(target["tags"]) - SCOPE_WORDS, set(wide["tags"]) - SCOPE_WORDS)
    summary = jaccard(words(target["summary"]), words(wide["summary"]))
    # The org-wide call must be able to stand for the loop's targets.
    fits = {
        "serial": "serials" in wide["queryParams"] or "ByDevice" in wide["operationId"]
        or "BySwitch" in wide["operationId"],
        "networkId": "networkIds" in wide["queryParams"] or "ByNetwork" in wide["operationId"],
    }[first_parameter(target)]
    # Both read the same kind of thing: configuration or monitoring.
    same_kind = ("configure" in target["tags"]) == ("configure" in wide["tags"])
    return (0.5 * name + 0.2 * tags + 0.3 * summary) * (1.0 if fits else 0.6) * (
        1.0 if same_kind else 0.7
    )


def load_table():
    if not TABLE.exists():
        return set(), set()
    table = tomllib.loads(TABLE.read_text())
    paired = {p["replacement"] for p in table.get("fan_out", [])}
    rejected = {r["operation"] for r in table.get("rejected", [])}
    return paired, rejected


def table_currents():
    if not TABLE.exists():
        return set()
    return {p["current"] for p in tomllib.loads(TABLE.read_text()).get("fan_out", [])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unreviewed", action="store_true",
                        help="only org-wide operations replacements.toml neither pairs nor rejects")
    parser.add_argument("--top", type=int, default=3, help="candidates per org-wide operation")
    parser.add_argument("--min-score", type=float, default=0.2)
    args = parser.parse_args()
    # A closed pipe (`… | head`) ends the listing quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    catalog = json.loads(CATALOG.read_text())
    targets = [op for op in catalog if per_target(op)]
    wides = [op for op in catalog if org_wide(op)]
    paired, rejected = load_table()
    by_ops = [op for op in wides if BY_SUFFIX.search(op["operationId"])]
    print(f"# {len(wides)} org-wide GETs with a By… name or a {'/'.join(FILTERS)} filter "
          f"({len(by_ops)} By…); {len(targets)} per-device or per-network GETs")
    if args.unreviewed:
        wides = [op for op in wides if op["operationId"] not in paired | rejected]
    for wide in wides:
        ranked = sorted(((score(t, wide), t) for t in targets), key=lambda s: -s[0])
        ranked = [(s, t) for s, t in ranked[: args.top] if s >= args.min_score]
        if not ranked:
            continue
        per_page = (wide.get("perPage") or {}).get("max")
        filters = [f for f in FILTERS if f in wide["queryParams"]]
        print(f"\n# {wide['operationId']}: \"{wide['summary']}\" "
              f"(perPage {per_page or 'none'}; filters {', '.join(filters) or 'none'})")
        for s, t in ranked:
            print(f"#   {s:.2f} {t['operationId']}: \"{t['summary']}\"")
        best = ranked[0][1]
        want = "serials" if first_parameter(best) == "serial" else "networkIds"
        print("[[fan_out]]")
        print(f'current = "{best["operationId"]}"')
        print(f'replacement = "{wide["operationId"]}"')
        if want in filters:
            print(f'filter = "{want}"')
        # The table's reason quotes both summaries; the reviewer writes why (or rejects it).
        print(f"reason = '''\"{best['summary']}\" → \"{wide['summary']}\": "
              "REVIEW: does the org-wide call return what the per-target calls return?'''")
    # Items read one at a time (a VLAN, an SSID, a client) → the list one level up the path.
    by_path = {op["path"]: op for op in catalog if op["method"] == "GET"}
    print("\n# Items read one by one → the list of their network or device")
    for op in catalog:
        params = re.findall(r"\{(\w+)\}", op["path"])
        if (op["method"] != "GET" or len(params) != 2 or params[0] not in ("serial", "networkId")
                or not op["path"].endswith("}")):
            continue
        parent = by_path.get(re.sub(r"/\{\w+\}$", "", op["path"]))
        reviewed = op["operationId"] in table_currents() or parent and parent["operationId"] in rejected
        if not parent or (args.unreviewed and reviewed):
            continue
        print("[[fan_out]]")
        print(f'current = "{op["operationId"]}"')
        print(f'replacement = "{parent["operationId"]}"')
        print(f"reason = '''\"{op['summary']}\" → \"{parent['summary']}\": "
              "REVIEW: is the item in the list, whole?'''")
    missing = [op["operationId"] for op in by_ops if op["operationId"] not in paired | rejected]
    if TABLE.exists():
        print(f"\n# By… operations neither paired nor rejected in {TABLE.name}: {len(missing)}",
              file=sys.stderr)
        for m in missing:
            print(f"#   {m}", file=sys.stderr)


if __name__ == "__main__":
    main()
