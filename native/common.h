// Shared helpers of the patho addon: how tensors cross into JavaScript, how
// arguments are read, and how every C++ exception becomes a JavaScript Error.
#pragma once

#include "to_js.h"

#include <napi.h>
#include <ATen/ATen.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace patho {

// A tensor handle owned by JavaScript. dispose() releases the tensor at once;
// the External's finalizer is only a backstop for handles nobody disposed.
struct TensorBox {
  at::Tensor tensor;
};

struct LiveCounters {
  std::atomic<int64_t> tensors{0};
  std::atomic<int64_t> bytes{0};
};
LiveCounters& liveCounters();

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor);
at::Tensor& unwrapTensor(const Napi::Value& value, const char* what);
bool isTensor(const Napi::Value& value);
TensorBox* tensorBox(const Napi::Value& value, const char* what);
void releaseBox(TensorBox* box);

c10::optional<at::Tensor> optionalTensor(const Napi::Value& value, const char* what);
std::vector<int64_t> intList(const Napi::Value& value, const char* what);
std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what);
at::ScalarType parseDtype(const std::string& name);
std::string dtypeName(at::ScalarType type);
at::Device parseDevice(const std::string& name);
std::string deviceName(const at::Device& device);

// Runs body and converts C++ exceptions into a JavaScript Error prefixed by
// the op name (a TypeError for a wrong handle); c10 errors, out-of-memory
// among them, lose their long C++ backtrace on the way.
template <typename Body>
Napi::Value guarded(const Napi::CallbackInfo& info, const char* op, Body body) {
  try {
    return body(info.Env());
  } catch (const Napi::Error&) {
    throw;
  } catch (const HandleTypeError& e) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + e.what());
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + e.what());
  }
}

[[noreturn]] void fail(const std::string& message);

}  // namespace patho

// Declares and registers one exported function: NAME(info) -> value.
#define PATHO_EXPORT(NAME) \
  static Napi::Value NAME##_impl(Napi::Env env, const Napi::CallbackInfo& info); \
  static Napi::Value NAME(const Napi::CallbackInfo& info) { \
    return patho::guarded(info, #NAME, [&](Napi::Env env) { return NAME##_impl(env, info); }); \
  } \
  static Napi::Value NAME##_impl(Napi::Env env, const Napi::CallbackInfo& info)

// Arguments of an exported function, by position.
#define NUM(i) info[i].As<Napi::Number>().DoubleValue()
#define INT(i) info[i].As<Napi::Number>().Int64Value()
#define BOOL(i) info[i].As<Napi::Boolean>().Value()
#define STR(i) info[i].As<Napi::String>().Utf8Value()

// Adds an exported function to the module's exports under its own name.
#define REGISTER(NAME) exports.Set(#NAME, Napi::Function::New(env, NAME, #NAME))
