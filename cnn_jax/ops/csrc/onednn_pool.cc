// 2-D max and average pooling computed by oneDNN, exposed as XLA FFI handlers.
//
// Four handlers:
//   CnnJaxOnednnPoolFwd      (x)      -> y          forward, no workspace
//   CnnJaxOnednnMaxPoolTrain (x)      -> (y, ws)    max pooling, keeping where
//                                                   each maximum was
//   CnnJaxOnednnMaxPoolBwd   (dy, ws) -> dx
//   CnnJaxOnednnAvgPoolBwd   (dy)     -> dx
// Every buffer has a leading group dimension G, as the convolutions' (the
// dimension XLA splits over devices): x (G, N, H, W, C), y (G, N, HO, WO, C)
// in XLA's default row-major layout (NHWC, as JAX holds activations), and the
// workspace ws: oneDNN's own, opaque bytes (G, bytes per group; the Python
// side asks cnn_jax_onednn_pool_query for the size).
//
// Attributes: algorithm (0 max, 1 average counting the padding in the
// divisor, 2 average not counting it), window (2), strides (2), padding (4:
// top, bottom, left, right; >= 0). Max pooling never takes a padded element
// (as XLA's reduce_window with -inf padding). float32 or bfloat16 (all
// buffers but ws of one dtype; oneDNN averages bfloat16 in float32).
//
// Primitives are created once per (pass, algorithm, shapes, dtype) and cached
// for the process; scratch memory is per calling thread (onednn_common.h).

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"
#include "onednn_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace cnn_jax_onednn {
namespace {

using dnnl::memory;
using Dims = memory::dims;
using DataType = memory::data_type;

// kForward: forward_inference (no workspace); kTraining: forward_training
// (max pooling writes its workspace); kBackward: the input gradient.
enum PoolPass : int { kForward = 0, kTraining = 1, kBackward = 2 };
enum PoolAlgorithm : int { kMax = 0, kAvgIncludePad = 1, kAvgExcludePad = 2 };

struct PoolSpec : PoolGeometry {
  PoolPass pass;
  PoolAlgorithm algorithm;
  DataType dtype;

