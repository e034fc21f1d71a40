// c10d process groups for data-parallel training: a TCPStore rendezvous (or a
// FileStore for a job on one host), then Gloo (CPU tensors) or NCCL (CUDA
// tensors, where libtorch has CUDA). Collectives
// block until done or until the group's timeout, which turns a dead peer into
// an error instead of a hang. The gradient reducer at the end of this file
// starts DDP's all-reduces from autograd hooks, while backward still runs.
#include "common.h"

#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef PATHO_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>

namespace patho {

#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

class GradientReducer;

struct GroupBox {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
  // Owned by the group, so that destroying the group also removes their
  // autograd hooks and frees their buckets; their handles hold weak references.
  std::vector<std::shared_ptr<GradientReducer>> reducers;
};

static GroupBox* groupBox(const Napi::Value& value) {
  return handleData<GroupBox>(value, HandleKind::ProcessGroup, "the argument");
}

static GroupBox& unwrapGroup(const Napi::Value& value) {
  auto* box = groupBox(value);
  if (!box->group) fail("the process group was destroyed");
  return *box;
}

static std::string where(int rank, int size) {
  return " (rank " + std::to_string(rank) + " of " + std::to_string(size) + ")";
}

static std::string where(const GroupBox& g) { return where(g.rank, g.size); }

[[noreturn]] static void failCollective(const std::string& name, const std::string& place, const std::exception& e) {
  auto* c10 = dynamic_cast<const c10::Error*>(&e);
  fail(name + " failed" + place + ": " + (c10 ? c10->what_without_backtrace() : e.what()) +
       " (a peer process may have died or be unreachable)");
}

// Gloo binds to an address: the interface GLOO_SOCKET_IFNAME names (as PyTorch
// does), loopback for a job on one host, else this host's own address.
static std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr) {
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME")) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  }
  if (masterAddr == "127.0.0.1" || masterAddr == "localhost") {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// distInit(masterAddr, masterPort, rank, worldSize, backend 'gloo' | 'nccl', timeoutMs, storeFile?)
// With storeFile the ranks meet in that file instead of at masterAddr:masterPort:
// a TCPStore server listens on every interface (libtorch gives it no listen
// address), which a job on one host has no reason to expose.
static Napi::Value distInitImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto masterAddr = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int rank = info[2].As<Napi::Number>().Int32Value();
  int size = info[3].As<Napi::Number>().Int32Value();
  auto backend = info[4].As<Napi::String>().Utf8Value();
  std::chrono::milliseconds timeout(info[5].As<Napi::Number>().Int64Value());
  std::string storeFile = info.Length() > 6 && info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "";
  if (rank < 0 || rank >= size) fail("rank " + std::to_string(rank) + " is outside world size " + std::to_string(size));
  if (port < 1 || port > 65535) fail("master port " + std::to_string(port) + " is not a TCP port (1-65535)");
  if (backend != "gloo" && backend != "nccl") fail("unknown backend '" + backend + "' (use gloo or nccl)");
#ifndef PATHO_WITH_NCCL
  if (backend == "nccl") fail("this build of patho has no NCCL (libtorch without CUDA); use the gloo backend");
#endif

  auto box = std::make_unique<GroupBox>();
  box->rank = rank;
  box->size = size;
  box->timeout = timeout;
  c10d::TCPStoreOptions storeOptions;
  storeOptions.port = static_cast<uint16_t>(port);
  storeOptions.isServer = rank == 0;
  storeOptions.numWorkers = size;
  storeOptions.waitWorkers = true;
  storeOptions.timeout = timeout;
  // Both steps wait for the other ranks (the TCPStore for the server's
  // workers in libtorch 2.x, Gloo's address exchange through the store in every
  // version), so a missing peer can surface in either: name the rank for both.
  try {
    if (storeFile.empty()) {
      box->store = c10::make_intrusive<c10d::TCPStore>(masterAddr, storeOptions);
    } else {
      box->store = c10::make_intrusive<c10d::FileStore>(storeFile, size);
      box->store->setTimeout(timeout);
    }
    if (backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(glooDevice(masterAddr));
      options->threads = 2;
      box->group = c10::make_intrusive<c10d::ProcessGroupGloo>(box->store, rank, size, options);
    } else {
#ifdef PATHO_WITH_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      box->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(box->store, rank, size, options);
#endif
    }
  } catch (const std::exception& e) {
    auto* c10 = dynamic_cast<const c10::Error*>(&e);
    auto place = storeFile.empty() ? "at " + masterAddr + ":" + std::to_string(port) : "through " + storeFile;
    auto hint = storeFile.empty() ? " (is every rank started, with the same MASTER_ADDR and MASTER_PORT?)" : " (did every rank start?)";
    fail("rendezvous " + place + " failed" + where(*box) + ": " + (c10 ? c10->what_without_backtrace() : e.what()) + hint);
  }
  return newHandle<GroupBox>(env, HandleKind::ProcessGroup, box.release(), [](GroupBox* b) { delete b; });
}

template <typename Launch>
static void runCollective(GroupBox& g, const char* name, Launch launch) {
  try {
    auto work = launch();
    work->wait(g.timeout);
  } catch (const std::exception& e) {
    failCollective(name, where(g), e);
  }
}

// distAllReduce(group, tensors[], op 'sum' | 'max' | 'min'): in place, one tensor per call entry.
static Napi::Value distAllReduceImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto& g = unwrapGroup(info[0]);
  auto tensors = tensorList(info[1], "tensors");
  auto opName = info[2].As<Napi::String>().Utf8Value();
  c10d::AllreduceOptions options;
  if (opName == "sum") options.reduceOp = c10d::ReduceOp::SUM;
  else if (opName == "max") options.reduceOp = c10d::ReduceOp::MAX;
  else if (opName == "min") options.reduceOp = c10d::ReduceOp::MIN;
  else fail("unknown reduce op '" + opName + "' (use sum, max or min)");
  for (auto& t : tensors) {
    if (!t.is_contiguous()) fail("all-reduce needs contiguous tensors");
    std::vector<at::Tensor> one{t};
    runCollective(g, "all-reduce", [&] { return g.group->allreduce(one, options); });
  }
  return env.Undefined();
}

