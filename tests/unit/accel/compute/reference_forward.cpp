#include "reference_forward.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sovereign::accel::test {
namespace {

using Matrix = std::vector<std::vector<double>>;  // [row][col]

double half_bits_to_double(std::uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

std::uint16_t u16_at(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

std::vector<double> decode(const gguf::TensorInfo& t) {
  std::size_t n = 1;
  for (auto d : t.dims) n *= d;
  std::vector<double> out(n);
  const std::byte* p = t.data.data();
  for (std::size_t i = 0; i < n; ++i) {
    switch (t.type) {
      case gguf::TensorType::f32: {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out[i] = f;
        break;
      }
      case gguf::TensorType::f16:
        out[i] = half_bits_to_double(u16_at(p + 2 * i));
        break;
      case gguf::TensorType::bf16: {
        const std::uint32_t bits = static_cast<std::uint32_t>(u16_at(p + 2 * i)) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        out[i] = f;
        break;
      }
      case gguf::TensorType::q8_0: {
        const std::byte* block = p + (i / 32) * 34;
        out[i] = half_bits_to_double(u16_at(block)) * static_cast<double>(static_cast<std::int8_t>(block[2 + i % 32]));
        break;
      }
      case gguf::TensorType::q4_0: {
        const std::byte* block = p + (i / 32) * 18;
        const std::size_t j = i % 32;
        const unsigned byte = static_cast<unsigned>(block[2 + j % 16]);
        const int nibble = j < 16 ? (byte & 0xf) : (byte >> 4);
        out[i] = half_bits_to_double(u16_at(block)) * (nibble - 8);
        break;
      }
      case gguf::TensorType::q4_k: {
        // 256 weights: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
        const std::byte* block = p + (i / 256) * 144;
        const std::size_t j = i % 256;
        const auto u8 = [&](std::size_t k) { return static_cast<unsigned>(block[4 + k]); };
        const std::size_t sub = j / 32;  // 8 sub-blocks of 32
        unsigned sc, m;
        if (sub < 4) {
          sc = u8(sub) & 63;
          m = u8(sub + 4) & 63;
        } else {
          sc = (u8(sub + 4) & 0xf) | ((u8(sub - 4) >> 6) << 4);
          m = (u8(sub + 4) >> 4) | ((u8(sub) >> 6) << 4);
        }
        // Sub-blocks 2c and 2c+1 share 32 bytes: low nibbles, then high nibbles.
        const unsigned byte = static_cast<unsigned>(block[16 + (sub / 2) * 32 + j % 32]);
        const unsigned q = sub % 2 == 0 ? (byte & 0xf) : (byte >> 4);
        out[i] = half_bits_to_double(u16_at(block)) * sc * q - half_bits_to_double(u16_at(block + 2)) * m;
        break;
      }
      case gguf::TensorType::q6_k: {
        // 256 weights: 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, f16 d.
        const std::byte* block = p + (i / 256) * 210;
        const std::size_t j = i % 256;
        const std::size_t half = j / 128, within = j % 128, quarter = within / 32, l = within % 32;
        const unsigned ql = static_cast<unsigned>(block[half * 64 + l + (quarter % 2) * 32]);
        const unsigned qh = static_cast<unsigned>(block[128 + half * 32 + l]);
        const unsigned low = quarter < 2 ? (ql & 0xf) : (ql >> 4);
        const int q = static_cast<int>(low | (((qh >> (2 * quarter)) & 3) << 4)) - 32;
        const int scale = static_cast<std::int8_t>(block[192 + half * 8 + l / 16 + 2 * quarter]);
        out[i] = half_bits_to_double(u16_at(block + 208)) * scale * q;
        break;
      }
      default:
        throw std::runtime_error("reference: unsupported type in " + t.name);
    }
  }
  return out;
}

const gguf::TensorInfo& need(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.tensor(name);
  if (t == nullptr) throw std::runtime_error("reference: missing " + name);
  return *t;
}

Matrix matrix(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo& t = need(f, name);
  std::vector<double> flat = decode(t);
  const std::size_t cols = t.dims[0], rows = t.dims[1];
  Matrix m(rows, std::vector<double>(cols));
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m[r][c] = flat[r * cols + c];
  return m;
}

std::vector<double> times(const Matrix& m, const std::vector<double>& x) {
  std::vector<double> out(m.size(), 0.0);
  for (std::size_t r = 0; r < m.size(); ++r)
    for (std::size_t c = 0; c < x.size(); ++c) out[r] += m[r][c] * x[c];
  return out;
}

std::vector<double> rms_normalised(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<double> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * w[i];
  return out;
}

}  // namespace

std::vector<std::vector<double>> reference_logits(const gguf::File& f, const std::vector<std::int32_t>& tokens) {
  const std::string arch(*f.get_string("general.architecture"));
  const bool neox = arch == "qwen2";
  const auto meta = [&](const std::string& k) { return *f.get_int(arch + "." + k); };
  const int n_layers = static_cast<int>(meta("block_count"));
  const int n_heads = static_cast<int>(meta("attention.head_count"));
  const int n_kv = static_cast<int>(meta("attention.head_count_kv"));
  const int n_embd = static_cast<int>(meta("embedding_length"));
  const int hd = n_embd / n_heads;
  const int rope_dims = static_cast<int>(meta("rope.dimension_count"));
  const double eps = *f.get_float(arch + ".attention.layer_norm_rms_epsilon");
  const double theta = *f.get_float(arch + ".rope.freq_base");
  double pos_scale = 1.0;
  if (auto type = f.get_string(arch + ".rope.scaling.type"); type && *type == "linear")
    pos_scale = 1.0 / *f.get_float(arch + ".rope.scaling.factor");
  std::vector<double> divisors;
  if (f.tensor("rope_freqs.weight")) divisors = decode(need(f, "rope_freqs.weight"));

  const Matrix embedding = matrix(f, "token_embd.weight");
  const Matrix output = f.tensor("output.weight") ? matrix(f, "output.weight") : embedding;
  const std::vector<double> out_norm = decode(need(f, "output_norm.weight"));

  const std::size_t T = tokens.size();
  std::vector<std::vector<double>> x(T);
  for (std::size_t t = 0; t < T; ++t) x[t] = embedding[static_cast<std::size_t>(tokens[t])];

  const auto rotate = [&](std::vector<double>& v, int heads, std::size_t pos) {
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < rope_dims / 2; ++i) {
        double freq = std::pow(theta, -2.0 * i / rope_dims);
        if (!divisors.empty()) freq /= divisors[static_cast<std::size_t>(i)];
        const double angle = pos * pos_scale * freq;
        const std::size_t a = h * hd + (neox ? i : 2 * i);
        const std::size_t b = h * hd + (neox ? i + rope_dims / 2 : 2 * i + 1);
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
  };

  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const Matrix wq = matrix(f, p + "attn_q.weight"), wk = matrix(f, p + "attn_k.weight"),
                 wv = matrix(f, p + "attn_v.weight"), wo = matrix(f, p + "attn_output.weight");
    const Matrix wg = matrix(f, p + "ffn_gate.weight"), wu = matrix(f, p + "ffn_up.weight"),
                 wd = matrix(f, p + "ffn_down.weight");
    const std::vector<double> an = decode(need(f, p + "attn_norm.weight"));
    const std::vector<double> fn = decode(need(f, p + "ffn_norm.weight"));

    std::vector<std::vector<double>> q(T), k(T), v(T);
    for (std::size_t t = 0; t < T; ++t) {
      const std::vector<double> xn = rms_normalised(x[t], an, eps);
      q[t] = times(wq, xn);
      k[t] = times(wk, xn);
      v[t] = times(wv, xn);
      if (neox) {
        const std::vector<double> bq = decode(need(f, p + "attn_q.bias")), bk = decode(need(f, p + "attn_k.bias")),
                                  bv = decode(need(f, p + "attn_v.bias"));
        for (std::size_t i = 0; i < q[t].size(); ++i) q[t][i] += bq[i];
        for (std::size_t i = 0; i < k[t].size(); ++i) k[t][i] += bk[i], v[t][i] += bv[i];
      }
      rotate(q[t], n_heads, t);
      rotate(k[t], n_kv, t);
    }
    for (std::size_t t = 0; t < T; ++t) {
      std::vector<double> attended(static_cast<std::size_t>(n_heads * hd), 0.0);
      for (int h = 0; h < n_heads; ++h) {
        const int kvh = h / (n_heads / n_kv);
        std::vector<double> w(t + 1);
        double max = -INFINITY;
        for (std::size_t s = 0; s <= t; ++s) {
          double dot = 0;
          for (int d = 0; d < hd; ++d) dot += q[t][h * hd + d] * k[s][kvh * hd + d];
          w[s] = dot / std::sqrt(static_cast<double>(hd));
          max = std::max(max, w[s]);
        }
        double sum = 0;
        for (double& e : w) sum += (e = std::exp(e - max));
        for (std::size_t s = 0; s <= t; ++s)
          for (int d = 0; d < hd; ++d) attended[h * hd + d] += w[s] / sum * v[s][kvh * hd + d];
      }
      const std::vector<double> o = times(wo, attended);
      for (std::size_t i = 0; i < o.size(); ++i) x[t][i] += o[i];
      const std::vector<double> xn = rms_normalised(x[t], fn, eps);
      const std::vector<double> g = times(wg, xn), u = times(wu, xn);
      std::vector<double> hidden(g.size());
      for (std::size_t i = 0; i < g.size(); ++i) hidden[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
      const std::vector<double> down = times(wd, hidden);
      for (std::size_t i = 0; i < down.size(); ++i) x[t][i] += down[i];
    }
  }
  std::vector<std::vector<double>> logits(T);
  for (std::size_t t = 0; t < T; ++t) logits[t] = times(output, rms_normalised(x[t], out_norm, eps));
  return logits;
}

double relative_error(const std::vector<float>& actual, const std::vector<double>& expected) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
    norm += expected[i] * expected[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace sovereign::accel::test
