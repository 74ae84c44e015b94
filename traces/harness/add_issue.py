#!/usr/bin/env python3
"""One-time migration (2026-11-21): add the trace format's "issue" field to traces measured before
the harness wrote it. The rule is the harness's own (hcommon.Out.emit, launch.cu): records of the
PyTorch scripts (env line "program" ending in .py) are "torch", or "graph" when cuda_graph is true;
the CUDA C++ programs' records are "cuda", except launch.cu's CUDA-graph case ("graph").
Usage: add_issue.py FILE.jsonl [...]   (rewrites in place; records that have "issue" are kept)"""
import json
import sys

for path in sys.argv[1:]:
    out, prog = [], ""
    for line in open(path):
        if line.startswith("#"):
            if "{" in line:
                try:
                    prog = json.loads(line[line.index("{"):]).get("program", "")
                except ValueError:
                    pass
            out.append(line)
            continue
        if not line.strip():
            out.append(line)
            continue
        r = json.loads(line)
        if "issue" not in r:
            if r.get("impl") == "cuda-graph" or r.get("cuda_graph") is True:
                r["issue"] = "graph"
            elif prog.endswith(".py"):
                r["issue"] = "torch"
            else:
                r["issue"] = "cuda"
        out.append(json.dumps(r, separators=(",", ":")) + "\n")
    open(path, "w").writelines(out)
