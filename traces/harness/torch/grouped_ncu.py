"""Profile helper (not a scored trace): a plain loop of torch._grouped_mm calls for Nsight Compute
to read (traces/harness/grouped_ncu.sh): G groups of m rows each (even split), weights [G, n, k]
bf16, 2 weight copies alternating, CALLS calls.
Usage: grouped_ncu.py G N K M CALLS   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import sys

from hcommon import list_cases

# (label, G, n, k, m): Mixtral-8x7B's experts (gate-up, down), against DeepSeek-V3-sized experts
CASES = [("mixtral.gate_up", 8, 28672, 4096, 16), ("mixtral.gate_up", 8, 28672, 4096, 64),
         ("mixtral.gate_up", 8, 28672, 4096, 128), ("mixtral.down", 8, 4096, 14336, 16),
         ("mixtral.down", 8, 4096, 14336, 128), ("deepseek.gate_up", 32, 4096, 7168, 16),
         ("deepseek.gate_up", 32, 4096, 7168, 64)]


def main():
    if list_cases([("grouped_ncu", CASES)]):
        return
    import torch
    G, n, k, m, calls = (int(a) for a in sys.argv[1:6])
    offs = torch.full((G,), m, device="cuda", dtype=torch.int32).cumsum(0, dtype=torch.int32)
    x = torch.randn(G * m, k, device="cuda", dtype=torch.bfloat16)
    ws = [torch.randn(G, n, k, device="cuda", dtype=torch.bfloat16) for _ in range(2)]
    for i in range(calls):
        torch._grouped_mm(x, ws[i % 2].transpose(-2, -1), offs=offs)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
