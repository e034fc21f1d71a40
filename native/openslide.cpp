// Whole-slide images through OpenSlide: open, properties, readRegion, close.
// Compiled only when CMake finds OpenSlide (PATHO_WITH_OPENSLIDE). It needs no
// libtorch, so it includes napi.h (through to_js.h) alone and compiles in a second.
#include "to_js.h"

#include <openslide.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace patho {
namespace {

// A slide handle owned by JavaScript: slideClose releases it at once; the
// External's finalizer is only a backstop for handles nobody closed.
struct SlideBox {
  openslide_t* slide = nullptr;
  std::string path;
};

void closeBox(SlideBox* box) {
  if (box->slide) openslide_close(box->slide);
  box->slide = nullptr;
}

[[noreturn]] void fail(Napi::Env env, const std::string& message) { throw Napi::Error::New(env, message); }

SlideBox& unwrap(const Napi::CallbackInfo& info, const char* op) {
  auto* box = handleData<SlideBox>(info[0], HandleKind::Slide, "the argument");
  if (!box->slide) fail(info.Env(), std::string(op) + ": the slide was closed");
  return *box;
}

// OpenSlide records the first error in the handle and then refuses every call.
void checkError(Napi::Env env, const SlideBox& box, const char* op) {
  const char* error = openslide_get_error(box.slide);
  if (error) fail(env, std::string(op) + ": " + box.path + ": " + error);
}

int64_t integer(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) fail(info.Env(), std::string(op) + ": " + name + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != static_cast<double>(static_cast<int64_t>(v))) fail(info.Env(), std::string(op) + ": " + name + " must be an integer");
  return static_cast<int64_t>(v);
}

Napi::Value slideOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail(env, "slideOpen: expected a path");
  std::string path = info[0].As<Napi::String>();
  // OpenSlide answers "not a slide" for a missing file too; say what is wrong.
  FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) fail(env, "slideOpen: " + path + ": cannot read (" + std::strerror(errno) + ")");
  unsigned char magic[4] = {0, 0, 0, 0};
  size_t got = std::fread(magic, 1, 4, file);
  std::fclose(file);
  if (!openslide_detect_vendor(path.c_str())) {
    // A cut-off SVS or NDPI is still a TIFF by its first bytes, but its
    // directories point past the end, so OpenSlide does not recognise it.
    bool tiff = got == 4 && ((magic[0] == 'I' && magic[1] == 'I' && (magic[2] == 42 || magic[2] == 43) && magic[3] == 0) ||
                             (magic[0] == 'M' && magic[1] == 'M' && magic[2] == 0 && (magic[3] == 42 || magic[3] == 43)));
    fail(env, "slideOpen: " + path + (tiff ? ": a TIFF that OpenSlide cannot read (truncated or damaged?)" : ": not a format OpenSlide reads"));
  }
  openslide_t* slide = openslide_open(path.c_str());
  if (!slide) fail(env, "slideOpen: " + path + ": not a format OpenSlide reads");
  auto* box = new SlideBox{slide, path};
  const char* error = openslide_get_error(slide);
  if (error) {
    std::string message = "slideOpen: " + path + ": " + error;
    closeBox(box);
    delete box;
    fail(env, message);
  }
  return newHandle<SlideBox>(env, HandleKind::Slide, box, [](SlideBox* b) {
    closeBox(b);
    delete b;
  });
}

Napi::Value slideProperties(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SlideBox& box = unwrap(info, "slideProperties");
  auto out = Napi::Object::New(env);
  int32_t count = openslide_get_level_count(box.slide);
  checkError(env, box, "slideProperties");
  auto levels = Napi::Array::New(env, count);
  for (int32_t i = 0; i < count; i++) {
    int64_t w = 0, h = 0;
    openslide_get_level_dimensions(box.slide, i, &w, &h);
    auto level = Napi::Object::New(env);
    level.Set("width", Napi::Number::New(env, static_cast<double>(w)));
    level.Set("height", Napi::Number::New(env, static_cast<double>(h)));
    level.Set("downsample", Napi::Number::New(env, openslide_get_level_downsample(box.slide, i)));
    levels.Set(static_cast<uint32_t>(i), level);
  }
  out.Set("levels", levels);
  auto properties = Napi::Object::New(env);
  for (const char* const* name = openslide_get_property_names(box.slide); name && *name; name++) {
    const char* value = openslide_get_property_value(box.slide, *name);
    if (value) properties.Set(*name, value);
  }
  out.Set("properties", properties);
  checkError(env, box, "slideProperties");
  return out;
}

