#!/usr/bin/python3
"""make_golden_ppo.py: writes the PyTorch reference for the PPO loss and its gradients.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden_ppo.py
It rewrites tests/golden/ppo.smbg (format: see make_golden.py, whose writer it uses). The C
test (tests/test_ppo_golden.c) never needs PyTorch.

Two cases, each one minibatch of B = 8 samples through an actor-critic whose last layer has
A + 1 outputs (policy logits, then the state value), and the PPO-clip loss
    -mean min(r A, clamp(r, 1-eps, 1+eps) A) + vf_coef * value_loss - ent_coef * mean entropy
with r = exp(log pi(a|s) - old log-prob):
  conv.*: smbrl's nn_spec_ppo trunk (4 x conv 32 3x3 stride 2 pad 1 + ReLU, flatten, head) on
    4x42x42 (42 -> 21 -> 11 -> 6 -> 3: odd sides exercise the padding), A = 5, with uvipen's
    loss settings: clip 0.2, entropy 0.01, smooth_l1 value loss of weight 1, no value
    clipping, no advantage normalisation.
  mlp.*: an MLP (10 -> 16 -> 16 -> head), A = 3, with the other options: clip 0.1, entropy
    0.05, 0.5 * squared error of weight 0.5, value clipping 0.3, advantages normalised per
    minibatch (unbiased std + 1e-8).
Old log-probs are the current ones moved by up to +-0.4 so that ratios fall on both sides of
both clip bounds; returns and old values are placed so that both Huber branches and both
value-clip branches occur. Each case stores its loss settings ("<case>.cfg": clip, ent_coef,
vf_coef, value_loss (0 Huber, 1 MSE), value_clip, norm_adv), weights, inputs, the network
output, the five loss statistics and every parameter gradient. Computed in float64 from the
float32 values stored, then stored as float32.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_golden import Writer  # noqa: E402


def ppo_loss(out, A, actions, old_logp, old_values, advantages, returns, cfg):
    clip, ent_coef, vf_coef, value_loss, value_clip, norm_adv = cfg
    logits, value = out[:, :A], out[:, A]
    dist = torch.distributions.Categorical(logits=logits)
    logp = dist.log_prob(actions)
    logratio = logp - old_logp
    ratio = torch.exp(logratio)
    adv = advantages
    if norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = -torch.mean(torch.min(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv))

    def vloss(v):
        if value_loss == 0:
            return F.smooth_l1_loss(v, returns, reduction="none")
        return 0.5 * (v - returns) ** 2

    vl = vloss(value)
    if value_clip > 0:
        vc = old_values + torch.clamp(value - old_values, -value_clip, value_clip)
        vl = torch.max(vl, vloss(vc))
    vl = vl.mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + vf_coef * vl - ent_coef * entropy
    with torch.no_grad():
        kl = ((ratio - 1) - logratio).mean()
        clip_frac = ((ratio - 1).abs() > clip).double().mean()
    stats = torch.stack([policy_loss, vl, entropy, kl, clip_frac, loss]).detach()
    return loss, logp.detach(), stats


def make_case(w, tag, net, obs, A, cfg, seed):
    g = torch.Generator().manual_seed(seed)
    B = obs.shape[0]
    w.f32(tag + ".cfg", torch.tensor(cfg, dtype=torch.float64))
    for name, p in net.named_parameters():
        w.f32(tag + "." + name, p)
    net = net.double()
    with torch.no_grad():  # weights back from float32 exactly as the C side reads them
        for p in net.parameters():
            p.copy_(p.float().double())
    w.u8(tag + ".obs", obs)
    x = obs.double() / 255.0
    with torch.no_grad():
        out0 = net(x)
        logits0, v0 = out0[:, :A], out0[:, A]
        actions = torch.distributions.Categorical(logits=logits0).sample()
        lp0 = torch.log_softmax(logits0, 1)[torch.arange(B), actions]
    old_logp = (lp0 + (torch.rand(B, generator=g, dtype=torch.float64) * 0.8 - 0.4)).float().double()
    advantages = (torch.randn(B, generator=g, dtype=torch.float64) * 2.0).float().double()
    offs = torch.tensor([-2.5, -0.4, 0.3, 1.7, -1.2, 0.05, 2.2, -0.7], dtype=torch.float64)[:B]
    returns = (v0 + offs).float().double()
    voffs = torch.tensor([0.5, -0.1, -0.6, 0.2, 0.9, -0.35, 0.0, 0.15], dtype=torch.float64)[:B]
    old_values = (v0 + voffs).float().double()
    w.i32(tag + ".actions", actions)
    w.f32(tag + ".logp", old_logp)
    w.f32(tag + ".values", old_values)
    w.f32(tag + ".advantages", advantages)
    w.f32(tag + ".returns", returns)
    out = net(x)
    loss, logp, stats = ppo_loss(out, A, actions, old_logp, old_values, advantages, returns, cfg)
    loss.backward()
    ratio = torch.exp(logp - old_logp)
    print(f"{tag}: ratios {[round(v, 3) for v in ratio.tolist()]}")
    print(f"{tag}: stats (policy, value, entropy, kl, clip_frac, loss) {stats.tolist()}")
    w.f32(tag + ".out", out.detach())
    w.f32(tag + ".stats", stats)
    for name, p in net.named_parameters():
        w.f32(tag + ".grad." + name, p.grad)


def conv_net(A):
    layers = []
    c = 4
    for _ in range(4):
        layers += [nn.Conv2d(c, 32, 3, 2, 1), nn.ReLU()]
        c = 32
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * 3 * 3, A + 1))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(2024)
    w = Writer()
    A = 5
    net = conv_net(A)
    with torch.no_grad():  # a sharper policy than the default init gives, so probabilities differ
        net[9].weight.mul_(6.0)
    obs = torch.randint(0, 256, (8, 4, 42, 42), dtype=torch.uint8)
    make_case(w, "conv", net, obs, A, (0.2, 0.01, 1.0, 0, 0.0, 0), 11)

    A = 3
    net = nn.Sequential(nn.Flatten(), nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                        nn.Linear(16, A + 1))
    with torch.no_grad():
        net[5].weight.mul_(4.0)
    obs = torch.randint(0, 256, (8, 10, 1, 1), dtype=torch.uint8)
    make_case(w, "mlp", net, obs, A, (0.1, 0.05, 0.5, 1, 0.3, 1), 12)
    w.save(os.path.join(HERE, "ppo.smbg"))


if __name__ == "__main__":
    main()
