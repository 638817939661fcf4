#!/usr/bin/env python3
"""torch_box_tb.py — the eager-PyTorch baseline of `gfn_bench box`: the Box environments (polar
`box`, Cartesian `box_cartesian`) trained with Trajectory Balance and a learned PB, the work
`gfn train --env box` / `--env box_cartesian` does by default, written the way a user would in
plain PyTorch (torch.distributions' Beta mixtures, one network call a step on the rows that need it).

  walk in [0, 1]^2 from s_0 = (0, 0); moves a >= 0, x' = x + a; delta = 0.25; every network an
  MLP 2 -> 128 -> 128 -> 128 -> 128 -> out (ELU); concentrations c = 0.1 + (c_max - 0.1)·sigmoid(raw);
  a Beta mixture: weights softmax(logits), K components. gfn.cpp's defaults per env: polar K = 2
  (4 for the first move), c_max = 5.1, log Z lr 1e-3; Cartesian K = 8, c_max = 20, log Z lr 1e-2.
  polar PF   s_0: a learned (1, 5·K0) row [logits | a_r | b_r | a_th | b_th] (zeros at first):
               r ~ mix_r (r <= 1 - 3e-7), th ~ mix_th, a = delta·r·(cos(pi th/2), sin(pi th/2)),
               log PF = log mix_r(r) + log mix_th(th) - log delta - log(pi/2) - log(delta r);
             elsewhere: net(x) -> [l | logits | a | b]; exit with sigmoid(l), forced (log PF = 0)
               when |1 - x| <= delta or any x_d >= 1 - 1e-4; else u ~ mix on the feasible arc
               [m, M] (units of pi/2): m = acos((1 - x0)/delta)·2/pi if x0 > 1 - delta else 0,
               M = asin((1 - x1)/delta)·2/pi if x1 > 1 - delta else 1, phi = (pi/2)(m + (M - m)u),
               a = delta·(cos phi, sin phi),
               log PF = log sigmoid(-l) + log mix(u) - log delta - log(pi/2) - log(M - m).
  polar PB   forced (0) when |x| < delta; else net(x) -> [logits | a | b] on the arc that keeps
               x - a >= 0: m = acos(x0/delta)·2/pi if x0 < delta else 0, M = asin(x1/delta)·2/pi
               if x1 < delta else 1; log PB = log mix(u) - log delta - log(pi/2) - log(M - m).
  Cartesian  net(2x - 1) -> [l | logits (2K) | a (2K) | b (2K)], one mixture per dimension.
    PF         r_d ~ mix_d, a_d = lo + r_d·L_d (s_0: lo = 0, L = 1; else lo = delta,
               L_d = 1 - x_d - delta), log PF = sum_d log mix_d(r_d) - sum_d log L_d
               + log sigmoid(-l) (no exit at s_0); exit log sigmoid(l), forced (0) once any
               x_d >= 1 - delta.
    PB         forced (0) when any x_d <= delta; back to s_0 (the move a = x) log sigmoid(l);
               else a_d = delta + r_d(x_d - delta),
               log PB = log sigmoid(-l) + sum_d log mix_d(r_d) - sum_d log(x_d - delta).
  R          R(x) = 0.1 + 0.5·prod_d[|x_d - 1/2| > 0.25] + 2·prod_d[0.3 < |x_d - 1/2| < 0.4]
  TB         loss = mean_i (log Z + sum log PF - sum log PB - log R(x))^2, log PF kept from the
             rollout (on-policy), log PB in the loss phase over all moves at once; Adam lr 1e-3
             for the networks and the env's log Z lr for log Z.

Phases as in gfn.cpp's training step: sample (the rollout with log PF on the graph), loss (PB
and the TB loss), backward, optimizer. Prints one JSON line (ms_per_iter, ms_sample, ms_loss,
ms_backward, ms_optim, states_per_traj, peak_mb, ...), the format `gfn_bench` reads. Run it with
Debian's python3-torch: /usr/bin/python3 bench/torch_box_tb.py --env box --threads 1.

With --learn it is instead an independent check of our learning figures (docs/continuous.md,
"The same in PyTorch"): a whole run of the issue's setting (10,000 iterations, the learning
rates halved every 2,500 iterations, both groups, as torchgfn's MultiStepLR), then --val fresh
trajectories without exploration: binned l1 and JSD of their terminal states on a 50 x 50 grid
against the exact cell masses (R is piecewise constant: a cell's mass is
(0.1 w^2 + 0.5 a_i a_j + 2 b_i b_j) / 0.305, a_i and b_i the lengths of cell i's overlap with
|x - 1/2| > 0.25 and with 0.3 < |x - 1/2| < 0.4), the learned log Z and
logz_is = log mean exp(log R + sum log PB - sum log PF). One JSON line at the end."""
import argparse, json, math, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Bernoulli, Beta, Categorical, MixtureSameFamily

