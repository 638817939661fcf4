#!/usr/bin/env python3
"""torch_diffusion_tb.py — the eager-PyTorch baseline of `gfn_bench diffusion`: the diffusion
sampler on gmm25 trained with Trajectory Balance, the work `gfn train --env diffusion --target
gmm25` does by default, written the way a user would in plain PyTorch.

  network f(x, t) (the PIS network of gfn/estimators/diffusion_policy.h, joint_layers 2):
    e(t)  = [sin(t*w + phi) | cos(t*w + phi)]     w = linspace(0.1, 100, 64), phi ~ N(0, 1) learned
    t_emb = Linear(GELU(Linear(e(t))))            128 -> 64 -> 64, once per step (t is shared)
    s_emb = Linear(x)                             2 -> 64
    f     = Linear(GELU(Linear(GELU(Linear(GELU(s_emb + t_emb))))))   64 -> 64 -> 64 -> 2,
            the last Linear zero at initialisation
  PF  a ~ N(dt*f(x, t), sigma^2*dt*I), sigma = 5, dt = 1/N; the exit at t = 1 is forced
  PB  the step into t = k*dt, k > 1: a ~ N(x/k, sigma^2*dt*(k - 1)/k * I) (Brownian bridge);
      the step into t = dt is forced (log PB = 0)
  R   gmm25: log R(x) = logsumexp_k [log(1/25) - |x - mu_k|^2 / (2*0.3)] - log(2*pi*0.3),
      mu_k on {-10, -5, 0, 5, 10}^2
  TB  loss = mean_i (log Z + sum log PF - sum log PB - log R(x_N))^2, log-probs kept from the
      rollout (on-policy), Adam lr 1e-3 for the network and 0.1 for log Z.

Phases as in gfn.cpp's training step: sample (the rollout with log PF on the graph), loss,
backward, optimizer. Prints one JSON line (ms_per_iter, ms_sample, ms_loss, ms_backward,
ms_optim, peak_mb, ...), the format `gfn_bench` reads. Run it with Debian's python3-torch:
/usr/bin/python3 bench/torch_diffusion_tb.py --threads 1."""
import argparse, json, math, resource, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=200)
p.add_argument("--steps", type=int, default=32)
p.add_argument("--iters", type=int, default=100)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--hidden", type=int, default=64)
p.add_argument("--harmonics", type=int, default=64)
p.add_argument("--sigma", type=float, default=5.0)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--lr-logz", type=float, default=1e-1)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
D, N, H = 2, a.steps, a.hidden
dt = 1.0 / N
LOG_2PI = math.log(2 * math.pi)


class PISNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("omega", torch.linspace(0.1, 100, a.harmonics)[None, :])
        self.phase = nn.Parameter(torch.randn(1, a.harmonics))
        self.t_in, self.t_out = nn.Linear(2 * a.harmonics, H), nn.Linear(H, H)
        self.s_model = nn.Linear(D, H)
        self.joint = nn.ModuleList([nn.Linear(H, H), nn.Linear(H, H)])
        self.out = nn.Linear(H, D)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t):
        """x (n, D) at the common time t -> f (n, D)."""
        arg = t * self.omega + self.phase
        t_emb = self.t_out(nn.functional.gelu(self.t_in(torch.cat([arg.sin(), arg.cos()], 1))))  # (1, H)
        h = nn.functional.gelu(self.s_model(x) + t_emb)
        for lin in self.joint:
            h = nn.functional.gelu(lin(h))
        return self.out(h)


means = torch.tensor([[u, v] for u in (-10.0, -5.0, 0.0, 5.0, 10.0) for v in (-10.0, -5.0, 0.0, 5.0, 10.0)])


def log_reward(x):
    sq = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)  # (n, 25)
    return torch.logsumexp(math.log(1 / 25) - sq / (2 * 0.3), 1) - 0.5 * D * (LOG_2PI + math.log(0.3))


def gaussian_log_prob(a_, mean, std):
    """sum over the D columns of log N(a; mean, std^2), std a float."""
    return -0.5 * (D * (LOG_2PI + 2 * math.log(std)) + (((a_ - mean) / std) ** 2).sum(1))


net = PISNet()
log_z = nn.Parameter(torch.zeros(()))
opt = torch.optim.Adam([{"params": list(net.parameters()), "lr": a.lr}, {"params": [log_z], "lr": a.lr_logz}])
pf_std = a.sigma * math.sqrt(dt)


def rollout(n):
    """n trajectories of N moves from x = 0: final states, sum log PF (on the graph), sum log PB."""
    x = torch.zeros(n, D)
    log_pf, log_pb = torch.zeros(n), torch.zeros(n)
    for i in range(N):
        mean = dt * net(x, i * dt)
        act = (mean.detach() + pf_std * torch.randn(n, D))
        log_pf = log_pf + gaussian_log_prob(act, mean, pf_std)
        x = x + act
        k = i + 1  # the move led into t = k*dt; PB scores it back
        if k > 1:
            log_pb = log_pb + gaussian_log_prob(act, x / k, a.sigma * math.sqrt(dt * (k - 1) / k))
    return x, log_pf, log_pb


times = dict(sample=0.0, loss=0.0, backward=0.0, optim=0.0)
for it in range(a.warmup + a.iters):
    if it == a.warmup:
        times = {k: 0.0 for k in times}
        t_start = time.perf_counter()
    t0 = time.perf_counter()
    final, log_pf, log_pb = rollout(a.batch)
    t1 = time.perf_counter()
    loss = ((log_z + log_pf - log_pb - log_reward(final)) ** 2).mean()
    t2 = time.perf_counter()
    opt.zero_grad()
    loss.backward()
    t3 = time.perf_counter()
    opt.step()
    t4 = time.perf_counter()
    for k, d in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        times[k] += d
total = time.perf_counter() - t_start
out = {"impl": "pytorch-" + torch.__version__, "target": "gmm25", "batch": a.batch, "steps": N, "hidden": H,
       "iters": a.iters, "threads": a.threads, "params": sum(q.numel() for q in net.parameters()) + 1,
       "ms_per_iter": 1000 * total / a.iters, **{"ms_" + k: 1000 * v / a.iters for k, v in times.items()},
       "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loss": loss.item(),
       "logz": log_z.item()}
print(json.dumps(out))
