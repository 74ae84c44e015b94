"""Profile (not a scored trace): where an eager expert-parallel MoE layer's time goes.

ep_moe.py's eager layers at few tokens take ~1 ms (Mixtral, 32 tokens, ep = 2), far above their
kernels and three all-to-alls. For ep = 2 (Mixtral-8x7B and Qwen3-30B-A3B shapes, 32 and 2048
tokens, balanced routing) this records, on rank 0:
  - the kernels one forward launches (torch.profiler: count and names) and its CUDA runtime calls
    that wait for the GPU (synchronize, device-to-host copies);
  - the host time to issue one forward (perf_counter, no synchronization), median of 20, and the
    GPU time between events around it (max over ranks, as ep_moe.py);
  - the host time of one all_to_all_single with split sizes alone, back to back (20 calls).
Records: {"ep_host": ...}. Usage: ep_host.py OUT.jsonl   (HEADROOM_LIST_CASES=1: list and exit)
"""
import time  # noqa: E402

from coll import end_worker, spawn, start_worker, time_over_ranks  # noqa: E402
from hcommon import LIST_CASES, list_cases, stats  # noqa: E402

if not LIST_CASES:
    import torch
    import torch.distributed as dist
    from torch.profiler import ProfilerActivity, profile

    from ep_moe import CONFIGS, EpLayer, routing

CASES = [("mixtral-8x7b", 32), ("mixtral-8x7b", 2048), ("qwen3-30b-a3b", 32)]
WAITS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy", "cudaMemcpyAsync")


def host_ms(f, n=20):
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return stats(t)["ms"]


def worker(rank, world, port, path, eps):
    groups, out, t0 = start_worker(rank, world, port, eps, path, "ep_host.py")
    ep = 2
    grp = groups[ep]
    cfg = {c[0]: c for c in CONFIGS}
    for name, T in CASES:
        _, E, K, H, I = cfg[name]
        gen = torch.Generator(device="cuda")
        gen.manual_seed(100 + rank)
        layer = EpLayer(E, K, H, I, ep, rank, grp, gen)
        x = torch.randn(T, H, device="cuda", dtype=torch.bfloat16, generator=gen)
        topi, topw = routing(T, K, E, gen)
        layer.prepare(x, topi, topw)
        gpu = time_over_ranks(layer.forward, 3, 3, 10, 30, 0.1, grp)
        h = host_ms(layer.forward)
        sp = dict(output_split_sizes=layer.out_splits, input_split_sizes=layer.in_splits, group=grp)
        a2a = host_ms(lambda lay=layer: dist.all_to_all_single(lay.recv, lay.send, **sp))
        dist.barrier(group=grp)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
            layer.forward()
            torch.cuda.synchronize()
        kernels, waits = [], {}
        for e in p.events():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                kernels.append(e.name)
            elif e.name in WAITS:
                waits[e.name] = waits.get(e.name, 0) + 1
        if rank == 0:
            d = {"ep_host": "layer", "model": name, "tokens": T, "ep": ep, "experts": E, "top_k": K,
                 "gpu_ms": stats(gpu.tolist())["ms"], "host_ms": h, "a2a_host_ms": a2a,
                 "kernels": len(kernels), "waits": waits, "kernel_names": sorted(set(kernels))}
            out.emit(d)
        del layer
    end_worker(rank, out, "ep_host", t0)


def main():
    if list_cases([("ep_host ep=2", CASES)]):
        return
    spawn(worker, "ep_host", (2,), "ep")


if __name__ == "__main__":
    main()
