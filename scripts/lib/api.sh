# Shell helpers over the HTTP API for the operational scripts (scripts/compose-test,
# the pg-backup run of docs/operations.md). Source it; needs curl and python3.
# API=http://127.0.0.1:3000 ADMIN_TOKEN=... must be set.

json_get() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }

STATUS_FILE="$(mktemp)"
status() { cat "$STATUS_FILE"; } # the HTTP status of the last api call (works after $(api …))

api() { # method path token [json-body] -> body on stdout; status: $(status)
  local method="$1" path="$2" token="$3" body="${4:-}" out
  out="$(mktemp)"
  curl -sS -o "$out" -w '%{http_code}' -X "$method" "$API$path" \
    -H 'content-type: application/json' ${token:+-H "authorization: Bearer $token"} \
    ${body:+--data "$body"} >"$STATUS_FILE"
  cat "$out"; rm -f "$out"
}

# login <phone> -> access token (the code is read from the admin-only SMS outbox)
login() {
  local phone="$1" encoded code
  api POST /api/v1/auth/send-otp "" "{\"phone\":\"$phone\"}" >/dev/null
  encoded="$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$phone")"
  code="$(api GET "/admin/v1/sms-outbox?phone=$encoded&limit=1" "$ADMIN_TOKEN" | json_get messages.0.code)"
  api POST /api/v1/auth/verify-otp "" "{\"phone\":\"$phone\",\"code\":\"$code\"}" | json_get tokens.accessToken
}

# onboard_and_fund <token> <amount IRR> -> portfolio id
onboard_and_fund() {
  local token="$1" amount="$2"
  api POST /api/v1/onboarding/questionnaire "$token" '{"answers":[
    {"questionId":"q_income","optionId":"inc_fixed"},{"questionId":"q_buffer","optionId":"buf_6_12"},
    {"questionId":"q_proportion","optionId":"prop_medium"},{"questionId":"q_goal","optionId":"goal_grow"},
    {"questionId":"q_horizon","optionId":"hz_3_7"},{"questionId":"q_crash_20","optionId":"crash_hold"},
    {"questionId":"q_tradeoff","optionId":"trade_moderate"},{"questionId":"q_past_behavior","optionId":"past_calm"},
    {"questionId":"q_max_loss","optionId":"loss_30"}]}' >/dev/null
  api POST /api/v1/onboarding/consent "$token" \
    '{"consentRisk":true,"consentLoss":true,"consentNoGuarantee":true}' >/dev/null
  api POST /api/v1/onboarding/initial-funding "$token" "{\"amountIrr\":$amount}" | json_get portfolioId
}

# add_funds <token> <amount IRR> -> body; buy <token> <asset> <amount IRR> -> body
add_funds() { api POST /api/v1/portfolio/add-funds "$1" "{\"amountIrr\":$2}"; }
buy() {
  api POST /api/v1/trade/execute "$1" \
    "{\"action\":\"BUY\",\"assetId\":\"$2\",\"amountIrr\":$3,\"acknowledgedWarning\":true}"
}
