#!/usr/bin/python3
"""make_golden.py: writes the PyTorch reference fixtures the nn and Double-DQN tests compare against.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden.py
It rewrites tests/golden/marionet.smbg, ddqn.smbg and optim.smbg. The C tests never need PyTorch.

File format (.smbg, all little-endian):
  "SMBG"  u32 version (1)  u32 tensor count
  per tensor: u16 name length, name (ASCII), u8 dtype, u8 ndim, u32 dims[ndim],
              dtype 1 only: f32 scale; then the data
  dtypes: 0 float32, 1 int8 codes times the scale (values exactly representable in float32),
          2 uint8, 3 int32
  u32 CRC-32 (zlib polynomial) of every byte before it.

What is in them, and why:
  marionet.smbg: the tutorial's MarioNet (4x84x84 input, conv 32 8/4, conv 64 4/2, conv 64 3/1,
    fc 3136->512, fc 512->A) with A = 4 actions and a batch of 3. Its fc1 alone is 1.6M floats,
    so to keep the file small (a) the weights are PyTorch's default initialisation rounded to
    int8 levels of bound/127 (the rounded values ARE the weights PyTorch then uses), and (b) for
    fc1's weight (online.7.weight, 512 rows) the gradient and the post-Adam values are stored
    for every 8th row only ("...rows8", 64 x 3136); every other tensor is stored whole.
    Contents: weights, observations, Q values, the Huber loss of Q(s,a) against fixed targets,
    every gradient, and the parameters after 3 Adam steps (lr 0.00025, eps 1e-6) on that same batch.
  ddqn.smbg: one Double-DQN loss on a small conv net with a dueling head (4x20x20 input,
    conv 8 4/2, conv 16 3/1, fc 32, dueling over 3 actions), batch 4, gamma 0.9, different
    online and target weights, one terminal transition; the TD target, the loss and every
    gradient of the online net.
  optim.smbg: 10 parameters and 3 gradients; the parameters after 3 steps of Adam (lr 0.01,
    betas 0.8/0.99, eps 1e-8, weight decay 0.01, clip_grad_norm_ 0.5) and of RMSprop (lr 0.01,
    alpha 0.95, eps 1e-6).
The references are computed in float64 from the float32 values stored, then stored as float32.
"""
import os
import struct
import zlib

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Writer:
    def __init__(self):
        self.items = []

    def f32(self, name, t):
        self.items.append((name, 0, t.detach().to(torch.float32).contiguous(), None))

    def i8(self, name, codes, scale):
        self.items.append((name, 1, codes.to(torch.int8).contiguous(), scale))

    def u8(self, name, t):
        self.items.append((name, 2, t.to(torch.uint8).contiguous(), None))

    def i32(self, name, t):
        self.items.append((name, 3, t.to(torch.int32).contiguous(), None))

    def save(self, path):
        out = bytearray(b"SMBG" + struct.pack("<II", 1, len(self.items)))
        for name, dtype, t, scale in self.items:
            nb = name.encode("ascii")
            out += struct.pack("<H", len(nb)) + nb + struct.pack("<BB", dtype, t.dim())
            out += b"".join(struct.pack("<I", d) for d in t.shape)
            if dtype == 1:
                out += struct.pack("<f", scale)
            out += t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
        with open(path, "wb") as f:
            f.write(out)
        print(f"{path}: {len(out)} bytes, {len(self.items)} tensors")


