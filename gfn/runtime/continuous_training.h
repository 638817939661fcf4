// continuous_training.h — the run-time pieces that differ for continuous
// environments (--env line, box, box_cartesian); everything else of a Run is shared.
//
// A continuous Run holds continuous_env and its policies continuous_pf /
// continuous_pb (Line: Gaussian steps; Box: gfn/estimators/box_policy.h) where
// a discrete one holds env, pf and pb;
// store, log Z, the objective (the TB family, through the Policy seam of
// gfn/estimators/policy.h), the optimizer and the training loop are the same.
// DB and SubTB (--loss db, subtb) add continuous_log_f, an MLP on the state with
// log F(s_0) = log Z a scalar of its own (gfn/objectives/continuous_balance.h).
// Per step the batch is drawn by the continuous sampler with the exploration
// std on its schedule (exploration_std below),
// and PF is always re-evaluated (nothing is saved at sampling time).
// Validation: binned l1 / JSD against the exact cell masses of R/Z (Line: 1-D
// cells over its x range; Box: G×G cells of [0, 1]², G = --validation-bins) and the
// importance-sampling log Z (gfn/validation/continuous_validation.h).
#pragma once

#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/containers/trajectories.h"

namespace gfn {

struct Run;
struct Metrics;

// Builds env, policies, log Z, objective, optimizer and the binned target of a
// continuous run (Run::Run calls it for cfg.continuous()).
void build_continuous_run(Run& run);
// Draws run.batch for the step completing iteration run.iteration + 1
// (this rank's share of --batch-size, from run.rng on run.tape).
void sample_continuous_batch(Run& run);
// The same draw of n trajectories into `batch` from `rng` on `tape`: with the
// exploration std of that step, log PF kept on the tape when run.on_policy()
// (--loss mle: n exact target samples taken back to s_0 by PB). The data-parallel
// step (training.cpp) calls it from each thread with the thread's own tape,
// batch and stream; it reads `run` only.
void sample_continuous_batch(const Run& run, int n, Rng& rng, Tape& tape, Trajectories& batch);
// The exploration std of the step at 0-based iteration i.
double exploration_std(const Run& run, int i);
Metrics validate_continuous_run(Run& run);

// For --plot of a 2-D diffusion target: on a G×G grid of cells over the
// square [−b, b]² (b = the target's plot_border), the target's mass per cell
// (density at the cell centre × area, normalised over the grid) and the
// frequencies of n fresh PF samples (samples outside the square are dropped),
// in heatmaps_svg's order (x_0 most significant). False when the env is not a
// 2-D diffusion target.
bool diffusion_heatmaps(Run& run, int G, int n, std::vector<double>* target, std::vector<double>* learned,
                        std::string* title);

// Clamps every gradient entry of the network groups (not log Z) to ±value
// (torchgfn's train_line gradient_clip_value).
void clamp_network_gradients(ParamStore& store, float value);

}  // namespace gfn
