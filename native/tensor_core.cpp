// Tensor lifecycle, conversion to and from JavaScript buffers, autograd and
// runtime settings (threads, seeds, devices, autocast).
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/api/include/torch/version.h>

#include <climits>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace patho {

#define ARG(i) info[i]
#define TENSOR(i, name) unwrapTensor(info[i], name)

static at::TensorOptions optionsFrom(const Napi::CallbackInfo& info, int dtypeArg, int deviceArg) {
  return at::TensorOptions().dtype(parseDtype(STR(dtypeArg))).device(parseDevice(STR(deviceArg)));
}

// fromBuffer(bytes: Uint8Array, dtype, shape[, strides]) -> tensor: copies the bytes.
// With strides, the bytes are the storage a view spans (as torch.save keeps an
// expanded or transposed tensor) and the result is that view over a copy of
// them, as torch.load returns it: a stride-0 tensor stays as small as its storage.
PATHO_EXPORT(fromBuffer) {
  auto bytes = info[0].As<Napi::TypedArray>();
  auto dtype = parseDtype(STR(1));
  auto shape = intList(info[2], "shape");
  bool view = info.Length() > 3 && !info[3].IsUndefined();
  size_t elementSize = c10::elementSize(dtype);
  size_t given = bytes.ByteLength();
  auto tensor = view ? at::empty({static_cast<int64_t>(given / elementSize)}, at::TensorOptions().dtype(dtype))
                     : at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t expected = tensor.numel() * tensor.element_size();
  if (given != expected) {
    fail("buffer holds " + std::to_string(given) + " bytes but shape " + c10::str(tensor.sizes()) +
         " of " + dtypeName(dtype) + " needs " + std::to_string(expected));
  }
  auto* source = static_cast<uint8_t*>(bytes.ArrayBuffer().Data()) + bytes.ByteOffset();
  if (expected > 0) std::memcpy(tensor.data_ptr(), source, expected);
  // as_strided checks that the view stays inside the storage
  if (view) tensor = tensor.as_strided(shape, intList(info[3], "strides"));
  return wrapTensor(env, tensor);
}

// toBuffer(t) -> ArrayBuffer with the contiguous CPU bytes of t.
PATHO_EXPORT(toBuffer) {
  auto tensor = TENSOR(0, "tensor").detach().to(at::kCPU).contiguous();
  size_t bytes = tensor.numel() * tensor.element_size();
  auto buffer = newArrayBuffer(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), tensor.data_ptr(), bytes);
  return buffer;
}

PATHO_EXPORT(empty) { return wrapTensor(env, at::empty(intList(info[0], "shape"), optionsFrom(info, 1, 2))); }
PATHO_EXPORT(zeros) { return wrapTensor(env, at::zeros(intList(info[0], "shape"), optionsFrom(info, 1, 2))); }
PATHO_EXPORT(ones) { return wrapTensor(env, at::ones(intList(info[0], "shape"), optionsFrom(info, 1, 2))); }
PATHO_EXPORT(full) {
  return wrapTensor(env, at::full(intList(info[0], "shape"), NUM(1), optionsFrom(info, 2, 3)));
}
PATHO_EXPORT(rand) { return wrapTensor(env, at::rand(intList(info[0], "shape"), optionsFrom(info, 1, 2))); }
PATHO_EXPORT(randn) { return wrapTensor(env, at::randn(intList(info[0], "shape"), optionsFrom(info, 1, 2))); }
PATHO_EXPORT(arange) {
  return wrapTensor(env, at::arange(NUM(0), NUM(1), NUM(2), optionsFrom(info, 3, 4)));
}

// describe(t) -> { shape, dtype, device, requiresGrad }: read once per handle.
PATHO_EXPORT(describe) {
  auto& t = TENSOR(0, "tensor");
  auto out = Napi::Object::New(env);
  auto shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); i++) shape.Set(uint32_t(i), Napi::Number::New(env, double(t.size(i))));
  out.Set("shape", shape);
  out.Set("dtype", dtypeName(t.scalar_type()));
  out.Set("device", deviceName(t.device()));
  out.Set("requiresGrad", t.requires_grad());
  return out;
}

