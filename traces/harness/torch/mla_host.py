"""Profile (not a scored trace): where the host time of an eager DeepSeek-V3 decode step goes.
Eager MLA decode steps under tensor parallelism took 1.5x (tp 2) and 2.1x (tp 4) the host time the
model gives (traces/h200x4-heldout5/mla_tp_step.jsonl), one GPU 1.2x. Here, with the GPU held
busy by torch.cuda._sleep so that only the host's issue time is measured (perf_counter over N
calls): the host microseconds per call of single ops (the Triton decode kernel's launch, a plain
PyTorch add_, the absorb bmm on its strided view, moe.py's grouped experts, a torch.empty) and of
one whole eager 5-layer decode step (batch 32, context 1024), with its kernel count from
torch.profiler, so host us per kernel. Run by 1 process, then by 4 processes at once (one per GPU,
independent, no communication): what the processes cost each other, without NCCL.
Usage: mla_host.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os
import sys
import time

from hcommon import LIST_CASES, list_cases, log

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.multiprocessing as mp

PROCS = (1, 4)
# HARNESS_MLA_HOST_TP=1: instead, the 5-layer step under tensor parallelism over 4 GPUs
# (mla_tp_step.build: NCCL process group, all-reduces), its host issue time per rank measured the
# same way (every rank's GPU held busy, so its collectives queue too): what a TP process costs.
TP = os.environ.get("HARNESS_MLA_HOST_TP", "0") == "1"
OPS = ("triton_decode", "add_", "bmm_absorb", "moe_grouped", "empty", "step")


def host_us(fn, n):
    """host us per fn() with the GPU held busy (the launches queue behind a sleep kernel)"""
    torch.cuda.synchronize()
    torch.cuda._sleep(int(2e9 * 0.5))  # ~0.5 s of GPU time at ~2 GHz: longer than the calls take to issue
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    dt = time.perf_counter() - t0
    torch.cuda.synchronize()
    return dt / n * 1e6


def kernels_in(fn):
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        fn()
        torch.cuda.synchronize()
    return sum(1 for e in p.events() if e.device_type.name == "CUDA" and e.name not in ("Memset", "Memcpy"))


def worker(rank, procs, path):
    torch.cuda.set_device(rank)
    from mla_step import LAYERS, DeepSeek, decode_latent, load_yaml
    from moe import moe_grouped
    y = load_yaml("deepseek-v3")
    m = DeepSeek(y, LAYERS)
    b, n = 32, 1024
    m.alloc_cache(b, n + 1)
    m.latent = decode_latent(b, n, m.cache, m.nh)
    x = torch.randn(b, 1, m.Hd, device="cuda", dtype=torch.bfloat16)
    ql = torch.randn(m.nh, b, 512, device="cuda", dtype=torch.bfloat16).transpose(0, 1)
    qr = torch.randn(b, m.nh, 64, device="cuda", dtype=torch.bfloat16)
    lo = torch.empty(m.nh, b, 512, device="cuda", dtype=torch.bfloat16).transpose(0, 1)
    q = torch.randn(b, 1, m.nh, 192, device="cuda", dtype=torch.bfloat16)
    Ld = m.layers[3]
    hf = torch.randn(b, m.Hd, device="cuda", dtype=torch.bfloat16)
    topv, topi = torch.topk(torch.randn(b, m.E, device="cuda"), m.K, dim=-1)
    topw = torch.softmax(topv, -1).to(torch.bfloat16)
    # calls per measurement: under ~600 queued kernels (the launch queue holds about 1000; a full
    # queue would block the host on the sleeping GPU)
    fns = {
        "triton_decode": (lambda: m.latent(ql, qr, m.cache[0], lo), 200),
        "add_": (lambda: x.add_(0.0), 500),
        "bmm_absorb": (lambda: torch.bmm(q[:, 0, :, :128].transpose(0, 1), Ld["w_uk"]), 200),
        "moe_grouped": (lambda: moe_grouped(hf, topi, topw, Ld["wgu"], Ld["wd"]), 20),
        "empty": (lambda: torch.empty(m.nh, b, 512, device="cuda", dtype=torch.bfloat16), 500),
        "step": (lambda: m.forward(x, "decode", n), 1),
    }
    rows = []
    for rnd in range(5):
        for name in OPS:
            fn, reps = fns[name]
            for _ in range(2):
                fn()
            us = host_us(fn, reps)
            rows.append({"mla_host": name, "procs": procs, "rank": rank, "round": rnd, "host_us": round(us, 2)})
    counts = {name: kernels_in(fns[name][0]) for name in OPS if name != "empty"}
    for r in rows:
        if r["mla_host"] in counts:
            r["kernels"] = counts[r["mla_host"]]
            r["host_us_per_kernel"] = round(r["host_us"] / max(1, r["kernels"]), 2)
    import json
    with open(f"{path}.rank{rank}.procs{procs}", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def tp_worker(rank, world, path):
    from coll import init_worker
    from mla_step import decode_latent, load_yaml
    from mla_tp_step import build
    import json
    port = int(os.environ["MLA_HOST_PORT"])
    groups = init_worker(rank, world, port, [world])
    m = build(load_yaml("deepseek-v3"), 5, world, rank, groups[world])
    b, n = 32, 1024
    m.alloc_cache(b, n + 1)
    m.latent = decode_latent(b, n, m.cache, m.nh)
    x = torch.randn(b, 1, m.Hd, device="cuda", dtype=torch.bfloat16)
    step = lambda: m.forward(x, "decode", n)  # noqa: E731
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    kernels = kernels_in(step)
    rows = []
    for rnd in range(5):
        torch.distributed.barrier()
        us = host_us(step, 1)
        rows.append({"mla_host": "step_tp", "procs": world, "rank": rank, "round": rnd, "host_us": round(us, 2),
                     "kernels": kernels, "host_us_per_kernel": round(us / kernels, 2)})
    with open(f"{path}.rank{rank}.tp", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def main():
    if TP:
        if list_cases([("mla_host tp", [(4, "step_tp")])]):
            return
        from coll import free_port
        path = sys.argv[1] if len(sys.argv) > 1 else "mla_host_tp.jsonl"
        from hcommon import write_env
        with open(path, "a") as f:
            write_env(f, "mla_host.py (tp)")
        os.environ["MLA_HOST_PORT"] = str(free_port())
        mp.spawn(tp_worker, args=(4, path), nprocs=4, join=True)
        with open(path, "a") as f:
            for r in range(4):
                part = f"{path}.rank{r}.tp"
                f.write(open(part).read())
                os.remove(part)
        log("mla_host: tp done")
        return
    cases = [(p, op) for p in PROCS for op in OPS]
    if list_cases([("mla_host", cases)]):
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "mla_host.jsonl"
    n = torch.cuda.device_count()
    from hcommon import write_env
    with open(path, "a") as f:
        write_env(f, "mla_host.py")
    for p in PROCS:
        if p > n:
            log(f"mla_host: {p} processes need {p} GPUs, {n} visible")
            continue
        mp.spawn(worker, args=(p, path), nprocs=p, join=True)
        with open(path, "a") as f:
            for r in range(p):
                part = f"{path}.rank{r}.procs{p}"
                f.write(open(part).read())
                os.remove(part)
        log(f"mla_host: {p} process(es) done")


if __name__ == "__main__":
    main()
