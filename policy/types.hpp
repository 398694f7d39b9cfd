#pragma once
// Plain data exchanged between the gateway and the policy engine: requests in, decisions out.

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace sovereign::policy {

// One problem in a policy or test file, printed as "FILE:LINE:COL: message" (line and column 1-based).
struct Diagnostic {
    std::string file;
    int line = 0;
    int column = 0;
    std::string message;
    // A finding about something that works as written but may not be what was meant (the safe
    // fallback of a class, a quoted text over several lines): `policy lint` reports it like any
    // other, `config check` prints it without failing, so an upgrade that learns a new advisory
    // finding does not stop a gateway whose policy is sound from starting.
    bool advisory = false;
};

// One piece of user-supplied text in a request body, with the JSON path it came from.
struct TextSegment {
    std::string json_path;  // e.g. "messages[2].content"
    std::string text;
};

// A chat message's content part whose data no detector can read (an image, audio, a file): it is
// refused unless the tenant lets parts of its type through unscanned (policy/unscanned_parts.hpp).
struct UnscannedPart {
    std::string json_path;  // e.g. "messages[1].content[0]"
    std::string type;       // its "type" (image_url, input_audio, file...); empty when it has none
    // Where the part names its data by a URL other than data: (the backend would fetch it from outside
    // the gateway): the URL's JSON path, e.g. "messages[1].content[0].image_url.url"; empty otherwise.
    std::string remote_url_path;
};

// What the gateway knows about one request, already decoded.
struct Request {
    std::string tenant;
    std::string model;
    std::string endpoint;        // "chat.completions" | "completions" | "embeddings"
    std::string declared_class;  // from X-Data-Class; may raise the class, never lower it; may be empty
    std::vector<TextSegment> segments;
    std::vector<UnscannedPart> unscanned_parts{};  // in body order
};

// Whether the request may go on.
enum class Action { allow, deny };

// What to do with a detected value before the request leaves: redact is irreversible, tokenize is restored
// in the response.
enum class TransformKind { redact, tokenize };

// A byte range [begin, end) of segments[segment].text to transform before forwarding.
struct Span {
    std::size_t segment = 0;
    std::size_t begin = 0;
    std::size_t end = 0;
    std::string detector;
    TransformKind kind = TransformKind::redact;
};

// One rule that matched the request: its mode, what it would do, and why it matched.
struct RuleMatch {
    std::string rule;
    std::string mode;    // "enforce" | "warn" | "dry-run"
    std::string effect;  // e.g. "deny", "allow", "restrict zones to site", "redact credit_card"
    std::string why;     // the conditions that held, in words
    int line = 0;
};

// The outcome of evaluate(): everything the gateway needs to enforce, audit and explain a request.
struct Decision {
    Action action = Action::deny;
    std::string message;                          // what the application sees on deny
    std::string deciding_rule;                    // a rule name, or "default-deny", "clearance", ...
    std::vector<std::string> allowed_zones;       // zones the request may be sent to
    std::vector<std::string> allowed_backends;    // empty = any backend in allowed_zones
    std::vector<Span> spans;                      // non-overlapping, sorted by (segment, begin)
    std::vector<RuleMatch> matched;               // every rule that matched, in file order
    std::map<std::string, int> detector_counts;   // detector name -> detections (metadata, no values)
    // Part type -> parts let through unscanned (the tenant's allow_unscanned), and the class they
    // counted as; empty when the request has none.
    std::map<std::string, int> unscanned_counts{};
    std::string unscanned_class{};
    std::string data_class;                       // detected and declared class, before transforms
    std::string residual_class;                   // class of what actually leaves, after transforms
    bool capture_payload = false;
    std::string policy_version;                   // sha256 (hex) of the policy file's content
};

// A backend as declared in gateway.yaml, for lint's reachability check.
struct BackendInfo {
    std::string name;
    std::string zone;
    std::vector<std::string> models;
};

}  // namespace sovereign::policy
