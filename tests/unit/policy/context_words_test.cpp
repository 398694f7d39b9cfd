#include <doctest/doctest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "policy/case_fold.hpp"
#include "policy/context_words.hpp"

using namespace sovereign::policy;

// Context words raise a finding's confidence, and some detectors count a finding only with one: the
// word must begin a word, in any letter case, within 64 bytes before the value or 24 after it.
TEST_SUITE("scan") {
    TEST_CASE("a context word counts where it begins a word near the value, in any case") {
        const ContextWords words({"card", "iban", "kontonummer", "num\xc3\xa9ro"});
        auto near_value = [&](const std::string& before, const std::string& after) {
            const std::string value = "4111111111111111";
            const std::string text = before + value + after;
            return words.near(text, before.size(), before.size() + value.size());
        };
        CHECK(near_value("Card: ", ""));
        CHECK(near_value("my CARD number is ", "."));
        CHECK(near_value("", " (IBAN)"));
        CHECK(near_value("Ihre Kontonummer lautet ", ""));
        CHECK(near_value("le num\xc3\xa9ro ", ""));
        CHECK(near_value("card", ""));  // at the very start of the text
        CHECK_FALSE(near_value("scorecard ", ""));  // inside another word
        CHECK_FALSE(near_value("my number is ", "."));
        CHECK_FALSE(near_value("car ", ""));  // a prefix of a word is not the word
        // Exactly at the edges of the window, and one byte beyond them.
        CHECK(near_value("card" + std::string(60, ' '), ""));
        CHECK_FALSE(near_value("card" + std::string(61, ' '), ""));
        CHECK(near_value("", std::string(20, ' ') + "card"));
        CHECK_FALSE(near_value("", std::string(21, ' ') + "card"));
        CHECK_FALSE(near_value("", std::string(20, ' ') + "car"));  // the window ends inside the word
    }

    TEST_CASE("letters beyond ASCII are compared without case too, however the policy wrote the word") {
        // The built-in words of several detectors, and a policy's own written in capitals.
        const ContextWords words({"n\xc3\xa9 le", "t\xc3\xa9l\xc3\xa9phone", "s\xc3\xa9" "curit\xc3\xa9 sociale",
                                  "kom\xc3\xb3rka", "has\xc5\x82o", "contrase\xc3\xb1" "a", "\xc3\x9c" "BERWEISUNG",
                                  "\xd0\xb4\xd0\xbe\xd0\xb3\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x80"});
        auto near_value = [&](const std::string& before) {
            const std::string text = before + "12/03/1985";
            return words.near(text, before.size(), text.size());
        };
        CHECK(near_value("N\xc3\x89 LE "));                              // NÉ LE
        CHECK(near_value("T\xc3\x89L\xc3\x89PHONE : "));                 // TÉLÉPHONE
        CHECK(near_value("S\xc3\x89" "CURIT\xc3\x89 SOCIALE "));          // SÉCURITÉ SOCIALE
        CHECK(near_value("KOM\xc3\x93RKA: "));                           // KOMÓRKA
        CHECK(near_value("HAS\xc5\x81O: "));                             // HASŁO
        CHECK(near_value("Contrase\xc3\x91" "a: "));                     // ContraseÑa
        CHECK(near_value("\xc3\xbc" "berweisung "));                     // überweisung, for ÜBERWEISUNG
        CHECK(near_value("\xd0\x94\xd0\x9e\xd0\x93\xd0\x9e\xd0\x92\xd0\x9e\xd0\xa0 "));  // ДОГОВОР
        // Still a word of its own: not inside another, not a different letter.
        CHECK_FALSE(near_value("\xc3\xa4N\xc3\x89 LE "));              // äNÉ LE
        CHECK_FALSE(near_value("TEL\xc3\x89PHONE "));                    // one accent missing
        CHECK_FALSE(near_value("\xc3\x96" "berweisung "));               // Ö is not Ü
    }

    // A word start is first tested against its words' second letters (ContextWords::seconds_): the
    // cases where that test must let the place through to the comparison.
    TEST_CASE("the second-letter test lets every word through that the comparison would take") {
        const ContextWords words({"x", "ssn", "tel", "t\xc3\xa9l", "kontonummer", "n\xc3\xa9 le", "p1n"});
        auto near_value = [&](const std::string& before) {
            const std::string text = before + "4111111111111111";
            return words.near(text, before.size(), text.size());
        };
        CHECK(near_value("x: "));                                // a one-letter word
        CHECK(near_value("X "));
        CHECK(near_value("S\xc5\xbfn: "));                       // Sſn: a second letter beyond ASCII that folds to s
        CHECK(near_value("\xe2\x84\xaa" "ontonummer "));         // the Kelvin sign first, which folds to k
        CHECK(near_value("T\xc3\x89L "));                        // TÉL: a second letter beyond ASCII in the word
        CHECK(near_value("TEL "));
        CHECK(near_value("P1N "));                               // a digit second
        CHECK_FALSE(near_value("te "));                          // the right second letter, the word cut short
        CHECK_FALSE(near_value("tal "));                         // another second letter
        CHECK_FALSE(near_value("ne le "));                       // ASCII where the word has a letter beyond it
        CHECK_FALSE(near_value("pan "));                         // a letter in the digit's bit (1 and q share it)
        CHECK_FALSE(near_value("pqn "));
        // The window ends right after a first letter: no second letter to test, and no word.
        const std::string text = "4111111111111111" + std::string(23, ' ') + "t";
        CHECK_FALSE(words.near(text, 0, 16));
        const std::string one_letter = "4111111111111111" + std::string(23, ' ') + "x";
        CHECK(words.near(one_letter, 0, 16));
    }

    TEST_CASE("no words, or only empty ones, never match") {
        const std::string text = "card 4111111111111111";
        CHECK_FALSE(ContextWords().near(text, 5, text.size()));
        CHECK_FALSE(ContextWords({"", ""}).near(text, 5, text.size()));
    }

    // The window's word starts are found 64 bytes at a time (or, on processors without one-instruction
    // lookups, a byte at a time): random texts, with the words and their look-alikes at every offset
    // (so at and across the blocks' edges), both walks against the question asked plainly.
    TEST_CASE("the word starts found by blocks are those found byte by byte") {
        const std::vector<std::string> list{"card", "iban", "t\xc3\xa9l", "\xc3\x9c" "berweisung", "x", "ssn"};
        const ContextWords words(list);
        std::vector<std::string> folded;
        for (const auto& w : list) folded.push_back(case_folded(w));
        const auto word_byte = [](char c) {
            const auto b = static_cast<unsigned char>(c);
            return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b >= 0x80;
        };
        const auto plainly = [&](std::string_view text, std::size_t begin, std::size_t end) {
            const std::size_t lo = begin > 64 ? begin - 64 : 0;
            const std::string_view window = text.substr(lo, std::min(text.size(), end + 24) - lo);
            for (std::size_t at = 0; at < window.size(); ++at) {
                if (at > 0 && word_byte(window[at - 1])) continue;
                const std::string rest = case_folded(window.substr(at));
                for (const auto& w : folded)
                    if (rest.compare(0, w.size(), w) == 0) return true;
            }
            return false;
        };
        // The words, forms that are not them, and filler, which is most of a text.
        const std::vector<std::string> words_and_not{"card", "CARD", "scorecard", "car", "Iban", "T\xc3\x89L", "tel",
                                                     "\xc3\xbc" "berweisung", "X", "xy", "ssn", "s\xc5\xbfn"};
        const std::vector<std::string> filler{" ", ", ", "-", "0", "7", "\xc3\xa9", "\n", "ab", "the value ", "of ",
                                              "paid ", "12 ", "on file. ", "Tuesday ", "1.5 "};
        std::mt19937 rng(11);
        int found = 0;
        for (int round = 0; round < 3000; ++round) {
            std::string text;
            const std::size_t length = 1 + rng() % 200;
            while (text.size() < length)
                text += rng() % 12 == 0 ? words_and_not[rng() % words_and_not.size()] : filler[rng() % filler.size()];
            const std::size_t begin = rng() % (text.size() + 1);
            const std::size_t end = begin + rng() % (text.size() - begin + 1);
            const bool expected = plainly(text, begin, end);
            found += expected ? 1 : 0;
            INFO("text: ", text, ", finding at [", begin, ", ", end, ")");
            CHECK(words.near(text, begin, end) == expected);
            CHECK(words.near_by_blocks(text, begin, end) == expected);
            CHECK(words.near_by_bytes(text, begin, end) == expected);
        }
        CHECK(found > 300);   // both answers are common
        CHECK(found < 2700);
    }
}
