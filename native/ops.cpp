// The tensor operations a U-Net and its training need, one exported function
// per libtorch op. Shapes are checked in TypeScript first; what reaches here
// and still fails comes back as a JavaScript Error naming the op.
#include "common.h"

#include <cmath>

namespace patho {

#define TENSOR(i, name) unwrapTensor(info[i], name)
#define RET(expr) return wrapTensor(env, (expr))

// Whole numbers cross as integer scalars so that integer tensors accept them
// (libtorch refuses a double alpha or operand for int64 tensors in place).
static at::Scalar scalarArg(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9.0e15) return at::Scalar(int64_t(d));
  return at::Scalar(d);
}

static c10::optional<double> optionalNumber(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
  return v.As<Napi::Number>().DoubleValue();
}

static int64_t reduction(const std::string& name) {
  if (name == "mean") return at::Reduction::Mean;
  if (name == "sum") return at::Reduction::Sum;
  if (name == "none") return at::Reduction::None;
  fail("unknown reduction '" + name + "' (use mean, sum or none)");
}

// Binary ops take a tensor or a number as their second operand.
#define BINARY(NAME, FN)                                             \
  PATHO_EXPORT(NAME) {                                               \
    auto& a = TENSOR(0, "a");                                        \
    if (isTensor(info[1])) RET(at::FN(a, TENSOR(1, "b")));           \
    RET(at::FN(a, scalarArg(info[1])));                              \
  }
BINARY(mul, mul)
BINARY(div, div)
BINARY(pow, pow)
BINARY(eq, eq)
BINARY(ne, ne)
BINARY(lt, lt)
BINARY(le, le)
BINARY(gt, gt)
BINARY(ge, ge)
// maximum/minimum with a number are clamps, which autograd treats the same way.
PATHO_EXPORT(maximum) {
  auto& a = TENSOR(0, "a");
  if (isTensor(info[1])) RET(at::maximum(a, TENSOR(1, "b")));
  RET(at::clamp_min(a, scalarArg(info[1])));
}
PATHO_EXPORT(minimum) {
  auto& a = TENSOR(0, "a");
  if (isTensor(info[1])) RET(at::minimum(a, TENSOR(1, "b")));
  RET(at::clamp_max(a, scalarArg(info[1])));
}
PATHO_EXPORT(logicalAnd) { RET(at::logical_and(TENSOR(0, "a"), TENSOR(1, "b"))); }

// add/sub with alpha, as torch.add(a, b, alpha=...)
PATHO_EXPORT(add) {
  auto& a = TENSOR(0, "a");
  at::Scalar alpha = info[2].IsNumber() ? scalarArg(info[2]) : at::Scalar(int64_t(1));
  if (isTensor(info[1])) RET(at::add(a, TENSOR(1, "b"), alpha));
  RET(at::add(a, scalarArg(info[1]), alpha));
}
PATHO_EXPORT(sub) {
  auto& a = TENSOR(0, "a");
  at::Scalar alpha = info[2].IsNumber() ? scalarArg(info[2]) : at::Scalar(int64_t(1));
  if (isTensor(info[1])) RET(at::sub(a, TENSOR(1, "b"), alpha));
  RET(at::sub(a, scalarArg(info[1]), alpha));
}
// rsub(a, s) = s - a, for number - tensor.
PATHO_EXPORT(rsub) { RET(at::rsub(TENSOR(0, "a"), scalarArg(info[1]))); }

#define UNARY(NAME, FN) \
  PATHO_EXPORT(NAME) { RET(at::FN(TENSOR(0, "input"))); }
UNARY(neg, neg)
UNARY(abs, abs)
UNARY(exp, exp)
UNARY(log, log)
UNARY(log1p, log1p)
UNARY(sqrt, sqrt)
UNARY(rsqrt, rsqrt)
UNARY(sigmoid, sigmoid)
UNARY(logSigmoid, log_sigmoid)
UNARY(tanh, tanh)
UNARY(relu, relu)
UNARY(floor, floor)
UNARY(round, round)
UNARY(sign, sign)
UNARY(isfinite, isfinite)
UNARY(logicalNot, logical_not)