p = argparse.ArgumentParser()
p.add_argument("--env", choices=["box", "box_cartesian"], default="box")
p.add_argument("--batch", type=int, default=128)
p.add_argument("--iters", type=int, default=None)  # timing 100, --learn 10,000
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--hidden", type=int, default=128)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--delta", type=float, default=0.25)
p.add_argument("--n-components", type=int, default=None)  # polar 2, Cartesian 8
p.add_argument("--n-components-s0", type=int, default=4)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--max-concentration", type=float, default=None)  # polar 5.1, Cartesian 20
p.add_argument("--lr-logz", type=float, default=None)  # polar 1e-3, Cartesian 1e-2
p.add_argument("--threads", type=int, default=1)  # 0: PyTorch's default
p.add_argument("--seed", type=int, default=0)
p.add_argument("--learn", action="store_true")  # a whole training run and its validation, no timing
p.add_argument("--val", type=int, default=200000)  # --learn: validation trajectories
p.add_argument("--milestone", type=int, default=2500)  # --learn: lr x 0.5 every this many iterations
a = p.parse_args()
if a.iters is None:
    a.iters = 10000 if a.learn else 100
if a.iters < 1 or a.val < 1 or a.milestone < 1:
    p.error("--iters, --val and --milestone must be >= 1")
torch.manual_seed(a.seed)
if a.threads > 0:
    torch.set_num_threads(a.threads)
# Argument checks cost time each call and reject nothing here (every value is in range).
torch.distributions.Distribution.set_default_validate_args(False)
POLAR = a.env == "box"
if a.n_components is None:
    a.n_components = 2 if POLAR else 8
if a.max_concentration is None:
    a.max_concentration = 5.1 if POLAR else 20.0
if a.lr_logz is None:
    a.lr_logz = 1e-3 if POLAR else 1e-2
DELTA, K, K0 = a.delta, a.n_components, a.n_components_s0
C_MIN, C_MAX = 0.1, a.max_concentration
HALF_PI = math.pi / 2
LOG_DELTA, LOG_HALF_PI = math.log(DELTA), math.log(HALF_PI)
EPS_EDGE = 1e-4                        # polar: exit forced once a coordinate is this close to 1
TINY, ONE_MINUS = torch.finfo(torch.float32).tiny, 1.0 - 2.0 ** -24  # Beta values scored inside (0, 1)
ARC_RESOLUTION = 2.0 ** -22  # a polar move's angle in units of pi/2, to a few float ulps
MAX_S0_RADIUS = 1.0 - 3e-7


def mlp(n_out):
    layers, width = [], 2
    for _ in range(a.layers):
        layers += [nn.Linear(width, a.hidden), nn.ELU()]
        width = a.hidden
    return nn.Sequential(*layers, nn.Linear(width, n_out))


def conc(raw):
    """c = c_min + (c_max - c_min)·sigmoid(raw)"""
    return C_MIN + (C_MAX - C_MIN) * torch.sigmoid(raw)


def mixture(logits, alpha_raw, beta_raw):
    """Beta mixtures over the last axis (components)."""
    return MixtureSameFamily(Categorical(logits=logits), Beta(conc(alpha_raw), conc(beta_raw)))


def unit(v):
    return v.clamp(TINY, ONE_MINUS)


def log_reward(x):
    d = (x - 0.5).abs()
    r = 0.1 + 0.5 * (d > 0.25).all(1).float() + 2.0 * ((d > 0.3) & (d < 0.4)).all(1).float()
    return r.log()


