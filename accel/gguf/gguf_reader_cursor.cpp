#include "accel/gguf/gguf_reader_cursor.hpp"

#include <limits>
#include <vector>

namespace sovereign::accel::gguf {

std::uint64_t min_encoded_size(ValueTypeCode code) {
  switch (code) {
    case ValueTypeCode::u8:
    case ValueTypeCode::i8:
    case ValueTypeCode::boolean: return 1;
    case ValueTypeCode::u16:
    case ValueTypeCode::i16: return 2;
    case ValueTypeCode::u32:
    case ValueTypeCode::i32:
    case ValueTypeCode::f32: return 4;
    case ValueTypeCode::u64:
    case ValueTypeCode::i64:
    case ValueTypeCode::f64:
    case ValueTypeCode::string: return 8;
    case ValueTypeCode::array: return 12;
  }
  return 1;
}

namespace {

bool is_known_code(std::uint32_t code) { return code <= static_cast<std::uint32_t>(ValueTypeCode::f64); }

}  // namespace

bool Cursor::fail(std::uint64_t at, const std::string& field, std::string message) {
  error_ = Error{at, field, std::move(message)};
  return false;
}

bool Cursor::read_bytes(void* out, std::uint64_t n, const std::string& field) {
  if (n > remaining()) {
    return fail(position_, field,
                "the file ends here: " + std::to_string(n) + " bytes needed, " + std::to_string(remaining()) + " left");
  }
  if (n != 0) std::memcpy(out, bytes_.data() + position_, n);
  position_ += n;
  return true;
}

bool Cursor::read_string(std::string& out, const std::string& field) {
  const std::uint64_t at = position_;
  std::uint64_t length = 0;
  if (!read(length, field + ".length")) return false;
  if (length > kMaxStringBytes) {
    return fail(at, field + ".length",
                "string of " + std::to_string(length) + " bytes exceeds the limit of " + std::to_string(kMaxStringBytes));
  }
  if (length > remaining()) {
    return fail(at, field + ".length",
                "string of " + std::to_string(length) + " bytes runs past the end of the file (" +
                    std::to_string(remaining()) + " bytes left)");
  }
  out.assign(reinterpret_cast<const char*>(bytes_.data() + position_), length);
  position_ += length;
  return true;
}

bool Cursor::read_scalar(ValueTypeCode code, Value& out, const std::string& field) {
  const std::uint64_t at = position_;
  switch (code) {
    case ValueTypeCode::u8: { std::uint8_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::i8: { std::int8_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::u16: { std::uint16_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::i16: { std::int16_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::u32: { std::uint32_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::i32: { std::int32_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::u64: { std::uint64_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::i64: { std::int64_t v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::f32: { float v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::f64: { double v; if (!read(v, field)) return false; out = v; return true; }
    case ValueTypeCode::boolean: {
      std::uint8_t v;
      if (!read(v, field)) return false;
      if (v > 1) return fail(at, field, "a bool must be 0 or 1, found " + std::to_string(v));
      out = v == 1;
      return true;
    }
    case ValueTypeCode::string: {
      std::string s;
      if (!read_string(s, field)) return false;
      out = std::move(s);
      return true;
    }
    case ValueTypeCode::array: break;
  }
  return fail(at, field, "internal: not a scalar type");
}

template <typename T>
bool Cursor::read_array_of(std::uint64_t count, Value& out, const std::string& field) {
  std::vector<T> values;
  values.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string element = field + "[" + std::to_string(i) + "]";
    if constexpr (std::is_same_v<T, std::string>) {
      std::string s;
      if (!read_string(s, element)) return false;
      values.push_back(std::move(s));
    } else if constexpr (std::is_same_v<T, bool>) {
      const std::uint64_t at = position_;
      std::uint8_t v;
      if (!read(v, element)) return false;
      if (v > 1) return fail(at, element, "a bool must be 0 or 1, found " + std::to_string(v));
      values.push_back(v == 1);
    } else {
      T v;
      if (!read(v, element)) return false;
      values.push_back(v);
    }
  }
  out = std::move(values);
  return true;
}

bool Cursor::read_array(Value& out, const std::string& field) {
  const std::uint64_t type_at = position_;
  std::uint32_t raw_code = 0;
  if (!read(raw_code, field + ".element_type")) return false;
  if (!is_known_code(raw_code)) {
    return fail(type_at, field + ".element_type", "unknown value type " + std::to_string(raw_code));
  }
  const auto code = static_cast<ValueTypeCode>(raw_code);
  if (code == ValueTypeCode::array) {
    return fail(type_at, field + ".element_type", "arrays of arrays are not supported");
  }
  const std::uint64_t count_at = position_;
  std::uint64_t count = 0;
  if (!read(count, field + ".count")) return false;
  if (count > kMaxArrayElements) {
    return fail(count_at, field + ".count",
                std::to_string(count) + " elements exceeds the limit of " + std::to_string(kMaxArrayElements));
  }
  if (count > remaining() / min_encoded_size(code)) {
    return fail(count_at, field + ".count",
                std::to_string(count) + " elements cannot fit in the " + std::to_string(remaining()) +
                    " bytes left in the file");
  }
  switch (code) {
    case ValueTypeCode::u8: return read_array_of<std::uint8_t>(count, out, field);
    case ValueTypeCode::i8: return read_array_of<std::int8_t>(count, out, field);
    case ValueTypeCode::u16: return read_array_of<std::uint16_t>(count, out, field);
    case ValueTypeCode::i16: return read_array_of<std::int16_t>(count, out, field);
    case ValueTypeCode::u32: return read_array_of<std::uint32_t>(count, out, field);
    case ValueTypeCode::i32: return read_array_of<std::int32_t>(count, out, field);
    case ValueTypeCode::u64: return read_array_of<std::uint64_t>(count, out, field);
    case ValueTypeCode::i64: return read_array_of<std::int64_t>(count, out, field);
    case ValueTypeCode::f32: return read_array_of<float>(count, out, field);
    case ValueTypeCode::f64: return read_array_of<double>(count, out, field);
    case ValueTypeCode::boolean: return read_array_of<bool>(count, out, field);
    case ValueTypeCode::string: return read_array_of<std::string>(count, out, field);
    case ValueTypeCode::array: break;
  }
  return fail(type_at, field + ".element_type", "arrays of arrays are not supported");
}

bool Cursor::read_value(Value& out, const std::string& field) {
  const std::uint64_t type_at = position_;
  std::uint32_t raw_code = 0;
  if (!read(raw_code, field + ".type")) return false;
  if (!is_known_code(raw_code)) return fail(type_at, field + ".type", "unknown value type " + std::to_string(raw_code));
  const auto code = static_cast<ValueTypeCode>(raw_code);
  if (code == ValueTypeCode::array) return read_array(out, field + ".value");
  return read_scalar(code, out, field + ".value");
}

bool Cursor::read_tensor_info(TensorInfo& out, const std::string& field, std::uint64_t alignment) {
  const std::uint64_t name_at = position_;
  if (!read_string(out.name, field + ".name")) return false;
  if (out.name.empty()) return fail(name_at, field + ".name", "the tensor name is empty");
  if (out.name.size() > kMaxTensorNameBytes) {
    return fail(name_at, field + ".name",
                "tensor name of " + std::to_string(out.name.size()) + " bytes exceeds the limit of " +
                    std::to_string(kMaxTensorNameBytes));
  }
  const std::string named = field + " (" + out.name + ")";
  const std::uint64_t n_dims_at = position_;
  std::uint32_t n_dims = 0;
  if (!read(n_dims, named + ".n_dims")) return false;
  if (n_dims == 0 || n_dims > kMaxDims) {
    return fail(n_dims_at, named + ".n_dims",
                std::to_string(n_dims) + " dimensions; a tensor has 1 to " + std::to_string(kMaxDims));
  }
  out.dims.resize(n_dims);
  std::uint64_t elements = 1;
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    const std::uint64_t dim_at = position_;
    const std::string dim_field = named + ".dims[" + std::to_string(d) + "]";
    if (!read(out.dims[d], dim_field)) return false;
    if (out.dims[d] == 0) return fail(dim_at, dim_field, "a dimension of 0 describes an empty tensor");
    if (out.dims[d] > std::numeric_limits<std::uint64_t>::max() / elements ||
        elements * out.dims[d] > (std::uint64_t{1} << 50)) {
      return fail(dim_at, dim_field, "the element count overflows the limit of 2^50");
    }
    elements *= out.dims[d];
  }
  const std::uint64_t type_at = position_;
  std::uint32_t raw_type = 0;
  if (!read(raw_type, named + ".type")) return false;
  out.type = static_cast<TensorType>(raw_type);
  const TypeTraits* traits = type_traits(out.type);
  if (traits == nullptr) {
    return fail(type_at, named + ".type",
                "ggml type " + std::to_string(raw_type) + " is not supported (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k are)");
  }
  if (out.dims[0] % traits->block_elems != 0) {
    return fail(type_at, named + ".type",
                std::string("row length ") + std::to_string(out.dims[0]) + " is not a multiple of the " +
                    traits->name + " block size " + std::to_string(traits->block_elems));
  }
  out.n_bytes = elements / traits->block_elems * traits->block_bytes;
  const std::uint64_t offset_at = position_;
  if (!read(out.offset_in_file, named + ".offset")) return false;
  if (out.offset_in_file % alignment != 0) {
    return fail(offset_at, named + ".offset",
                "offset " + std::to_string(out.offset_in_file) + " is not a multiple of the alignment " +
                    std::to_string(alignment));
  }
  return true;
}

}  // namespace sovereign::accel::gguf
