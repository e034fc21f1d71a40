// Entry point of the patho addon: registers every exported function.
#include "common.h"

namespace patho {
void registerTensorCore(Napi::Env env, Napi::Object exports);
void registerOps(Napi::Env env, Napi::Object exports);
void registerOptim(Napi::Env env, Napi::Object exports);
#ifdef PATHO_WITH_DISTRIBUTED
void registerDistributed(Napi::Env env, Napi::Object exports);
#endif
#ifdef PATHO_WITH_OPENSLIDE
void registerOpenSlide(Napi::Env env, Napi::Object exports);
#endif
}  // namespace patho

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  patho::registerTensorCore(env, exports);
  patho::registerOps(env, exports);
  patho::registerOptim(env, exports);
#ifdef PATHO_WITH_DISTRIBUTED
  patho::registerDistributed(env, exports);
#endif
#ifdef PATHO_WITH_OPENSLIDE
  patho::registerOpenSlide(env, exports);
#endif
  return exports;
}

NODE_API_MODULE(patho, init)
