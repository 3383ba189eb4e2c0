// 2-D convolutions computed by oneDNN, exposed as XLA FFI handlers.
//
// Three handlers, one per pass of a convolution y = conv(x, w):
//   CnnJaxOnednnConvFwd          (x, w)  -> y
//   CnnJaxOnednnConvBwdData      (dy, w) -> dx
//   CnnJaxOnednnConvBwdWeights   (x, dy) -> dw
// Every buffer has a leading "group" dimension G (independent convolutions,
// the same for all operands of a call): x (G, N, H, W, C), w (G, KH, KW, C /
// groups, O), y (G, N, HO, WO, O), in XLA's default (row-major) layout, i.e.
// NHWC activations and HWIO kernels as JAX holds them. The Python side
// (cnn_jax/ops/onednn.py) uses G for vmap (one convolution per group of a
// vmapped kernel gradient) and for SPMD partitioning (the leading dimension is
// the one XLA splits over devices).
//
// Attributes: strides (2), dilation (2, 1 = none), padding (4: top, bottom,
// left, right; >= 0), groups (feature groups; C and O divisible by it).
// float32 or bfloat16 buffers (all three of a call the same dtype); oneDNN
// accumulates bfloat16 in float32.
//
// A primitive is created once per (pass, shapes, attributes, dtype) and kept
// in a process-wide cache, so steady-state calls create nothing. Activations
// are passed to oneDNN in place as NHWC (the layout PyTorch's channels_last
// convolutions use); the kernel is handed over in whatever layout oneDNN's
// primitive prefers (format_tag::any), reordered from or to HWIO on each call.
// oneDNN parallelizes each call with OpenMP over all cores. The handlers are
// thread-safe: primitives are immutable after creation, scratch memory is per
// calling thread, and XLA may call them from several threads at once.
//
// cnn_jax_onednn_query() creates (and caches) the primitive of one pass
// without running it and reports the implementation oneDNN chose, so that
// Python can leave a convolution to XLA where oneDNN would only have its
// slow reference code. cnn_jax_onednn_info() reports the oneDNN version and
// the instruction set it dispatches to on this CPU.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "onednn_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace cnn_jax_onednn {
namespace {

using dnnl::memory;
using Dims = memory::dims;
using DataType = memory::data_type;

enum Pass : int { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

// One pass of one 2-D convolution (one group of a call).
struct ConvSpec : ConvGeometry {
  Pass pass;
  DataType dtype;