// distBroadcast(group, tensors[], root): in place.
static Napi::Value distBroadcastImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto& g = unwrapGroup(info[0]);
  auto tensors = tensorList(info[1], "tensors");
  c10d::BroadcastOptions options;
  options.rootRank = info[2].As<Napi::Number>().Int32Value();
  for (auto& t : tensors) {
    if (!t.is_contiguous()) fail("broadcast needs contiguous tensors");
    std::vector<at::Tensor> one{t};
    runCollective(g, "broadcast", [&] { return g.group->broadcast(one, options); });
  }
  return env.Undefined();
}

static Napi::Value distBarrierImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto& g = unwrapGroup(info[0]);
  runCollective(g, "barrier", [&] { return g.group->barrier(); });
  return env.Undefined();
}

static Napi::Value distDestroyImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto* box = groupBox(info[0]);
  box->reducers.clear();
  box->group.reset();
  box->store.reset();
  return env.Undefined();
}

// The backward of a sum over ranks is the sum over ranks of the gradients:
// every rank's output fed every rank's loss. SyncBatchNorm's batch statistics
// go through it (src/parallel/sync-batch-norm.ts), so autograd derives the
// rest of its backward from ordinary ops. Runs on the thread that executes
// backward, in the same order on every rank (their graphs are the same).
struct AllReduceSumBackward : torch::autograd::Node {
  AllReduceSumBackward(const GroupBox& g, const at::Tensor& output)
      : group(g.group), place(where(g)), timeout(g.timeout), shape(output.sizes().vec()), options(output.options()) {}

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    at::NoGradGuard noGrad;
    // a rank whose loss did not use the output still takes part, with zeros
    auto sum = grads[0].defined() ? grads[0].contiguous().clone() : at::zeros(shape, options);
    std::vector<at::Tensor> one{sum};
    try {
      group->allreduce(one)->wait(timeout);
    } catch (const std::exception& e) {
      failCollective("all-reduce of the gradient", place, e);
    }
    return {sum};
  }

  std::string name() const override { return "AllReduceSumBackward"; }

  c10::intrusive_ptr<GroupBase> group;
  std::string place;
  std::chrono::milliseconds timeout;
  std::vector<int64_t> shape;
  at::TensorOptions options;
};

