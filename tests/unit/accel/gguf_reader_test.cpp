#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <variant>

#include "accel/gguf/gguf_file.hpp"
#include "tests/unit/accel/gguf_image.hpp"

using sovereign::accel::gguf::Error;
using sovereign::accel::gguf::File;
using sovereign::accel::gguf::TensorType;
using sovereign::accel::test::GgufImage;

namespace {

Error rejected(const GgufImage& image) {
  auto result = File::parse(image.bytes);
  REQUIRE_MESSAGE(std::holds_alternative<Error>(result), "the image was accepted");
  return std::get<Error>(result);
}

// A header with one u32 metadata entry "a" = 7 and no tensors: key length at 24, key at 32, type at 33, value at 37.
GgufImage one_entry() { return GgufImage{}.header(0, 1).str("a").put(std::uint32_t{4}).put(std::uint32_t{7}); }

}  // namespace

TEST_CASE("a minimal file with one entry and no tensors opens") {
  const auto image = one_entry();
  auto result = File::parse(image.bytes);
  REQUIRE(std::holds_alternative<File>(result));
  const File& file = std::get<File>(result);
  CHECK(file.version() == 3);
  CHECK(file.get_int("a") == 7);
  CHECK(file.tensors().empty());
  CHECK(file.value_offset("a") == 33);  // where the entry's value type starts, for errors naming the key
  CHECK_FALSE(file.value_offset("b").has_value());
}

TEST_CASE("wrong magic is rejected at byte 0") {
  auto image = one_entry();
  image.bytes[0] = std::byte{'X'};
  const Error e = rejected(image);
  CHECK(e.byte_offset == 0);
  CHECK(e.field == "magic");
  CHECK(e.to_string() == "byte 0 (magic): not a GGUF file: the first four bytes are not \"GGUF\"");
}

TEST_CASE("an empty image is rejected as truncated magic") {
  const Error e = rejected(GgufImage{});
  CHECK(e.byte_offset == 0);
  CHECK(e.field == "magic");
}

TEST_CASE("an unsupported version is rejected at byte 4") {
  const Error e = rejected(GgufImage{}.header(0, 0, 4));
  CHECK(e.byte_offset == 4);
  CHECK(e.field == "version");
}

TEST_CASE("a tensor count beyond the limit is rejected at byte 8") {
  const Error e = rejected(GgufImage{}.header(std::uint64_t{1} << 40, 0));
  CHECK(e.byte_offset == 8);
  CHECK(e.field == "tensor_count");
}

TEST_CASE("a metadata count the file cannot hold is rejected at byte 16") {
  const Error e = rejected(GgufImage{}.header(0, 1000).str("a"));
  CHECK(e.byte_offset == 16);
  CHECK(e.field == "metadata_kv_count");
}

TEST_CASE("a key length running past the end is rejected at the length field") {
  const Error e = rejected(GgufImage{}.header(0, 1).put(std::uint64_t{5000}).raw("abcdefghijklmnop"));
  CHECK(e.byte_offset == 24);
  CHECK(e.field == "metadata[0].key.length");
}

TEST_CASE("an unknown value type is rejected at the type field") {
  const Error e = rejected(GgufImage{}.header(0, 1).str("a").put(std::uint32_t{99}).put(std::uint32_t{0}).zeros(8));
  CHECK(e.byte_offset == 33);
  CHECK(e.field == "metadata[0] (a).type");
  CHECK(e.message == "unknown value type 99");
}

TEST_CASE("a bool other than 0 or 1 is rejected") {
  const Error e = rejected(GgufImage{}.header(0, 1).str("b").put(std::uint32_t{7}).put(std::uint8_t{2}).zeros(12));
  CHECK(e.byte_offset == 37);
  CHECK(e.field == "metadata[0] (b).value");
}

TEST_CASE("an array count the file cannot hold is rejected at the count field") {
  const Error e = rejected(
      GgufImage{}.header(0, 1).str("t").put(std::uint32_t{9}).put(std::uint32_t{8}).put(std::uint64_t{1000}).zeros(16));
  CHECK(e.byte_offset == 41);
  CHECK(e.field == "metadata[0] (t).value.count");
}

TEST_CASE("a string element running past the end names its index") {
  const Error e = rejected(GgufImage{}
                               .header(0, 1)
                               .str("t")
                               .put(std::uint32_t{9})
                               .put(std::uint32_t{8})
                               .put(std::uint64_t{2})
                               .str("ok")
                               .put(std::uint64_t{100})
                               .raw("short"));
  CHECK(e.field == "metadata[0] (t).value[1].length");
  CHECK(e.byte_offset == 59);
}

