// SHA-256 against the FIPS 180-2 example vectors, one-shot and fed in pieces.
#include <doctest/doctest.h>

#include <string>

#include "crypto/digest.hpp"

using namespace sovereign::crypto;

TEST_SUITE("digest") {
  TEST_CASE("SHA-256 matches the published vectors") {
    CHECK(to_hex(sha256(std::string_view(""))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(to_hex(sha256(std::string_view("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(to_hex(sha256(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(to_hex(sha256(std::string(1000000, 'a'))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }

  TEST_CASE("the incremental hasher agrees with the one-shot digest, however the data is cut") {
    const std::string data = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (std::size_t cut = 0; cut <= data.size(); cut += 7) {
      Sha256Hasher hasher;
      hasher.update(std::string_view(data).substr(0, cut));
      hasher.update(std::string_view(data).substr(cut));
      CHECK(hasher.finish() == sha256(data));
    }
    Sha256Hasher unused;
    CHECK(to_hex(unused.finish()) == to_hex(sha256(std::string_view(""))));
  }
}
