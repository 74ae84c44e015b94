"""Profile (not a scored trace; no GPU): does a busy CPU slow down when other CPUs of the machine are
busy too? tp_threads.py found that an eager TP process's main thread is the only thread using the
CPU and still needs up to 2x the CPU time for the same step in some seconds, both ranks at once,
whatever the threads' placement. If the machine's vCPUs share physical cores (SMT on the host,
invisible inside the VM: lscpu shows one thread per core), the same pure-Python work takes longer
when another vCPU runs at the same time. Here: a fixed pure-Python loop (the same bytecode per call)
timed on vCPU a alone, then at the same moment on a and on b for every pair (a, b) in PAIRS, in
interleaved rounds; and on k vCPUs at once for k in 2, 4, 8, 16 where the machine has them.
Usage: cpu_pairs.py OUT.jsonl [rounds]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import multiprocessing as mp
import os
import sys
import time

from hcommon import LIST_CASES, list_cases, log


def work():
    s = 0
    for i in range(400_000):
        s += i * i % 7
    return s


def timed(cpu, start, q):
    os.sched_setaffinity(0, {cpu})
    work()  # warm
    while time.time() < start:
        pass
    t = []
    for _ in range(5):
        t0 = time.perf_counter()
        work()
        t.append(time.perf_counter() - t0)
    q.put((cpu, sorted(t)[2] * 1e3))


def run_at_once(cpus):
    q = mp.Queue()
    start = time.time() + 0.3
    ps = [mp.Process(target=timed, args=(c, start, q)) for c in cpus]
    for p in ps:
        p.start()
    out = dict(q.get() for _ in ps)
    for p in ps:
        p.join()
    return out


def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    cpus = sorted(os.sched_getaffinity(0))
    n = len(cpus)
    pairs = sorted({(cpus[a], cpus[b]) for a, b in ((0, 1), (0, n // 2), (1, n // 2 + 1), (0, n - 1)) if a < b < n})
    groups = [k for k in (2, 4, 8, 16) if k <= n]
    cases = [(r, "alone", cpus[0]) for r in range(rounds)] + [(r, "pair", p) for r in range(rounds) for p in pairs] + \
            [(r, "spread", k) for r in range(rounds) for k in groups]
    if list_cases([("cpu_pairs", cases)]):
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "cpu_pairs.jsonl"
    with open(path, "a") as f:
        for r in range(rounds):
            f.write(json.dumps({"cpu_pairs": "alone", "round": r, "cpus": [cpus[0]],
                                "ms": run_at_once([cpus[0]])}) + "\n")
            for p in pairs:
                f.write(json.dumps({"cpu_pairs": "pair", "round": r, "cpus": list(p), "ms": run_at_once(list(p))}) + "\n")
            for k in groups:
                sel = [cpus[i * n // k] for i in range(k)]
                f.write(json.dumps({"cpu_pairs": "spread", "round": r, "cpus": sel, "ms": run_at_once(sel)}) + "\n")
    log(f"cpu_pairs: {rounds} rounds on {n} CPUs done")


if __name__ == "__main__":
    main()
