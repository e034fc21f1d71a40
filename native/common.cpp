#include "common.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>

namespace patho {

LiveCounters& liveCounters() {
  static LiveCounters counters;
  return counters;
}

static int64_t trackedBytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}

void releaseBox(TensorBox* box) {
  if (!box->tensor.defined()) return;
  liveCounters().tensors--;
  liveCounters().bytes -= trackedBytes(box->tensor);
  box->tensor = at::Tensor();
}

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  auto* box = new TensorBox{std::move(tensor)};
  liveCounters().tensors++;
  liveCounters().bytes += trackedBytes(box->tensor);
  return newHandle<TensorBox>(env, HandleKind::Tensor, box, [](TensorBox* b) {
    releaseBox(b);
    delete b;
  });
}

bool isTensor(const Napi::Value& value) { return isHandle(value, HandleKind::Tensor); }

TensorBox* tensorBox(const Napi::Value& value, const char* what) {
  return handleData<TensorBox>(value, HandleKind::Tensor, what);
}

at::Tensor& unwrapTensor(const Napi::Value& value, const char* what) {
  auto* box = tensorBox(value, what);
  if (!box->tensor.defined()) fail(std::string(what) + " was disposed");
  return box->tensor;
}

c10::optional<at::Tensor> optionalTensor(const Napi::Value& value, const char* what) {
  if (value.IsUndefined() || value.IsNull()) return c10::nullopt;
  return unwrapTensor(value, what);
}

std::vector<int64_t> intList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) fail(std::string(what) + " must be an array of integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) fail(std::string(what) + " must be an array of integers");
    out[i] = item.As<Napi::Number>().Int64Value();
  }
  return out;
}

std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) fail(std::string(what) + " must be an array of tensors");
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    out.push_back(unwrapTensor(array.Get(i), what));
  }
  return out;
}

at::ScalarType parseDtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "int64") return at::kLong;
  if (name == "int32") return at::kInt;
  if (name == "int16") return at::kShort;
  if (name == "int8") return at::kChar;
  if (name == "uint8") return at::kByte;
  if (name == "bool") return at::kBool;
  fail("unknown dtype '" + name + "'");
}

std::string dtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return std::string(c10::toString(type));
  }
}

at::Device parseDevice(const std::string& name) {
  at::Device device(name);  // throws c10::Error on malformed names
  if (device.is_cuda()) {
    int count = at::detail::getCUDAHooks().getNumGPUs();
    int index = device.has_index() ? device.index() : 0;
    if (index >= count) {
      fail("device " + name + " is not available (this machine has " + std::to_string(count) +
           " CUDA device" + (count == 1 ? "" : "s") + ")");
    }
  } else if (!device.is_cpu()) {
    fail("unsupported device '" + name + "' (use cpu or cuda:N)");
  }
  return device;
}

std::string deviceName(const at::Device& device) {
  if (device.is_cuda()) return "cuda:" + std::to_string(device.has_index() ? device.index() : 0);
  return device.str();
}

void fail(const std::string& message) { throw std::runtime_error(message); }

}  // namespace patho
