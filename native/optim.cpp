// Training in few native calls: Adam's update over every parameter in one
// call (libtorch's _foreach ops, as torch.optim.Adam(foreach=True)), and the
// autograd profiler that the benchmarks use to compare per-op time with PyTorch.
#include "common.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <memory>

namespace patho {

// adamStep(params, grads, expAvgs, expAvgSqs, lr, beta1, beta2, eps, weightDecay, decoupled, step):
// torch.optim.Adam's update with every parameter at the same step count, in
// the same order of operations as its single-tensor loop, so the results are
// identical to it bit for bit.
PATHO_EXPORT(adamStep) {
  auto params = tensorList(info[0], "params");
  auto grads = tensorList(info[1], "grads");
  auto expAvgs = tensorList(info[2], "expAvgs");
  auto expAvgSqs = tensorList(info[3], "expAvgSqs");
  const double lr = NUM(4), beta1 = NUM(5), beta2 = NUM(6), eps = NUM(7), weightDecay = NUM(8);
  const bool decoupled = info[9].As<Napi::Boolean>().Value();
  const double step = NUM(10);
  const size_t n = params.size();
  if (grads.size() != n || expAvgs.size() != n || expAvgSqs.size() != n) {
    fail("params, grads, expAvgs and expAvgSqs must have the same length");
  }
  at::NoGradGuard noGrad;
  if (decoupled && weightDecay != 0) at::_foreach_mul_(params, 1 - lr * weightDecay);
  if (!decoupled && weightDecay != 0) grads = at::_foreach_add(grads, params, weightDecay);
  at::_foreach_mul_(expAvgs, beta1);
  at::_foreach_add_(expAvgs, grads, 1 - beta1);
  at::_foreach_mul_(expAvgSqs, beta2);
  at::_foreach_addcmul_(expAvgSqs, grads, grads, 1 - beta2);
  const double biasCorrection1 = 1 - std::pow(beta1, step);
  const double biasCorrection2 = 1 - std::pow(beta2, step);
  auto denom = at::_foreach_sqrt(expAvgSqs);
  at::_foreach_div_(denom, std::sqrt(biasCorrection2));
  at::_foreach_add_(denom, eps);
  at::_foreach_addcdiv_(params, expAvgs, denom, -lr / biasCorrection1);
  return env.Undefined();
}

// The legacy autograd profiler, recording every op of this thread until
// profilerStop, which writes the Chrome trace to the path given to profilerStart.
static std::unique_ptr<torch::autograd::profiler::RecordProfile>& activeProfile() {
  static std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
  return profile;
}

PATHO_EXPORT(profilerStart) {
  if (activeProfile()) fail("the profiler is already running");
  activeProfile() = std::make_unique<torch::autograd::profiler::RecordProfile>(info[0].As<Napi::String>().Utf8Value());
  return env.Undefined();
}

PATHO_EXPORT(profilerStop) {
  if (!activeProfile()) fail("the profiler is not running");
  activeProfile().reset();
  return env.Undefined();
}

void registerOptim(Napi::Env env, Napi::Object exports) {
  REGISTER(adamStep);
  REGISTER(profilerStart);
  REGISTER(profilerStop);
}

}  // namespace patho
