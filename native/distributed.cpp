// c10d process groups for data-parallel training: a TCPStore rendezvous (or a
// FileStore for a job on one host), then Gloo (CPU tensors) or NCCL (CUDA
// tensors, where libtorch has CUDA). Collectives
// block until done or until the group's timeout, which turns a dead peer into
// an error instead of a hang.
#include "common.h"

#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef PATHO_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>

namespace patho {

#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct GroupBox {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};

static GroupBox* groupBox(const Napi::Value& value) {
  return handleData<GroupBox>(value, HandleKind::ProcessGroup, "the argument");
}

static GroupBox& unwrapGroup(const Napi::Value& value) {
  auto* box = groupBox(value);
  if (!box->group) fail("the process group was destroyed");
  return *box;
}

static std::string where(const GroupBox& g) {
  return " (rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) + ")";
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
  } catch (const c10::Error& e) {
    fail(std::string(name) + " failed" + where(g) + ": " + e.what_without_backtrace() +
         " (a peer process may have died or be unreachable)");
  } catch (const std::exception& e) {
    fail(std::string(name) + " failed" + where(g) + ": " + e.what() + " (a peer process may have died or be unreachable)");
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
  box->group.reset();
  box->store.reset();
  return env.Undefined();
}

#define EXPORT_GUARDED(NAME)                                                                          \
  exports.Set(#NAME, Napi::Function::New(env, [](const Napi::CallbackInfo& info) {                    \
    return guarded(info, #NAME, [&](Napi::Env e) { return NAME##Impl(e, info); });                   \
  }, #NAME))

void registerDistributed(Napi::Env env, Napi::Object exports) {
  EXPORT_GUARDED(distInit);
  EXPORT_GUARDED(distAllReduce);
  EXPORT_GUARDED(distBroadcast);
  EXPORT_GUARDED(distBarrier);
  EXPORT_GUARDED(distDestroy);
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
