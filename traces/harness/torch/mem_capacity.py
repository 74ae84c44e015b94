#!/usr/bin/env python3
"""How much device memory a PyTorch process can really allocate on one GPU (for headroom memory).

Usage: mem_capacity.py OUT.jsonl [--model llama3-8b] [--block 16]

Writes one JSON line per stage ("op":"memory"; not a timing trace: predict/validate skip it):
  nvml_before_context  NVML total/reserved/used/free before any CUDA context exists
  after_context        cudaMemGetInfo right after the primary context is created
  after_cublas         after a bf16 GEMM (cuBLAS handle + workspace) and an F.linear with bias (cuBLASLt)
  after_flash          after one flash-attention SDPA call
  largest_single       the largest single torch.empty that succeeds (binary search, 2 MiB steps)
  largest_2mib_total   how many 2 MiB tensors can be allocated one after another
  weights              the model's bf16 weights resident (random init; embedding + layers + norm + lm-head)
  prefill_peak         peak extra memory of one eager reference prefill (traces/harness/torch/model.py) per token count
  paged_kv_max         the largest paged KV cache (vLLM v1 layout: one tensor per layer of
                       num_blocks x [2, block, kv_heads, head_dim] bf16) that can be allocated with the weights resident
  paged_kv_util        the vLLM-style budget at gpu_memory_utilization 0.9 and 0.95, allocated
"""
import argparse
import gc
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hcommon  # noqa: E402
import model as ref  # noqa: E402

MIB2 = 2 * 1024 * 1024


def nvml_info():
    try:
        import pynvml
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        try:
            m = pynvml.nvmlDeviceGetMemoryInfo(h, version=pynvml.nvmlMemory_v2)
            return {"nvml_total": int(m.total), "nvml_reserved": int(m.reserved), "nvml_used": int(m.used),
                    "nvml_free": int(m.free)}
        except Exception:  # noqa: BLE001  (older bindings: v1 only)
            m = pynvml.nvmlDeviceGetMemoryInfo(h)
            return {"nvml_total": int(m.total), "nvml_used": int(m.used), "nvml_free": int(m.free)}
    except Exception as e:  # noqa: BLE001
        return {"nvml_error": str(e)}


def cuda_info():
    free, total = torch.cuda.mem_get_info()
    return {"free": int(free), "total": int(total), "torch_reserved": int(torch.cuda.memory_reserved()),
            "torch_allocated": int(torch.cuda.memory_allocated()),
            "non_torch_used": int(total - free - torch.cuda.memory_reserved())}


def try_alloc(nbytes):
    try:
        t = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
        del t
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        torch.cuda.empty_cache()


def largest_single():
    free = torch.cuda.mem_get_info()[0]
    lo, hi = 0, free // MIB2 + 1  # in 2 MiB units; lo succeeds, hi fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if try_alloc(mid * MIB2):
            lo = mid
        else:
            hi = mid
    return lo * MIB2


def largest_2mib_total():
    blocks = []
    t0 = time.time()
    try:
        while True:
            blocks.append(torch.empty(MIB2, dtype=torch.uint8, device="cuda"))
    except torch.cuda.OutOfMemoryError:
        pass
    n = len(blocks)
    free_at_full = torch.cuda.mem_get_info()[0]
    del blocks
    gc.collect()
    torch.cuda.empty_cache()
    return n, free_at_full, time.time() - t0


def alloc_paged(layers, num_blocks, page_bytes):
    """vLLM v1 layout: one int8 tensor of num_blocks * page_bytes per layer. Returns the list or None."""
    ts = []
    try:
        for _ in range(layers):
            ts.append(torch.empty(num_blocks * page_bytes, dtype=torch.uint8, device="cuda"))
        return ts
    except torch.cuda.OutOfMemoryError:
        del ts
        torch.cuda.empty_cache()
        return None


