"""Creates a user for scripts/fuzz through the public API and prints its access token.

`funded`: OTP login (the code comes from the admin SMS outbox), questionnaire, consents, an
initial funding, a loan and a protection, so the money routes have state to work on; prints
`{"token", "portfolio", "entry", "loan", "protection"}` (ids the fuzzer cannot guess). `onboarded`: everything
but the funding; prints the token. Standard library only.
"""

import json
import random
import sys
import urllib.error
import urllib.request


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        sys.exit(f"{method} {path}: {error.code} {error.read().decode()}")


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
    if kind != "funded":
        print(token)
        return
    funding = call(base, "POST", "/api/v1/onboarding/initial-funding",
                   {"amountIrr": 50_000_000_000}, token)
    # Funding invests everything; cash for trades and premiums comes from add-funds.
    call(base, "POST", "/api/v1/portfolio/add-funds", {"amountIrr": 10_000_000_000}, token)
    loan = call(base, "POST", "/api/v1/loans",
                {"collateralAssetId": "BTC", "amountIrr": 10_000_000, "durationMonths": 3}, token)
    eligible = call(base, "GET", "/api/v1/protection/eligible", token=token)
    holding = eligible["holdings"][0]["holdingId"]
    protection = call(base, "POST", "/api/v1/protection",
                      {"holdingId": holding, "durationDays": 30, "acknowledgedPremium": True},
                      token)
    history = call(base, "GET", "/api/v1/history?limit=1", token=token)
    print(json.dumps({"token": token, "portfolio": funding["portfolioId"],
                      "entry": history["entries"][0]["id"],
                      "loan": loan["loan"]["id"], "protection": protection["protection"]["id"]}))


if __name__ == "__main__":
    main()