if POLAR:
    pf_net, pb_net = mlp(1 + 3 * K), mlp(3 * K)
    s0_param = nn.Parameter(torch.zeros(1, 5 * K0))
    net_params = list(pf_net.parameters()) + [s0_param] + list(pb_net.parameters())
else:
    pf_net, pb_net = mlp(1 + 6 * K), mlp(1 + 6 * K)
    net_params = list(pf_net.parameters()) + list(pb_net.parameters())
log_z = nn.Parameter(torch.zeros(()))
opt = torch.optim.Adam([{"params": net_params, "lr": a.lr}, {"params": [log_z], "lr": a.lr_logz}])


def polar_first(n):
    """n moves from s_0: actions (n, 2), log PF (n,)."""
    q = s0_param.view(5, K0)  # logits, a_r, b_r, a_th, b_th
    mix = mixture(q[0].expand(n, 2, K0), q[[1, 3]].expand(n, 2, K0), q[[2, 4]].expand(n, 2, K0))
    rt = mix.sample()
    rt = torch.stack([rt[:, 0].clamp(max=MAX_S0_RADIUS), rt[:, 1]], 1)
    r, phi = rt[:, 0], HALF_PI * rt[:, 1]
    act = DELTA * r[:, None] * torch.stack([phi.cos(), phi.sin()], 1)
    lp = mix.log_prob(unit(rt)).sum(1) - LOG_DELTA - LOG_HALF_PI - (DELTA * r).log()
    return act, lp


def polar_arc(x, backward):
    """The feasible arc [m, M] (units of pi/2) of a move from x (forward) or into x (backward)."""
    if backward:
        m = torch.where(x[:, 0] >= DELTA, torch.zeros_like(x[:, 0]), (x[:, 0] / DELTA).clamp(0, 1).acos() / HALF_PI)
        M = torch.where(x[:, 1] >= DELTA, torch.ones_like(x[:, 1]), (x[:, 1] / DELTA).clamp(0, 1).asin() / HALF_PI)
    else:
        m = torch.where(x[:, 0] <= 1 - DELTA, torch.zeros_like(x[:, 0]),
                        ((1 - x[:, 0]) / DELTA).clamp(0, 1).acos() / HALF_PI)
        M = torch.where(x[:, 1] <= 1 - DELTA, torch.ones_like(x[:, 1]),
                        ((1 - x[:, 1]) / DELTA).clamp(0, 1).asin() / HALF_PI)
    return m, M


def polar_step(x):
    """Moves from the non-forced states x (n, 2), not s_0: actions, exit mask, log PF (n,)."""
    out = pf_net(x)
    l = out[:, 0]
    mix = mixture(out[:, 1:1 + K], out[:, 1 + K:1 + 2 * K], out[:, 1 + 2 * K:])
    exit_ = Bernoulli(logits=l.detach()).sample().bool()
    u = mix.sample()
    m, M = polar_arc(x, backward=False)
    w = (M - m).clamp(min=1e-7)
    phi = HALF_PI * (m + w * u)
    act = DELTA * torch.stack([phi.cos(), phi.sin()], 1).clamp(min=0)
    move = F.logsigmoid(-l) + mix.log_prob(unit(u)) - LOG_DELTA - LOG_HALF_PI - w.log()
    return act, exit_, torch.where(exit_, F.logsigmoid(l), move)


def cartesian_heads(out, n):
    """[l | logits (2K) | a (2K) | b (2K)] -> l (n,), the per-dimension mixtures (batch (n, 2))."""
    l = out[:, 0]
    g = out[:, 1:].reshape(n, 3, 2, K)
    return l, mixture(g[:, 0], g[:, 1], g[:, 2])


def cartesian_step(x, at_s0):
    """Moves from the non-forced states x (n, 2): actions, exit mask, log PF (n,)."""
    n = x.shape[0]
    l, mix = cartesian_heads(pf_net(2 * x - 1), n)
    stop = Bernoulli(logits=l.detach()).sample().bool() & ~at_s0
    r = mix.sample()
    lo = torch.where(at_s0[:, None], torch.zeros_like(x), torch.full_like(x, DELTA))
    L = torch.where(at_s0[:, None], torch.ones_like(x), (1 - x - DELTA).clamp(min=1e-7))
    act = torch.minimum(lo + r * L, 1 - x)
    move = mix.log_prob(unit(r)).sum(1) - L.log().sum(1) + torch.where(at_s0, torch.zeros_like(l), F.logsigmoid(-l))
    return act, stop, torch.where(stop, F.logsigmoid(l), move)


