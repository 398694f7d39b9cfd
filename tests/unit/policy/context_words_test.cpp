#include <doctest/doctest.h>

#include <string>
#include <vector>

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
}
