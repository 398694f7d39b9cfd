// Prints a YAML file as JSON so the JSON Schema check (check_schema.mjs) can validate policy files.
// Plain scalars become booleans, integers and null where YAML would read them so; quoted ones stay text.

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <regex>

namespace {

boost::json::value convert(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map: {
            boost::json::object out;
            for (auto it = node.begin(); it != node.end(); ++it) out[it->first.Scalar()] = convert(it->second);
            return out;
        }
        case YAML::NodeType::Sequence: {
            boost::json::array out;
            for (const auto& item : node) out.push_back(convert(item));
            return out;
        }
        case YAML::NodeType::Scalar: {
            const auto& s = node.Scalar();
            if (node.Tag() == "?") {
                if (s == "true") return true;
                if (s == "false") return false;
                if (s == "null" || s == "~") return nullptr;
                static const std::regex integer("-?[0-9]{1,18}");
                if (std::regex_match(s, integer)) return std::stoll(s);
            }
            return boost::json::string(s);
        }
        default:
            return nullptr;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: yaml_to_json FILE.yaml\n";
        return 2;
    }
    try {
        std::cout << boost::json::serialize(convert(YAML::LoadFile(argv[1]))) << "\n";
    } catch (const YAML::Exception& e) {
        std::cerr << argv[1] << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": " << e.msg << "\n";
        return 1;
    }
    return 0;
}
