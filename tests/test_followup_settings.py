"""Follow-up questions as a setting: checked field by field, versioned, pushed and applied without a restart."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from hub import config_push
from hub.provisioning import ProvisionError, registry
from otklik.settings import FollowUp, SettingsError, parse_settings
from tests.broker import wait_until
from tests.test_provision_broker import hub_service, make_kiosk
from tests.test_provision_env import Store, store_fixture


def texts(en: str, ru: str, fa: str) -> dict[str, str]:
    return {"en": en, "ru": ru, "fa": fa}


UNHAPPY = {
    "id": "why-unhappy",
    "scores": [1, 2],
    "text": texts("What went wrong?", "Что пошло не так?", "چه چیزی اشتباه بود؟"),
    "comment": True,
    "options": [
        {"id": "queue", "text": texts("Queue", "Очередь", "صف")},
        {"id": "staff", "text": texts("Staff", "Персонал", "کارکنان")},
        {"id": "price", "text": texts("Prices", "Цены", "قیمت‌ها")},
    ],
}
VERY_HAPPY = {
    "id": "why-happy",
    "scores": [4],
    "text": texts("What did you like?", "Что понравилось?", "چه چیزی را دوست داشتید؟"),
    "options": [{"id": "friendly", "text": texts("Friendly staff", "Вежливый персонал", "کارکنان مهربان")}],
}
FOLLOWUP = [UNHAPPY, VERY_HAPPY]


def test_each_score_gets_its_own_question_or_none() -> None:
    followup = FollowUp.from_wire(FOLLOWUP)
    assert followup.for_score(1) is followup.for_score(2)
    assert followup.for_score(1) and followup.for_score(1).id == "why-unhappy"  # type: ignore[union-attr]
    assert followup.for_score(3) is None
    assert followup.for_score(4).id == "why-happy"  # type: ignore[union-attr]
    assert followup.reason(2, "queue") and not followup.reason(4, "queue")
    assert FollowUp.from_wire(followup.to_wire()) == followup
    # Through the one settings schema, as a push carries it.
    settings = parse_settings(3, {"followup": FOLLOWUP})
    assert settings.followup == followup and settings.to_payload()["followup"] == followup.to_wire()


def changed(path: list[Any], value: Any) -> list[Any]:
    out = copy.deepcopy(FOLLOWUP)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("followup", "field"),
    [
        ({"id": "x"}, "followup"),
        ([UNHAPPY] * 5, "followup"),
        ([UNHAPPY, {**VERY_HAPPY, "scores": [2, 4]}], "followup[1].scores"),
        (changed([0, "scores"], []), "followup[0].scores"),
        (changed([0, "scores"], [5]), "followup[0].scores"),
        (changed([0, "scores"], [True]), "followup[0].scores"),
        (changed([0, "scores"], [1, 1]), "followup[0].scores"),
        (changed([0, "id"], "Why?"), "followup[0].id"),
        (changed([0, "text", "fa"], ...), "followup[0].text"),
        (changed([0, "text", "ru"], ""), "followup[0].text.ru"),
        (changed([0, "text", "en"], "x" * 121), "followup[0].text.en"),
        (changed([0, "text", "en"], "two\nlines"), "followup[0].text.en"),
        (changed([0, "options"], []), "followup[0].options"),
        (changed([0, "options"], [UNHAPPY["options"][0]] * 7), "followup[0].options"),  # type: ignore[index]
        (changed([0, "options", 1, "id"], "queue"), "followup[0].options[1].id"),
        (changed([0, "options", 1, "text", "fa"], 3), "followup[0].options[1].text.fa"),
        (changed([0, "options", 1, "colour"], "red"), "followup[0].options[1]"),
        (changed([0, "comment"], "yes"), "followup[0].comment"),
        (changed([0, "ask"], "always"), "followup[0].ask"),
    ],
)
def test_a_bad_followup_names_the_field(followup: Any, field: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings(1, {"followup": followup})
    assert err.value.field == field


def test_the_hub_gives_a_bad_followup_no_version(tmp_path: Path) -> None:
    db = registry.open_hub_db(tmp_path / "hub.db")
    assert config_push.set_settings(db, "b1", "k1", {"followup": FOLLOWUP}) == 1
    with pytest.raises(ProvisionError, match=r"followup\[0\]\.options"):
        config_push.set_settings(db, "b1", "k1", {"followup": changed([0, "options"], [])})
    assert config_push.get_settings(db, "b1", "k1")[0] == 1
    assert config_push.set_settings(db, "b1", "k1", {"followup": None}) == 2  # reset: no questions asked


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


@pytest.mark.broker
def test_a_running_kiosk_takes_a_pushed_followup_without_a_restart(
    store: Store, mock_pins: MockFactory, tmp_path: Path
) -> None:
    bundle_dir = store.provision_kiosk("b1", "k1")
    hub = hub_service(store)
    kiosk = make_kiosk(store, bundle_dir, mock_pins)
    try:
        assert kiosk.wait_connected(10)
        assert kiosk.followup is None
        path = tmp_path / "followup.json"
        path.write_text(json.dumps(FOLLOWUP, ensure_ascii=False))
        out = store.push_config("b1", "k1", "--followup", str(path))
        assert "pushed b1/k1 config version" in out
        wait_until(lambda: kiosk.followup is not None, message="the kiosk to apply the pushed follow-up")
        assert kiosk.followup == FollowUp.from_wire(FOLLOWUP)
        # A second push changes the question the running kiosk asks after a 4.
        path.write_text(json.dumps([UNHAPPY], ensure_ascii=False))
        store.push_config("b1", "k1", "--followup", str(path))
        wait_until(lambda: kiosk.followup is not None and kiosk.followup.for_score(4) is None,
                   message="the second push to apply")  # fmt: skip
        path.write_text("{not json")
        with pytest.raises(AssertionError, match="followup"):
            store.push_config("b1", "k1", "--followup", str(path))
    finally:
        kiosk.stop()
        hub.stop()
