"""op=memory, stage kv_capacity: the largest paged KV cache a serving process can allocate next
to a model's weights, for models, weight formats, KV formats and tensor-parallel plans that
mem_capacity.py (Llama-3-8B bf16, one GPU, the run that measured headroom's runtime defaults)
did not cover. Each case runs in fresh processes (one per GPU), laid out as vLLM lays out a
served model (its fused layers, its quantized formats), without vLLM itself:

  runtime  CUDA context; a bf16 GEMM (cuBLAS) and an F.linear with bias (cuBLASLt); one flash
           SDPA call; the weight format's own kernel once (fp8: torch._scaled_mm; int4:
           torch._weight_int4pack_mm); tp > 1: the NCCL process group and a first all-reduce
           (NVLink SHARP off, as nccl_mem.py measured it).
  weights  per layer: qkv_proj [(hq + 2 hk) d / tp, H] (+ bias where the model has one),
           o_proj [H, hq d / tp], gate_up_proj [2 I / tp, H] and down_proj [H, I / tp], or for
           a mixture of experts w13 [E, 2 I / tp, H], w2 [E, H, I / tp] and the router [E, H]
           (replicated, bf16); two RMSNorm weights; the embedding and lm-head split over the
           vocabulary (vocab / tp rows), the final norm; the rotary cos/sin cache
           [max_context, d] bf16.
           bf16: every tensor bf16. fp8 (vLLM per-tensor): each projection float8_e4m3fn with
           an fp32 weight scale and input scale (one per expert for w13/w2); router, norms,
           biases, embedding and lm-head bf16. int4 (GPTQ symmetric, group 128, Marlin layout):
           each projection int32 [K / 16, N * 2] (K N / 2 bytes) and fp16 scales [K / 128, N].
  KV       paged, one tensor per layer of num_blocks x [2, block, hk / tp, d] (bf16, or one
           byte per element for fp8), the largest num_blocks that allocates (binary search).
One record per case: each rank's numbers and kv_blocks = the minimum over ranks (every rank
must hold the same cache). Compare with `headroom memory --util 1.0 --max-batch-tokens 1`.
Usage: mem_heldout.py OUT.jsonl [CASE ...]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import os
import subprocess
import sys
import time

from hcommon import list_cases, load_cfg, log, write_env

CASES = {  # name: model, weights, kv, block, tp
    "mixtral-bf16": ("mixtral-8x7b", "bf16", "bf16", 16, 1),
    "llama70b-fp8-fp8kv": ("llama3-70b", "fp8", "fp8", 16, 1),
    "qwen72b-int4-b32": ("qwen2.5-72b", "int4", "bf16", 32, 1),
    "llama70b-tp2": ("llama3-70b", "bf16", "bf16", 16, 2),
    "mixtral-fp8-fp8kv-tp2": ("mixtral-8x7b", "fp8", "fp8", 16, 2),
    "qwen72b-fp8kv-tp2": ("qwen2.5-72b", "bf16", "fp8", 16, 2),
}
MIB2 = 2 << 20


def yaml_model(name):
    import yaml
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "..", "models", name + ".yaml")) as f:
        return yaml.safe_load(f)


def runtime(torch, fmt):
    import torch.nn.functional as F

    from model import gqa_mode, sdpa
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    w = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
    F.linear(a, w, b).sum().item()
    q = torch.randn(1, 32, 1024, 128, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 8, 1024, 128, device="cuda", dtype=torch.bfloat16)
    sdpa(q, k, k, True, gqa_mode())
    if fmt == "fp8":
        a8 = a[:64].to(torch.float8_e4m3fn)
        w8 = w.to(torch.float8_e4m3fn)
        one = torch.ones((), device="cuda", dtype=torch.float32)
        torch._scaled_mm(a8, w8.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16).sum().item()
    elif fmt == "int4":
        wi = torch.randint(0, 16, (4096, 4096 // 2), device="cuda", dtype=torch.uint8)
        packed = torch._convert_weight_to_int4pack(wi, 8)
        sz = torch.ones(4096 // 128, 4096, 2, device="cuda", dtype=torch.bfloat16)
        torch._weight_int4pack_mm(a[:16], packed, 128, sz).sum().item()
    torch.cuda.synchronize()
    del a, w, b, q, k
    torch.cuda.empty_cache()


def weights(torch, y, fmt, tp):
    """Allocate the served model's weights for one of tp ranks; returns (tensors, bytes)."""
    dev = "cuda"
    bf = torch.bfloat16
    ts = []

    def t(shape, dtype):
        x = torch.empty(shape, device=dev, dtype=dtype)
        ts.append(x)

    def proj(n, k, experts=0):
        """one projection of n output rows and k inputs (experts: that many stacked)"""
        e = (experts,) if experts else ()
        if fmt == "bf16":
            t(e + (n, k), bf)
        elif fmt == "fp8":
            t(e + (n, k), torch.float8_e4m3fn)
            t(e or (1,), torch.float32)  # weight_scale
            t(e or (1,), torch.float32)  # input_scale
        elif fmt == "int4":
            assert k % 128 == 0, (n, k)
            t(e + (k // 16, n * 2), torch.int32)
            t(e + (k // 128, n), torch.float16)
        else:
            raise ValueError(fmt)
    H, L, V = y["hidden"], y["layers"], y["vocab"]
    a = y["attention"]
    hq, hk, d = a["heads"] // tp, a["kv_heads"] // tp, a["head_dim"]
    moe = y.get("moe")
    for _ in range(L):
        proj((hq + 2 * hk) * d, H)
        if a.get("qkv_bias"):
            t(((hq + 2 * hk) * d,), bf)
        proj(H, hq * d)
        t((H,), bf)
        t((H,), bf)
        if moe:
            E, Ie = moe["experts"], moe["expert_intermediate"] // tp
            t((E, H), bf)  # router, replicated, not quantized
            proj(2 * Ie, H, E)
            proj(H, Ie, E)
        else:
            I_ = y["ffn"]["intermediate"] // tp
            proj(2 * I_, H)
            proj(H, I_)
    t((V // tp, H), bf)  # embedding
    if not y.get("tie_embeddings"):
        t((V // tp, H), bf)  # lm-head
    t((H,), bf)
    t((y["max_context"], d), bf)  # rotary cos/sin cache
    return ts, sum(x.numel() * x.element_size() for x in ts)


def rank_main(rank, case, port, q):
    import datetime

    import torch
    import torch.distributed as dist

    from mem_capacity import cuda_info, largest_paged
    model, fmt, kv, block, tp = CASES[case]
    torch.cuda.set_device(rank)
    torch.ones(1, device="cuda")
    info = {"after_context": cuda_info()}
    runtime(torch, fmt)
    info["after_runtime"] = cuda_info()
    if tp > 1:
        dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=tp,
                                timeout=datetime.timedelta(seconds=300), device_id=torch.device("cuda", rank))
        x = torch.randn(32 << 20, device="cuda", dtype=torch.bfloat16)
        dist.all_reduce(x)
        torch.cuda.synchronize()
        del x
        torch.cuda.empty_cache()
        info["after_nccl"] = cuda_info()
    y = yaml_model(model)
    ws, wbytes = weights(torch, y, fmt, tp)
    torch.cuda.synchronize()
    info["after_weights"] = cuda_info()
    a = y["attention"]
    page = 2 * block * (a["kv_heads"] // tp) * a["head_dim"] * (1 if kv == "fp8" else 2)
    L = y["layers"]
    t0 = time.time()
    lo = largest_paged(L, page, info["after_weights"]["free"])
    r = {"rank": rank, "weight_bytes": int(wbytes), "weight_tensors": len(ws), "page_bytes_per_layer": page,
         "kv_blocks": lo, "search_s": round(time.time() - t0, 2)}
    r.update(info)
    if tp > 1:
        dist.barrier()
        dist.destroy_process_group()
    q.put(r)


def run_case(case):
    """one case in fresh processes (this is the child: python3 mem_heldout.py --one CASE)"""
    import torch.multiprocessing as mp

    from coll import free_port
    model, fmt, kv, block, tp = CASES[case]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    ps = [ctx.Process(target=rank_main, args=(r, case, port, q)) for r in range(tp)]
    for p in ps:
        p.start()
    ranks = sorted((q.get(timeout=600) for _ in ps), key=lambda r: r["rank"])
    for p in ps:
        p.join()
    cfg = load_cfg(model)
    blocks = min(r["kv_blocks"] for r in ranks)
    return {"op": "memory", "stage": "kv_capacity", "case": case, "model": model, "weights": fmt, "kv_dtype": kv,
            "block": block, "tp": tp, "layers": cfg["layers"], "kv_blocks": blocks, "kv_tokens": blocks * block,
            "weight_bytes": ranks[0]["weight_bytes"], "ranks": ranks, "hw": "h200-sxm"}


def main():
    names = [a for a in sys.argv[2:] if not a.startswith("-")] or list(CASES)
    if list_cases([("mem_heldout", [(n,) + CASES[n] for n in names])]):
        return
    if sys.argv[1] == "--one":
        print(json.dumps(run_case(sys.argv[2])))
        return
    path = sys.argv[1]
    import torch
    n_gpu = torch.cuda.device_count()
    with open(path, "a") as f:
        info = write_env(f, "mem_heldout.py")
        for n in names:
            if CASES[n][4] > n_gpu:
                log(f"mem_heldout: {n} needs {CASES[n][4]} GPUs, {n_gpu} visible: skipped")
                continue
            t0 = time.time()
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", n], capture_output=True, text=True)
            if p.returncode != 0:
                log(f"mem_heldout: {n} failed:\n{p.stderr[-3000:]}")
                continue
            d = json.loads(p.stdout.strip().splitlines()[-1])
            d["gpu"] = info.get("gpu", "unknown")
            f.write(json.dumps(d) + "\n")
            f.flush()
            log(f"mem_heldout: {n}: {d['kv_blocks']} blocks of {d['block']} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