def rollout(n):
    """n trajectories from s_0: final states, sum log PF (on the graph), the moves (x', a, trajectory)
    for PB, and the number of steps taken (the exits included)."""
    x = torch.zeros(n, 2)
    log_pf = torch.zeros(n)
    running = torch.arange(n)
    moved_x, moved_a, moved_i = [], [], []
    steps = 0
    t = 0
    while running.numel() > 0:
        xr = x[running]
        steps += running.numel()
        if POLAR and t == 0:
            act, lp = polar_first(running.numel())
            exit_ = torch.zeros(running.numel(), dtype=torch.bool)
            log_pf = log_pf.index_add(0, running, lp)
        else:
            if POLAR:
                forced = ((1 - xr).norm(dim=1) <= DELTA) | (xr >= 1 - EPS_EDGE).any(1)
            else:
                forced = (xr >= 1 - DELTA).any(1)
            free = (~forced).nonzero().squeeze(1)
            act = torch.zeros_like(xr)
            exit_ = forced.clone()
            if free.numel() > 0:
                xf = xr[free]
                if POLAR:
                    af, ef, lp = polar_step(xf)
                else:
                    af, ef, lp = cartesian_step(xf, (xf == 0).all(1))
                act[free] = af
                exit_[free] = ef
                log_pf = log_pf.index_add(0, running[free], lp)
        keep = ~exit_
        running, act = running[keep], act[keep]
        if running.numel() > 0:
            nx = (x[running] + act).clamp(0, 1)
            x[running] = nx
            moved_x.append(nx)
            moved_a.append(act)
            moved_i.append(running)
        t += 1
    return x, log_pf, torch.cat(moved_x), torch.cat(moved_a), torch.cat(moved_i), steps


def log_pb_sum(n, xs, acts, idx):
    """sum over each trajectory's moves of log PB(x - a | x), x the state a move led to."""
    log_pb = torch.zeros(n)
    if POLAR:
        free = (xs.norm(dim=1) >= DELTA).nonzero().squeeze(1)
        if free.numel() == 0:
            return log_pb
        x, act = xs[free], acts[free]
        out = pb_net(x)
        mix = mixture(out[:, :K], out[:, K:2 * K], out[:, 2 * K:])
        m, M = polar_arc(x, backward=True)
        w = (M - m).clamp(min=1e-7)
        u = (torch.atan2(act[:, 1], act[:, 0]) / HALF_PI - m) / w
        # at a restricted end the float move keeps u to ~2^-22 / w: never score closer to it
        # (rounding can give u <= 0, which unit() would score at FLT_MIN, tens of nats denser)
        res = ARC_RESOLUTION / w
        u = torch.where(m > 0, torch.maximum(u, res), u)
        u = torch.where(M < 1, torch.minimum(u, 1 - res), u)
        lp = mix.log_prob(unit(u)) - LOG_DELTA - LOG_HALF_PI - w.log()
    else:
        free = (xs > DELTA).all(1).nonzero().squeeze(1)
        if free.numel() == 0:
            return log_pb
        x, act = xs[free], acts[free]
        l, mix = cartesian_heads(pb_net(2 * x - 1), x.shape[0])
        back = (act == x).all(1)  # the move from s_0: back to s_0
        r = torch.where(back[:, None], torch.full_like(x, 0.5), (act - DELTA) / (x - DELTA))
        move = F.logsigmoid(-l) + mix.log_prob(unit(r)).sum(1) - (x - DELTA).clamp(min=1e-7).log().sum(1)
        lp = torch.where(back, F.logsigmoid(l), move)
    return log_pb.index_add(0, idx[free], lp)