def largest_paged(layers, page_bytes, free_bytes):
    """the most blocks per layer that alloc_paged can allocate (binary search; free_bytes bounds it)"""
    lo, hi = 0, free_bytes // (layers * page_bytes) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ts = alloc_paged(layers, mid, page_bytes)
        if ts is None:
            hi = mid
        else:
            lo = mid
            del ts
            torch.cuda.empty_cache()
    return lo


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--model", default="llama3-8b")
    ap.add_argument("--block", type=int, default=16)
    ap.add_argument("--prefill", default="2048,8192")
    args = ap.parse_args()

    # NVML first: no CUDA context yet (importing torch creates none).
    before = nvml_info()
    out = hcommon.Out(args.out, "traces/harness/torch/mem_capacity.py")
    gpu = out.gpu

    def emit(stage, **kw):
        d = {"op": "memory", "stage": stage, "hw": hcommon.HW, "gpu": gpu}
        d.update(kw)
        out.f.write(json.dumps(d) + "\n")
        out.f.flush()
        hcommon.log(stage, json.dumps(kw))

    emit("nvml_before_context", **before)
    torch.cuda.set_device(0)
    props = torch.cuda.get_device_properties(0)
    emit("after_context", total_memory_prop=int(props.total_memory), **cuda_info(), **nvml_info(),
         cuda_module_loading=os.environ.get("CUDA_MODULE_LOADING", "(unset)"))

    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    w = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    bias = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
    F.linear(a, w, bias).sum().item()
    torch.cuda.synchronize()
    del a, w, bias
    torch.cuda.empty_cache()
    emit("after_cublas", **cuda_info(), **nvml_info())

    q = torch.randn(1, 32, 1024, 128, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 8, 1024, 128, device="cuda", dtype=torch.bfloat16)
    ref.sdpa(q, k, k, True, ref.gqa_mode())
    torch.cuda.synchronize()
    del q, k
    torch.cuda.empty_cache()
    emit("after_flash", **cuda_info(), gqa_mode=ref.gqa_mode())

    t0 = time.time()
    single = largest_single()
    emit("largest_single", bytes=int(single), seconds=round(time.time() - t0, 2), **cuda_info())
    n, free_at_full, secs = largest_2mib_total()
    emit("largest_2mib_total", blocks=n, bytes=n * MIB2, free_when_full=int(free_at_full), seconds=round(secs, 2),
         **cuda_info())

    # Weights resident: Model holds layers + final norm + lm-head; add the input embedding table.
    cfg = ref.load_cfg(args.model)
    m = ref.Model(cfg, max_pos=max(int(x) for x in args.prefill.split(",")) + 1)
    embed = torch.empty(cfg["vocab"], cfg["hidden"], device="cuda", dtype=torch.bfloat16).normal_()
    wbytes = m.weight_bytes() + embed.numel() * embed.element_size()
    rope_bytes = (m.cos.numel() + m.sin.numel()) * m.cos.element_size()
    torch.cuda.synchronize()
    emit("weights", model=args.model, weight_bytes=int(wbytes), rope_table_bytes=int(rope_bytes), **cuda_info())

    for T in (int(x) for x in args.prefill.split(",")):
        m.alloc_cache(1, T)
        x = torch.randn(1, T, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            m.forward(x, "prefill")
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        kv_bytes = 2 * m.L * m.hk * T * m.d * 2
        emit("prefill_peak", model=args.model, tokens=T, impl="torch-reference-eager", peak_extra_bytes=int(peak),
             input_bytes=int(x.numel() * 2), kv_cache_bytes=int(kv_bytes), **cuda_info())
        m.kc = m.vc = None
        del x
        gc.collect()
        torch.cuda.empty_cache()

    kv_heads, d, L = cfg["kv_heads"], cfg["head_dim"], cfg["layers"]
    page = 2 * args.block * kv_heads * d * 2  # bytes of one block of one layer (K and V, bf16)
    info = cuda_info()
    t0 = time.time()
    lo = largest_paged(L, page, info["free"])
    emit("paged_kv_max", model=args.model, block=args.block, layers=L, page_bytes_per_layer=page,
         num_blocks=lo, tokens=lo * args.block, kv_bytes=lo * L * page, seconds=round(time.time() - t0, 2),
         free_before=info["free"], **cuda_info())

    for util in (0.9, 0.95):
        info = cuda_info()
        used = info["total"] - info["free"]
        budget = util * info["total"] - used  # vLLM: requested = util * total; KV = requested - in use
        nb = int(budget // (L * page))
        ts = alloc_paged(L, nb, page)
        emit("paged_kv_util", model=args.model, util=util, block=args.block, budget_bytes=int(budget), num_blocks=nb,
             tokens=nb * args.block, allocated=ts is not None, used_before=int(used), **cuda_info())
        del ts
        torch.cuda.empty_cache()
    hcommon.log("done")


if __name__ == "__main__":
    main()
