// train_minimal.cpp — the smallest complete GFlowNet training program, using the
// library directly (no gfn::Run, no flags): trajectory balance on HyperGrid 2-D, H = 8.
//
//   make build/examples/train_minimal && build/examples/train_minimal
//
// Each iteration is the four steps of gfn/runtime/training.h written out by hand:
// sample trajectories from PF → TB loss → backward → Adam. At the end the
// learned sampler is compared with the target R(x)/Z exactly (by enumeration).
#include <cstdio>
#include <vector>

#include "engine/optim.h"
#include "envs/hypergrid.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/estimators.h"
#include "gfn/estimators/preprocessors.h"
#include "gfn/samplers/sampler.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/validation/validation.h"

using namespace gfn;

int main() {
    // 1. The environment: x ∈ {0..7}², s_0 = (0, 0); actions: +1 on a coordinate, or exit.
    //    Its reward has four high-reward corners (the "original" HyperGrid reward).
    HyperGrid env(/*ndim=*/2, /*height=*/8);

    // 2. The preprocessor: a state becomes the networks' input, one one-hot block
    //    per coordinate (2 × 8 = 16 floats).
    KHotPreprocessor pre(env.ndim(), env.height());

    // 3. The estimators. Every trainable number lives in one ParamStore; each
    //    parameter carries a group id that picks its learning rate below.
    const int kNetworks = 0, kLogZ = 1;
    ParamStore store;
    Rng rng(/*seed=*/0);
    NetConfig net;  // 2 hidden layers of 256, ReLU
    // PF(s' | s): forward policy over the n_actions() = 3 actions (exit last).
    auto pf = PolicyEstimator::mlp(env, pre, /*backward=*/false, store, net, rng, "pf");
    // PB(s | s'): backward policy over the 2 parent-giving actions.
    auto pb = PolicyEstimator::mlp(env, pre, /*backward=*/true, store, net, rng, "pb");
    // log Z: one learnable number, initialised at 0.
    ScalarEstimator log_z(store, /*init=*/0.f, kLogZ, "log_z");

    // 4. The objective: trajectory balance, (log Z + Σ log PF − Σ log PB − log R(x))².
    TBGFlowNet gflownet(pf.get(), pb.get(), &log_z);

    // 5. The optimizer: Adam with one learning rate per parameter group.
    std::vector<ParamGroup> groups(2);
    groups[kNetworks].lr = 1e-3f;
    groups[kLogZ].lr = 0.1f;
    Optimizer optimizer(store, OptimizerKind::Adam, groups);

    // 6. The training loop. The tape records the forward computation of one
    //    iteration; reset() forgets it (and keeps its memory) for the next one.
    Tape tape;
    Trajectories batch;
    SampleRequest request;
    request.n = 128;                 // trajectories per batch
    request.save_log_probs = true;   // keep log PF with its gradient path: on-policy TB reuses it
    const int n_iterations = 250;
    for (int it = 1; it <= n_iterations; ++it) {
        tape.reset();

        // 6a. Sample: roll PF out from s_0 until every trajectory exits.
        sample_trajectories(env, *pf, /*tied_pb=*/nullptr, request, rng, tape, batch);

        // 6b. Loss: the batch mean of the TB residuals; recalculate = false reuses
        //     the log PF saved while sampling (PB is evaluated here).
        Var loss = gflownet.loss(tape, batch, /*recalculate_all_logprobs=*/false);

        // 6c. Backward: gradients of the loss into the store's gradient slab.
        optimizer.zero_grad();
        tape.backward(loss);

        // 6d. Step: one Adam update of every parameter.
        optimizer.step();

        if (it % 50 == 0)
            std::printf("iter %4d  loss %.5f  log Z %.5f\n", it, loss.item(), double(log_z.value()));
    }

    // 7. Validation, exactly: enumerate every terminating state x, the target
    //    p(x) = R(x)/Z, and the probability P_T(x) that PF terminates at x.
    TargetDistribution target = true_distribution(env);
    std::vector<double> learned = exact_terminating_distribution(env, target, policy_fn(*pf));
    std::printf("log Z learned %.5f, true %.5f\n", double(log_z.value()), target.log_z);
    std::printf("exact l1 = sum_x |P_T(x) - R(x)/Z| = %.5f\n", l1_distance(learned, target.prob));
    return 0;
}
