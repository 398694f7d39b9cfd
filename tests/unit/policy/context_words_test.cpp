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

    TEST_CASE("no words, or only empty ones, never match") {
        const std::string text = "card 4111111111111111";
        CHECK_FALSE(ContextWords().near(text, 5, text.size()));
        CHECK_FALSE(ContextWords({"", ""}).near(text, 5, text.size()));
    }
}
