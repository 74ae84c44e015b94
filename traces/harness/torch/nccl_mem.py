"""op=memory, stage nccl_*: the device memory NCCL takes on each GPU, outside PyTorch's caching
allocator, as a tensor-parallel run uses it. One process per GPU (world 4). On each rank, device
memory in use (cudaMemGetInfo: total - free) is read after each stage; PyTorch's own reservation
(torch.cuda.memory_reserved) is subtracted, so `nccl_bytes` = in use - torch reserved - the
context baseline taken before the process group existed.
Stages: context (CUDA context + a 1 MiB tensor), pg_init (init_process_group with device_id:
eager communicator), all_reduce (first all-reduce of 64 MiB on the world), collectives (then
all_gather, reduce_scatter, all_to_all), subgroup2 (a 2-GPU group's first all-reduce), p2p (a
send/recv pair between ranks 0 and 1), graph (an all-reduce captured in a CUDA graph: NCCL's
graph-registered buffers). Rank 0 writes one line per stage with every rank's numbers.
Usage: nccl_mem.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the stages and exit)
"""
import datetime  # noqa: E402
import sys  # noqa: E402

from coll import free_port  # noqa: E402
from hcommon import LIST_CASES, Out, list_cases, log  # noqa: E402

if not LIST_CASES:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp

STAGES = ["context", "pg_init", "all_reduce", "collectives", "subgroup2", "p2p", "graph"]


def used():
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return total - free, total


def worker(rank, world, port, path):
    torch.cuda.set_device(rank)
    x = torch.ones(1 << 18, device="cuda")  # CUDA context + allocator
    base, total = used()
    base -= torch.cuda.memory_reserved()
    rows = []

    def note(stage):
        u, _ = used()
        rows.append((stage, u, torch.cuda.memory_reserved(), u - torch.cuda.memory_reserved() - base))

    note("context")
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=300), device_id=torch.device("cuda", rank))
    note("pg_init")
    t = torch.randn(32 << 20, device="cuda", dtype=torch.bfloat16)
    dist.all_reduce(t)
    note("all_reduce")
    out = torch.empty(world * t.numel(), device="cuda", dtype=torch.bfloat16)
    dist.all_gather_into_tensor(out, t)
    rs = torch.empty(t.numel() // world, device="cuda", dtype=torch.bfloat16)
    dist.reduce_scatter_tensor(rs, t)
    a2a = torch.empty_like(t)
    dist.all_to_all_single(a2a, t)
    del out, rs, a2a
    torch.cuda.empty_cache()
    note("collectives")
    g2 = dist.new_group([0, 1])
    if rank < 2:
        dist.all_reduce(t, group=g2)
    dist.barrier()
    note("subgroup2")
    if rank == 0:
        dist.send(t, dst=1)
    elif rank == 1:
        dist.recv(t, src=0)
    dist.barrier()
    note("p2p")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        dist.all_reduce(t)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, capture_error_mode="thread_local"):
        dist.all_reduce(t)
    g.replay()
    note("graph")
    obj = [None] * world
    dist.all_gather_object(obj, rows)
    if rank == 0:
        o = Out(path, "nccl_mem.py")
        for i, stage in enumerate(STAGES):
            per = [r[i] for r in obj]
            o.emit({"op": "memory", "stage": f"nccl_{stage}", "gpus": world, "device_total_bytes": total,
                    "context_baseline_bytes": base,
                    "used_bytes": [p[1] for p in per], "torch_reserved_bytes": [p[2] for p in per],
                    "nccl_bytes": [p[3] for p in per],
                    "note": "nccl_bytes = used - torch reserved - the baseline before the process group"})
        log(f"nccl_mem: wrote {o.n} lines")
    dist.barrier()
    dist.destroy_process_group()
    del x


def main():
    if list_cases([("nccl_mem", STAGES)]):
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "nccl_mem.jsonl"
    world = min(4, torch.cuda.device_count())
    if world < 2:
        log("nccl_mem: needs 2+ GPUs")
        return
    mp.spawn(worker, args=(world, free_port(), path), nprocs=world, join=True)


if __name__ == "__main__":
    main()