// RGBA bytes of a w x h region whose top-left is (x, y) in level-0 pixels,
// read at `level`. OpenSlide gives premultiplied ARGB words; pixels outside
// the scanned area are transparent, so they are composited on white, the
// colour of an empty glass slide.
Napi::Value slideReadRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "slideReadRegion";
  SlideBox& box = unwrap(info, op);
  int64_t x = integer(info, 1, op, "x"), y = integer(info, 2, op, "y");
  int64_t level = integer(info, 3, op, "level");
  int64_t w = integer(info, 4, op, "width"), h = integer(info, 5, op, "height");
  if (level < 0 || level >= openslide_get_level_count(box.slide)) {
    fail(env, std::string(op) + ": " + box.path + ": no level " + std::to_string(level));
  }
  if (w <= 0 || h <= 0 || w > (int64_t(1) << 28) || h > (int64_t(1) << 28) || w * h > (int64_t(1) << 28)) {
    fail(env, std::string(op) + ": region " + std::to_string(w) + "x" + std::to_string(h) + " must be positive and at most 2^28 pixels");
  }
  std::vector<uint32_t> argb(static_cast<size_t>(w * h));
  openslide_read_region(box.slide, argb.data(), x, y, static_cast<int32_t>(level), w, h);
  checkError(env, box, op);
  auto rgba = Napi::Uint8Array::New(env, argb.size() * 4, newArrayBuffer(env, argb.size() * 4), 0);
  uint8_t* out = rgba.Data();
  for (size_t i = 0; i < argb.size(); i++) {
    uint32_t p = argb[i];
    uint32_t a = p >> 24;
    out[4 * i] = static_cast<uint8_t>(((p >> 16) & 0xff) + 255 - a);
    out[4 * i + 1] = static_cast<uint8_t>(((p >> 8) & 0xff) + 255 - a);
    out[4 * i + 2] = static_cast<uint8_t>((p & 0xff) + 255 - a);
    out[4 * i + 3] = 255;
  }
  return rgba;
}

Napi::Value slideClose(const Napi::CallbackInfo& info) {
  closeBox(handleData<SlideBox>(info[0], HandleKind::Slide, "the argument"));
  return info.Env().Undefined();
}

// node-addon-api forwards only Napi::Error to JavaScript; anything else
// (std::bad_alloc of a large region) would abort the process.
template <Napi::Value (*Body)(const Napi::CallbackInfo&), const char* op>
Napi::Value guardedCall(const Napi::CallbackInfo& info) {
  try {
    return Body(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const HandleTypeError& e) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + e.what());
  }
}

constexpr char kOpen[] = "slideOpen", kProperties[] = "slideProperties", kReadRegion[] = "slideReadRegion",
               kClose[] = "slideClose";

}  // namespace

void registerOpenSlide(Napi::Env env, Napi::Object exports) {
  exports.Set(kOpen, Napi::Function::New(env, guardedCall<slideOpen, kOpen>, kOpen));
  exports.Set(kProperties, Napi::Function::New(env, guardedCall<slideProperties, kProperties>, kProperties));
  exports.Set(kReadRegion, Napi::Function::New(env, guardedCall<slideReadRegion, kReadRegion>, kReadRegion));
  exports.Set(kClose, Napi::Function::New(env, guardedCall<slideClose, kClose>, kClose));
  exports.Set("openslideVersion", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), openslide_get_version());
  }, "openslideVersion"));
}

}  // namespace patho
