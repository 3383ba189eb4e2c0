// What the oneDNN handlers of this library share: the engine, primitive
// attributes, per-thread scratch buffers, XLA -> oneDNN data types.
#ifndef CNN_JAX_ONEDNN_COMMON_H_
#define CNN_JAX_ONEDNN_COMMON_H_

#include <cstddef>
#include <cstdlib>
#include <new>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

// Built with -fvisibility=hidden: only symbols marked so are exported.
#define CNN_JAX_EXPORT extern "C" __attribute__((visibility("default")))

namespace cnn_jax_onednn {

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

}  // namespace cnn_jax_onednn

#endif  // CNN_JAX_ONEDNN_COMMON_H_
