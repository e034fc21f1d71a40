// What the addon hands to JavaScript. Handles: every External carries the type
// tag of its kind, and every call checks that tag before it touches the data,
// so a tensor passed where a slide is expected is a TypeError, not a
// reinterpreted pointer. Buffers: allocated so that running out of memory is a
// JavaScript exception. Needs only napi.h, so openslide.cpp can use it without
// libtorch.
#pragma once

#include <napi.h>

#include <stdexcept>
#include <string>

namespace patho {

enum class HandleKind { Tensor, Slide, ProcessGroup, GradientReducer };

// Thrown for a value that is not a handle of the expected kind; the call
// guards turn it into a JavaScript TypeError prefixed by the op.
struct HandleTypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

inline constexpr HandleKind kHandleKinds[] = {HandleKind::Tensor, HandleKind::Slide, HandleKind::ProcessGroup,
                                             HandleKind::GradientReducer};

inline const napi_type_tag* handleTag(HandleKind kind) {
  // arbitrary 128-bit constants of this addon (the first word spells "patoh" + kind), so no other addon's External matches
  static const napi_type_tag tags[] = {
      {0x7061746f68746e73ULL, 0x9c1d3e5a7b2f4c61ULL},
      {0x7061746f68736c64ULL, 0x4b8e21d7c39fa605ULL},
      {0x7061746f6867726fULL, 0x1f3a5c7e9b2d4f60ULL},
      {0x7061746f68726564ULL, 0x6e2b9d41a7c05f38ULL},
  };
  return &tags[static_cast<int>(kind)];
}

inline const char* handleName(HandleKind kind) {
  switch (kind) {
    case HandleKind::Tensor: return "tensor";
    case HandleKind::Slide: return "slide";
    case HandleKind::ProcessGroup: return "process group";
    case HandleKind::GradientReducer: return "gradient reducer";
  }
  return "unknown";
}

inline bool isHandle(const Napi::Value& value, HandleKind kind) {
  return value.Type() == napi_external && value.As<Napi::External<void>>().CheckTypeTag(handleTag(kind));
}

// What a wrong argument is, for the error message: another kind of handle, or a JavaScript type.
inline std::string describeArgument(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_external:
      for (HandleKind kind : kHandleKinds) {
        if (isHandle(value, kind)) return std::string("a ") + handleName(kind) + " handle";
      }
      return "an External of another addon";
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_object: return value.IsArray() ? "an array" : "an object";
    default: return "a value of another type";
  }
}

// Hands `box` to JavaScript as a tagged External; `release` runs when the
// External is garbage-collected (a backstop: handles are closed explicitly).
template <typename Box>
Napi::External<Box> newHandle(Napi::Env env, HandleKind kind, Box* box, void (*release)(Box*)) {
  auto external = Napi::External<Box>::New(env, box, [release](Napi::Env, Box* b) { release(b); });
  external.TypeTag(handleTag(kind));
  return external;
}

// The data of a handle of `kind`; `what` names the argument in the error.
template <typename Box>
Box* handleData(const Napi::Value& value, HandleKind kind, const char* what) {
  if (!isHandle(value, kind)) {
    throw HandleTypeError(std::string(what) + " must be a " + handleName(kind) + " handle, got " + describeArgument(value));
  }
  return value.As<Napi::External<Box>>().Data();
}

// A zero-filled ArrayBuffer made by JavaScript's own constructor: when memory
// runs out it throws a RangeError, where napi_create_arraybuffer and
// napi_create_buffer would abort the process (V8 treats their failed
// allocation as fatal). Throws std::runtime_error, for the call guards to name the op.
inline Napi::ArrayBuffer newArrayBuffer(Napi::Env env, size_t bytes) {
  auto constructor = env.Global().Get("ArrayBuffer").As<Napi::Function>();
  try {
    return constructor.New({Napi::Number::New(env, static_cast<double>(bytes))}).As<Napi::ArrayBuffer>();
  } catch (const Napi::Error& e) {
    throw std::runtime_error("cannot allocate a buffer of " + std::to_string(bytes) + " bytes (" + e.Message() + ")");
  }
}

}  // namespace patho
