// QLITE_CUDA_GPU_TEST: GPU kernels against CPU computations written here from the
// definitions (weights decoded by the spec-checked host decoder).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "cuda_device_util.h"
#include "cuda_test_util.h"
#include "qlite/cuda/kernels.h"
#include "qlite/base/kv_ring.h"

namespace {

using namespace qlite_cuda_test;
using qlite::cuda::DecodeElement;
using qlite::cuda::Epilogue;
using qlite::cuda::HostMatrix;
using qlite::cuda::MatrixDesc;
using qlite::fb::Granularity;

const float kNaN = std::numeric_limits<float>::quiet_NaN();

size_t Pad32(size_t n) { return (n + 31) / 32 * 32; }

std::vector<float> RandomVec(size_t n, std::mt19937* rng, float amp = 1.0f) {
  std::uniform_real_distribution<float> u(-amp, amp);
  std::vector<float> v(n);
  for (auto& x : v) x = u(*rng);
  return v;
}

struct Scheme {
  DType dtype;
  int group;  // 0 per tensor, 1 per row, else group size
  DType scale_type;
};

HostMatrix Prepared(const Scheme& s, uint64_t rows, uint64_t cols, std::mt19937* rng) {
  QuantSpec spec;
  spec.dtype = s.dtype;
  spec.scale_type = s.scale_type;
  spec.granularity = s.group == 0 ? Granularity::PerTensor
                     : s.group == 1 ? Granularity::PerRow : Granularity::Group;
  spec.group_size = s.group > 1 ? s.group : 32;
  const QuantizedTensor t = RandomTensor(rows, cols, spec, rng);
  HostMatrix h;
  EXPECT_TRUE(qlite::cuda::PrepareMatrix(View(t), &h).ok());
  return h;
}

// y = W x in double, and sum |w x| for the tolerance.
void Reference(const MatrixDesc& w, const float* x, std::vector<double>* y,
               std::vector<double>* mag) {
  y->assign(w.rows, 0.0);
  mag->assign(w.rows, 0.0);
  for (uint32_t r = 0; r < w.rows; ++r) {
    for (uint32_t c = 0; c < w.cols; ++c) {
      const double p = static_cast<double>(DecodeElement(w, r, c)) * x[c];
      (*y)[r] += p;
      (*mag)[r] += std::fabs(p);
    }
  }
}

const Scheme kSchemes[] = {
    {DType::F32, 0, DType::F16}, {DType::F16, 0, DType::F16}, {DType::BF16, 0, DType::F16},
    {DType::I8, 32, DType::F16}, {DType::I8, 1, DType::F32},  {DType::I4, 32, DType::F16},
    {DType::I4, 64, DType::F16}, {DType::I4, 128, DType::F16}, {DType::I4, 0, DType::F32},
    {DType::U4, 32, DType::F16}, {DType::U4, 128, DType::F16}, {DType::U4, 1, DType::F16},
    {DType::NF4, 32, DType::F16}, {DType::NF4, 64, DType::F32},
};

TEST(CudaGemv, MatchesCpuForEveryScheme) {
  const std::pair<int, int> shapes[] = {{37, 172}, {130, 1000}, {64, 4096}, {5, 32}};
  std::mt19937 rng(1);
  for (const Scheme& s : kSchemes) {
    for (auto [rows, cols] : shapes) {
      SCOPED_TRACE(::testing::Message() << "dtype " << int(s.dtype) << " group " << s.group
                                        << " " << rows << "x" << cols);
      const HostMatrix h = Prepared(s, rows, cols, &rng);
      const DevMatrix dm(h);
      std::vector<float> x = RandomVec(Pad32(cols), &rng);
      std::vector<double> want, mag;
      Reference(h.View(), x.data(), &want, &mag);
      for (size_t c = cols; c < x.size(); ++c) x[c] = kNaN;  // pads must be ignored
      DevVec<float> dx(x), dy(RandomVec(rows, &rng)), bias(RandomVec(rows, &rng));
      qlite::cuda::LaunchGemv(dm.desc(), dx.get(), dy.get(), Epilogue(), nullptr);
      const std::vector<float> y = dy.Download();
      for (int r = 0; r < rows; ++r) ASSERT_NEAR(y[r], want[r], 1e-5 * mag[r] + 1e-6) << r;
      // Epilogue: y = W x + bias + y.
      Epilogue ep;
      ep.bias = bias.get();
      ep.accumulate = true;
      qlite::cuda::LaunchGemv(dm.desc(), dx.get(), dy.get(), ep, nullptr);
      const std::vector<float> y2 = dy.Download(), b = bias.Download();
      for (int r = 0; r < rows; ++r) {
        ASSERT_NEAR(y2[r], want[r] + b[r] + y[r], 1e-5 * (mag[r] + std::fabs(b[r])) + 1e-5);
      }
    }
  }
}

TEST(CudaGemm, MatchesCpuForEveryScheme) {
  std::mt19937 rng(2);
  const int rows = 70, cols = 172;
  for (const Scheme& s : kSchemes) {
    const HostMatrix h = Prepared(s, rows, cols, &rng);
    const DevMatrix dm(h);
    for (size_t batch : {2, 7, 64, 65, 130}) {
      SCOPED_TRACE(::testing::Message() << "dtype " << int(s.dtype) << " group " << s.group
                                        << " batch " << batch);
      const size_t xs = Pad32(cols) + 32, ys = rows + 5;
      std::vector<float> x = RandomVec(batch * xs, &rng);
      std::vector<std::vector<double>> want(batch), mag(batch);
      for (size_t b = 0; b < batch; ++b) Reference(h.View(), &x[b * xs], &want[b], &mag[b]);
      for (size_t b = 0; b < batch; ++b) {
        for (size_t c = cols; c < xs; ++c) x[b * xs + c] = kNaN;
      }
      std::vector<float> y0 = RandomVec(batch * ys, &rng);
      DevVec<float> dx(x), dy(y0), bias(RandomVec(rows, &rng));
      Epilogue ep;
      ep.bias = bias.get();
      ep.accumulate = true;
      qlite::cuda::LaunchGemm(dm.desc(), dx.get(), batch, xs, dy.get(), ys, ep, nullptr);
      const std::vector<float> y = dy.Download(), bv = bias.Download();
      for (size_t b = 0; b < batch; ++b) {
        for (int r = 0; r < rows; ++r) {
          ASSERT_NEAR(y[b * ys + r], want[b][r] + bv[r] + y0[b * ys + r],
                      1e-5 * mag[b][r] + 1e-5) << b << "," << r;
        }
        for (size_t r = rows; r < ys; ++r) ASSERT_EQ(y[b * ys + r], y0[b * ys + r]);  // untouched
      }
    }
  }
}

TEST(CudaOps, RmsNormSiluMulEmbed) {
  std::mt19937 rng(3);
  const size_t n = 3, dim = 100, stride = 128;
  const std::vector<float> x = RandomVec(n * stride, &rng), w = RandomVec(dim, &rng);
  DevVec<float> dx(x), dw(w), dout(n * stride);
  qlite::cuda::LaunchRmsNorm(dx.get(), dw.get(), dout.get(), n, dim, stride, 1e-5f, nullptr);
  std::vector<float> out = dout.Download();
  for (size_t t = 0; t < n; ++t) {
    double ss = 0;
    for (size_t i = 0; i < dim; ++i) ss += double(x[t * stride + i]) * x[t * stride + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (size_t i = 0; i < dim; ++i) {
      ASSERT_NEAR(out[t * stride + i], x[t * stride + i] * inv * w[i], 1e-5);
    }
  }
  const std::vector<float> up = RandomVec(n * stride, &rng, 3.0f);
  DevVec<float> dup(up);
  qlite::cuda::LaunchSiluMul(dx.get(), dup.get(), n, dim, stride, nullptr);
  out = dx.Download();
  for (size_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < stride; ++i) {
      const float g = x[t * stride + i];
      const float want = i < dim ? g / (1 + std::exp(-g)) * up[t * stride + i] : g;
      ASSERT_NEAR(out[t * stride + i], want, 1e-5);
    }
  }
  for (const Scheme& s : kSchemes) {
    const HostMatrix h = Prepared(s, 50, 45, &rng);
    const DevMatrix dm(h);
    const std::vector<int32_t> tokens = {0, 7, 49, 7};
    DevVec<int32_t> dt(tokens);
    DevVec<float> emb(tokens.size() * 64);
    qlite::cuda::LaunchEmbed(dm.desc(), dt.get(), tokens.size(), emb.get(), 64, nullptr);
    const std::vector<float> e = emb.Download();
    for (size_t t = 0; t < tokens.size(); ++t) {
      for (uint32_t c = 0; c < 45; ++c) {
        ASSERT_NEAR(e[t * 64 + c], DecodeElement(h.View(), tokens[t], c), 1e-6);
      }
    }
  }
}

// RoPE from its definition: pairs (2i, 2i+1) or (i, i + rot/2) rotated by pos * inv_freq[i].
void RopeRef(float* head, uint32_t rot, bool rotate_half, uint32_t pos,
             const std::vector<float>& inv_freq) {
  for (uint32_t i = 0; i < rot / 2; ++i) {
    const uint32_t a = rotate_half ? i : 2 * i, b = rotate_half ? i + rot / 2 : 2 * i + 1;
    const double ang = double(pos) * inv_freq[i];
    const double x = head[a], y = head[b];
    head[a] = float(x * std::cos(ang) - y * std::sin(ang));
    head[b] = float(x * std::sin(ang) + y * std::cos(ang));
  }
}

using qlite::cuda::KvCacheType;

struct AttnCase {
  uint32_t n_heads, n_kv, hd, rot, n_slots, sinks, chunk, steps;
  bool rotate_half;
  KvCacheType type;
};

TEST(CudaAttention, RopeStoreAndRingAttentionMatchCpu) {
  const AttnCase cases[] = {
      {8, 4, 8, 8, 64, 0, 5, 23, false, KvCacheType::kF32},    // stories260K shape, chunked prefill
      {4, 2, 64, 64, 64, 0, 16, 40, true, KvCacheType::kF32},  // rotate-half, GQA
      {4, 4, 128, 64, 32, 0, 1, 45, true, KvCacheType::kF32},  // partial rotary, ring wraps (decode)
      {6, 2, 48, 48, 16, 4, 4, 40, false, KvCacheType::kF32},  // sinks, chunks wrap the ring
      {6, 2, 48, 48, 16, 4, 7, 40, false, KvCacheType::kF16},  // the same in f16
      {4, 2, 64, 32, 12, 3, 5, 41, true, KvCacheType::kQ8},    // int8 rows, sinks, wraps
      {2, 1, 256, 256, 8, 2, 1, 12, false, KvCacheType::kF16}, // widest head
  };
  std::mt19937 rng(4);
  for (const AttnCase& ac : cases) {
    SCOPED_TRACE(::testing::Message() << "hd " << ac.hd << " slots " << ac.n_slots << " sinks "
                                      << ac.sinks << " chunk " << ac.chunk << " type " << int(ac.type));
    std::vector<float> inv(ac.rot / 2);
    for (uint32_t i = 0; i < ac.rot / 2; ++i) inv[i] = float(std::pow(10000.0, -2.0 * i / ac.rot));
    DevVec<float> dinv(inv);
    const size_t qs = ac.n_heads * ac.hd, kvs = ac.n_kv * ac.hd;
    const size_t rows = size_t(ac.n_kv) * ac.n_slots;
    const size_t elem = ac.type == KvCacheType::kF32 ? 4 : ac.type == KvCacheType::kF16 ? 2 : 1;
    DevVec<uint8_t> kc(rows * ac.hd * elem), vc(rows * ac.hd * elem);
    DevVec<float> ks(rows), vs(rows);
    qlite::cuda::KvRing ring;
    ring.k = kc.get(), ring.v = vc.get(), ring.n_slots = ac.n_slots, ring.n_sinks = ac.sinks;
    ring.n_kv_heads = ac.n_kv, ring.head_dim = ac.hd, ring.type = ac.type;
    if (ac.type == KvCacheType::kQ8) ring.k_scales = ks.get(), ring.v_scales = vs.get();
    qlite::cuda::RopeParams rope{dinv.get(), ac.rot, ac.rotate_half};
    std::vector<std::vector<float>> kh, vh;  // per position, rotated k and v as stored (CPU)
    const float scale = 1.0f / std::sqrt(float(ac.hd));
    // f32 keeps the old bound; rounding in the cache may land on the other side of a
    // half-way point when the GPU's rotated key differs from the CPU's in its last bit.
    const double tol = ac.type == KvCacheType::kF32 ? 2e-5 : ac.type == KvCacheType::kF16 ? 2e-3 : 2e-2;
    for (uint32_t pos0 = 0; pos0 < ac.steps;) {
      const uint32_t n = std::min(ac.chunk, ac.steps - pos0);
      std::vector<float> q = RandomVec(n * qs, &rng), k = RandomVec(n * kvs, &rng),
                         v = RandomVec(n * kvs, &rng);
      DevVec<float> dq(q), dk(k), dv(v), dout(n * qs);
      // Positions as a value, or (every other chunk) read from device memory as graphs do.
      DevVec<uint32_t> dpos(std::vector<uint32_t>{pos0});
      qlite::cuda::Positions positions;
      if ((pos0 / ac.chunk) % 2) {
        positions.pos_dev = dpos.get();
      } else {
        positions.pos0 = pos0;
      }
      qlite::cuda::LaunchRopeStoreAttention(dq.get(), dk.get(), dv.get(), n, qs, kvs, ac.n_heads,
                                            positions, pos0, rope, scale, ring, dout.get(), qs,
                                            nullptr);
      const std::vector<float> gq = dq.Download(), out = dout.Download();
      for (uint32_t t = 0; t < n; ++t) {
        const uint32_t pos = pos0 + t;
        for (uint32_t h = 0; h < ac.n_heads; ++h) RopeRef(&q[t * qs + h * ac.hd], ac.rot, ac.rotate_half, pos, inv);
        std::vector<float> kr(k.begin() + t * kvs, k.begin() + (t + 1) * kvs), vr(kvs);
        for (uint32_t h = 0; h < ac.n_kv; ++h) {
          RopeRef(&kr[h * ac.hd], ac.rot, ac.rotate_half, pos, inv);
          const std::vector<float> kq = KvRound(&kr[h * ac.hd], ac.hd, ac.type);
          const std::vector<float> vq = KvRound(&v[t * kvs + h * ac.hd], ac.hd, ac.type);
          std::copy(kq.begin(), kq.end(), kr.begin() + h * ac.hd);
          std::copy(vq.begin(), vq.end(), vr.begin() + h * ac.hd);
        }
        kh.push_back(kr);
        vh.push_back(vr);
      }
      for (size_t i = 0; i < n * qs; ++i) ASSERT_NEAR(gq[i], q[i], 1e-4) << "rope q " << i;
      // The ring's bytes: v goes in unrotated, so it must be stored bit for bit as the CPU
      // runtime's KvStore stores it; rotated k within one step of the cache type.
      const std::vector<uint8_t> kb = kc.Download(), vb = vc.Download();
      const std::vector<float> ksc = ks.Download(), vsc = vs.Download();
      for (uint32_t t = 0; t < n; ++t) {
        const uint32_t pos = pos0 + t, slot = qlite::KvRingSlot(pos, ac.n_slots, ac.sinks);
        bool overwritten = false;  // by a later token of this chunk
        for (uint32_t u = t + 1; u < n; ++u) overwritten |= qlite::KvRingSlot(pos0 + u, ac.n_slots, ac.sinks) == slot;
        if (overwritten) continue;
        for (uint32_t h = 0; h < ac.n_kv; ++h) {
          const size_t row = size_t(h) * ac.n_slots + slot;
          const float* vin = &v[t * kvs + h * ac.hd];
          const std::vector<float>& kwant = kh[pos];
          float vmax = 0.0f;
          for (uint32_t j = 0; j < ac.hd; ++j) vmax = std::max(vmax, std::fabs(vin[j]));
          if (ac.type == KvCacheType::kQ8) {
            ASSERT_EQ(vsc[row], vmax / 127.0f) << "v scale pos " << pos;
          }
          for (uint32_t j = 0; j < ac.hd; ++j) {
            const size_t e = row * ac.hd + j;
            float kgot = 0.0f;
            if (ac.type == KvCacheType::kF32) {
              float vgot;
              std::memcpy(&vgot, &vb[e * 4], 4);
              std::memcpy(&kgot, &kb[e * 4], 4);
              ASSERT_EQ(vgot, vin[j]) << "v pos " << pos << " dim " << j;
            } else if (ac.type == KvCacheType::kF16) {
              uint16_t vgot, kbits;
              std::memcpy(&vgot, &vb[e * 2], 2);
              std::memcpy(&kbits, &kb[e * 2], 2);
              ASSERT_EQ(vgot, qlite::F32ToF16(vin[j])) << "v pos " << pos << " dim " << j;
              kgot = qlite::F16ToF32(kbits);
            } else {
              const float inv = vmax > 0.0f ? 127.0f / vmax : 0.0f;
              const long want = std::min(127L, std::max(-127L, std::lrint(vin[j] * inv)));
              ASSERT_EQ(long(int8_t(vb[e])), want) << "v pos " << pos << " dim " << j;
              kgot = float(int8_t(kb[e])) * ksc[row];
            }
            // Rotated |k| <= sqrt(2): one f16 ulp there is 2^-10, one int8 step absmax / 127.
            const double step = ac.type == KvCacheType::kF32 ? 1e-4 : ac.type == KvCacheType::kF16 ? 1.1e-3 : 0.012;
            ASSERT_NEAR(kgot, kwant[h * ac.hd + j], step) << "k pos " << pos << " dim " << j;
          }
        }
      }
      for (uint32_t t = 0; t < n; ++t) {
        const uint32_t pos = pos0 + t;
        // Attended positions from the definition: all while the ring has room, else the
        // sinks and the n_slots - sinks most recent.
        std::vector<uint32_t> seen;
        for (uint32_t p = 0; p <= pos; ++p) {
          if (pos < ac.n_slots || p < ac.sinks || p + (ac.n_slots - ac.sinks) > pos) seen.push_back(p);
        }
        for (uint32_t h = 0; h < ac.n_heads; ++h) {
          const uint32_t kvh = h / (ac.n_heads / ac.n_kv);
          const float* qh = &q[t * qs + h * ac.hd];
          std::vector<double> sc(seen.size());
          double mx = -1e300, sum = 0;
          for (size_t i = 0; i < seen.size(); ++i) {
            const float* kk = &kh[seen[i]][kvh * ac.hd];
            double d = 0;
            for (uint32_t j = 0; j < ac.hd; ++j) d += double(qh[j]) * kk[j];
            sc[i] = d * scale;
            mx = std::max(mx, sc[i]);
          }
          for (auto& e : sc) sum += (e = std::exp(e - mx));
          for (uint32_t j = 0; j < ac.hd; ++j) {
            double o = 0;
            for (size_t i = 0; i < seen.size(); ++i) o += sc[i] / sum * vh[seen[i]][kvh * ac.hd + j];
            ASSERT_NEAR(out[t * qs + h * ac.hd + j], o, tol) << "pos " << pos << " head " << h;
          }
        }
      }
      pos0 += n;
    }
  }
}

}  // namespace