PATHO_EXPORT(dispose) {
  releaseBox(tensorBox(info[0], "argument"));
  return env.Undefined();
}

PATHO_EXPORT(isDisposed) { return Napi::Boolean::New(env, !tensorBox(info[0], "argument")->tensor.defined()); }

// to(t, device | null, dtype | null, nonBlocking)
PATHO_EXPORT(to) {
  auto& t = TENSOR(0, "tensor");
  auto device = info[1].IsString() ? parseDevice(STR(1)) : t.device();
  auto dtype = info[2].IsString() ? parseDtype(STR(2)) : t.scalar_type();
  return wrapTensor(env, t.to(device, dtype, BOOL(3), false));
}

static at::MemoryFormat memoryFormat(const std::string& name) {
  if (name == "contiguous") return at::MemoryFormat::Contiguous;
  if (name == "channelsLast") return at::MemoryFormat::ChannelsLast;
  fail("unknown memory format '" + name + "' (use contiguous or channelsLast)");
}

PATHO_EXPORT(contiguous) { return wrapTensor(env, TENSOR(0, "tensor").contiguous(memoryFormat(STR(1)))); }
PATHO_EXPORT(isContiguous) {
  return Napi::Boolean::New(env, TENSOR(0, "tensor").is_contiguous(memoryFormat(STR(1))));
}
PATHO_EXPORT(pinMemory) { return wrapTensor(env, TENSOR(0, "tensor").pin_memory()); }
PATHO_EXPORT(clone) { return wrapTensor(env, TENSOR(0, "tensor").clone(at::MemoryFormat::Preserve)); }
PATHO_EXPORT(detach) { return wrapTensor(env, TENSOR(0, "tensor").detach()); }
PATHO_EXPORT(item) {
  auto& t = TENSOR(0, "tensor");
  if (t.numel() != 1) fail("item() needs a tensor with one element, got shape " + c10::str(t.sizes()));
  return Napi::Number::New(env, t.item().toDouble());
}

// ---- autograd ----
PATHO_EXPORT(setRequiresGrad) {
  TENSOR(0, "tensor").requires_grad_(BOOL(1));
  return env.Undefined();
}
PATHO_EXPORT(grad) {
  auto g = TENSOR(0, "tensor").grad();
  if (!g.defined()) return env.Null();
  return wrapTensor(env, g);
}
PATHO_EXPORT(clearGrad) {
  TENSOR(0, "tensor").mutable_grad().reset();
  return env.Undefined();
}
PATHO_EXPORT(setGrad) {
  TENSOR(0, "tensor").mutable_grad() = TENSOR(1, "grad");
  return env.Undefined();
}
// backward(t, grad | null, retainGraph)
PATHO_EXPORT(backward) {
  auto grad = optionalTensor(info[1], "grad");
  TENSOR(0, "tensor").backward(grad ? *grad : at::Tensor(), BOOL(2), false);
  return env.Undefined();
}
PATHO_EXPORT(setGradEnabled) {
  c10::GradMode::set_enabled(BOOL(0));
  return env.Undefined();
}
PATHO_EXPORT(isGradEnabled) { return Napi::Boolean::New(env, c10::GradMode::is_enabled()); }

// ---- runtime ----
PATHO_EXPORT(memory) {
  auto out = Napi::Object::New(env);
  out.Set("tensors", double(liveCounters().tensors.load()));
  out.Set("bytes", double(liveCounters().bytes.load()));
  return out;
}
PATHO_EXPORT(setNumThreads) {
  at::set_num_threads(int(INT(0)));
  return env.Undefined();
}
PATHO_EXPORT(getNumThreads) { return Napi::Number::New(env, at::get_num_threads()); }