TEST_CASE("element offsets point at each array element, strings at their length field") {
  // Key "s" (length at 24, key at 32, type at 33): an array of strings "ab", "", "xyz"; element type at 37, count
  // at 41, elements from 49. Key "f" (length at 78, key at 86, type at 87): an array of two f32; elements from 103.
  const auto image = GgufImage{}
                         .header(0, 2)
                         .str("s")
                         .put(std::uint32_t{9})
                         .put(std::uint32_t{8})
                         .put(std::uint64_t{3})
                         .str("ab")
                         .str("")
                         .str("xyz")
                         .str("f")
                         .put(std::uint32_t{9})
                         .put(std::uint32_t{6})
                         .put(std::uint64_t{2})
                         .put(1.0f)
                         .put(2.0f);
  auto result = File::parse(image.bytes);
  REQUIRE(std::holds_alternative<File>(result));
  const File& file = std::get<File>(result);
  CHECK(file.element_offset("s", 0) == 49);
  CHECK(file.element_offset("s", 1) == 59);
  CHECK(file.element_offset("s", 2) == 67);
  CHECK_FALSE(file.element_offset("s", 3).has_value());
  CHECK(file.element_offset("f", 0) == 103);
  CHECK(file.element_offset("f", 1) == 107);
  CHECK_FALSE(file.element_offset("g", 0).has_value());
  CHECK(sovereign::accel::gguf::metadata_element_label(file, "s", 2) == "metadata key 's'[2] (byte 67)");
}

TEST_CASE("element offsets are absent for a scalar entry") {
  const auto image = one_entry();
  auto result = File::parse(image.bytes);
  REQUIRE(std::holds_alternative<File>(result));
  CHECK_FALSE(std::get<File>(result).element_offset("a", 0).has_value());
}

TEST_CASE("nested arrays are rejected") {
  const Error e = rejected(
      GgufImage{}.header(0, 1).str("n").put(std::uint32_t{9}).put(std::uint32_t{9}).put(std::uint64_t{0}).zeros(8));
  CHECK(e.byte_offset == 37);
  CHECK(e.field == "metadata[0] (n).value.element_type");
}

TEST_CASE("a duplicate key is rejected at its second occurrence") {
  const Error e = rejected(GgufImage{}
                               .header(0, 2)
                               .str("a")
                               .put(std::uint32_t{4})
                               .put(std::uint32_t{1})
                               .str("a")
                               .put(std::uint32_t{4})
                               .put(std::uint32_t{2}));
  CHECK(e.byte_offset == 41);
  CHECK(e.field == "metadata[1].key");
}

TEST_CASE("an alignment that is not a power of two is rejected at its value") {
  const Error e = rejected(GgufImage{}.header(0, 1).str("general.alignment").put(std::uint32_t{4}).put(std::uint32_t{24}));
  CHECK(e.field == "general.alignment");
  CHECK(e.byte_offset == 49);
}

namespace {

// One f32 tensor "w" of `dims`, type `type`, offset `offset`, followed by `data_bytes` of data.
GgufImage one_tensor(std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t offset, std::size_t data_bytes) {
  GgufImage image;
  image.header(1, 0).str("w").put(static_cast<std::uint32_t>(dims.size()));
  for (auto d : dims) image.put(d);
  image.put(type).put(offset).pad(32).zeros(data_bytes);
  return image;
}

}  // namespace

TEST_CASE("a well-formed tensor entry exposes its data inside the file") {
  const auto image = one_tensor({4, 2}, 0, 0, 32);
  auto result = File::parse(image.bytes);
  REQUIRE(std::holds_alternative<File>(result));
  const auto* w = std::get<File>(result).tensor("w");
  REQUIRE(w != nullptr);
  CHECK(w->n_bytes == 32);
  CHECK(w->offset_in_file == 96);
  CHECK(w->data.data() == image.bytes.data() + 96);
}

TEST_CASE("zero dimensions are rejected at n_dims") {
  const Error e = rejected(one_tensor({}, 0, 0, 32));
  CHECK(e.byte_offset == 33);
  CHECK(e.field == "tensor_infos[0] (w).n_dims");
}

TEST_CASE("a dimension of zero is rejected at that dimension") {
  const Error e = rejected(one_tensor({4, 0}, 0, 0, 32));
  CHECK(e.byte_offset == 45);
  CHECK(e.field == "tensor_infos[0] (w).dims[1]");
}

