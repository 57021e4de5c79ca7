"""Summarises the HAR files of scripts/fuzz: requests and operations per run, statuses, 5xx,
and every 400 VALIDATION_ERROR (a schema-valid request the server refused: the document is
less strict than the server there). Usage: fuzz_report.py openapi.json run.har...
"""

import collections
import json
import re
import sys
from urllib.parse import urlparse


def matcher(document):
    """(method, path regex, label) of every documented operation."""
    routes = []
    for path, item in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"
        for method in item:
            routes.append((method.upper(), re.compile(pattern), f"{method.upper()} {path}"))
    return routes


def label(routes, method, path):
    for m, pattern, name in routes:
        if m == method and pattern.match(path):
            return name
    return f"{method} {path} (undocumented)"


def main():
    document = json.load(open(sys.argv[1]))
    routes = matcher(document)
    total_ops = len(routes)
    exercised = set()
    refused = collections.Counter()
    for har in sys.argv[2:]:
        entries = json.load(open(har))["log"]["entries"]
        statuses = collections.Counter()
        operations = set()
        server_errors = 0
        for entry in entries:
            request, response = entry["request"], entry["response"]
            name = label(routes, request["method"], urlparse(request["url"]).path)
            operations.add(name)
            status = response["status"]
            statuses[status // 100 * 100] += 1
            server_errors += status >= 500
            if status == 400 and "VALIDATION_ERROR" in response.get("content", {}).get("text", ""):
                refused[name] += 1
        exercised |= operations
        run = har.rsplit("/", 1)[-1].removesuffix(".har")
        shares = ", ".join(f"{k // 100}xx {v}" for k, v in sorted(statuses.items()))
        print(f"{run}: {len(entries)} requests, {len(operations)} operations, {shares}, "
              f"5xx {server_errors}")
    print(f"operations exercised: {len(exercised & {r[2] for r in routes})} of {total_ops}")
    print(f"400 VALIDATION_ERROR (schema-valid requests refused): {sum(refused.values())}")
    for name, count in refused.most_common():
        print(f"  {count:4} {name}")


if __name__ == "__main__":
    main()
