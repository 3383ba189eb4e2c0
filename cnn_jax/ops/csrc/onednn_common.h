// What the oneDNN handlers of this library share: the engine, primitive
// attributes, per-thread scratch buffers, XLA -> oneDNN data types, the plan
// cache, exceptions -> FFI errors, and the query protocol.
#ifndef CNN_JAX_ONEDNN_COMMON_H_
#define CNN_JAX_ONEDNN_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

// Built with -fvisibility=hidden: only symbols marked so are exported.
#define CNN_JAX_EXPORT extern "C" __attribute__((visibility("default")))

namespace cnn_jax_onednn {

// The geometry of one convolution (one group of a call), as the query
// functions take it from Python: cnn_jax/ops/onednn.py's ctypes structure
// ConvGeometry has the same fields in the same order, and checks the size
// (cnn_jax_onednn_geometry_sizes) when it loads the library.
struct ConvGeometry {
  int64_t n, h, w, c;      // input (N, H, W, C)
  int64_t kh, kw, o;       // kernel (KH, KW, C / groups, O)
  int64_t ho, wo;          // output spatial size
  int64_t groups;          // feature groups
  int64_t sh, sw, dh, dw;  // strides; dilation (1 = none)
  int64_t pt, pb, pl, pr;  // padding: top, bottom, left, right
};

// The geometry of one pooling (PoolGeometry in cnn_jax/ops/onednn.py).
struct PoolGeometry {
  int64_t n, h, w, c;      // input (N, H, W, C)
  int64_t ho, wo;          // output spatial size
  int64_t kh, kw;          // window
  int64_t sh, sw;          // strides
  int64_t pt, pb, pl, pr;  // padding: top, bottom, left, right
};

// One CPU engine for the process (an inline function: one instance across
// the library's translation units).
inline dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// Scratchpads owned by the caller (per thread, below), and exact float32
// even where the CPU could round it to bf16/tf32 (AMX).
inline dnnl::primitive_attr Attributes() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  return attr;
}

// Per-thread, 64-byte aligned, growing scratch buffers.
class Scratch {
 public:
  void* Get(size_t bytes) {
    if (bytes > size_) {
      std::free(data_);
      size_ = (bytes + 63) / 64 * 64;
      data_ = std::aligned_alloc(64, size_);
      if (data_ == nullptr) {
        size_ = 0;
        throw std::bad_alloc();
      }
    }
    return data_;
  }
  ~Scratch() { std::free(data_); }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

inline bool ToDataType(xla::ffi::DataType t, dnnl::memory::data_type* out) {
  switch (t) {
    case xla::ffi::DataType::F32:
      *out = dnnl::memory::data_type::f32;
      return true;
    case xla::ffi::DataType::BF16:
      *out = dnnl::memory::data_type::bf16;
      return true;
    default:
      return false;
  }
}

// The plan (created primitive and how to feed it) of `spec`, created by
// `create` on first use and kept for the process, by Spec::Key() (one per
// distinct layer and pass; never evicted). One cache per Plan type.
template <typename Plan, typename Spec>
const Plan& CachedPlan(const Spec& spec,
                       std::unique_ptr<Plan> (*create)(const Spec&)) {
  static std::mutex* mu = new std::mutex;
  static auto* cache =
      new std::unordered_map<std::string, std::unique_ptr<Plan>>;
  const std::string key = spec.Key();
  std::lock_guard<std::mutex> lock(*mu);
  auto it = cache->find(key);
  if (it == cache->end()) {
    it = cache->emplace(key, create(spec)).first;
  }
  return *it->second;
}

// Runs `body` (which returns an ffi::Error), turning exceptions into errors
// named after `op`.
template <typename Body>
xla::ffi::Error Guarded(const char* op, Body body) {
  try {
    return body();
  } catch (const dnnl::error& e) {
    return xla::ffi::Error::Internal(std::string("oneDNN: ") + e.what());
  } catch (const std::exception& e) {
    return xla::ffi::Error::Internal(std::string(op) + ": " + e.what());
  }
}

// For the query functions Python calls: `describe()` creates a plan and
// returns oneDNN's implementation name, written to `out` (or the error).
// Returns 0 when created, 1 when oneDNN has no implementation, 2 on other
// errors.
template <typename Describe>
int Query(Describe describe, char* out, int out_len) {
  int rc = 0;
  std::string msg;
  try {
    msg = describe();
  } catch (const dnnl::error& e) {
    rc = e.status == dnnl_unimplemented ? 1 : 2;
    msg = e.what();
  } catch (const std::exception& e) {
    rc = 2;
    msg = e.what();
  }
  std::snprintf(out, out_len, "%s", msg.c_str());
  return rc;
}

}  // namespace cnn_jax_onednn

#endif  // CNN_JAX_ONEDNN_COMMON_H_
