#!/usr/bin/python3
"""pytorch_learn.py: the PyTorch baseline for `smbrl bench learn`, the same measurements.

The update is the Mario tutorial's Double-DQN learn() step: sample a batch from a replay
memory of uint8 stacks, scale by 1/255, td_estimate = online(s)[a], td_target =
r + gamma (1 - done) target(s')[argmax online(s')], SmoothL1Loss, zero_grad, backward,
Adam step. Greedy action: online(obs).argmax(1) under no_grad, for 1 and for 8 observations.
Random frames and weights; medians of --iters runs after 2 warm-up updates.

Run with Debian's python3-torch and the OpenMP OpenBLAS for a fair BLAS:
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/pytorch_learn.py \
      --batch 64 --threads 2 --json
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


def marionet(c, a):
    return nn.Sequential(
        nn.Conv2d(c, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
        nn.Linear(512, a))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--actions", type=int, default=7)
    ap.add_argument("--capacity", type=int, default=4096)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    B, A, gamma = args.batch, args.actions, 0.9
    online, target = marionet(4, A), marionet(4, A)
    target.load_state_dict(online.state_dict())
    for p in target.parameters():
        p.requires_grad = False
    opt = torch.optim.Adam(online.parameters(), lr=0.00025)
    loss_fn = nn.SmoothL1Loss()
    states = torch.randint(0, 256, (args.capacity, 4, 84, 84), dtype=torch.uint8)
    next_states = torch.randint(0, 256, (args.capacity, 4, 84, 84), dtype=torch.uint8)
    actions = torch.randint(0, A, (args.capacity,))
    rewards = torch.rand(args.capacity)
    dones = (torch.rand(args.capacity) < 0.01).float()
    obs8 = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8)
    idx_b = torch.arange(B)

    def update():
        i = torch.randint(0, args.capacity, (B,))
        s = states[i].float() / 255.0
        s2 = next_states[i].float() / 255.0
        a, r, d = actions[i], rewards[i], dones[i]
        td_est = online(s)[idx_b, a]
        with torch.no_grad():
            best = online(s2).argmax(1)
            td_tgt = r + (1 - d) * gamma * target(s2)[idx_b, best]
        loss = loss_fn(td_est, td_tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def act(n):
        with torch.no_grad():
            return online(obs8[:n].float() / 255.0).argmax(1)

    upd, a1, a8, uc = [], [], [], []
    for it in range(-2, args.iters):
        c0, t0 = time.process_time(), time.perf_counter()
        update()
        t1, c1 = time.perf_counter(), time.process_time()
        act(1)[0].item()
        t2 = time.perf_counter()
        act(8).tolist()
        t3 = time.perf_counter()
        if it >= 0:
            upd.append((t1 - t0) * 1e3)
            a1.append((t2 - t1) * 1e3)
            a8.append((t3 - t2) * 1e3)
            uc.append((c1 - c0) * 1e3)
    res = {"update_ms": round(statistics.median(upd), 3), "act_ms": round(statistics.median(a1), 3),
           "act8_ms": round(statistics.median(a8), 3), "update_cpu_ms": round(statistics.median(uc), 3),
           "batch": B, "threads": args.threads,
           "iters": args.iters, "torch": torch.__version__}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"PyTorch {torch.__version__} Double-DQN learner, MarioNet -> {A} actions, "
              f"{args.threads} thread(s), median of {args.iters} runs")
        print(f"  update, batch {B:<20d} {res['update_ms']:10.3f} ms")
        print(f"  greedy action, 1 observation   {res['act_ms']:10.3f} ms")
        print(f"  greedy actions, 8 observations {res['act8_ms']:10.3f} ms")


if __name__ == "__main__":
    main()
