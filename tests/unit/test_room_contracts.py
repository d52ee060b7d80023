"""The import contract places every listed room by itself: `{rooms}` expands to the rooms of room_list."""

from tools.room_contracts import RoomIndependenceContract, RoomLayersContract, rooms_apart

from pbx_bridge.room_list import ROOMS


def test_the_rooms_layer_holds_every_listed_room_the_contract_does_not_place_elsewhere():
    contract = RoomLayersContract("layers", {}, {"containers": ["pbx_bridge"], "layers": [
        "daemon", "reports", "{rooms}", "calls", "rota | ring"]})
    siblings = {module.name for module in contract.layers[2].module_tails}
    assert siblings == set(ROOMS) - {"reports", "calls", "rota"}
    assert "live" in siblings and "voicemail" in siblings


def test_the_independence_contract_covers_the_rooms_less_those_set_apart():
    contract = RoomIndependenceContract("features", {}, {"modules": ["pbx_bridge.{rooms}"],
                                                          "apart_from": ["reports", "calls", "rota"]})
    modules = {expression.expression for expression in contract.modules}
    assert modules == {f"pbx_bridge.{room}" for room in ROOMS} - {"pbx_bridge.reports", "pbx_bridge.calls",
                                                                     "pbx_bridge.rota"}


def test_a_room_list_entirely_named_elsewhere_is_refused():
    import pytest

    with pytest.raises(ValueError):
        rooms_apart(set(ROOMS))
