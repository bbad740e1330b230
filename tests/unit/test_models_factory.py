import pytest

from app.errors import ModelUnavailable
from app.models.factory import get_chat_model
from app.models.fake import FakeChatModel


def test_fake_by_name(settings) -> None:
    model = get_chat_model("fake", settings)
    assert isinstance(model, FakeChatModel)
    assert "hello" in model.invoke("hello").content


def test_fake_streams_in_pieces() -> None:
    model = FakeChatModel(responses=["one two three"])
    assert [c.content for c in model.stream("x") if c.content] == ["one ", "two ", "three"]


def test_fake_records_prompts_and_can_fail() -> None:
    model = FakeChatModel(error=RuntimeError("down"))
    with pytest.raises(RuntimeError):
        model.invoke("x")
    assert len(model.calls) == 1


def test_unknown_spec_rejected(settings) -> None:
    with pytest.raises(ValueError, match="valid names"):
        get_chat_model("gpt-9", settings)


def test_missing_gguf_is_model_unavailable(settings, tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist"):
        get_chat_model(f"embedded:{tmp_path / 'nope.gguf'}", settings)
