// Scale search shared by the k-quant quantizers. Rounding each value with the naive
// amax / min-max scale wastes levels when a few outliers set the range; instead we sweep
// candidate scales around the naive one, solve the weighted least-squares fit for each
// candidate's integer levels, and then iterate "re-round against the fit, re-fit" until the
// error stops dropping. This is the standard approach of GGUF quantizers (written afresh).
#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/quants_internal.h"

namespace nexus::quants {
namespace {

constexpr int kSteps = 10;        // candidates on each side of the naive scale
constexpr float kStep = 0.1f;     // level-count step between candidates
constexpr int kRefineIters = 4;

// Round-to-nearest into [lo, hi]. Inputs are finite (callers sanitize), so clamping in float
// first keeps the magic-number rounding exact (|v| < 2^22).
inline int clamp_level(float v, int lo, int hi) {
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  v = v < flo ? flo : v;
  v = v > fhi ? fhi : v;
  const float r = v + 12582912.0f;  // 1.5 * 2^23: the integer part lands in the mantissa
  int32_t i;
  std::memcpy(&i, &r, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Weighted sums for the least-squares fit x ~= a * L + b.
struct Sums {
  float w = 0, wl = 0, wll = 0, wx = 0, wlx = 0;
};

// Solves the 2x2 normal equations; falls back to b = 0 when the free offset would be
// positive (the k-quant formats store a non-negative min that is subtracted).
inline void solve_affine(const Sums& s, double wxx, float* a, float* b, double* err) {
  const double w = s.w, wl = s.wl, wll = s.wll, wx = s.wx, wlx = s.wlx;
  const double det = w * wll - wl * wl;
  double A = 0, B = 0;
  if (det > 0) {
    A = (w * wlx - wl * wx) / det;
    B = (wll * wx - wl * wlx) / det;
  }
  if (det <= 0 || B > 0) {
    B = 0;
    A = wll > 0 ? wlx / wll : 0;
  }
  // sum w (A L + B - x)^2 expanded, so no second pass over the data is needed.
  *err = wxx + A * A * wll + B * B * w + 2 * A * B * wl - 2 * A * wlx - 2 * B * wx;
  *a = static_cast<float>(A);
  *b = static_cast<float>(B);
}

}  // namespace

float fit_affine(int n, int nmax, const float* x, const float* w, uint8_t* L, float* offset) {
  float lo = x[0], hi = x[0];
  double sw = 0, wxx = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
    sw += w[i];
    wxx += static_cast<double>(w[i]) * x[i] * x[i];
  }
  lo = std::fmin(lo, 0.0f);  // the stored min is subtracted, so the offset is never positive
  if (!(hi > lo) || !std::isfinite(hi - lo)) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *offset = std::isfinite(lo) ? lo : 0.0f;
    return 0.0f;
  }
  std::vector<float> wbuf;
  const float* ww = w;
  if (!(sw > 0)) {  // no usable weights: fall back to plain least squares
    wbuf.assign(static_cast<size_t>(n), 1.0f);
    ww = wbuf.data();
    wxx = 0;
    for (int i = 0; i < n; ++i) wxx += static_cast<double>(x[i]) * x[i];
  }

  float sw_used = 0, wx_used = 0;
  for (int i = 0; i < n; ++i) {
    sw_used += ww[i];
    wx_used += ww[i] * x[i];
  }
  uint8_t cand[256];
  float best_a = (hi - lo) / static_cast<float>(nmax), best_b = lo;
  double best_err = INFINITY;
  auto try_levels = [&](const uint8_t* lv) {
    Sums s;
    s.w = sw_used;
    s.wx = wx_used;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(lv[i]);
      const float wl = ww[i] * l;
      s.wl += wl;
      s.wll += wl * l;
      s.wlx += wl * x[i];
    }
    float a, b;
    double err;
    solve_affine(s, wxx, &a, &b, &err);
    if (err < best_err && a > 0) {
      best_err = err;
      best_a = a;
      best_b = b;
      for (int i = 0; i < n; ++i) L[i] = lv[i];
      return true;
    }
    return false;
  };

  // Naive min/max rounding first, so the result is never worse than it.
  {
    const float inv = static_cast<float>(nmax) / (hi - lo);
    for (int i = 0; i < n; ++i) cand[i] = static_cast<uint8_t>(clamp_level(inv * (x[i] - lo), 0, nmax));
    if (!try_levels(cand)) {
      for (int i = 0; i < n; ++i) L[i] = cand[i];
      best_err = INFINITY;
    }
  }
  for (int k = -kSteps; k <= kSteps; ++k) {
    if (k == 0) continue;
    const float inv = (static_cast<float>(nmax) + kStep * static_cast<float>(k)) / (hi - lo);
    for (int i = 0; i < n; ++i) cand[i] = static_cast<uint8_t>(clamp_level(inv * (x[i] - lo), 0, nmax));
    try_levels(cand);
  }
  for (int it = 0; it < kRefineIters && best_a > 0; ++it) {
    const float inv = 1.0f / best_a;
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      cand[i] = static_cast<uint8_t>(clamp_level((x[i] - best_b) * inv, 0, nmax));
      changed |= cand[i] != L[i];
    }
    if (!changed || !try_levels(cand)) break;
  }
  *offset = best_b;
  return best_a;
}

float fit_symmetric(int n, int nneg, const float* x, const float* w, uint8_t* L) {
  float amax = 0, max = 0;
  double sw = 0;
  for (int i = 0; i < n; ++i) {
    sw += w[i];
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (!(amax > 1e-30f) || !std::isfinite(amax)) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nneg);
    return 0.0f;
  }
  std::vector<float> wbuf;
  const float* ww = w;
  if (!(sw > 0)) {
    wbuf.assign(static_cast<size_t>(n), 1.0f);
    ww = wbuf.data();
  }

  int8_t cand[256];
  float best_a = max / static_cast<float>(-nneg);
  double best_score = -1;  // maximise (sum w l x)^2 / sum w l^2, i.e. minimise the error
  auto try_levels = [&](const int8_t* lv) {
    float wlx = 0, wll = 0;
    for (int i = 0; i < n; ++i) {
      const float wl = ww[i] * static_cast<float>(lv[i]);
      wlx += wl * x[i];
      wll += wl * static_cast<float>(lv[i]);
    }
    if (!(wll > 0)) return false;
    const double score = static_cast<double>(wlx) * wlx / wll;
    if (score > best_score) {
      best_score = score;
      best_a = static_cast<float>(wlx / wll);
      for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(lv[i] + nneg);
      return true;
    }
    return false;
  };

  for (int k = -kSteps; k <= kSteps; ++k) {
    const float inv = -(static_cast<float>(nneg) + kStep * static_cast<float>(k)) / max;
    for (int i = 0; i < n; ++i) cand[i] = static_cast<int8_t>(clamp_level(inv * x[i], -nneg, nneg - 1));
    try_levels(cand);
  }
  if (best_score < 0) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nneg);
    return 0.0f;
  }
  for (int it = 0; it < kRefineIters && best_a != 0; ++it) {
    const float inv = 1.0f / best_a;
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      cand[i] = static_cast<int8_t>(clamp_level(x[i] * inv, -nneg, nneg - 1));
      changed |= cand[i] + nneg != L[i];
    }
    if (!changed || !try_levels(cand)) break;
  }
  return best_a;
}

}  // namespace nexus::quants