PATHO_EXPORT(leakyRelu) { RET(at::leaky_relu(TENSOR(0, "input"), scalarArg(info[1]))); }
PATHO_EXPORT(clamp) {
  auto lo = optionalNumber(info[1]);
  auto hi = optionalNumber(info[2]);
  c10::optional<at::Scalar> min, max;
  if (lo) min = at::Scalar(*lo);
  if (hi) max = at::Scalar(*hi);
  RET(at::clamp(TENSOR(0, "input"), min, max));
}
PATHO_EXPORT(where) {
  auto& cond = TENSOR(0, "condition");
  if (isTensor(info[1]) && isTensor(info[2])) RET(at::where(cond, TENSOR(1, "a"), TENSOR(2, "b")));
  if (isTensor(info[1])) RET(at::where(cond, TENSOR(1, "a"), scalarArg(info[2])));
  if (isTensor(info[2])) RET(at::where(cond, scalarArg(info[1]), TENSOR(2, "b")));
  RET(at::where(cond, scalarArg(info[1]), scalarArg(info[2])));
}

// ---- reductions: (input, dims | null, keepdim) ----
PATHO_EXPORT(sum) {
  auto& x = TENSOR(0, "input");
  if (info[1].IsNull() || info[1].IsUndefined()) RET(at::sum(x));
  RET(at::sum(x, intList(info[1], "dims"), BOOL(2)));
}
PATHO_EXPORT(mean) {
  auto& x = TENSOR(0, "input");
  if (info[1].IsNull() || info[1].IsUndefined()) RET(at::mean(x));
  RET(at::mean(x, intList(info[1], "dims"), BOOL(2)));
}
PATHO_EXPORT(amax) {
  auto& x = TENSOR(0, "input");
  if (info[1].IsNull() || info[1].IsUndefined()) RET(at::max(x));
  RET(at::amax(x, intList(info[1], "dims"), BOOL(2)));
}
PATHO_EXPORT(amin) {
  auto& x = TENSOR(0, "input");
  if (info[1].IsNull() || info[1].IsUndefined()) RET(at::min(x));
  RET(at::amin(x, intList(info[1], "dims"), BOOL(2)));
}
PATHO_EXPORT(argmax) { RET(at::argmax(TENSOR(0, "input"), INT(1), BOOL(2))); }

// ---- shape ----
PATHO_EXPORT(reshape) { RET(at::reshape(TENSOR(0, "input"), intList(info[1], "shape"))); }
PATHO_EXPORT(permute) { RET(TENSOR(0, "input").permute(intList(info[1], "dims"))); }
PATHO_EXPORT(transpose) { RET(at::transpose(TENSOR(0, "input"), INT(1), INT(2))); }
PATHO_EXPORT(flip) { RET(at::flip(TENSOR(0, "input"), intList(info[1], "dims"))); }
PATHO_EXPORT(rot90) { RET(at::rot90(TENSOR(0, "input"), INT(1), intList(info[2], "dims"))); }
PATHO_EXPORT(expand) { RET(TENSOR(0, "input").expand(intList(info[1], "shape"))); }
// slice(input, dim, start, end, step): a view, as x[..., start:end:step]
PATHO_EXPORT(slice) { RET(at::slice(TENSOR(0, "input"), INT(1), INT(2), INT(3), INT(4))); }
PATHO_EXPORT(cat) { RET(at::cat(tensorList(info[0], "tensors"), INT(1))); }
PATHO_EXPORT(stack) { RET(at::stack(tensorList(info[0], "tensors"), INT(1))); }
// pad(input, pads [left, right, top, bottom, ...], mode, value)
PATHO_EXPORT(pad) {
  auto& x = TENSOR(0, "input");
  auto pads = intList(info[1], "pads");
  auto mode = STR(2);
  if (mode == "constant") RET(at::constant_pad_nd(x, pads, NUM(3)));
  if (pads.size() != 4) fail(mode + " padding takes 4 values [left, right, top, bottom]");
  if (mode == "reflect") RET(at::reflection_pad2d(x, pads));
  if (mode == "replicate") RET(at::replication_pad2d(x, pads));
  fail("unknown padding mode '" + mode + "' (use constant, reflect or replicate)");
}

