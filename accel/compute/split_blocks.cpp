#include "accel/compute/split_blocks.hpp"

#include <array>
#include <cstring>

#include "accel/compute/block_formats.hpp"

namespace sovereign::accel::compute {
namespace {

constexpr std::size_t kSub = 32;                       // elements per sub-block
constexpr std::size_t kSubsPerSuper = kKQuantBlockElems / kSub;

template <typename Block>
Block block_at(const std::byte* row, std::size_t index) {
  Block b;
  std::memcpy(&b, row + index * sizeof(Block), sizeof(Block));
  return b;
}

// 32 four-bit codes (0..15) of one sub-block into 16 bytes: element j low, element j + 16 high.
void pack_nibbles(const std::uint8_t* codes, unsigned char* out) {
  for (std::size_t j = 0; j < 16; ++j) out[j] = static_cast<unsigned char>((codes[j] & 15) | ((codes[j + 16] & 15) << 4));
}

// The 256 codes of a q4_k super-block (0..15), element order.
std::array<std::uint8_t, kKQuantBlockElems> q4_k_codes(const BlockQ4_K& b) {
  std::array<std::uint8_t, kKQuantBlockElems> codes{};
  for (std::size_t chunk = 0; chunk < kKQuantBlockElems / 64; ++chunk)
    for (std::size_t l = 0; l < 32; ++l) {
      codes[64 * chunk + l] = b.qs[32 * chunk + l] & 15;
      codes[64 * chunk + 32 + l] = b.qs[32 * chunk + l] >> 4;
    }
  return codes;
}

// The 256 codes of a q6_k super-block (0..63, value = d * scale * (code - 32)), element order.
std::array<std::uint8_t, kKQuantBlockElems> q6_k_codes(const BlockQ6_K& b) {
  std::array<std::uint8_t, kKQuantBlockElems> codes{};
  for (std::size_t half = 0; half < 2; ++half) {
    const std::uint8_t* ql = b.ql + 64 * half;
    const std::uint8_t* qh = b.qh + 32 * half;
    std::uint8_t* out = codes.data() + 128 * half;
    for (std::size_t l = 0; l < 32; ++l) {
      out[l] = static_cast<std::uint8_t>((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4));
      out[l + 32] = static_cast<std::uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
      out[l + 64] = static_cast<std::uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      out[l + 96] = static_cast<std::uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
  return codes;
}

}  // namespace

SplitBlocks split_blocks(const WeightMatrix& m) {
  SplitBlocks out;
  const std::size_t subs = m.cols / kSub;  // per row
  switch (m.type) {
    case gguf::TensorType::q8_0: out.code_row_bytes = m.cols; break;
    case gguf::TensorType::q4_0:
    case gguf::TensorType::q4_k:
    case gguf::TensorType::q6_k: out.code_row_bytes = m.cols / 2; break;
    default: return out;
  }
  out.codes.resize(m.rows * out.code_row_bytes);
  out.scales.resize(m.rows * subs);
  const bool k_quant = m.type == gguf::TensorType::q4_k || m.type == gguf::TensorType::q6_k;
  if (k_quant) out.supers.resize(m.rows * (m.cols / kKQuantBlockElems));
  if (m.type == gguf::TensorType::q6_k) out.high.resize(m.rows * subs * 8);
  for (std::size_t r = 0; r < m.rows; ++r) {
    const std::byte* row = m.row(r);
    unsigned char* codes = out.codes.data() + r * out.code_row_bytes;
    std::uint16_t* scales = out.scales.data() + r * subs;
    if (m.type == gguf::TensorType::q8_0) {
      for (std::size_t s = 0; s < subs; ++s) {
        const auto b = block_at<BlockQ8_0>(row, s);
        scales[s] = b.d;
        std::memcpy(codes + s * kSub, b.qs, kSub);
      }
      continue;
    }
    if (m.type == gguf::TensorType::q4_0) {
      for (std::size_t s = 0; s < subs; ++s) {
        const auto b = block_at<BlockQ4_0>(row, s);
        scales[s] = b.d;
        std::memcpy(codes + s * 16, b.qs, 16);
      }
      continue;
    }
    std::uint32_t* supers = out.supers.data() + r * (m.cols / kKQuantBlockElems);
    for (std::size_t super = 0; super < m.cols / kKQuantBlockElems; ++super) {
      std::array<std::uint8_t, kKQuantBlockElems> all{};
      if (m.type == gguf::TensorType::q4_k) {
        const auto b = block_at<BlockQ4_K>(row, super);
        all = q4_k_codes(b);
        supers[super] = b.d | (static_cast<std::uint32_t>(b.dmin) << 16);
        for (std::size_t j = 0; j < kSubsPerSuper; ++j) {
          const gguf::KScaleMin sm = gguf::k_scale_min(static_cast<int>(j), b.scales);
          scales[super * kSubsPerSuper + j] = static_cast<std::uint16_t>(sm.scale | (sm.min << 8));
        }
      } else {
        const auto b = block_at<BlockQ6_K>(row, super);
        all = q6_k_codes(b);
        supers[super] = b.d;
        for (std::size_t j = 0; j < kSubsPerSuper; ++j)
          scales[super * kSubsPerSuper + j] = static_cast<std::uint16_t>(static_cast<std::uint8_t>(b.scales[2 * j]) |
                                                                         (static_cast<std::uint8_t>(b.scales[2 * j + 1]) << 8));
        for (std::size_t j = 0; j < kSubsPerSuper; ++j) {
          const std::uint8_t* sub = all.data() + j * kSub;
          std::uint32_t words[2] = {0, 0};
          for (std::size_t e = 0; e < kSub; ++e) words[e / 16] |= static_cast<std::uint32_t>(sub[e] >> 4) << (2 * (e % 16));
          std::memcpy(out.high.data() + ((r * subs) + super * kSubsPerSuper + j) * 8, words, 8);
        }
      }
      for (std::size_t j = 0; j < kSubsPerSuper; ++j)
        pack_nibbles(all.data() + j * kSub, codes + (super * kSubsPerSuper + j) * 16);
    }
  }
  return out;
}

}  // namespace sovereign::accel::compute
