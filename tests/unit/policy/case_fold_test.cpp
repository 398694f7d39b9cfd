#include <doctest/doctest.h>

#include <string>

#include "policy/case_fold.hpp"

using namespace sovereign::policy;

// Words a policy writes in one case must match text written in another, in the languages of Europe:
// each capital folds to its small letter (Unicode's simple case folding), nothing else changes.
TEST_SUITE("scan") {
    TEST_CASE("capitals of Latin, Greek and Cyrillic letters fold to their small letters") {
        CHECK(case_folded("\xC3\x9C" "BERWEISUNG") == "\xC3\xBC" "berweisung");           // Überweisung
        CHECK(case_folded("T\xC3\x89L\xC3\x89PHONE") == "t\xC3\xA9l\xC3\xA9phone");       // TÉLÉPHONE
        CHECK(case_folded("KOM\xC3\x93RKA") == "kom\xC3\xB3rka");                          // KOMÓRKA
        CHECK(case_folded("HAS\xC5\x81O") == "has\xC5\x82o");                              // HASŁO
        CHECK(case_folded("CONTRASE\xC3\x91" "A") == "contrase\xC3\xB1" "a");             // CONTRASEÑA
        CHECK(case_folded("\xC8\x98" "OSEA") == "\xC8\x99" "osea");                        // Șosea (Romanian)
        CHECK(case_folded("\xC5\xB8") == "\xC3\xBF");                                     // Ÿ to ÿ: another lead byte
        // Greek: capitals, accented capitals, and final sigma to sigma.
        CHECK(case_folded("\xCE\xA3\xCE\x8E\xCE\x9C\xCE\x92\xCE\x91\xCE\xA3\xCE\x97") ==   // ΣΎΜΒΑΣΗ
              "\xCF\x83\xCF\x8D\xCE\xBC\xCE\xB2\xCE\xB1\xCF\x83\xCE\xB7");                 // σύμβαση
        CHECK(case_folded("\xCF\x82") == "\xCF\x83");                                     // ς to σ
        // Cyrillic, whose capitals and small letters often differ in their lead byte.
        CHECK(case_folded("\xD0\x94\xD0\x9E\xD0\x93\xD0\x9E\xD0\x92\xD0\x9E\xD0\xA0") ==   // ДОГОВОР
              "\xD0\xB4\xD0\xBE\xD0\xB3\xD0\xBE\xD0\xB2\xD0\xBE\xD1\x80");                 // договор
        CHECK(case_folded("\xD0\x81") == "\xD1\x91");                                     // Ё to ё
        // The capital sharp s folds to ß (one character to one: "SS" stays "ss"); the Kelvin sign to k.
        CHECK(case_folded("STRA\xE1\xBA\x9E" "E") == "stra\xC3\x9F" "e");
        CHECK(case_folded("\xE2\x84\xAA") == "k");
    }

    TEST_CASE("everything but capitals is kept as it is, ill-formed bytes included") {
        const std::string kept = "already small: \xC3\xA9t\xC3\xA9, 12/03, \xE2\x82\xAC 5, \xE4\xB8\xAD\xE6\x96\x87, \xF0\x9F\x98\x80";
        CHECK(case_folded(kept) == kept);
        CHECK(case_folded("A\xC3") == "a\xC3");        // a character cut off at the end
        CHECK(case_folded("\xC3(B") == "\xC3(b");      // a lead byte without its continuation
        CHECK(case_folded("\xC3\x97\xC3\xB7") == "\xC3\x97\xC3\xB7");  // × and ÷ sit among the capitals
        CHECK(fold_case(0x0130) == 0x0130);  // dotted capital I folds only as Turkish does, to two characters
        CHECK(fold_case('Z') == 'z');
        CHECK(fold_case(0x0100) == 0x0101);
        CHECK(fold_case(0x0101) == 0x0101);
    }
}