// ---- neural network ----
// conv2d(x, weight, bias | null, stride[2], padding[2], dilation[2], groups)
PATHO_EXPORT(conv2d) {
  RET(at::conv2d(TENSOR(0, "input"), TENSOR(1, "weight"), optionalTensor(info[2], "bias"),
                 intList(info[3], "stride"), intList(info[4], "padding"), intList(info[5], "dilation"),
                 INT(6)));
}
// convTranspose2d(x, weight, bias | null, stride, padding, outputPadding, groups, dilation)
PATHO_EXPORT(convTranspose2d) {
  RET(at::conv_transpose2d(TENSOR(0, "input"), TENSOR(1, "weight"), optionalTensor(info[2], "bias"),
                           intList(info[3], "stride"), intList(info[4], "padding"),
                           intList(info[5], "outputPadding"), INT(6), intList(info[7], "dilation")));
}
// batchNorm(x, weight|null, bias|null, runningMean|null, runningVar|null, training, momentum, eps)
// In training mode libtorch updates the running statistics in place.
PATHO_EXPORT(batchNorm) {
  RET(at::batch_norm(TENSOR(0, "input"), optionalTensor(info[1], "weight"), optionalTensor(info[2], "bias"),
                     optionalTensor(info[3], "runningMean"), optionalTensor(info[4], "runningVar"), BOOL(5),
                     NUM(6), NUM(7), true));
}
// maxPool2d(x, kernel[2], stride[2], padding[2], dilation[2], ceilMode)
PATHO_EXPORT(maxPool2d) {
  RET(at::max_pool2d(TENSOR(0, "input"), intList(info[1], "kernel"), intList(info[2], "stride"),
                     intList(info[3], "padding"), intList(info[4], "dilation"), BOOL(5)));
}
// upsample*(input, size, [alignCorners,] scaleH | null, scaleW | null): with scales given,
// source coordinates map through 1/scale as F.interpolate(scale_factor=...) does.
PATHO_EXPORT(upsampleBilinear2d) {
  RET(at::upsample_bilinear2d(TENSOR(0, "input"), intList(info[1], "size"), BOOL(2), optionalNumber(info[3]),
                              optionalNumber(info[4])));
}
PATHO_EXPORT(upsampleNearest2d) {
  RET(at::upsample_nearest2d(TENSOR(0, "input"), intList(info[1], "size"), optionalNumber(info[2]), optionalNumber(info[3])));
}
PATHO_EXPORT(softmax) { RET(at::softmax(TENSOR(0, "input"), INT(1))); }
PATHO_EXPORT(logSoftmax) { RET(at::log_softmax(TENSOR(0, "input"), INT(1))); }
PATHO_EXPORT(dropout) { RET(at::dropout(TENSOR(0, "input"), NUM(1), BOOL(2))); }

// ---- losses ----
// binaryCrossEntropy(probabilities, target, weight | null, reduction)
PATHO_EXPORT(binaryCrossEntropy) {
  RET(at::binary_cross_entropy(TENSOR(0, "input"), TENSOR(1, "target"), optionalTensor(info[2], "weight"),
                               reduction(STR(3))));
}
// binaryCrossEntropyWithLogits(logits, target, weight | null, posWeight | null, reduction)
PATHO_EXPORT(binaryCrossEntropyWithLogits) {
  RET(at::binary_cross_entropy_with_logits(TENSOR(0, "input"), TENSOR(1, "target"),
                                           optionalTensor(info[2], "weight"), optionalTensor(info[3], "posWeight"),
                                           reduction(STR(4))));
}
// nllLoss(logProbabilities [N, C, ...], target [N, ...] int64, weight | null, reduction, ignoreIndex)
PATHO_EXPORT(nllLoss) {
  RET(at::nll_loss_nd(TENSOR(0, "input"), TENSOR(1, "target"), optionalTensor(info[2], "weight"),
                      reduction(STR(3)), INT(4)));
}
PATHO_EXPORT(crossEntropy) {
  RET(at::cross_entropy_loss(TENSOR(0, "input"), TENSOR(1, "target"), optionalTensor(info[2], "weight"),
                             reduction(STR(3)), INT(4), NUM(5)));
}

