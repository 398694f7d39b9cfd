#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <variant>

#include "accel/gguf/gguf_file.hpp"
#include "accel/gguf/gguf_writer.hpp"

namespace gguf = sovereign::accel::gguf;
using gguf::File;
using gguf::TensorType;
using gguf::Value;

namespace {

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Built with append: GCC 12 reports a false -Wrestrict on `tensor_name(i)` at -O3.
std::string tensor_name(std::size_t i) { return std::string("t").append(std::to_string(i)); }

gguf::Writer writer_with_every_value_kind() {
  gguf::Writer w;
  w.set("u8", std::uint8_t{200});
  w.set("i8", std::int8_t{-100});
  w.set("u16", std::uint16_t{60000});
  w.set("i16", std::int16_t{-30000});
  w.set("u32", std::uint32_t{4000000000u});
  w.set("i32", std::int32_t{-2000000000});
  w.set("u64", std::uint64_t{1} << 62);
  w.set("i64", std::int64_t{-(std::int64_t{1} << 62)});
  w.set("f32", 1.5f);
  w.set("f64", -2.25);
  w.set("bool", true);
  w.set("string", std::string("llama"));
  w.set("strings", std::vector<std::string>{"a", "", "ccc"});
  w.set("floats", std::vector<float>{0.5f, -1.0f});
  w.set("ints", std::vector<std::int32_t>{1, -2, 3});
  w.set("bools", std::vector<bool>{true, false});
  w.set("u64s", std::vector<std::uint64_t>{7});
  return w;
}

}  // namespace

TEST_CASE("every metadata value kind survives a write and read") {
  const auto writer = writer_with_every_value_kind();
  std::vector<std::byte> image;
  REQUIRE_FALSE(writer.serialize(image).has_value());
  auto result = File::parse(image);
  REQUIRE(std::holds_alternative<File>(result));
  const File& file = std::get<File>(result);
  CHECK(file.metadata().size() == 17);
  CHECK(file.get_int("u8") == 200);
  CHECK(file.get_int("i8") == -100);
  CHECK(file.get_int("u16") == 60000);
  CHECK(file.get_int("i16") == -30000);
  CHECK(file.get_int("u32") == 4000000000);
  CHECK(file.get_int("i32") == -2000000000);
  CHECK(file.get_int("u64") == (std::int64_t{1} << 62));
  CHECK(file.get_int("i64") == -(std::int64_t{1} << 62));
  CHECK(file.get_float("f32") == 1.5);
  CHECK(file.get_float("f64") == -2.25);
  CHECK(file.get_bool("bool") == true);
  CHECK(file.get_string("string") == "llama");
  CHECK(*file.get_string_array("strings") == std::vector<std::string>{"a", "", "ccc"});
  CHECK(*file.get_float_array("floats") == std::vector<float>{0.5f, -1.0f});
  CHECK(*file.get_int_array("ints") == std::vector<std::int32_t>{1, -2, 3});
  CHECK(std::get<std::vector<bool>>(*file.find("bools")) == std::vector<bool>{true, false});
  CHECK(gguf::value_type_name(*file.find("u64s")) == "array[u64]");
  CHECK(gguf::value_type_name(*file.find("string")) == "string");
  CHECK_FALSE(file.get_int("string").has_value());
  CHECK(file.find("missing") == nullptr);
}

