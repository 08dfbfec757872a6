"""Verifies deliveries with the PyPI `standardwebhooks` package (the specification's reference
implementation, independent of the gateway's): reads a JSON list of {"body_b64", "headers"}
on stdin, the secret (whsec_...) as the only argument, and prints one line per delivery:
`ok` or `bad <reason>`."""
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook

webhook = Webhook(sys.argv[1])
for delivery in json.load(sys.stdin):
    body = base64.b64decode(delivery["body_b64"])
    try:
        try:
            webhook.verify(body, delivery["headers"], json_parse=False)
        except TypeError:  # versions without json_parse (the body here is not JSON)
            webhook.verify(body, delivery["headers"])
        print("ok")
    except Exception as error:  # noqa: BLE001 - the reason is the test's message
        print(f"bad {type(error).__name__}: {error}")