  std::string Key() const {
    std::ostringstream s;
    s << pass << ':' << algorithm << ':' << static_cast<int>(dtype);
    for (int64_t v : {n, h, w, c, ho, wo, kh, kw, sh, sw, pt, pb, pl, pr}) {
      s << ',' << v;
    }
    return s.str();
  }
};

dnnl::algorithm ToAlgorithm(PoolAlgorithm a) {
  switch (a) {
    case kMax:
      return dnnl::algorithm::pooling_max;
    case kAvgIncludePad:
      return dnnl::algorithm::pooling_avg_include_padding;
    default:
      return dnnl::algorithm::pooling_avg_exclude_padding;
  }
}

struct PoolPlan {
  dnnl::primitive primitive;
  memory::desc src, dst, ws;
  size_t src_bytes, dst_bytes, ws_bytes;  // of one group
  size_t scratchpad_bytes;
  std::string impl;
};

std::unique_ptr<PoolPlan> CreatePoolPlan(const PoolSpec& s) {
  dnnl::engine& eng = Engine();
  const Dims strides{s.sh, s.sw}, kernel{s.kh, s.kw}, dilation{0, 0};
  const Dims pad_l{s.pt, s.pl}, pad_r{s.pb, s.pr};
  const memory::desc src({s.n, s.c, s.h, s.w}, s.dtype,
                         memory::format_tag::nhwc);
  const memory::desc dst({s.n, s.c, s.ho, s.wo}, s.dtype,
                         memory::format_tag::nhwc);
  const dnnl::primitive_attr attr = Attributes();
  const dnnl::algorithm alg = ToAlgorithm(s.algorithm);
  auto plan = std::make_unique<PoolPlan>();
  const auto fwd_pd = dnnl::pooling_forward::primitive_desc(
      eng,
      s.pass == kForward ? dnnl::prop_kind::forward_inference
                         : dnnl::prop_kind::forward_training,
      alg, src, dst, strides, kernel, dilation, pad_l, pad_r, attr);
  if (s.pass == kBackward) {
    const auto bwd_pd = dnnl::pooling_backward::primitive_desc(
        eng, alg, src, dst, strides, kernel, dilation, pad_l, pad_r, fwd_pd,
        attr);
    plan->primitive = dnnl::pooling_backward(bwd_pd);
    plan->ws = bwd_pd.workspace_desc();
    plan->impl = bwd_pd.impl_info_str();
    plan->scratchpad_bytes = bwd_pd.scratchpad_desc().get_size();
  } else {
    plan->primitive = dnnl::pooling_forward(fwd_pd);
    plan->ws = fwd_pd.workspace_desc();
    plan->impl = fwd_pd.impl_info_str();
    plan->scratchpad_bytes = fwd_pd.scratchpad_desc().get_size();
  }
  plan->src = src, plan->dst = dst;
  plan->src_bytes = src.get_size(), plan->dst_bytes = dst.get_size();
  plan->ws_bytes = plan->ws.get_size();
  return plan;
}

const PoolPlan& GetPoolPlan(const PoolSpec& s) {
  return CachedPlan(s, &CreatePoolPlan);
}

// Runs `plan` on G groups. Forward passes read `in` (x) and write `out` (y);
// the backward pass reads `in` (dy) and writes `out` (dx). `ws` (may be null
// when the plan has none) is written by kTraining and read by kBackward.
void ExecutePool(const PoolPlan& plan, PoolPass pass, int64_t groups,
                 void* in, void* out, void* ws) {
  thread_local Scratch scratchpad;
  dnnl::engine& eng = Engine();
  dnnl::stream stream(eng);
  const bool backward = pass == kBackward;
  memory in_mem(backward ? plan.dst : plan.src, eng, in);
  memory out_mem(backward ? plan.src : plan.dst, eng, out);
  const size_t in_bytes = backward ? plan.dst_bytes : plan.src_bytes;
  const size_t out_bytes = backward ? plan.src_bytes : plan.dst_bytes;
  std::unordered_map<int, memory> args;
  args[backward ? DNNL_ARG_DIFF_DST : DNNL_ARG_SRC] = in_mem;
  args[backward ? DNNL_ARG_DIFF_SRC : DNNL_ARG_DST] = out_mem;
  memory ws_mem;
  if (plan.ws_bytes > 0) {
    ws_mem = memory(plan.ws, eng, ws);
    args[DNNL_ARG_WORKSPACE] = ws_mem;
  }
  if (plan.scratchpad_bytes > 0) {
    args[DNNL_ARG_SCRATCHPAD] =
        memory(memory::desc({static_cast<int64_t>(plan.scratchpad_bytes)},
                            DataType::u8, memory::format_tag::x),
               eng, scratchpad.Get(plan.scratchpad_bytes));
  }
  for (int64_t g = 0; g < groups; ++g) {
    in_mem.set_data_handle(static_cast<char*>(in) + g * in_bytes);
    out_mem.set_data_handle(static_cast<char*>(out) + g * out_bytes);
    if (plan.ws_bytes > 0) {
      ws_mem.set_data_handle(static_cast<char*>(ws) + g * plan.ws_bytes);
    }
    plan.primitive.execute(stream, args);
  }
  stream.wait();
}

// Fills `s` from the buffers and attributes; "" if they are consistent.
std::string MakePoolSpec(PoolPass pass, int64_t algorithm,
                         const ffi::AnyBuffer& x, const ffi::AnyBuffer& y,
                         ffi::Span<const int64_t> window,
                         ffi::Span<const int64_t> strides,
                         ffi::Span<const int64_t> padding, PoolSpec* s,
                         int64_t* groups) {
  auto xd = x.dimensions(), yd = y.dimensions();
  if (xd.size() != 5 || yd.size() != 5) {
    return "activations must have rank 5 (G, N, H, W, C)";
  }
  if (xd[0] != yd[0] || xd[1] != yd[1] || xd[4] != yd[4]) {
    return "input and output must agree in G, N and C";
  }
  if (window.size() != 2 || strides.size() != 2 || padding.size() != 4) {
    return "window and strides need 2 values, padding 4";
  }
  if (algorithm < kMax || algorithm > kAvgExcludePad) {
    return "algorithm must be 0 (max), 1 or 2 (average)";
  }
  if (x.element_type() != y.element_type() ||
      !ToDataType(x.element_type(), &s->dtype)) {
    return "input and output must both be float32 or both bfloat16";
  }
  s->pass = pass;
  s->algorithm = static_cast<PoolAlgorithm>(algorithm);
  s->n = xd[1], s->h = xd[2], s->w = xd[3], s->c = xd[4];
  s->ho = yd[2], s->wo = yd[3];
  s->kh = window[0], s->kw = window[1];
  s->sh = strides[0], s->sw = strides[1];
  s->pt = padding[0], s->pb = padding[1], s->pl = padding[2];
  s->pr = padding[3];
  *groups = xd[0];
  return "";
}

ffi::Error RunPool(PoolPass pass, int64_t algorithm, const ffi::AnyBuffer& x,
                   const ffi::AnyBuffer& y, void* in, void* out, void* ws,
                   size_t ws_buffer_bytes, ffi::Span<const int64_t> window,
                   ffi::Span<const int64_t> strides,
                   ffi::Span<const int64_t> padding) {
  PoolSpec s;
  int64_t groups = 0;
  const std::string err =
      MakePoolSpec(pass, algorithm, x, y, window, strides, padding, &s,
                   &groups);
  if (!err.empty()) return ffi::Error::InvalidArgument("onednn pool: " + err);
  if (groups == 0 || x.element_count() == 0 || y.element_count() == 0) {
    return ffi::Error::Success();
  }
  return Guarded("onednn pool", [&] {
    const PoolPlan& plan = GetPoolPlan(s);
    if (plan.ws_bytes * groups != ws_buffer_bytes) {
      return ffi::Error::InvalidArgument(
          "onednn pool: workspace buffer of " +
          std::to_string(ws_buffer_bytes) + " bytes, oneDNN wants " +
          std::to_string(plan.ws_bytes * groups));
    }
    ExecutePool(plan, pass, groups, in, out, ws);
    return ffi::Error::Success();
  });
}

ffi::Error Forward(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y,
                   int64_t algorithm, ffi::Span<const int64_t> window,
                   ffi::Span<const int64_t> strides,
                   ffi::Span<const int64_t> padding) {
  return RunPool(kForward, algorithm, x, *y, x.untyped_data(),
                 y->untyped_data(), nullptr, 0, window, strides, padding);
}

ffi::Error MaxTrain(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y,
                    ffi::Result<ffi::AnyBuffer> ws, int64_t algorithm,
                    ffi::Span<const int64_t> window,
                    ffi::Span<const int64_t> strides,
                    ffi::Span<const int64_t> padding) {
  return RunPool(kTraining, algorithm, x, *y, x.untyped_data(),
                 y->untyped_data(), ws->untyped_data(), ws->size_bytes(),
                 window, strides, padding);
}

ffi::Error MaxBackward(ffi::AnyBuffer dy, ffi::AnyBuffer ws,
                       ffi::Result<ffi::AnyBuffer> dx, int64_t algorithm,
                       ffi::Span<const int64_t> window,
                       ffi::Span<const int64_t> strides,
                       ffi::Span<const int64_t> padding) {
  return RunPool(kBackward, algorithm, *dx, dy, dy.untyped_data(),
                 dx->untyped_data(), ws.untyped_data(), ws.size_bytes(),
                 window, strides, padding);
}

ffi::Error AvgBackward(ffi::AnyBuffer dy, ffi::Result<ffi::AnyBuffer> dx,
                       int64_t algorithm, ffi::Span<const int64_t> window,
                       ffi::Span<const int64_t> strides,
                       ffi::Span<const int64_t> padding) {
  return RunPool(kBackward, algorithm, *dx, dy, dy.untyped_data(),
                 dx->untyped_data(), nullptr, 0, window, strides, padding);
}

}  // namespace
}  // namespace cnn_jax_onednn

CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnPoolFwd(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnMaxPoolTrain(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnMaxPoolBwd(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnAvgPoolBwd(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT int cnn_jax_onednn_pool_query(
    int pass, int algorithm, int dtype,
    const cnn_jax_onednn::PoolGeometry* geometry, int64_t* workspace_bytes,
    char* impl, int impl_len);

#define CNN_JAX_POOL_ATTRS                        \
  .Attr<int64_t>("algorithm")                     \
      .Attr<ffi::Span<const int64_t>>("window")   \
      .Attr<ffi::Span<const int64_t>>("strides")  \
      .Attr<ffi::Span<const int64_t>>("padding")

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnPoolFwd, cnn_jax_onednn::Forward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() CNN_JAX_POOL_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnMaxPoolTrain,
                              cnn_jax_onednn::MaxTrain,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() CNN_JAX_POOL_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnMaxPoolBwd,
                              cnn_jax_onednn::MaxBackward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() CNN_JAX_POOL_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnAvgPoolBwd,
                              cnn_jax_onednn::AvgBackward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() CNN_JAX_POOL_ATTRS);

extern "C" {

// Creates (and caches) the primitive of one pass; writes oneDNN's
// implementation name to `impl` and the workspace size of one group to
// `workspace_bytes`. `dtype`: 0 float32, 1 bfloat16. Returns 0 when
// created, 1 when oneDNN has no implementation, 2 on other errors (message
// in `impl`).
int cnn_jax_onednn_pool_query(int pass, int algorithm, int dtype,
                              const cnn_jax_onednn::PoolGeometry* geometry,
                              int64_t* workspace_bytes, char* impl,
                              int impl_len) {
  cnn_jax_onednn::PoolSpec s;
  static_cast<cnn_jax_onednn::PoolGeometry&>(s) = *geometry;
  s.pass = static_cast<cnn_jax_onednn::PoolPass>(pass);
  s.algorithm = static_cast<cnn_jax_onednn::PoolAlgorithm>(algorithm);
  s.dtype = dtype == 1 ? dnnl::memory::data_type::bf16
                       : dnnl::memory::data_type::f32;
  *workspace_bytes = 0;
  return cnn_jax_onednn::Query(
      [&] {
        const cnn_jax_onednn::PoolPlan& plan = cnn_jax_onednn::GetPoolPlan(s);
        *workspace_bytes = static_cast<int64_t>(plan.ws_bytes);
        return plan.impl;
      },
      impl, impl_len);
}

}  // extern "C"