def marionet(c, a):
    # The tutorial's nn.Sequential, index for index (ReLU and Flatten take indices too).
    return nn.Sequential(
        nn.Conv2d(c, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
        nn.Linear(512, a))


def quantize_int8(net):
    """Rounds each tensor to int8 levels of its init bound; returns {name: (codes, scale)}."""
    q = {}
    with torch.no_grad():
        for name, p in net.named_parameters():
            fan_in = p.shape[1] * (p[0][0].numel() if p.dim() > 2 else 1) if p.dim() > 1 else None
            if fan_in is None:  # a bias: its layer's weight gives the fan-in
                w = dict(net.named_parameters())[name.replace("bias", "weight")]
                fan_in = w[0].numel()
            scale = float(torch.tensor(1.0 / fan_in ** 0.5 / 127.0, dtype=torch.float32))
            codes = torch.round(p / scale).clamp(-127, 127)
            p.copy_(codes * scale)
            q[name] = (codes, scale)
    return q


def make_marionet():
    torch.manual_seed(1234)
    A, B = 4, 3
    net = marionet(4, A)
    q = quantize_int8(net)
    net = net.double()
    w = Writer()
    for name, (codes, scale) in q.items():
        w.i8("online." + name, codes, scale)
    obs = torch.randint(0, 256, (B, 4, 84, 84), dtype=torch.uint8)
    actions = torch.tensor([1, 3, 0])
    w.u8("obs", obs)
    w.i32("actions", actions)
    x = obs.double() / 255.0
    with torch.no_grad():
        q0 = net(x)
    # Targets away from Q(s,a) by -2.0, 0.3 and 1.5, so both Huber branches are taken.
    target = q0[torch.arange(B), actions] + torch.tensor([-2.0, 0.3, 1.5], dtype=torch.float64)
    target = target.float().double()  # what the C test reads back
    w.f32("target", target)
    w.f32("q", q0)
    # eps 1e-6, not the default 1e-8: a weight whose gradient is within float32 rounding of
    # zero moves by lr * g / (|g| + eps), which with eps 1e-8 depends on that rounding, so
    # no float32 implementation could match this float64 reference there. The formula with
    # the default eps is checked on given gradients with optim.smbg (test_nn_layers).
    opt = torch.optim.Adam(net.parameters(), lr=0.00025, eps=1e-6)
    loss_fn = nn.SmoothL1Loss()
    for step in range(3):
        opt.zero_grad()
        loss = loss_fn(net(x)[torch.arange(B), actions], target)
        loss.backward()
        if step == 0:
            w.f32("loss", loss.reshape(1))
            for name, p in net.named_parameters():
                g = p.grad
                if name == "7.weight":
                    w.f32("grad.online.7.weight.rows8", g[::8])
                else:
                    w.f32("grad.online." + name, g)
        opt.step()
    for name, p in net.named_parameters():
        if name == "7.weight":
            w.f32("adam3.online.7.weight.rows8", p[::8])
        else:
            w.f32("adam3.online." + name, p)
    w.save(os.path.join(HERE, "marionet.smbg"))


class Dueling(nn.Module):
    """One linear layer to A advantages and 1 value (rows 0..A-1, then A): q = v + a - mean(a)."""

    def __init__(self, n_in, a):
        super().__init__()
        self.fc = nn.Linear(n_in, a + 1)
        self.a = a

    def forward(self, x):
        va = self.fc(x)
        adv, v = va[:, :self.a], va[:, self.a:]
        return v + adv - adv.mean(1, keepdim=True)


def small_net(a):
    return nn.Sequential(nn.Conv2d(4, 8, 4, 2), nn.ReLU(), nn.Conv2d(8, 16, 3, 1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), Dueling(32, a))


def c_name(name):
    # The C table names the dueling layer's linear "7.weight"; PyTorch calls it "7.fc.weight".
    return name.replace(".fc.", ".")


def make_ddqn(seed):
    """Returns False (writing nothing) when this seed's batch would not tell Double DQN from
    DQN: the online argmax must vary and differ from the target's own argmax somewhere."""
    torch.manual_seed(seed)
    A, B, gamma = 3, 4, 0.9
    online, target = small_net(A), small_net(A)
    with torch.no_grad():  # larger heads so the random batch gets distinct greedy actions
        online[7].fc.weight.mul_(8.0)
        target[7].fc.weight.mul_(8.0)
    w = Writer()
    for tag, net in (("online.", online), ("target.", target)):
        for name, p in net.named_parameters():
            w.f32(tag + c_name(name), p)
    online, target = online.double(), target.double()
    s = torch.randint(0, 256, (B, 4, 20, 20), dtype=torch.uint8)
    s2 = torch.randint(0, 256, (B, 4, 20, 20), dtype=torch.uint8)
    actions = torch.tensor([0, 2, 1, 2])
    rewards = torch.tensor([1.0, -0.5, 15.0, 0.25])
    dones = torch.tensor([0.0, 0.0, 1.0, 0.0])
    w.u8("states", s)
    w.u8("next_states", s2)
    w.i32("actions", actions)
    w.f32("rewards", rewards)
    w.f32("dones", dones)
    w.f32("gamma", torch.tensor([gamma]))
    x, x2 = s.double() / 255.0, s2.double() / 255.0
    # The tutorial's td_estimate / td_target / update_Q_online.
    q_est = online(x)[torch.arange(B), actions]
    with torch.no_grad():
        best = online(x2).argmax(1)
        q_next = target(x2)[torch.arange(B), best]
        td = rewards.double() + (1 - dones.double()) * gamma * q_next
        greedy_target = target(x2).argmax(1)
    if len(set(best.tolist())) < 2 or best.tolist() == greedy_target.tolist():
        return False
    print("ddqn: seed", seed, "online argmax", best.tolist(), "target argmax", greedy_target.tolist())
    loss = nn.SmoothL1Loss()(q_est, td)
    loss.backward()
    w.i32("best_actions", best)
    w.f32("q_estimate", q_est)
    w.f32("td_target", td)
    w.f32("loss", loss.reshape(1))
    for name, p in online.named_parameters():
        w.f32("grad.online." + c_name(name), p.grad)
    w.save(os.path.join(HERE, "ddqn.smbg"))
    return True


def make_optim():
    """Adam with weight decay and gradient clipping, and RMSprop: 3 steps on given gradients."""
    torch.manual_seed(7)
    n = 10
    p0 = torch.randn(n)
    grads = torch.randn(3, n) * torch.tensor([0.1, 1.0, 3.0]).reshape(3, 1)
    w = Writer()
    w.f32("params", p0)
    w.f32("grads", grads)
    pa = p0.double().clone().requires_grad_()
    opt = torch.optim.Adam([pa], lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01)
    for k in range(3):
        pa.grad = grads[k].double().clone()
        torch.nn.utils.clip_grad_norm_([pa], 0.5)
        opt.step()
    w.f32("adam_clip", pa)
    pr = p0.double().clone().requires_grad_()
    opt = torch.optim.RMSprop([pr], lr=0.01, alpha=0.95, eps=1e-6)
    for k in range(3):
        pr.grad = grads[k].double().clone()
        opt.step()
    w.f32("rmsprop", pr)
    w.save(os.path.join(HERE, "optim.smbg"))


if __name__ == "__main__":
    torch.set_num_threads(1)
    make_marionet()
    make_optim()
    seed = 99
    while not make_ddqn(seed):
        seed += 1