TEST_CASE("tensors of every writable type survive a write to disk and a mapped read") {
  const auto path = std::filesystem::temp_directory_path() / "sovereign_writer_roundtrip.gguf";
  gguf::Writer w;
  w.set("general.architecture", std::string("llama"));
  const std::vector<TensorType> types{TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0,
                                      TensorType::q4_0};
  std::vector<std::vector<std::byte>> encoded;
  for (std::size_t i = 0; i < types.size(); ++i) {
    const auto values = random_values(64 * 3, static_cast<unsigned>(i));
    encoded.push_back(gguf::quantize(types[i], values));
    REQUIRE_FALSE(encoded.back().empty());
    w.add_tensor(tensor_name(i), {64, 3}, types[i], encoded.back());
  }
  REQUIRE_FALSE(w.write(path).has_value());
  auto result = File::open(path);
  REQUIRE(std::holds_alternative<File>(result));
  const File& file = std::get<File>(result);
  REQUIRE(file.tensors().size() == types.size());
  for (std::size_t i = 0; i < types.size(); ++i) {
    const auto* t = file.tensor(tensor_name(i));
    REQUIRE(t != nullptr);
    CHECK(t->type == types[i]);
    CHECK(t->dims == std::vector<std::uint64_t>{64, 3});
    CHECK(t->element_count() == 192);
    CHECK(t->offset_in_file % file.alignment() == 0);
    REQUIRE(t->data.size() == encoded[i].size());
    CHECK(std::equal(t->data.begin(), t->data.end(), encoded[i].begin()));
  }
  std::filesystem::remove(path);
}

TEST_CASE("the writer refuses tensor data that does not match the shape") {
  gguf::Writer w;
  w.add_tensor("w", {32, 2}, TensorType::f32, std::vector<std::byte>(100));
  std::vector<std::byte> image;
  const auto error = w.serialize(image);
  REQUIRE(error.has_value());
  CHECK(*error == "tensor \"w\": 100 bytes given, 256 expected for its shape and type");
}

TEST_CASE("the writer refuses a row that is not a whole number of blocks") {
  gguf::Writer w;
  w.add_tensor("w", {16}, TensorType::q8_0, std::vector<std::byte>(17));
  std::vector<std::byte> image;
  CHECK(w.serialize(image).has_value());
}

TEST_CASE("setting a key twice keeps one entry with the last value") {
  gguf::Writer w;
  w.set("k", std::uint32_t{1});
  w.set("k", std::uint32_t{2});
  std::vector<std::byte> image;
  REQUIRE_FALSE(w.serialize(image).has_value());
  auto result = File::parse(image);
  REQUIRE(std::holds_alternative<File>(result));
  CHECK(std::get<File>(result).metadata().size() == 1);
  CHECK(std::get<File>(result).get_int("k") == 2);
}

TEST_CASE("a custom alignment is honoured by writer and reader") {
  gguf::Writer w;
  w.set("general.alignment", std::uint32_t{256});
  w.add_tensor("a", {8}, TensorType::f32, gguf::quantize(TensorType::f32, random_values(8, 1)));
  w.add_tensor("b", {8}, TensorType::f32, gguf::quantize(TensorType::f32, random_values(8, 2)));
  std::vector<std::byte> image;
  REQUIRE_FALSE(w.serialize(image).has_value());
  auto result = File::parse(image);
  REQUIRE(std::holds_alternative<File>(result));
  const File& file = std::get<File>(result);
  CHECK(file.alignment() == 256);
  CHECK(file.tensor("a")->offset_in_file % 256 == 0);
  CHECK(file.tensor("b")->offset_in_file - file.tensor("a")->offset_in_file == 256);
}

TEST_CASE("the writer replaces a regular file only when asked, and never a directory") {
  const auto dir = std::filesystem::temp_directory_path() / ("sovereign_writer_targets_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  gguf::Writer w;
  w.set("general.architecture", std::string("llama"));
  const auto sub_error = w.write(dir / "sub");
  REQUIRE(sub_error.has_value());
  CHECK(*sub_error == "refusing to write " + (dir / "sub").string() +
                          ": it is a directory; a model is written only to a new path or over a regular file");
  CHECK(gguf::existing_file_kind(dir / "sub") == "a directory");
  CHECK_FALSE(gguf::existing_file_kind(dir / "absent").has_value());

  const auto file = dir / "model.gguf";
  REQUIRE_FALSE(w.write(file, gguf::Writer::Replace::nothing).has_value());
  CHECK(gguf::existing_file_kind(file) == "a regular file");
  CHECK(w.write(file, gguf::Writer::Replace::nothing) == file.string() + " already exists");
  CHECK_FALSE(w.write(file, gguf::Writer::Replace::regular_file).has_value());
  CHECK_FALSE(std::filesystem::exists(file.string() + ".partial"));
  std::filesystem::remove_all(dir);
}
