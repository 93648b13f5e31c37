"""The baseline a streaming client is measured against: the bare openai SDK, the cookbook's way.

    python benchmarks/bare_sdk.py BASE_URL

Imports the SDK, streams one chat completion and prints each chunk's text as it arrives. Run
in a terminal (tmux) the same way as streamtui, its launch → first chunk on screen is the
floor for any Python client.
"""

import sys

import openai

client = openai.OpenAI(base_url=sys.argv[1], api_key="bench", max_retries=0)
stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "go"}], stream=True)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print(flush=True)
input()  # keep the pane open until the benchmark closes it
