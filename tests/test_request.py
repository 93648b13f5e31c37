"""RunRequest.body(): the keyword arguments each API's create() gets."""

from __future__ import annotations

import dataclasses

import pytest

from tui.engine.request import API_PATHS, APIS, RunRequest

PROMPT = "Say hello"
MODEL = "gpt-4o-mini"


def test_chat_body_streaming():
    body = RunRequest(PROMPT, MODEL, api="chat").body()
    assert body == {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream_options": {"include_usage": True},
    }


def test_completions_body_streaming():
    body = RunRequest(PROMPT, MODEL, api="completions").body()
    assert body == {
        "model": MODEL,
        "stream": True,
        "prompt": PROMPT,
        "stream_options": {"include_usage": True},
    }


def test_responses_body_streaming_has_no_stream_options():
    body = RunRequest(PROMPT, MODEL, api="responses").body()
    assert body == {"model": MODEL, "stream": True, "input": PROMPT}


@pytest.mark.parametrize("api", APIS)
def test_no_stream_options_without_streaming(api):
    body = RunRequest(PROMPT, MODEL, api=api, stream=False).body()
    assert body["stream"] is False
    assert "stream_options" not in body


@pytest.mark.parametrize("api", APIS)
def test_input_field_per_api(api):
    body = RunRequest(PROMPT, MODEL, api=api).body()
    fields = {"chat": "messages", "completions": "prompt", "responses": "input"}
    assert fields[api] in body
    assert set(fields.values()) - {fields[api]} & body.keys() == set()


@pytest.mark.parametrize(
    ("api", "key", "other"),
    [
        ("chat", "max_tokens", "max_output_tokens"),
        ("completions", "max_tokens", "max_output_tokens"),
        ("responses", "max_output_tokens", "max_tokens"),
    ],
)
def test_max_tokens_field_per_api(api, key, other):
    body = RunRequest(PROMPT, MODEL, api=api, max_tokens=64).body()
    assert body[key] == 64
    assert other not in body
    assert not {"max_tokens", "max_output_tokens"} & RunRequest(PROMPT, MODEL, api=api).body().keys()


@pytest.mark.parametrize("api", APIS)
def test_temperature_only_when_set(api):
    assert RunRequest(PROMPT, MODEL, api=api, temperature=0.0).body()["temperature"] == 0.0
    assert "temperature" not in RunRequest(PROMPT, MODEL, api=api).body()


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_without_usage_option_drops_stream_options(api):
    request = RunRequest(PROMPT, MODEL, api=api, max_tokens=10, temperature=0.5)
    assert request.body()["stream_options"] == {"include_usage": True}
    retry = request.without_usage_option()
    assert retry.include_usage is False
    assert "stream_options" not in retry.body()
    # Everything else is unchanged, and the original is untouched (frozen).
    expected = request.body()
    del expected["stream_options"]
    assert retry.body() == expected
    assert request.include_usage is True
    assert dataclasses.replace(retry, include_usage=True) == request


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_include_usage_false_means_no_stream_options(api):
    assert "stream_options" not in RunRequest(PROMPT, MODEL, api=api, include_usage=False).body()


def test_extra_is_not_in_body_and_describe_has_no_extra():
    request = RunRequest(PROMPT, MODEL, extra={"top_k": 5, "api_key": "sk-secret"})
    assert "top_k" not in request.body()
    assert request.describe() == {"api": "chat", "model": MODEL, "stream": True, "max_tokens": None, "temperature": None, "seed": None, "system_prompt": None, "turns": 0}


def test_system_prompt_and_turns_make_the_conversation():
    from tui.engine.request import Turn

    request = RunRequest("and now?", MODEL, system_prompt="Be terse.", turns=(Turn("hi", "hello"),), seed=7)
    assert request.body()["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]
    assert request.body()["seed"] == 7
    responses = RunRequest("and now?", MODEL, api="responses", system_prompt="Be terse.", turns=(Turn("hi", "hello"),))
    assert responses.body()["instructions"] == "Be terse."
    assert [m["role"] for m in responses.body()["input"]] == ["user", "assistant", "user"]
    assert "seed" not in responses.body()


def test_body_is_a_fresh_dict_each_time():
    request = RunRequest(PROMPT, MODEL)
    body = request.body()
    body["messages"].append({"role": "user", "content": "injected"})
    assert request.body()["messages"] == [{"role": "user", "content": PROMPT}]


def test_request_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunRequest(PROMPT, MODEL).stream = False  # type: ignore[misc]


def test_api_paths():
    assert API_PATHS == {"chat": "/chat/completions", "completions": "/completions", "responses": "/responses"}