// distAllReduceSum(group, tensor) -> a new tensor, the sum over ranks, that autograd differentiates
static Napi::Value distAllReduceSumImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto& g = unwrapGroup(info[0]);
  auto& input = unwrapTensor(info[1], "tensor");
  at::Tensor sum;
  {
    at::NoGradGuard noGrad;
    sum = input.contiguous().clone();
  }
  std::vector<at::Tensor> one{sum};
  runCollective(g, "all-reduce", [&] { return g.group->allreduce(one); });
  if (input.requires_grad() && at::GradMode::is_enabled()) {
    std::shared_ptr<AllReduceSumBackward> node(new AllReduceSumBackward(g, sum), torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(input));
    torch::autograd::set_history(sum, node);
  }
  return wrapTensor(env, sum);
}

// Gradient averaging overlapped with backward, as PyTorch DDP's c10d::Reducer
// does it. A post-hook on each parameter's gradient accumulator marks its
// gradient ready. Buckets are reduced in reverse parameter order, because
// backward produces the last layers' gradients first; when a bucket's last
// gradient is ready, the bucket is packed into its flat tensor and its
// all-reduce starts on Gloo's own threads (NCCL: its own stream) while autograd
// goes on with the earlier layers. finish() starts what is left, waits,
// averages and writes .grad. Buckets start strictly in order on every rank, so
// the ranks' collectives pair up even when a gradient is missing on one rank
// (it is packed as zeros at finish, as a parameter without a gradient always
// was). SyncBatchNorm's all-reduces in backward interleave with these in the
// same order on every rank only while every rank produces every gradient.
//
// Why not libtorch's own c10d::Reducer (Debian's libtorch 1.13 exports it): it
// takes a c10d::ProcessGroup, which in libtorch 2.x is a dispatcher front over
// the Backend made above, built differently from one 2.x release to the next;
// and it either fails on a parameter without a gradient or searches the graph
// for them every step. This is the part of it patho needs, on the Backend API
// that every supported libtorch shares.
//
// Hooks run on the thread that executes backward: the JavaScript thread for
// CPU tensors, the autograd engine's device thread for CUDA tensors while the
// JavaScript thread waits in backward(); never at the same time as arm() or
// finish(), which JavaScript calls before and after backward.
class GradientReducer {
 public:
  GradientReducer(const GroupBox& g, std::vector<at::Tensor> params, int64_t bucketBytes)
      : group_(g.group), rank_(g.rank), size_(g.size), timeout_(g.timeout), params_(std::move(params)) {
    planBuckets(bucketBytes);
    for (size_t i = 0; i < params_.size(); i++) {
      auto accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
      auto key = accumulator->add_post_hook(std::make_unique<ReadyHook>([this, i] { markReady(i); }));
      // the reducer keeps the accumulator alive: autograd holds it only weakly, and a new one would have no hook
      hooks_.emplace_back(std::move(accumulator), key);
    }
    reset();
  }

  ~GradientReducer() {
    for (auto& [accumulator, key] : hooks_) accumulator->del_post_hook(key);
  }

  // The next backward's gradients start their all-reduces as they become ready.
  void arm() {
    if (armed_) fail("the previous backward's gradients were never averaged (call syncGradients after each backward)");
    armed_ = true;
  }