// ---- in place, for optimizers and initialisation (callers disable grad) ----
#define INPLACE_RETURN return info[0]
PATHO_EXPORT(mul_) {
  auto& t = TENSOR(0, "tensor");
  if (isTensor(info[1])) t.mul_(TENSOR(1, "other")); else t.mul_(scalarArg(info[1]));
  INPLACE_RETURN;
}
// add_(t, other, alpha): t += alpha * other
PATHO_EXPORT(add_) {
  auto& t = TENSOR(0, "tensor");
  if (isTensor(info[1])) t.add_(TENSOR(1, "other"), scalarArg(info[2])); else t.add_(scalarArg(info[1]), scalarArg(info[2]));
  INPLACE_RETURN;
}
PATHO_EXPORT(addcmul_) {
  TENSOR(0, "tensor").addcmul_(TENSOR(1, "a"), TENSOR(2, "b"), NUM(3));
  INPLACE_RETURN;
}
PATHO_EXPORT(addcdiv_) {
  TENSOR(0, "tensor").addcdiv_(TENSOR(1, "a"), TENSOR(2, "b"), NUM(3));
  INPLACE_RETURN;
}
PATHO_EXPORT(copy_) {
  TENSOR(0, "tensor").copy_(TENSOR(1, "source"));
  INPLACE_RETURN;
}
PATHO_EXPORT(fill_) {
  TENSOR(0, "tensor").fill_(scalarArg(info[1]));
  INPLACE_RETURN;
}
PATHO_EXPORT(uniform_) {
  TENSOR(0, "tensor").uniform_(NUM(1), NUM(2));
  INPLACE_RETURN;
}
PATHO_EXPORT(normal_) {
  TENSOR(0, "tensor").normal_(NUM(1), NUM(2));
  INPLACE_RETURN;
}

void registerOps(Napi::Env env, Napi::Object exports) {
  REGISTER(add); REGISTER(sub); REGISTER(rsub); REGISTER(mul); REGISTER(div); REGISTER(pow);
  REGISTER(eq); REGISTER(ne); REGISTER(lt); REGISTER(le); REGISTER(gt); REGISTER(ge);
  REGISTER(maximum); REGISTER(minimum); REGISTER(logicalAnd); REGISTER(logicalNot);
  REGISTER(neg); REGISTER(abs); REGISTER(exp); REGISTER(log); REGISTER(log1p); REGISTER(sqrt); REGISTER(rsqrt);
  REGISTER(sigmoid); REGISTER(logSigmoid); REGISTER(tanh); REGISTER(relu); REGISTER(leakyRelu);
  REGISTER(floor); REGISTER(round); REGISTER(sign); REGISTER(isfinite);
  REGISTER(clamp); REGISTER(where);
  REGISTER(sum); REGISTER(mean); REGISTER(amax); REGISTER(amin); REGISTER(argmax);
  REGISTER(reshape); REGISTER(permute); REGISTER(transpose); REGISTER(flip); REGISTER(rot90); REGISTER(expand);
  REGISTER(slice); REGISTER(cat); REGISTER(stack); REGISTER(pad);
  REGISTER(conv2d); REGISTER(convTranspose2d); REGISTER(batchNorm); REGISTER(maxPool2d);
  REGISTER(upsampleBilinear2d); REGISTER(upsampleNearest2d); REGISTER(softmax); REGISTER(logSoftmax);
  REGISTER(dropout);
  REGISTER(binaryCrossEntropy); REGISTER(binaryCrossEntropyWithLogits); REGISTER(nllLoss); REGISTER(crossEntropy);
  REGISTER(mul_); REGISTER(add_); REGISTER(addcmul_); REGISTER(addcdiv_); REGISTER(copy_); REGISTER(fill_);
  REGISTER(uniform_); REGISTER(normal_);
}

}  // namespace patho
