// optim.h — Adam, AdamW and SGD over a ParamStore slab; clipping by global norm.
//
// Each parameter's `group` picks its learning rate and weight decay from the
// optimizer's group table. The moments live in two slabs parallel to the
// parameters, so a step is one loop per parameter record.
#pragma once

#include <vector>

#include "engine/nn.h"

namespace gfn {

struct ParamGroup {
    float lr = 1e-3f;
    float weight_decay = 0.f;
};

enum class OptimizerKind { Adam, AdamW, SGD };

class Optimizer {
public:
    // groups[g] configures the parameters of group g (every group in use needs one).
    Optimizer(ParamStore& store, OptimizerKind kind, std::vector<ParamGroup> groups, float beta1 = 0.9f,
              float beta2 = 0.999f, float eps = 1e-8f, float momentum = 0.f);

    void step();
    void zero_grad() { store_.zero_grad(); }

    OptimizerKind kind;
    std::vector<ParamGroup> groups;
    float beta1, beta2, eps, momentum;
    long long t = 0;           // steps taken
    std::vector<float> m, v;   // first and second moments (SGD: m is the momentum buffer)

private:
    ParamStore& store_;
};

// Scales all gradients so their global L2 norm is at most max_norm (no-op
// when max_norm <= 0 or the norm is smaller). Returns the norm before clipping.
double clip_grad_norm(ParamStore& store, double max_norm);

}  // namespace gfn
