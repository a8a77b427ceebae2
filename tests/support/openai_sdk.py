"""The official `openai` Python package as maia's client (run by tests/cli/openai_sdk.rs).

    python openai_sdk.py BASE_URL TOKEN MODEL CHECK...

BASE_URL is maia's `/v1`, TOKEN a maia token, MODEL the configured `ollama.model`, and the
fake Ollama behind maia answers `echo: ` and the last user message. Each CHECK prints
`ok: CHECK` or fails with a traceback (exit 1). Every answer is read through the SDK, and
then validated against the SDK's own types (its parsing alone is lenient), so a drift in
maia's wire format fails here.
"""

import sys

import openai
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

BASE_URL, TOKEN, MODEL = sys.argv[1:4]
QUESTION = "What is sovereignty?"


def client(token=TOKEN):
    # No retries: a 429 or a 5xx must show here as it was sent.
    return openai.OpenAI(base_url=BASE_URL, api_key=token, max_retries=0, timeout=15)


def ask(**extra):
    return client().chat.completions.create(
        model=extra.pop("model", MODEL),
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": QUESTION},
        ],
        **extra,
    )


def strictly(kind, value):
    """`value` as the SDK's type `kind` checks it, with every field's type enforced."""
    return kind.model_validate(value.to_dict())


def plain():
    answer = strictly(ChatCompletion, ask(temperature=0.2, top_p=0.9, seed=7, stop=["zzz"]))
    assert answer.id.startswith("chatcmpl-"), answer.id
    assert answer.object == "chat.completion"
    assert answer.model == MODEL, answer.model
    assert answer.created > 1_700_000_000, answer.created
    assert len(answer.choices) == 1
    choice = answer.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == f"echo: {QUESTION}", choice.message.content
    assert choice.finish_reason == "stop", choice.finish_reason
    usage = answer.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0, usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def stream():
    chunks = [
        strictly(ChatCompletionChunk, c)
        for c in ask(stream=True, stream_options={"include_usage": True})
    ]
    assert chunks, "no chunk"
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choice = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in with_choice)
    assert text == f"echo: {QUESTION}", text
    assert with_choice[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choice[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


def models():
    listed = [strictly(Model, m) for m in client().models.list()]
    ids = [m.id for m in listed]
    assert MODEL in ids and "maia-socratic" in ids, ids
    assert all(m.object == "model" for m in listed)


def persona():
    answer = strictly(ChatCompletion, ask(model="maia-socratic"))
    assert answer.model == "maia-socratic", answer.model
    assert answer.choices[0].message.content == f"echo: {QUESTION}"


def length():
    answer = strictly(ChatCompletion, ask(max_tokens=1))
    assert answer.choices[0].finish_reason == "length", answer.choices[0]
    assert answer.choices[0].message.content == "echo:", answer.choices[0].message.content


def wrong_token():
    unknown = "maia_" + "A" * 43
    try:
        client(unknown).models.list()
    except openai.AuthenticationError as e:
        assert e.status_code == 401
        assert e.type == "authentication_error" and e.code == "token_invalid", e.body
        return
    raise AssertionError("a wrong token was accepted")


def unknown_model():
    try:
        ask(model="gpt-4o")
    except openai.NotFoundError as e:
        assert e.code == "model_not_found" and e.param == "model", e.body
        assert e.type == "invalid_request_error", e.body
        return
    raise AssertionError("an unknown model answered")


def bad_request():
    try:
        ask(temperature=5)
    except openai.BadRequestError as e:
        assert e.param == "temperature", e.body
        return
    raise AssertionError("temperature 5 was accepted")


def knowledge():
    """maia's extension, sent as the SDK sends any: `extra_body`. The server holds one note
    titled "Backups"; the answer cites it, whole and on the stream's finishing chunk."""
    maia = {"maia": {"knowledge": True, "k": 2}}
    answer = ask(extra_body=maia)
    strictly(ChatCompletion, answer)
    citations = answer.to_dict()["citations"]
    assert citations and citations[0]["title"] == "Backups", citations
    assert set(citations[0]) == {"document_id", "title", "chunk", "score"}, citations[0]
    chunks = list(ask(stream=True, extra_body=maia))
    for c in chunks:
        strictly(ChatCompletionChunk, c)
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishing[0].to_dict()["citations"] == citations, finishing


def mid_stream_error():
    """With the fake failing mid-answer: some text, then the SDK raises maia's error."""
    text = ""
    try:
        for chunk in ask(stream=True):
            text += "".join(c.delta.content or "" for c in chunk.choices)
    except openai.APIError as e:
        assert e.code == "llm_error" and e.type == "server_error", e.body
        assert text.startswith("echo:"), text
        return
    raise AssertionError(f"the stream ended without an error: {text!r}")


CHECKS = {
    "plain": plain,
    "stream": stream,
    "models": models,
    "persona": persona,
    "length": length,
    "wrong-token": wrong_token,
    "unknown-model": unknown_model,
    "bad-request": bad_request,
    "knowledge": knowledge,
    "mid-stream-error": mid_stream_error,
}

if __name__ == "__main__":
    print(f"openai {openai.__version__}")
    for name in sys.argv[4:]:
        CHECKS[name]()
        print(f"ok: {name}")
