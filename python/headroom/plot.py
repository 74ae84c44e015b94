"""Roofline plots (matplotlib, Agg backend; imported only when a plot is drawn).

``plot_roofline(result, out, trace=None, hw=None)`` draws a hardware's roofline and places on it

- every operator of a step (a ``RooflineResult`` from ``headroom.roofline`` or the dict that
  ``headroom roofline --json`` prints) at (FLOP per byte, FLOPs / predicted time), labeled;
- with ``trace`` (a JSON Lines file or a list of records), the trace's measured kernel cases at
  (FLOP per byte of the op's accounting, FLOPs / measured time), filled, and the same cases
  predicted by the analytical fidelity, hollow, joined by a thin line.

Ceilings come from the hardware file: dense matrix rates per dtype (bf16, fp8, tf32), the fp32
vector rate, the datasheet HBM bandwidth, and when the file has a ``kernel_model`` section the
achievable read bandwidth (``hbm_read_efficiency`` x datasheet) and the L2 bandwidth
(``l2_bandwidth_ratio`` x datasheet HBM). Operators without FLOPs (copies, KV-cache writes, ...)
cannot sit on a log FLOP/s axis; they go to a second panel, achieved bandwidth against bytes.

The FLOP and byte accounting of trace records (``record_accounting``) follows the C++ ops of
``src/graph/op.cpp`` (docs/trace-format.md gives the fields).

Command line (used by ``headroom roofline --plot``)::

    python3 -m headroom.plot roofline --json STEP.json --out FILE.png [--trace T.jsonl] [--hw HWFILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

__all__ = ["plot_roofline", "record_accounting", "hardware_ceilings", "main"]

# Exit code of the command line when matplotlib cannot be imported (the CLI names it).
EXIT_NO_MATPLOTLIB = 3

_ELEM_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "tf32": 4.0, "fp32": 4.0, "fp4": 0.5, "int4": 0.5}
# Kernel cases a trace contributes to the plot; the rest (model steps, launches, idle power,
# collectives, which are bound by the fabric rather than by this roofline) are left out.
_TRACE_OPS = ("gemm", "attention", "rmsnorm", "swiglu", "moe_ffn", "copy", "read", "write")


# --------------------------------------------------------------------------------------------
# accounting


def _gemm_out_bytes(dtype):
    return 2.0 if dtype in ("fp8", "fp4", "int4") else 4.0 if dtype == "int8" else _ELEM_BYTES[dtype]


def record_accounting(rec):
    """(flops, bytes) of one trace record's op, as src/graph/op.cpp counts them; None for ops
    without a kernel accounting (model_step, launch, idle) or records missing a field."""
    op = rec.get("op")
    try:
        dt = rec.get("dtype", "bf16")
        e = _ELEM_BYTES[dt]
        if op == "gemm":
            m, n, k = int(rec["m"]), int(rec["n"]), int(rec["k"])
            return 2.0 * m * n * k, m * k * e + n * k * e + m * n * _gemm_out_bytes(dt)
        if op == "attention":
            b, h, kvh, d = int(rec["batch"]), int(rec["heads"]), int(rec["kv_heads"]), int(rec["head_dim"])
            if rec["phase"] == "prefill":
                q_len = kv_len = int(rec["seq"])
                causal = bool(rec.get("causal", True))
            else:
                q_len, kv_len, causal = 1, int(rec["context"]), False
            pairs = float(q_len) * kv_len
            if causal and q_len > 1:
                pairs = q_len * (kv_len - q_len) + q_len * (q_len + 1) / 2.0
            flops = 2.0 * b * h * pairs * (2 * d)
            q = b * q_len * h * d * e
            kv = b * kv_len * kvh * 2 * d * e
            return flops, q + kv + q
        if op == "rmsnorm":
            t, w = int(rec["tokens"]), int(rec["hidden"])
            n = float(t) * w
            impl = rec.get("impl", "fused")
            if impl == "torch-expr":
                return 4.0 * n, 20.0 * n + w * e + 16.0 * n
            if impl == "F.rms_norm":
                return 4.0 * n, 2.0 * n + w * e + 2.0 * n
            return 4.0 * n, n * e + w * e + n * e
        if op == "swiglu":
            n = float(rec["tokens"]) * int(rec["inter"])
            if rec.get("impl") == "F.silu(a)*b":
                return 5.0 * n, 10.0 * n
            return 5.0 * n, 3.0 * n * e
        if op == "moe_ffn":
            E, k, hid, inter, t = (int(rec[x]) for x in ("experts", "top_k", "hidden", "inter", "tokens"))
            touched = E * (1.0 - (1.0 - k / E) ** t)
            per_expert = 3.0 * hid * inter
            routed = float(t) * k
            flops = 2.0 * per_expert * routed + 5.0 * routed * inter
            act = routed * (2.0 * hid + 6.0 * inter) * e
            return flops, per_expert * e * touched + act + 2.0 * t * hid * e
        if op in ("copy", "read", "write"):
            b = float(rec["bytes"])
            return 0.0, 2.0 * b if op == "copy" else b
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None


# --------------------------------------------------------------------------------------------
# hardware


def _kernel_model_section(path):
    """The kernel_model section of a hardware YAML file as a dict of numbers ({} when absent)."""
    if not path or not os.path.isfile(path):
        return {}
    try:
        import yaml  # Debian's python3-yaml; a plain reader below when it is missing

        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        km = doc.get("kernel_model") or {}
        return {k: v for k, v in km.items() if isinstance(v, (int, float))}
    except ImportError:
        pass
    out, inside = {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^kernel_model:\s*(#.*)?$", line):
                inside = True
                continue
            if inside and re.match(r"^\S", line):
                break
            m = re.match(r"^  (\w+):\s*([-+0-9.eE]+)\s*(#.*)?$", line) if inside else None
            if m:
                out[m.group(1)] = float(m.group(2))
    return out


def _find_hw_file(name):
    """A hw_configs/*.yaml whose display name (`name:`) or stem is `name`, or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = []
    if os.environ.get("HEADROOM_DATA"):
        dirs.append(os.path.join(os.environ["HEADROOM_DATA"], "hw_configs"))
    # build/python/headroom -> <project>/hw_configs; python/headroom -> <project>/hw_configs
    for up in ("../../..", "../.."):
        dirs.append(os.path.normpath(os.path.join(here, up, "hw_configs")))
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            if not fn.endswith((".yaml", ".yml")):
                continue
            p = os.path.join(d, fn)
            if os.path.splitext(fn)[0] == name:
                return p
            with open(p, encoding="utf-8") as f:
                for line in f:
                    m = re.match(r"^name:\s*(.+?)\s*$", line)
                    if m:
                        if m.group(1).strip("\"'") == name:
                            return p
                        break
    return None


def hardware_ceilings(hw):
    """Compute ceilings and bandwidth slopes of a hardware (a HardwareSpec, a name or a path):
    {"name", "compute": [(label, FLOP/s)], "bandwidth": [(label, B/s, style)], "kernel_model"}."""
    import headroom

    spec = hw if isinstance(hw, headroom.HardwareSpec) else headroom.load_hardware(hw)
    km = _kernel_model_section(spec.file)
    rates = spec.matrix_dense
    compute = []
    for dt in ("fp8", "bf16", "tf32"):
        if rates.get(dt):
            label = dt
            if dt == "bf16" and rates.get("fp16") == rates["bf16"]:
                label = "bf16/fp16"
            compute.append((f"{label} matrix", rates[dt]))
    compute.append(("fp32 vector", spec.vector_fp32_flops))
    hbm = spec.hbm_bandwidth_bps
    bandwidth = [("HBM datasheet", hbm, "-")]
    if "hbm_read_efficiency" in km:
        bandwidth.append((f"HBM achievable read ({km['hbm_read_efficiency']:.3g} x)", km["hbm_read_efficiency"] * hbm, "--"))
    if "l2_bandwidth_ratio" in km:
        bandwidth.append((f"L2 ({km['l2_bandwidth_ratio']:.3g} x HBM)", km["l2_bandwidth_ratio"] * hbm, ":"))
    elif spec.l2_bandwidth_bps:
        bandwidth.append(("L2 datasheet", spec.l2_bandwidth_bps, ":"))
    return {"name": spec.name, "file": spec.file, "compute": compute, "bandwidth": bandwidth, "kernel_model": km}


# --------------------------------------------------------------------------------------------
# drawing


def _result_fields(result):
    """(title bits, rows) from a RooflineResult or the `roofline --json` dict."""
    if isinstance(result, dict):
        rows = result.get("ops", result.get("rows", []))
        return result.get("model", ""), result.get("hw", ""), result.get("cost_model", ""), result.get("config", {}), rows
    return result.model, result.hw, result.cost_model, dict(result.config), list(result.rows)


def _place_labels(ax, pts, fontsize=7):
    """Labels next to points without overlaps (greedy, in display space), with leader lines."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed = []  # boxes in display pixels
    axbox = ax.get_window_extent(renderer)
    # points already occupy space too
    for x, y, _ in pts:
        px, py = ax.transData.transform((x, y))
        placed.append((px - 8, py - 8, px + 8, py + 8))
    offsets = [(8, 6), (8, -12), (-8, 6), (-8, -12), (8, 18), (8, -24), (-8, 18), (-8, -24),
               (20, 30), (20, -36), (-20, 30), (-20, -36), (30, 44), (30, -50), (-30, 44), (-30, -50),
               (40, 60), (40, -66), (-40, 60), (-40, -66)]
    for x, y, text in sorted(pts, key=lambda p: (-p[1], p[0])):
        px, py = ax.transData.transform((x, y))
        t = ax.annotate(text, (x, y), xytext=(0, 0), textcoords="offset points", fontsize=fontsize)
        bb = t.get_window_extent(renderer)
        w, h = bb.width, bb.height
        t.remove()
        chosen = None
        for dx, dy in offsets:
            # offsets are in points; convert to pixels
            sx, sy = dx * fig.dpi / 72, dy * fig.dpi / 72
            x0 = px + sx if dx >= 0 else px + sx - w
            y0 = py + sy
            box = (x0, y0, x0 + w, y0 + h)
            if box[0] < axbox.x0 or box[2] > axbox.x1 or box[1] < axbox.y0 or box[3] > axbox.y1:
                continue
            if all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in placed):
                chosen = (dx, dy, box)
                break
        if chosen is None:
            dx, dy = offsets[0]
            sx, sy = dx * fig.dpi / 72, dy * fig.dpi / 72
            chosen = (dx, dy, (px + sx, py + sy, px + sx + w, py + sy + h))
        dx, dy, box = chosen
        placed.append(box)
        far = abs(dx) > 8 or abs(dy) > 12
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                    ha="left" if dx >= 0 else "right", va="bottom", zorder=7,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.6),
                    arrowprops=dict(arrowstyle="-", lw=0.4, color="0.4") if far else None)


def _load_trace(trace):
    import headroom

    if isinstance(trace, (str, os.PathLike)):
        return headroom.read_trace(trace), os.path.basename(os.fspath(trace))
    return list(trace), "trace"


def plot_roofline(result, out, trace=None, hw=None, title=None, fidelity="analytical"):
    """Draws the roofline of `hw` with the step's operators (and `trace`'s measured kernel cases)
    into the image file `out` (format from its extension); returns `out`.

    result: a RooflineResult (headroom.roofline) or the dict `headroom roofline --json` prints.
    trace:  None, a JSON Lines path or a list of trace records (dicts).
    hw:     the hardware (a HardwareSpec, a name or a path); default: the result's hardware,
            found by name in hw_configs/.
    fidelity: the fidelity that predicts the trace's cases (hollow markers).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import headroom

    model, hw_name, cost_model, config, rows = _result_fields(result)
    records, trace_label = _load_trace(trace) if trace is not None else ([], None)
    if hw is None:
        hw = _find_hw_file(hw_name)
    if hw is None:  # the trace's own hardware, when it names one
        names = {r.get("hw") for r in records if isinstance(r.get("hw"), str)}
        hw = names.pop() if len(names) == 1 else None
        if hw is None:
            raise headroom.UsageError(f'plot_roofline: cannot find the hardware file of "{hw_name}"; pass hw=')
    ceil = hardware_ceilings(hw)

    # --- points
    step_pts, step_zero = [], []  # (intensity, FLOP/s, label) / (bytes, B/s, label)
    for r in rows:
        t = r.get("time_s", 0.0)
        if t <= 0 or r.get("bytes", 0.0) <= 0:
            continue
        if r.get("flops", 0.0) > 0:
            step_pts.append((r["flops"] / r["bytes"], r["flops"] / t, r["name"]))
        else:
            step_zero.append((r["bytes"] / max(1, r.get("count", 1)), r["bytes"] / t, r["name"]))

    trace_meas, trace_zero = {}, {}  # op -> [(x, y_measured, y_predicted or None)]
    if records:
        kernel = [r for r in records if r.get("op") in _TRACE_OPS and not r.get("sustained")
                  and isinstance(r.get("ms"), (int, float)) and r["ms"] > 0]
        preds = headroom.predict(kernel, hw=None if all("hw" in r for r in kernel) else ceil["file"], fidelity=fidelity)
        for rec, p in zip(kernel, preds):
            acc = record_accounting(rec)
            if acc is None or acc[1] <= 0:
                continue
            flops, nbytes = acc
            pms = p.get("predicted", {}).get("ms") if isinstance(p, dict) else None
            key = rec["op"] + ("." + rec["phase"] if rec["op"] == "attention" else "")
            if rec["op"] == "gemm":
                key += "." + rec.get("dtype", "bf16")
            if flops > 0:
                trace_meas.setdefault(key, []).append(
                    (flops / nbytes, flops / (rec["ms"] * 1e-3), flops / (pms * 1e-3) if pms else None))
            else:
                trace_zero.setdefault(key + (" warm L2" if rec.get("warm_l2") else ""), []).append(
                    (nbytes, nbytes / (rec["ms"] * 1e-3), nbytes / (pms * 1e-3) if pms else None))

    has_zero = bool(step_zero or trace_zero)
    fig, axes = plt.subplots(1, 2 if has_zero else 1, figsize=(15 if has_zero else 10, 7.5),
                             gridspec_kw={"width_ratios": [2, 1]} if has_zero else None, squeeze=False)
    ax = axes[0][0]

    # --- the roofline panel
    xs = [p[0] for p in step_pts] + [q[0] for v in trace_meas.values() for q in v]
    peak = max(c for _, c in ceil["compute"])
    bw_min = min(b for _, b, _ in ceil["bandwidth"])
    bw_max = max(b for _, b, _ in ceil["bandwidth"])
    xmin = min([0.05] + [x / 3 for x in xs if x > 0])
    xmax = max([12 * peak / bw_min] + [3 * x for x in xs])
    ys = [p[1] for p in step_pts] + [q[1] for v in trace_meas.values() for q in v] + \
         [q[2] for v in trace_meas.values() for q in v if q[2]]
    ymin = min([bw_min * xmin] + [y / 3 for y in ys if y > 0])
    ymax = peak * 2.5
    grid = [xmin * (xmax / xmin) ** (i / 400) for i in range(401)]
    ccolors = ["#7b1fa2", "#1565c0", "#00838f", "#6d4c41", "#546e7a"]
    for i, (label, rate) in enumerate(ceil["compute"]):
        ridge = rate / ceil["bandwidth"][0][1]
        ax.plot([ridge, xmax], [rate, rate], color=ccolors[i % len(ccolors)], lw=1.6)
        # labels in the right margin, outside the data, at the ceiling's height
        ax.annotate(f"{label}\n{rate / 1e12:.4g} TFLOP/s", xy=(1.0, rate), xycoords=("axes fraction", "data"),
                    xytext=(4, 0), textcoords="offset points", ha="left", va="center", fontsize=7.5,
                    color=ccolors[i % len(ccolors)], annotation_clip=False)
    for label, bw, style in ceil["bandwidth"]:
        line = [min(peak, bw * x) for x in grid]
        ax.plot(grid, line, color="black", ls=style, lw=1.3 if style == "-" else 1.0,
                label=f"{label}: {bw / 1e12:.3g} TB/s")
    # the datasheet roof itself (min over HBM and the compute ceilings' maximum)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)

    cmap = plt.get_cmap("tab10")
    for i, (key, pts) in enumerate(sorted(trace_meas.items())):
        c = cmap(i % 10)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=c, alpha=0.75, lw=0,
                   label=f"{trace_label}: {key} measured ({len(pts)})", zorder=3)
        pp = [p for p in pts if p[2]]
        if pp:
            ax.scatter([p[0] for p in pp], [p[2] for p in pp], s=14, facecolors="none", edgecolors=[c],
                       lw=0.6, alpha=0.75, zorder=3)
            for p in pp:
                ax.plot([p[0], p[0]], [p[1], p[2]], color=c, lw=0.4, alpha=0.5, zorder=2)
    if any(p[2] for v in trace_meas.values() for p in v):
        ax.scatter([], [], s=14, facecolors="none", edgecolors="0.3", lw=0.6, label=f"hollow: predicted ({fidelity})")
    if step_pts:
        ax.scatter([p[0] for p in step_pts], [p[1] for p in step_pts], s=46, marker="D", color="#d32f2f",
                   edgecolors="black", lw=0.6, zorder=5, label=f"step operators ({cost_model} prediction)")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.08)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of device memory traffic)")
    ax.set_ylabel("achieved FLOP/s (FLOPs / time)")
    if step_pts:
        _place_labels(ax, step_pts)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.9)

    if title is None:
        bits = []
        if model:
            cfg = config or {}
            phase = cfg.get("phase", "")
            what = f"seq {cfg.get('seq')}" if phase == "prefill" else f"context {cfg.get('context')}"
            bits.append(f"{model} {phase}, batch {cfg.get('batch')}, {what}, tp {cfg.get('tp', 1)}")
        bits.append(f"on {ceil['name']}")
        if trace_label:
            bits.append(f"+ {trace_label}")
        title = " ".join(bits)
    ax.set_title(title, fontsize=11)

    # --- the zero-FLOP panel: achieved bandwidth against bytes moved
    if has_zero:
        bx = axes[0][1]
        allx = [p[0] for p in step_zero] + [q[0] for v in trace_zero.values() for q in v]
        ally = [p[1] for p in step_zero] + [q[1] for v in trace_zero.values() for q in v] + \
               [q[2] for v in trace_zero.values() for q in v if q[2]]
        for label, bw, style in ceil["bandwidth"]:
            bx.axhline(bw, color="black", ls=style, lw=1.3 if style == "-" else 1.0, label=f"{label}: {bw / 1e12:.3g} TB/s")
        for i, (key, pts) in enumerate(sorted(trace_zero.items())):
            c = plt.get_cmap("Dark2")(i % 8)
            bx.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=c, lw=0, alpha=0.8,
                       label=f"{key} measured ({len(pts)})", zorder=3)
            pp = [p for p in pts if p[2]]
            bx.scatter([p[0] for p in pp], [p[2] for p in pp], s=14, facecolors="none", edgecolors=[c], lw=0.6, zorder=3)
        if step_zero:
            bx.scatter([p[0] for p in step_zero], [p[1] for p in step_zero], s=46, marker="D", color="#d32f2f",
                       edgecolors="black", lw=0.6, zorder=5, label="step operators without FLOPs")
        bx.set_xscale("log")
        bx.set_yscale("log")
        if ally:
            bx.set_ylim(min(ally + [bw_min]) / 2, max(ally + [bw_max]) * 2)
        bx.grid(True, which="major", alpha=0.3)
        bx.set_xlabel("bytes moved per kernel")
        bx.set_ylabel("achieved bandwidth (bytes / time, B/s)")
        bx.set_title("operators without FLOPs", fontsize=10)
        if step_zero:
            _place_labels(bx, step_zero)
        bx.legend(loc="lower right", fontsize=7, framealpha=0.9)

    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------------------------
# command line


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m headroom.plot", description="headroom plots")
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("roofline", help="a step's roofline (from `headroom roofline --json`)")
    r.add_argument("--json", required=True, help="the output of `headroom roofline --json`")
    r.add_argument("--out", required=True, help="image file to write (.png, .svg, .pdf)")
    r.add_argument("--trace", help="a JSON Lines trace whose kernel cases to place on the plot")
    r.add_argument("--hw", help="hardware file or name (default: the JSON's hardware, by name)")
    a = p.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        print(f"headroom.plot: matplotlib is not available for {sys.executable} ({e}); "
              "install it (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return EXIT_NO_MATPLOTLIB
    import headroom

    with open(a.json, encoding="utf-8") as f:
        result = json.load(f)
    try:
        plot_roofline(result, a.out, trace=a.trace, hw=a.hw)
    except headroom.Error as e:
        print(f"headroom.plot: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
