"""Creates a user for scripts/fuzz through the public API and prints its access token.

`funded`: OTP login (the code comes from the admin SMS outbox), questionnaire, consents and an
initial funding, so the money routes have a portfolio to work on. `onboarded`: everything but
the funding. Standard library only: it runs before the fuzzer's virtualenv matters.
"""

import json
import random
import sys
import urllib.request


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def main():
    base, admin_token, kind = sys.argv[1:4]
    phone = "+989" + "".join(random.choice("0123456789") for _ in range(9))
    call(base, "POST", "/api/v1/auth/send-otp", {"phone": phone})
    outbox = call(base, "GET", "/admin/v1/sms-outbox?phone=%2B" + phone[1:] + "&limit=1",
                  token=admin_token)
    code = outbox["messages"][0]["code"]
    login = call(base, "POST", "/api/v1/auth/verify-otp", {"phone": phone, "code": code})
    token = login["tokens"]["accessToken"]
    # Score 6 (Balanced): the answers of the HTTP tests' SCORE_6 fixture.
    answers = [("q_income", "inc_fixed"), ("q_buffer", "buf_6_12"),
               ("q_proportion", "prop_medium"), ("q_goal", "goal_grow"),
               ("q_horizon", "hz_3_7"), ("q_crash_20", "crash_hold"),
               ("q_tradeoff", "trade_moderate"), ("q_past_behavior", "past_calm"),
               ("q_max_loss", "loss_30")]
    call(base, "POST", "/api/v1/onboarding/questionnaire",
         {"answers": [{"questionId": q, "optionId": o} for q, o in answers]}, token)
    call(base, "POST", "/api/v1/onboarding/consent",
         {"consentRisk": True, "consentLoss": True, "consentNoGuarantee": True}, token)
    if kind == "funded":
        call(base, "POST", "/api/v1/onboarding/initial-funding", {"amountIrr": 50_000_000_000},
             token)
    print(token)


if __name__ == "__main__":
    main()
