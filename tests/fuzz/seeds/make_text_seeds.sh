#!/usr/bin/env bash
# Writes the seeds of the text-input fuzz targets under OUT: policy (every example policy, alone and
# with its test suite after the "#--- tests ---" line), config (the quickstart gateway.yaml and the
# YAML blocks of docs/CONFIG.md), request (byte 0: endpoint), response (byte 0: endpoint and mode,
# byte 1: chunk-length seed) and answer (byte 0: chunk-length seed).
# Usage: tests/fuzz/seeds/make_text_seeds.sh OUT
set -euo pipefail
out="${1:?usage: make_text_seeds.sh OUT}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
mkdir -p "$out"/{policy,config,request,response,answer}

for example in "$root"/examples/*/; do
  name="$(basename "$example")"
  [ -f "$example/policy.yaml" ] || continue
  cp "$example/policy.yaml" "$out/policy/$name"
  if [ -f "$example/policy.tests.yaml" ]; then
    { cat "$example/policy.yaml"; printf '\n#--- tests ---\n'
      sed 's|^policy: .*|policy: policy.yaml|' "$example/policy.tests.yaml"; } > "$out/policy/$name-tests"
  fi
done
cp "$root/tests/bench/gateway/policy.yaml" "$out/policy/bench"

cp "$root/examples/quickstart/gateway.yaml" "$out/config/quickstart"
awk -v dir="$out/config" '/^```yaml/ { inside = 1; n++; next } /^```/ { inside = 0 } inside { print > (dir "/doc" n) }' \
  "$root/docs/CONFIG.md"

{ printf '\x00'; cat "$root/tests/bench/gateway/chat_request.json"; } > "$out/request/chat"
printf '\x00%s' '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi 4111 1111 1111 1111"},{"type":"image_url","image_url":{"url":"data:x"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"card\":\"4111\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok","name":"f"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"card":{"type":"string"}}}}}],"user":"u1","metadata":{"k":"v"},"stream":true,"stream_options":{"include_usage":true},"max_tokens":10,"logprobs":true,"top_logprobs":2}' > "$out/request/chat-tools"
printf '\x01%s' '{"model":"m","prompt":["a","b"],"max_tokens":5,"stream":false}' > "$out/request/completions"
printf '\x01%s' '{"model":"m","prompt":[1,2,3]}' > "$out/request/completions-ids"
printf '\x02%s' '{"model":"m","input":["jane@example.com","x"]}' > "$out/request/embeddings"

{ printf '\x00\x00'; cat "$root/tests/bench/gateway/chat_response.json"; } > "$out/response/whole-chat"
printf '\x01\x00%s' '{"id":"1","object":"text_completion","choices":[{"index":0,"text":"ssn 123-45-6789","finish_reason":"stop","logprobs":null}]}' > "$out/response/whole-completion"
printf '\x02\x05%s\n\n%s\n\n%s\n\n%s\n\n%s\n\n' \
  'data: {"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Card 4111 1111"}}]}' \
  'data: {"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" 1111 1111 and jane@example.com"},"finish_reason":null}]}' \
  'data: {"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":\"4111"}}]}}]}' \
  'data: {"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}' \
  'data: [DONE]' > "$out/response/stream-chat"
printf '\x07\x07%s\n\n%s\n\n%s\n\n' \
  'data: {"id":"1","object":"text_completion","choices":[{"index":0,"text":"IBAN DE89 3704 0044","logprobs":{"tokens":["IBAN"]}}]}' \
  'data: {"id":"1","object":"text_completion","choices":[{"index":0,"text":" 0532 0130 00","finish_reason":"stop"}]}' \
  'data: [DONE]' > "$out/response/stream-completion"

printf '\x03%s' 'Reach jane.doe@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, NHS 943 476 5919, ip 10.1.2.3, jane [at] example [dot] com, jane%40example.com, 4111&nbsp;1111&nbsp;1111&nbsp;1111 key AKIAIOSFODNN7EXAMPLE eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc' > "$out/answer/mixed"
printf '\x09%s' 'SSN 123-45-6789 phone +44 20 7946 0958, NINO AB123456C, Steuer-ID 12345678911' > "$out/answer/ids"
echo "make_text_seeds: wrote seeds under $out"
