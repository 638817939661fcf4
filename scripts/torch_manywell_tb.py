#!/usr/bin/env python3
"""torch_manywell_tb.py — an independent eager-PyTorch run of the diffusion sampler on manywell
with Trajectory Balance, the setting of `gfn train --env diffusion --target manywell`, to check
our learning figures against (docs/diffusion.md, "manywell"). Not a benchmark: it trains and
reports the quality metrics; speed is `gfn_bench diffusion`.

  target  manywell, d = 32: log R(x) = sum_b phi(x_2b) - x_(2b+1)^2 / 2,
          phi(u) = -u^4 + 6u^2 + 0.5u; log Z = 16 (log 11784.50927 + log(2 pi) / 2)
  network the PIS network (gfn/estimators/diffusion_policy.h): Fourier time features
          (64 harmonics, learned phase), t-embedding 128 -> 64 -> 64, s-embedding 32 -> 64,
          joint GELU layers 64 -> 64 -> 64, out 64 -> 32; torch.nn.Linear's initialisation,
          or with --zero-init the last layer at 0 (the PIS paper's zero_init)
  PF      a ~ N(dt f(x, t), sigma^2 dt I), sigma = 1, dt = 1/N, N = 32; the exit is forced
  PB      the move into t = k dt, k > 1: a ~ N(x'/k, sigma^2 dt (k-1)/k I) (Brownian bridge);
          the move into t = dt is forced (log PB = 0)
  TB      mean_i (log Z + sum log PF - sum log PB - log R(x_N))^2 on on-policy batches of 200,
          Adam: lr 1e-3 for the network, --lr-logz for log Z; 4,000 iterations
  metrics on --eval fresh trajectories: log Z - ELBO (ELBO the mean log-weight
          log R + sum log PB - sum log PF) and log Z - IW-ELBO (IW-ELBO = log-mean-exp of the
          log-weights), and the fraction of samples with x_2b < 0 (the left well) per block.

Usage (Debian's python3-torch): /usr/bin/python3 scripts/torch_manywell_tb.py --seed 1"""
import argparse, json, math, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=1)
p.add_argument("--iters", type=int, default=4000)
p.add_argument("--batch", type=int, default=200)
p.add_argument("--steps", type=int, default=32)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--lr-logz", type=float, default=0.5)
p.add_argument("--zero-init", action="store_true")
p.add_argument("--eval", type=int, default=10000)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
D, N, H, HARM, SIGMA = 32, a.steps, 64, 64, 1.0
dt = 1.0 / N
LOG_2PI = math.log(2 * math.pi)
LOG_Z = 16 * (math.log(11784.50927) + 0.5 * LOG_2PI)


class PISNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("omega", torch.linspace(0.1, 100, HARM)[None, :])
        self.phase = nn.Parameter(torch.randn(1, HARM))
        self.t_in, self.t_out = nn.Linear(2 * HARM, H), nn.Linear(H, H)
        self.s_model = nn.Linear(D, H)
        self.joint = nn.ModuleList([nn.Linear(H, H), nn.Linear(H, H)])
        self.out = nn.Linear(H, D)
        if a.zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x, t):
        arg = t * self.omega + self.phase
        t_emb = self.t_out(nn.functional.gelu(self.t_in(torch.cat([arg.sin(), arg.cos()], 1))))
        h = nn.functional.gelu(self.s_model(x) + t_emb)
        for lin in self.joint:
            h = nn.functional.gelu(lin(h))
        return self.out(h)


def log_reward(x):
    u, v = x[:, 0::2], x[:, 1::2]
    return (-u ** 4 + 6 * u ** 2 + 0.5 * u - 0.5 * v ** 2).sum(1)


def gaussian_log_prob(act, mean, std):
    return -0.5 * (D * (LOG_2PI + 2 * math.log(std)) + (((act - mean) / std) ** 2).sum(1))


def rollout(net, n):
    x = torch.zeros(n, D)
    log_pf, log_pb = torch.zeros(n), torch.zeros(n)
    std = SIGMA * math.sqrt(dt)
    for i in range(N):
        mean = dt * net(x, i * dt)
        act = mean.detach() + std * torch.randn(n, D)
        log_pf = log_pf + gaussian_log_prob(act, mean, std)
        x = x + act
        k = i + 1
        if k > 1:
            log_pb = log_pb + gaussian_log_prob(act, x / k, SIGMA * math.sqrt(dt * (k - 1) / k))
    return x, log_pf, log_pb


net = PISNet()
log_z = nn.Parameter(torch.zeros(()))
opt = torch.optim.Adam([{"params": list(net.parameters()), "lr": a.lr}, {"params": [log_z], "lr": a.lr_logz}])
t0 = time.time()
for it in range(a.iters):
    x, log_pf, log_pb = rollout(net, a.batch)
    loss = ((log_z + log_pf - log_pb - log_reward(x)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()

with torch.no_grad():
    log_w, left = [], torch.zeros(D // 2)
    for done in range(0, a.eval, 2000):
        m = min(2000, a.eval - done)
        x, log_pf, log_pb = rollout(net, m)
        log_w.append(log_reward(x) + log_pb - log_pf)
        left += (x[:, 0::2] < 0).float().sum(0)
    log_w = torch.cat(log_w).double()
    elbo = log_w.mean().item()
    iw = (torch.logsumexp(log_w, 0) - math.log(len(log_w))).item()
print(json.dumps({"impl": "pytorch-" + torch.__version__, "seed": a.seed, "lr_logz": a.lr_logz,
                  "zero_init": a.zero_init, "iters": a.iters, "seconds": round(time.time() - t0, 1),
                  "logz": log_z.item(), "logz_true": LOG_Z, "delta_logz_elbo": LOG_Z - elbo,
                  "delta_logz_iw_elbo": LOG_Z - iw,
                  "left_fraction": [round(v, 3) for v in (left / a.eval).tolist()]}))