// glibc's malloc serves blocks above its mmap threshold with a fresh mmap and
// unmaps them when freed, and returns the top of its heap to the system once
// more than the trim threshold is free. The threshold adapts upwards only as
// such blocks are freed, and the order tensors are freed in from JavaScript
// keeps it low: a training step's activations then came from new mappings
// every step, each page faulted in and zeroed again (2.65 million faults in
// 6 epochs of the membrane recipe, a fifth of the CPU time in the kernel).
// Raising the threshold to glibc's maximum (32 MiB) and never trimming keeps
// freed blocks for the next step, as PyTorch's own caching allocator does on
// GPUs. Returns false where the C library is not glibc.
PATHO_EXPORT(keepFreedMemory) {
#if defined(__GLIBC__)
  bool ok = mallopt(M_MMAP_THRESHOLD, int(INT(0))) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1 && ok;
  return Napi::Boolean::New(env, ok);
#else
  return Napi::Boolean::New(env, false);
#endif
}

PATHO_EXPORT(manualSeed) {
  uint64_t seed = uint64_t(INT(0));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  auto& hooks = at::detail::getCUDAHooks();
  for (int i = 0; i < hooks.getNumGPUs(); i++) {
    auto gen = hooks.getDefaultCUDAGenerator(i);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return env.Undefined();
}
PATHO_EXPORT(getRngState) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrapTensor(env, at::Tensor(gen.get_state()));
}
PATHO_EXPORT(setRngState) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(TENSOR(0, "state"));
  return env.Undefined();
}

PATHO_EXPORT(cudaDeviceCount) { return Napi::Number::New(env, at::detail::getCUDAHooks().getNumGPUs()); }
// cudaSynchronize(index = 0): waits for all work queued on that GPU.
PATHO_EXPORT(cudaSynchronize) {
  int index = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  if (index < at::detail::getCUDAHooks().getNumGPUs()) at::detail::getCUDAHooks().deviceSynchronize(index);
  return env.Undefined();
}
PATHO_EXPORT(setCudnnBenchmark) {
  at::globalContext().setBenchmarkCuDNN(BOOL(0));
  return env.Undefined();
}

// setAutocast(deviceType 'cpu' | 'cuda', enabled, dtype): the thread-local
// autocast state that torch.autocast sets; libtorch's dispatcher does the rest.
PATHO_EXPORT(setAutocast) {
  auto deviceType = STR(0) == "cuda" ? at::kCUDA : at::kCPU;
  bool enabled = BOOL(1);
  auto dtype = parseDtype(STR(2));
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(deviceType, enabled);
  at::autocast::set_autocast_dtype(deviceType, dtype);
#else
  if (deviceType == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
  // Cached casts of weights are only valid inside one autocast region.
  if (!enabled) at::autocast::clear_cache();
  return env.Undefined();
}

PATHO_EXPORT(buildInfo) {
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cudaCompiled", at::detail::getCUDAHooks().hasCUDA());
  out.Set("parallelInfo", at::get_parallel_info());
  return out;
}

void registerTensorCore(Napi::Env env, Napi::Object exports) {
  REGISTER(fromBuffer); REGISTER(toBuffer);
  REGISTER(empty); REGISTER(zeros); REGISTER(ones); REGISTER(full); REGISTER(rand); REGISTER(randn);
  REGISTER(arange); REGISTER(describe); REGISTER(dispose); REGISTER(isDisposed);
  REGISTER(to); REGISTER(contiguous); REGISTER(isContiguous); REGISTER(pinMemory);
  REGISTER(clone); REGISTER(detach); REGISTER(item);
  REGISTER(setRequiresGrad); REGISTER(grad); REGISTER(clearGrad); REGISTER(setGrad); REGISTER(backward);
  REGISTER(setGradEnabled); REGISTER(isGradEnabled);
  REGISTER(memory); REGISTER(setNumThreads); REGISTER(getNumThreads); REGISTER(keepFreedMemory);
  REGISTER(manualSeed); REGISTER(getRngState); REGISTER(setRngState);
  REGISTER(cudaDeviceCount); REGISTER(cudaSynchronize); REGISTER(setCudnnBenchmark);
  REGISTER(setAutocast); REGISTER(buildInfo);
}

}  // namespace patho