TEST_CASE("an unsupported tensor type is rejected at the type field") {
  const Error e = rejected(one_tensor({4, 2}, 3, 0, 32));
  CHECK(e.byte_offset == 53);
  CHECK(e.field == "tensor_infos[0] (w).type");
}

TEST_CASE("a row that is not a whole number of blocks is rejected") {
  const Error e = rejected(one_tensor({16, 2}, static_cast<std::uint32_t>(TensorType::q8_0), 0, 64));
  CHECK(e.field == "tensor_infos[0] (w).type");
  CHECK(e.message == "row length 16 is not a multiple of the q8_0 block size 32");
}

TEST_CASE("a misaligned tensor offset is rejected at the offset field") {
  const Error e = rejected(one_tensor({4, 2}, 0, 8, 64));
  CHECK(e.byte_offset == 57);
  CHECK(e.field == "tensor_infos[0] (w).offset");
}

TEST_CASE("tensor data past the end of the file is rejected at the offset field") {
  const Error e = rejected(one_tensor({4, 2}, 0, 0, 31));
  CHECK(e.byte_offset == 57);  // the entry starts at 24; its offset field follows name, dims and type
  CHECK(e.field == "tensor_infos[0] (w).offset");
  CHECK(e.message == "tensor data [96, +32) lies outside the 127-byte file");
}

TEST_CASE("an offset beyond the file is rejected without overflow") {
  const Error e = rejected(one_tensor({4, 2}, 0, std::uint64_t{0xffffffffffffffe0}, 32));
  CHECK(e.byte_offset == 57);
  CHECK(e.field == "tensor_infos[0] (w).offset");
  // Added to the data section's start (byte 96) the offset wraps to byte 64, inside the file: the
  // message gives the offset as written, not a wrapped range that contradicts "outside".
  CHECK(e.message ==
        "tensor data at offset 18446744073709551584 from the data section's start (byte 96), 32 bytes, lies outside "
        "the 128-byte file");
}

TEST_CASE("an element count overflowing 64 bits is rejected") {
  const Error e = rejected(one_tensor({std::uint64_t{1} << 40, std::uint64_t{1} << 40}, 0, 0, 32));
  CHECK(e.field == "tensor_infos[0] (w).dims[1]");
}

TEST_CASE("overlapping tensors are rejected at the second one's offset field") {
  GgufImage image;
  image.header(2, 0);
  for (const char* name : {"a", "b"}) {
    image.str(name).put(std::uint32_t{1}).put(std::uint64_t{16}).put(std::uint32_t{0}).put(std::uint64_t{32});
  }
  image.pad(32).zeros(128);
  const Error e = rejected(image);
  CHECK(e.message == "tensor data overlaps that of \"a\"");
  CHECK(e.field == "tensor_infos[1] (b).offset");
  CHECK(e.byte_offset == 82);  // entry "b" starts at 57: name 9 bytes, n_dims 4, one dim 8, type 4
}

TEST_CASE("a duplicate tensor name is rejected") {
  GgufImage image;
  image.header(2, 0);
  for (std::uint64_t offset : {0, 32}) {
    image.str("a").put(std::uint32_t{1}).put(std::uint64_t{8}).put(std::uint32_t{0}).put(offset);
  }
  image.pad(32).zeros(64);
  const Error e = rejected(image);
  CHECK(e.field == "tensor_infos[1].name");
}

TEST_CASE("a file that does not exist gets an error naming it") {
  auto result = File::open("/nonexistent/model.gguf");
  REQUIRE(std::holds_alternative<Error>(result));
  CHECK(std::get<Error>(result).message.find("/nonexistent/model.gguf") != std::string::npos);
}

TEST_CASE("a FIFO named as the model is refused at once, without waiting for a writer") {
  const auto dir = std::filesystem::temp_directory_path() / ("gguf-fifo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto fifo = dir / "model.gguf";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto result = File::open(fifo);  // blocked here, before the fix, until something opened the FIFO for writing
  std::filesystem::remove_all(dir);
  REQUIRE(std::holds_alternative<Error>(result));
  CHECK(std::get<Error>(result).message == fifo.string() + " is not a regular file");
}

TEST_CASE("a directory named as the model is refused as not a regular file") {
  auto result = File::open(std::filesystem::temp_directory_path());
  REQUIRE(std::holds_alternative<Error>(result));
  CHECK(std::get<Error>(result).message == std::filesystem::temp_directory_path().string() + " is not a regular file");
}