  std::string Key() const {
    std::ostringstream s;
    s << pass << ':' << static_cast<int>(dtype);
    for (int64_t v : {n, h, w, c, kh, kw, o, ho, wo, groups, sh, sw, dh, dw,
                      pt, pb, pl, pr}) {
      s << ',' << v;
    }
    return s.str();
  }
};

memory::desc Activations(int64_t n, int64_t c, int64_t h, int64_t w,
                         DataType t) {
  return memory::desc({n, c, h, w}, t, memory::format_tag::nhwc);
}

// The HWIO kernel as oneDNN's logical (O, I, KH, KW) or, grouped,
// (G, O / G, I, KH, KW) dimensions, with HWIO strides.
memory::desc KernelHwio(const ConvSpec& s) {
  const int64_t i = s.c / s.groups, o = s.o, g = s.groups;
  if (g == 1) {
    return memory::desc({o, i, s.kh, s.kw}, s.dtype,
                        Dims{1, o, s.kw * i * o, i * o});
  }
  return memory::desc({g, o / g, i, s.kh, s.kw}, s.dtype,
                      Dims{o / g, 1, o, s.kw * i * o, i * o});
}

memory::desc AnyLayout(const memory::desc& d) {
  return memory::desc(d.get_dims(), d.get_data_type(),
                      memory::format_tag::any);
}

// A created primitive and how to feed it: tensors 0 and 1 are the inputs of
// the pass, tensor 2 its output.
struct Plan {
  dnnl::primitive primitive;
  int arg[3];
  memory::desc user[3];  // NHWC / HWIO, as the buffers are.
  memory::desc want[3];  // the primitive's layout.
  bool reorder[3];
  dnnl::reorder reorders[3];  // inputs: user -> want; output: want -> user.
  size_t scratchpad_bytes;
  size_t bytes[3];  // of one group of each buffer.
  std::string impl;
};

std::unique_ptr<Plan> CreatePlan(const ConvSpec& s) {
  dnnl::engine& eng = Engine();
  const Dims strides{s.sh, s.sw}, dilates{s.dh - 1, s.dw - 1};
  const Dims pad_l{s.pt, s.pl}, pad_r{s.pb, s.pr};
  const memory::desc src = Activations(s.n, s.c, s.h, s.w, s.dtype);
  const memory::desc dst = Activations(s.n, s.o, s.ho, s.wo, s.dtype);
  const memory::desc wei = KernelHwio(s);
  const memory::desc wei_any = AnyLayout(wei);
#ifdef CNN_JAX_ONEDNN_ANY_ACTIVATIONS
  // Measurement build only (BENCHMARKS.md): activations in the primitive's
  // preferred (blocked) layout too, reordered from and to NHWC per call.
  const memory::desc src_p = AnyLayout(src), dst_p = AnyLayout(dst);
#else
  const memory::desc& src_p = src;
  const memory::desc& dst_p = dst;
#endif
  const dnnl::primitive_attr attr = Attributes();
  auto plan = std::make_unique<Plan>();

  const auto fwd_pd = dnnl::convolution_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_training,
      dnnl::algorithm::convolution_direct, src_p, wei_any, dst_p, strides,
      dilates, pad_l, pad_r, attr);
  dnnl::primitive_desc_base pd = fwd_pd;
  memory::desc want[3];
  if (s.pass == kForward) {
    plan->primitive = dnnl::convolution_forward(fwd_pd);
    plan->arg[0] = DNNL_ARG_SRC, plan->user[0] = src;
    plan->arg[1] = DNNL_ARG_WEIGHTS, plan->user[1] = wei;
    plan->arg[2] = DNNL_ARG_DST, plan->user[2] = dst;
    want[0] = fwd_pd.src_desc(), want[1] = fwd_pd.weights_desc();
    want[2] = fwd_pd.dst_desc();
  } else if (s.pass == kBackwardData) {
    const auto bwd_pd = dnnl::convolution_backward_data::primitive_desc(
        eng, dnnl::algorithm::convolution_direct, src_p, wei_any, dst_p,
        strides,
        dilates, pad_l, pad_r, fwd_pd, attr);
    pd = bwd_pd;
    plan->primitive = dnnl::convolution_backward_data(bwd_pd);
    plan->arg[0] = DNNL_ARG_DIFF_DST, plan->user[0] = dst;
    plan->arg[1] = DNNL_ARG_WEIGHTS, plan->user[1] = wei;
    plan->arg[2] = DNNL_ARG_DIFF_SRC, plan->user[2] = src;
    want[0] = bwd_pd.diff_dst_desc(), want[1] = bwd_pd.weights_desc();
    want[2] = bwd_pd.diff_src_desc();
  } else {
    const auto bwd_pd = dnnl::convolution_backward_weights::primitive_desc(
        eng, dnnl::algorithm::convolution_direct, src_p, wei_any, dst_p,
        strides,
        dilates, pad_l, pad_r, fwd_pd, attr);
    pd = bwd_pd;
    plan->primitive = dnnl::convolution_backward_weights(bwd_pd);
    plan->arg[0] = DNNL_ARG_SRC, plan->user[0] = src;
    plan->arg[1] = DNNL_ARG_DIFF_DST, plan->user[1] = dst;
    plan->arg[2] = DNNL_ARG_DIFF_WEIGHTS, plan->user[2] = wei;
    want[0] = bwd_pd.src_desc(), want[1] = bwd_pd.diff_dst_desc();
    want[2] = bwd_pd.diff_weights_desc();
  }
  plan->impl = pd.impl_info_str();
  plan->scratchpad_bytes = pd.scratchpad_desc().get_size();
  for (int i = 0; i < 3; ++i) {
    plan->want[i] = want[i];
    plan->bytes[i] = plan->user[i].get_size();
    plan->reorder[i] = want[i] != plan->user[i];
    if (plan->reorder[i]) {
      plan->reorders[i] =
          i < 2 ? dnnl::reorder(dnnl::reorder::primitive_desc(
                      eng, plan->user[i], eng, want[i]))
                : dnnl::reorder(dnnl::reorder::primitive_desc(
                      eng, want[i], eng, plan->user[i]));
    }
  }
  return plan;
}

const Plan& GetPlan(const ConvSpec& s) { return CachedPlan(s, &CreatePlan); }

// Runs `plan` on G groups: in[i] / out point at group 0, each group's buffer
// follows the previous one.
void Execute(const Plan& plan, int64_t groups, void* in0, void* in1,
             void* out) {
  thread_local Scratch tmp[4];
  dnnl::engine& eng = Engine();
  dnnl::stream stream(eng);
  char* user_ptr[3] = {static_cast<char*>(in0), static_cast<char*>(in1),
                       static_cast<char*>(out)};
  memory user_mem[3], want_mem[3];
  for (int i = 0; i < 3; ++i) {
    user_mem[i] = memory(plan.user[i], eng, user_ptr[i]);
    want_mem[i] = plan.reorder[i]
                      ? memory(plan.want[i], eng,
                               tmp[i].Get(plan.want[i].get_size()))
                      : user_mem[i];
  }
  std::unordered_map<int, memory> args;
  for (int i = 0; i < 3; ++i) args[plan.arg[i]] = want_mem[i];
  if (plan.scratchpad_bytes > 0) {
    args[DNNL_ARG_SCRATCHPAD] =
        memory(memory::desc({static_cast<int64_t>(plan.scratchpad_bytes)},
                            DataType::u8, memory::format_tag::x),
               eng, tmp[3].Get(plan.scratchpad_bytes));
  }
  for (int64_t g = 0; g < groups; ++g) {
    for (int i = 0; i < 3; ++i) {
      user_mem[i].set_data_handle(user_ptr[i] + g * plan.bytes[i]);
    }
    for (int i = 0; i < 2; ++i) {
      if (plan.reorder[i]) {
        plan.reorders[i].execute(stream, user_mem[i], want_mem[i]);
      }
    }
    plan.primitive.execute(stream, args);
    if (plan.reorder[2]) {
      plan.reorders[2].execute(stream, want_mem[2], user_mem[2]);
    }
  }
  stream.wait();
}

// Fills `s` from the buffers' shapes and the attributes; "" if valid.
std::string MakeSpec(Pass pass, const ffi::AnyBuffer& in0,
                     const ffi::AnyBuffer& in1, const ffi::AnyBuffer& out,
                     ffi::Span<const int64_t> strides,
                     ffi::Span<const int64_t> dilation,
                     ffi::Span<const int64_t> padding, int64_t groups,
                     ConvSpec* s, int64_t* num_groups) {
  const ffi::AnyBuffer* x;
  const ffi::AnyBuffer* w;
  const ffi::AnyBuffer* y;
  if (pass == kForward) {
    x = &in0, w = &in1, y = &out;
  } else if (pass == kBackwardData) {
    y = &in0, w = &in1, x = &out;
  } else {
    x = &in0, y = &in1, w = &out;
  }
  auto xd = x->dimensions(), wd = w->dimensions(), yd = y->dimensions();
  if (xd.size() != 5 || wd.size() != 5 || yd.size() != 5) {
    return "buffers must have rank 5 (G, N, H, W, C) / (G, KH, KW, I, O)";
  }
  if (xd[0] != wd[0] || xd[0] != yd[0]) {
    return "the leading (group) dimension must agree across buffers";
  }
  if (strides.size() != 2 || dilation.size() != 2 || padding.size() != 4) {
    return "strides and dilation need 2 values, padding 4";
  }
  if (x->element_type() != w->element_type() ||
      x->element_type() != y->element_type() ||
      !ToDataType(x->element_type(), &s->dtype)) {
    return "buffers must all be float32 or all bfloat16";
  }
  s->pass = pass;
  s->n = xd[1], s->h = xd[2], s->w = xd[3], s->c = xd[4];
  s->kh = wd[1], s->kw = wd[2], s->o = wd[4];
  s->ho = yd[2], s->wo = yd[3];
  s->groups = groups;
  s->sh = strides[0], s->sw = strides[1];
  s->dh = dilation[0], s->dw = dilation[1];
  s->pt = padding[0], s->pb = padding[1], s->pl = padding[2];
  s->pr = padding[3];
  if (groups < 1 || s->c % groups || s->o % groups ||
      wd[3] * groups != s->c || yd[1] != s->n || yd[4] != s->o) {
    return "inconsistent channels, groups or batch";
  }
  *num_groups = xd[0];
  return "";
}

ffi::Error Run(Pass pass, ffi::AnyBuffer in0, ffi::AnyBuffer in1,
               ffi::Result<ffi::AnyBuffer> out,
               ffi::Span<const int64_t> strides,
               ffi::Span<const int64_t> dilation,
               ffi::Span<const int64_t> padding, int64_t groups) {
  ConvSpec s;
  int64_t num_groups = 0;
  std::string err = MakeSpec(pass, in0, in1, *out, strides, dilation, padding,
                             groups, &s, &num_groups);
  if (!err.empty()) return ffi::Error::InvalidArgument("onednn conv: " + err);
  if (num_groups == 0 || out->element_count() == 0) return ffi::Error::Success();
  return Guarded("onednn conv", [&] {
    Execute(GetPlan(s), num_groups, in0.untyped_data(), in1.untyped_data(),
            out->untyped_data());
    return ffi::Error::Success();
  });
}

ffi::Error Forward(ffi::AnyBuffer x, ffi::AnyBuffer w,
                   ffi::Result<ffi::AnyBuffer> y,
                   ffi::Span<const int64_t> strides,
                   ffi::Span<const int64_t> dilation,
                   ffi::Span<const int64_t> padding, int64_t groups) {
  return Run(kForward, x, w, y, strides, dilation, padding, groups);
}

ffi::Error BackwardData(ffi::AnyBuffer dy, ffi::AnyBuffer w,
                        ffi::Result<ffi::AnyBuffer> dx,
                        ffi::Span<const int64_t> strides,
                        ffi::Span<const int64_t> dilation,
                        ffi::Span<const int64_t> padding, int64_t groups) {
  return Run(kBackwardData, dy, w, dx, strides, dilation, padding, groups);
}

ffi::Error BackwardWeights(ffi::AnyBuffer x, ffi::AnyBuffer dy,
                           ffi::Result<ffi::AnyBuffer> dw,
                           ffi::Span<const int64_t> strides,
                           ffi::Span<const int64_t> dilation,
                           ffi::Span<const int64_t> padding, int64_t groups) {
  return Run(kBackwardWeights, x, dy, dw, strides, dilation, padding, groups);
}

}  // namespace
}  // namespace cnn_jax_onednn

CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnConvFwd(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnConvBwdData(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT XLA_FFI_Error* CnnJaxOnednnConvBwdWeights(XLA_FFI_CallFrame*);
CNN_JAX_EXPORT int cnn_jax_onednn_query(
    int pass, int dtype, const cnn_jax_onednn::ConvGeometry* geometry,
    char* impl, int impl_len);
CNN_JAX_EXPORT void cnn_jax_onednn_geometry_sizes(int64_t* conv,
                                                  int64_t* pool);
CNN_JAX_EXPORT void cnn_jax_onednn_info(char* out, int out_len);

#define CNN_JAX_CONV_BINDING                            \
  ffi::Ffi::Bind()                                      \
      .Arg<ffi::AnyBuffer>()                            \
      .Arg<ffi::AnyBuffer>()                            \
      .Ret<ffi::AnyBuffer>()                            \
      .Attr<ffi::Span<const int64_t>>("strides")        \
      .Attr<ffi::Span<const int64_t>>("dilation")       \
      .Attr<ffi::Span<const int64_t>>("padding")        \
      .Attr<int64_t>("groups")

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnConvFwd, cnn_jax_onednn::Forward,
                              CNN_JAX_CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnConvBwdData,
                              cnn_jax_onednn::BackwardData,
                              CNN_JAX_CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnJaxOnednnConvBwdWeights,
                              cnn_jax_onednn::BackwardWeights,
                              CNN_JAX_CONV_BINDING);

extern "C" {

// Creates (and caches) the primitive of one pass; writes oneDNN's
// implementation name to `impl`. `dtype`: 0 float32, 1 bfloat16. Returns 0
// when created, 1 when oneDNN has no implementation, 2 on other errors
// (message in `impl`).
int cnn_jax_onednn_query(int pass, int dtype,
                         const cnn_jax_onednn::ConvGeometry* geometry,
                         char* impl, int impl_len) {
  cnn_jax_onednn::ConvSpec s;
  static_cast<cnn_jax_onednn::ConvGeometry&>(s) = *geometry;
  s.pass = static_cast<cnn_jax_onednn::Pass>(pass);
  s.dtype = dtype == 1 ? dnnl::memory::data_type::bf16
                       : dnnl::memory::data_type::f32;
  return cnn_jax_onednn::Query(
      [&] { return cnn_jax_onednn::GetPlan(s).impl; }, impl, impl_len);
}

// The sizes of the geometry structures, which Python checks against its own.
void cnn_jax_onednn_geometry_sizes(int64_t* conv, int64_t* pool) {
  *conv = sizeof(cnn_jax_onednn::ConvGeometry);
  *pool = sizeof(cnn_jax_onednn::PoolGeometry);
}

// "oneDNN <major.minor.patch> (<git hash>), ISA <effective ISA>".
void cnn_jax_onednn_info(char* out, int out_len) {
  const dnnl_version_t* v = dnnl_version();
  const char* isa = "unknown";
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: isa = "sse41"; break;
    case dnnl::cpu_isa::avx: isa = "avx"; break;
    case dnnl::cpu_isa::avx2: isa = "avx2"; break;
    case dnnl::cpu_isa::avx2_vnni: isa = "avx2_vnni"; break;
    case dnnl::cpu_isa::avx2_vnni_2: isa = "avx2_vnni_2"; break;
    case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
    case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl::cpu_isa::avx512_core_fp16: isa = "avx512_core_fp16"; break;
    case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
    case dnnl::cpu_isa::avx512_core_amx_fp16:
      isa = "avx512_core_amx_fp16";
      break;
    default: break;
  }
  std::snprintf(out, out_len, "oneDNN %d.%d.%d (%s), ISA %s", v->major,
                v->minor, v->patch, v->hash, isa);
}

}  // extern "C"