def tb_loss(n):
    """The TB loss of one on-policy batch of n trajectories."""
    final, log_pf, xs, acts, idx, _ = rollout(n)
    log_pb = log_pb_sum(n, xs, acts, idx)
    return ((log_z + log_pf - log_pb - log_reward(final)) ** 2).mean()


def exact_cell_masses(g):
    """(g, g) target masses of the cells [i/g, (i+1)/g) x [j/g, (j+1)/g), in double."""
    def overlap(i, intervals):
        return sum(max(0.0, min((i + 1) / g, hi) - max(i / g, lo)) for lo, hi in intervals)
    a_ = torch.tensor([overlap(i, [(0.0, 0.25), (0.75, 1.0)]) for i in range(g)], dtype=torch.float64)
    b_ = torch.tensor([overlap(i, [(0.1, 0.2), (0.8, 0.9)]) for i in range(g)], dtype=torch.float64)
    return (0.1 / g ** 2 + 0.5 * a_[:, None] * a_[None, :] + 2.0 * b_[:, None] * b_[None, :]) / 0.305


def learn():
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=a.milestone, gamma=0.5)
    t0 = time.perf_counter()
    for _ in range(a.iters):
        loss = tb_loss(a.batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    train_s = time.perf_counter() - t0
    g = 50
    target = exact_cell_masses(g)
    counts = torch.zeros(g * g, dtype=torch.float64)
    log_w = []
    with torch.no_grad():
        for start in range(0, a.val, 10000):
            n = min(10000, a.val - start)
            final, log_pf, xs, acts, idx, _ = rollout(n)
            log_w.append((log_reward(final) + log_pb_sum(n, xs, acts, idx) - log_pf).double())
            ij = (final * g).floor().clamp(0, g - 1).long()
            counts.index_add_(0, ij[:, 0] * g + ij[:, 1], torch.ones(n, dtype=torch.float64))
    p_hat = (counts / counts.sum()).view(g, g)
    mid = 0.5 * (p_hat + target)
    def kl(p_, q_):  # sum p log(p / q) over p > 0
        k = p_ > 0
        return (p_[k] * (p_[k] / q_[k]).log()).sum().item()
    log_w = torch.cat(log_w)
    print(json.dumps({"impl": "pytorch-" + torch.__version__, "env": a.env, "seed": a.seed, "delta": DELTA,
                      "n_components": K, "iters": a.iters, "threads": torch.get_num_threads(),
                      "binned_l1": (p_hat - target).abs().sum().item(),
                      "binned_jsd": 0.5 * kl(p_hat, mid) + 0.5 * kl(target, mid),
                      "logz": log_z.item(), "logz_is": (torch.logsumexp(log_w, 0) - math.log(a.val)).item(),
                      "logz_true": math.log(0.305), "train_s": train_s}))


if a.learn:
    learn()
    raise SystemExit(0)

times = dict(sample=0.0, loss=0.0, backward=0.0, optim=0.0)
total_steps = 0
for it in range(a.warmup + a.iters):
    if it == a.warmup:
        times = {k: 0.0 for k in times}
        total_steps = 0
        t_start = time.perf_counter()
    t0 = time.perf_counter()
    final, log_pf, xs, acts, idx, steps = rollout(a.batch)
    log_r = log_reward(final)
    t1 = time.perf_counter()
    log_pb = log_pb_sum(a.batch, xs, acts, idx)
    loss = ((log_z + log_pf - log_pb - log_r) ** 2).mean()
    t2 = time.perf_counter()
    opt.zero_grad()
    loss.backward()
    t3 = time.perf_counter()
    opt.step()
    t4 = time.perf_counter()
    for k, d in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        times[k] += d
    total_steps += steps
total = time.perf_counter() - t_start
out = {"impl": "pytorch-" + torch.__version__, "env": a.env, "batch": a.batch, "hidden": a.hidden,
       "layers": a.layers, "iters": a.iters, "threads": torch.get_num_threads(),
       "params": sum(q.numel() for q in net_params) + 1,
       "ms_per_iter": 1000 * total / a.iters, **{"ms_" + k: 1000 * v / a.iters for k, v in times.items()},
       "states_per_traj": total_steps / (a.batch * a.iters),
       "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loss": loss.item(),
       "logz": log_z.item()}
print(json.dumps(out))