  void finish() {
    at::NoGradGuard noGrad;
    launchInOrder(true);
    const double scale = 1.0 / size_;
    for (auto& bucket : buckets_) {
      try {
        bucket.work->wait(timeout_);
      } catch (const std::exception& e) {
        reset();
        failCollective("gradient all-reduce", where(rank_, size_), e);
      }
      bucket.flat.mul_(scale);
      for (size_t k = 0; k < bucket.members.size(); k++) {
        auto& param = params_[bucket.members[k]];
        auto averaged = bucket.flat.narrow(0, bucket.offsets[k], param.numel()).view(param.sizes());
        auto& grad = param.mutable_grad();
        if (grad.defined()) grad.copy_(averaged);
        else grad = averaged.clone();
      }
    }
    reset();
  }

 private:
  struct ReadyHook : torch::autograd::FunctionPostHook {
    explicit ReadyHook(std::function<void()> onReady) : onReady(std::move(onReady)) {}
    torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                              const torch::autograd::variable_list&) override {
      onReady();
      return outputs;
    }
    std::function<void()> onReady;
  };

  struct Bucket {
    std::vector<size_t> members;  // parameter indices
    std::vector<int64_t> offsets;  // of each member in flat
    at::Tensor flat;
    size_t pending = 0;  // gradients not yet ready in this backward
    c10::intrusive_ptr<c10d::Work> work;
  };

  // As torch DDP's bucket assignment: filled in parameter order, the bucket of
  // the first parameters up to 1 MB and the others up to bucketBytes, then
  // reduced in reverse. Backward produces the last layers' gradients first;
  // the first layers' small bucket, ready last, is all that is left to
  // all-reduce when backward ends. One dtype and device per bucket (one flat tensor).
  void planBuckets(int64_t bucketBytes) {
    const int64_t firstBucketBytes = std::min<int64_t>(bucketBytes, 1 << 20);
    std::vector<std::vector<size_t>> groups;
    int64_t bytes = 0;
    for (size_t i = 0; i < params_.size(); i++) {
      auto& p = params_[i];
      if (!p.requires_grad() || !p.is_leaf()) {
        fail("parameter " + std::to_string(i) + " is not a leaf tensor that requires grad; DDP averages only such parameters");
      }
      const int64_t pBytes = p.numel() * static_cast<int64_t>(p.element_size());
      const int64_t cap = groups.size() <= 1 ? firstBucketBytes : bucketBytes;
      if (groups.empty() || bytes + pBytes > cap || !sameKind(p, params_[groups.back()[0]])) {
        groups.emplace_back();
        bytes = 0;
      }
      groups.back().push_back(i);
      bytes += pBytes;
    }
    bucketOf_.resize(params_.size());
    for (auto group = groups.rbegin(); group != groups.rend(); ++group) {
      auto& bucket = buckets_.emplace_back();
      int64_t numel = 0;
      for (size_t i : *group) {
        bucket.members.push_back(i);
        bucket.offsets.push_back(numel);
        bucketOf_[i] = buckets_.size() - 1;
        numel += params_[i].numel();
      }
      bucket.flat = at::empty({numel}, params_[group->front()].options());
    }
  }

  static bool sameKind(const at::Tensor& a, const at::Tensor& b) {
    return a.scalar_type() == b.scalar_type() && a.device() == b.device();
  }

  void markReady(size_t param) {
    if (!armed_) return;  // a backward outside a training step (no arm()) starts nothing
    if (ready_[param]) {
      fail("parameter " + std::to_string(param) + "'s gradient was ready twice in one step; DDP averages one backward per step");
    }
    ready_[param] = true;
    if (--buckets_[bucketOf_[param]].pending == 0) launchInOrder(false);
  }

  // Starts the next buckets whose gradients are all ready (all of them at finish), never one before an earlier one.
  void launchInOrder(bool all) {
    at::NoGradGuard noGrad;
    while (nextBucket_ < buckets_.size() && (all || buckets_[nextBucket_].pending == 0)) {
      auto& bucket = buckets_[nextBucket_++];
      for (size_t k = 0; k < bucket.members.size(); k++) {
        auto& param = params_[bucket.members[k]];
        auto slot = bucket.flat.narrow(0, bucket.offsets[k], param.numel());
        const auto& grad = param.grad();
        if (grad.defined()) slot.view(param.sizes()).copy_(grad);
        else slot.zero_();
      }
      std::vector<at::Tensor> one{bucket.flat};
      try {
        bucket.work = group_->allreduce(one);
      } catch (const std::exception& e) {
        reset();  // a later finish() starts every bucket again instead of waiting on one that never started
        failCollective("gradient all-reduce", where(rank_, size_), e);
      }
    }
  }

  void reset() {
    armed_ = false;
    nextBucket_ = 0;
    ready_.assign(params_.size(), false);
    for (auto& bucket : buckets_) {
      bucket.pending = bucket.members.size();
      bucket.work.reset();
    }
  }

  c10::intrusive_ptr<GroupBase> group_;
  int rank_;
  int size_;
  std::chrono::milliseconds timeout_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucketOf_;
  std::vector<bool> ready_;
  size_t nextBucket_ = 0;
  bool armed_ = false;
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;
};

