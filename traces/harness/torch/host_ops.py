"""Host cost of the eager PyTorch ops in the reference model step, one by one (not a timing trace:
writes JSON, not JSONL). For each op on tiny tensors (so the GPU is never the bottleneck): the CPU
microseconds per call (median of 5 rounds of 300 calls after a warm-up), the CUDA kernels one
call launches (torch.profiler), and whether it synchronizes with the host
(torch.cuda.set_sync_debug_mode). Also the whole grouped-MoE FFN of moe.py and a decode layer of
model.py (Llama-3-8B and Mixtral-8x7B dimensions, 1 layer).
Usage: host_ops.py OUT.json
"""
import json
import sys

import torch
import torch.nn.functional as F

from hcommon import env_info, host_probe, host_us, load_cfg, log, profiled
from model import Model
from moe import GMM, moe_grouped, moe_loop


def kernels(fn):
    return sum(1 for e in profiled(fn).events() if e.device_type.name == "CUDA")


def syncs(fn):
    torch.cuda.set_sync_debug_mode("error")
    try:
        fn()
        return False
    except RuntimeError:
        return True
    finally:
        torch.cuda.set_sync_debug_mode("default")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "host_ops.json"
    bf = torch.bfloat16
    dev = "cuda"
    T, H, E, K, I = 4, 256, 8, 2, 512  # tiny: host-bound
    x = torch.randn(T, H, device=dev, dtype=bf)
    w = torch.randn(H, H, device=dev, dtype=bf)
    wr = torch.randn(E, H, device=dev, dtype=bf)
    wgu = torch.randn(E, 2 * I, H, device=dev, dtype=bf)
    wd = torch.randn(E, H, I, device=dev, dtype=bf)
    logits = F.linear(x, wr)
    topv, topi = torch.topk(logits, K, dim=-1)
    topw = torch.softmax(topv.float(), dim=-1).to(bf)
    flat = topi.reshape(-1)
    order = torch.argsort(flat, stable=True)
    tok = order // K
    counts = torch.zeros(E, device=dev, dtype=torch.int32).scatter_add_(0, flat, torch.ones_like(flat, dtype=torch.int32))
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    xs = x.index_select(0, tok)
    h = GMM(xs, wgu.transpose(-2, -1), offs=offs)
    ops = {
        "add": lambda: x + x,
        "linear": lambda: F.linear(x, w),
        "router_linear": lambda: F.linear(x, wr),
        "topk": lambda: torch.topk(logits, K, dim=-1),
        "softmax_float": lambda: torch.softmax(topv.float(), dim=-1),
        "argsort_stable": lambda: torch.argsort(flat, stable=True),
        "floor_divide": lambda: order // K,
        "zeros_scatter_add": lambda: torch.zeros(E, device=dev, dtype=torch.int32).scatter_add_(
            0, flat, torch.ones_like(flat, dtype=torch.int32)),
        "cumsum": lambda: torch.cumsum(counts, 0, dtype=torch.int32),
        "index_select": lambda: x.index_select(0, tok),
        "grouped_mm": lambda: GMM(xs, wgu.transpose(-2, -1), offs=offs),
        "silu_mul": lambda: F.silu(h[:, :I]) * h[:, I:],
        "gather_weights_mul": lambda: xs * topw.reshape(-1)[order].unsqueeze(-1),
        "zeros_like_index_add": lambda: torch.zeros_like(x).index_add_(0, tok, xs),
        "moe_grouped": lambda: moe_grouped(x, topi, topw, wgu, wd),
    }
    # the per-expert loop (moe.py "loop") with 4, 8 and 16 experts hit, 64 tokens, top-2
    for e_hit in (4, 8, 16):
        ar = torch.arange(64, device=dev)
        ti = torch.stack([ar % e_hit, (ar + 1) % e_hit], 1)
        tw = torch.rand(64, 2, device=dev, dtype=bf)
        xl = torch.randn(64, H, device=dev, dtype=bf)
        wgl = torch.randn(e_hit, 2 * I, H, device=dev, dtype=bf)
        wdl = torch.randn(e_hit, H, I, device=dev, dtype=bf)
        ops[f"moe_loop_{e_hit}_experts"] = (lambda xl=xl, ti=ti, tw=tw, wgl=wgl, wdl=wdl: moe_loop(xl, ti, tw, wgl, wdl))
    res = {"env": env_info(), "host_probe_us": host_probe(), "dims": dict(T=T, H=H, E=E, K=K, I=I), "ops": {}}
    for name, fn in ops.items():
        try:
            res["ops"][name] = {"host_us": round(host_us(fn), 3), "kernels": kernels(fn), "syncs": syncs(fn)}
            log(f"host_ops: {name} {res['ops'][name]}")
        except Exception as e:  # noqa
            res["ops"][name] = {"error": f"{type(e).__name__}: {e}"[:300]}
            log(f"host_ops: {name} failed: {e}")
    # one decode layer of the reference step, batch 1, context 512 (host-bound), per model
    for name in ("llama3-8b", "mixtral-8x7b"):
        try:
            cfg = load_cfg(name)
            m = Model(cfg, layers=1, max_pos=4096)
            m.alloc_cache(1, 513)
            xi = torch.randn(1, 1, cfg["hidden"], device=dev, dtype=bf)
            f = lambda: m.forward(xi, "decode", 512, head=False)  # noqa
            res["ops"][f"decode_layer_{name}"] = {"host_us": round(host_us(f, n=100), 3), "kernels": kernels(f),
                                                  "syncs": syncs(f)}
            log(f"host_ops: decode layer {name} {res['ops'][f'decode_layer_{name}']}")
            del m
            torch.cuda.empty_cache()
        except Exception as e:  # noqa
            res["ops"][f"decode_layer_{name}"] = {"error": f"{type(e).__name__}: {e}"[:300]}
            log(f"host_ops: decode layer {name} failed: {e}")
    res["host_probe_us_end"] = host_probe()
    with open(out, "w") as fo:
        json.dump(res, fo, indent=1)


if __name__ == "__main__":
    main()