struct ReducerRef {
  std::weak_ptr<GradientReducer> reducer;
};

static GradientReducer& unwrapReducer(const Napi::Value& value) {
  auto reducer = handleData<ReducerRef>(value, HandleKind::GradientReducer, "the argument")->reducer.lock();
  if (!reducer) fail("the gradient reducer's process group was destroyed");
  return *reducer;  // the group keeps it alive until distDestroy, which JavaScript cannot call during this call
}

// ddpReducerCreate(group, params[], bucketBytes)
static Napi::Value ddpReducerCreateImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  auto& g = unwrapGroup(info[0]);
  auto params = tensorList(info[1], "params");
  int64_t bucketBytes = info[2].As<Napi::Number>().Int64Value();
  if (params.empty()) fail("no parameters to average");
  if (bucketBytes < 1) fail("bucketBytes must be positive, got " + std::to_string(bucketBytes));
  auto reducer = std::make_shared<GradientReducer>(g, std::move(params), bucketBytes);
  g.reducers.push_back(reducer);
  return newHandle<ReducerRef>(env, HandleKind::GradientReducer, new ReducerRef{reducer}, [](ReducerRef* r) { delete r; });
}

// ddpReducerArm(reducer): before backward
static Napi::Value ddpReducerArmImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  unwrapReducer(info[0]).arm();
  return env.Undefined();
}

// ddpReducerFinish(reducer): after backward; .grad holds the averages when it returns
static Napi::Value ddpReducerFinishImpl(Napi::Env env, const Napi::CallbackInfo& info) {
  unwrapReducer(info[0]).finish();
  return env.Undefined();
}

#define EXPORT_GUARDED(NAME)                                                                          \
  exports.Set(#NAME, Napi::Function::New(env, [](const Napi::CallbackInfo& info) {                    \
    return guarded(info, #NAME, [&](Napi::Env e) { return NAME##Impl(e, info); });                   \
  }, #NAME))

void registerDistributed(Napi::Env env, Napi::Object exports) {
  EXPORT_GUARDED(distInit);
  EXPORT_GUARDED(distAllReduce);
  EXPORT_GUARDED(distAllReduceSum);
  EXPORT_GUARDED(distBroadcast);
  EXPORT_GUARDED(distBarrier);
  EXPORT_GUARDED(distDestroy);
  EXPORT_GUARDED(ddpReducerCreate);
  EXPORT_GUARDED(ddpReducerArm);
  EXPORT_GUARDED(ddpReducerFinish);
  exports.Set("distributedBackends", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    auto list = Napi::Array::New(info.Env());
    list.Set(uint32_t(0), "gloo");
#ifdef PATHO_WITH_NCCL
    list.Set(uint32_t(1), "nccl");
#endif
    return list;
  }, "distributedBackends"));
}

}  // namespace patho
